//! The catalog use cases clients call over the catalog store: list the products with their stock
//! (paged as the order listing is), read one, and set the units a product has available, only at
//! the version the client read when it names one.

use std::sync::Arc;

use tracing::info;

use super::orders::{OrderError, page_number, page_size};
use crate::domain::CatalogEntry;
use crate::domain::stock::check_stock;
use crate::domain::validation::check_identifier;
use crate::ports::{CatalogStore, StoreError};

/// One page of the catalog with the pagination figures of the order listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductListing {
    /// The products, by id.
    pub products: Vec<CatalogEntry>,
    /// This page's number.
    pub page: u64,
    /// The page size used.
    pub limit: u32,
    /// Products in the catalog.
    pub total: u64,
    /// Pages at this size.
    pub pages: u64,
}

/// The catalog use cases over the catalog store.
#[derive(Clone)]
pub struct Products {
    catalog: Arc<dyn CatalogStore>,
}

impl Products {
    /// Builds the use cases.
    pub fn new(catalog: Arc<dyn CatalogStore>) -> Self {
        Products { catalog }
    }

    /// One page of products by id: `page` from 1 (1 when absent), `limit` from 1 ([`DEFAULT_LIMIT`]
    /// when absent, capped at [`MAX_LIMIT`]), the rules of the order listing.
    pub async fn list_products(&self, page: Option<u64>, limit: Option<u32>) -> Result<ProductListing, OrderError> {
        let limit = page_size(limit)?;
        let page = page_number(page)?;
        // A page far past the end starts past any catalog: the store answers it empty.
        let offset = (page - 1).saturating_mul(u64::from(limit));
        let found = self.catalog.list_products(offset, limit).await.map_err(product_error)?;
        Ok(ProductListing {
            products: found.products,
            page,
            limit,
            total: found.total,
            pages: found.total.div_ceil(u64::from(limit)),
        })
    }

    /// One product with its stock.
    pub async fn get_product(&self, product_id: &str) -> Result<CatalogEntry, OrderError> {
        check_identifier("product_id", product_id)?;
        self.catalog.product(product_id).await.map_err(product_error)?.ok_or(OrderError::ProductNotFound)
    }

    /// Sets the units `product_id` has available (0 to [`crate::domain::stock::MAX_STOCK`]; the
    /// product's stock is tracked from then on), only if it is at `expected_version` when one is
    /// given. Units reserved by orders in progress stay reserved.
    pub async fn set_stock(
        &self,
        product_id: &str,
        stock: u64,
        expected_version: Option<u64>,
    ) -> Result<CatalogEntry, OrderError> {
        check_identifier("product_id", product_id)?;
        let stock = check_stock(stock)?;
        let entry = self.catalog.set_stock(product_id, stock, expected_version).await.map_err(product_error)?;
        info!(product_id, stock, version = entry.version, "product stock set");
        Ok(entry)
    }
}

/// A catalog store's error as the product use cases report it: a version mismatch here is the
/// product's, not an order's (which is what the general conversion says).
fn product_error(error: StoreError) -> OrderError {
    match error {
        StoreError::VersionMismatch { expected, current } => OrderError::ProductVersionMismatch { expected, current },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::adapters::embedded::Database;
    use crate::application::{DEFAULT_LIMIT, MAX_LIMIT};
    use crate::domain::ProductCatalog;

    /// The use cases over an embedded catalog holding the demo products (PROD001 … PROD005, stock
    /// not tracked).
    async fn demo_products(dir: &tempfile::TempDir) -> Products {
        let database = Database::open(&dir.path().join("db.sqlite3")).unwrap();
        database.seed_catalog_if_empty(&ProductCatalog::demo()).await.unwrap();
        Products::new(Arc::new(database))
    }

    #[tokio::test]
    async fn pages_are_numbered_and_sized_as_the_order_listing_pages() {
        // Given the five demo products
        let dir = tempfile::tempdir().unwrap();
        let products = demo_products(&dir).await;
        // When the second page of two is asked for
        let page = products.list_products(Some(2), Some(2)).await.unwrap();
        // Then it holds the third and fourth products by id, and the figures of the whole catalog
        let ids: Vec<&str> = page.products.iter().map(|e| e.product.product_id.as_str()).collect();
        assert_eq!(ids, ["PROD003", "PROD004"]);
        assert_eq!((page.page, page.limit, page.total, page.pages), (2, 2, 5, 3));
        // And the defaults are page 1 of DEFAULT_LIMIT, a larger limit is capped, a page far past the
        // end is empty
        let first = products.list_products(None, None).await.unwrap();
        assert_eq!((first.page, first.limit, first.products.len()), (1, DEFAULT_LIMIT, 5));
        assert_eq!(products.list_products(None, Some(u32::MAX)).await.unwrap().limit, MAX_LIMIT);
        let beyond = products.list_products(Some(u64::MAX), Some(MAX_LIMIT)).await.unwrap();
        assert_eq!((beyond.products.len(), beyond.total), (0, 5));
        // And a zero page or limit is refused, naming it
        for (page, limit, refusal) in [
            (Some(0), None, "Invalid field page: must be a positive integer"),
            (None, Some(0), "Invalid field limit: must be a positive integer"),
        ] {
            let refused = products.list_products(page, limit).await.unwrap_err();
            assert_eq!(refused.to_string(), refusal);
        }
    }

    #[tokio::test]
    async fn stock_is_set_at_the_version_read_and_refused_at_another() {
        // Given a demo product, not tracked
        let dir = tempfile::tempdir().unwrap();
        let products = demo_products(&dir).await;
        let read = products.get_product("PROD001").await.unwrap();
        assert_eq!((read.product.stock, read.reserved), (None, 0));
        // When its stock is set at the version read
        let set = products.set_stock("PROD001", 120, Some(read.version)).await.unwrap();
        // Then it is tracked with that stock, at the next version
        assert_eq!((set.product.stock, set.version), (Some(120), read.version + 1));
        assert_eq!(products.get_product("PROD001").await.unwrap(), set);
        // And a second change at the version first read is the product's version mismatch
        let stale = products.set_stock("PROD001", 7, Some(read.version)).await.unwrap_err();
        assert!(
            matches!(stale, OrderError::ProductVersionMismatch { expected, current } if expected == read.version && current == set.version),
            "{stale:?}"
        );
        // And without a version the change is made whatever the version
        assert_eq!(products.set_stock("PROD001", 0, None).await.unwrap().product.stock, Some(0));
    }

    #[tokio::test]
    async fn unknown_products_ids_and_stock_levels_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let products = demo_products(&dir).await;
        assert!(matches!(products.get_product("NOPE").await, Err(OrderError::ProductNotFound)));
        assert!(matches!(products.set_stock("NOPE", 1, None).await, Err(OrderError::ProductNotFound)));
        let too_many = products.set_stock("PROD001", 1_000_000_001, None).await.unwrap_err();
        assert_eq!(too_many.to_string(), "Invalid field stock: must be an integer from 0 to 1000000000");
        let blank = products.get_product(" PROD001").await.unwrap_err();
        assert_eq!(
            blank.to_string(),
            "Invalid field product_id: must not contain control characters or surrounding spaces"
        );
        // (nothing was changed by the refusals)
        assert_eq!(products.get_product("PROD001").await.unwrap().product.stock, None);
    }
}
