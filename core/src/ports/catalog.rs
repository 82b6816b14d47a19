//! The catalog port: product prices for pricing, replacing the catalog from a file, and the
//! products with their stock for clients (listing, reading, setting what is available).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{CatalogEntry, ProductCatalog};

/// One page of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    /// The products, by id.
    pub products: Vec<CatalogEntry>,
    /// Products in the whole catalog.
    pub total: u64,
}

/// The catalog: prices for pricing, and replacing the whole catalog from a file.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// The products among `product_ids` that exist (unknown ids are simply absent).
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError>;

    /// Replaces the whole catalog: names and prices as the file gives them, and stock for the
    /// products it tracks. A product's `stock` in the file is its starting stock: it is taken for a
    /// product new to the catalog (or not tracked until now); a product already tracked keeps its
    /// stock, which reservations and stock updates have moved since (re-reading the same file at a
    /// restart must not undo them), and the units reserved for orders in progress. A product the
    /// file lists without `stock` is no longer tracked. Existing orders keep their prices.
    async fn replace_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError>;

    /// True when the catalog holds no product at all (a deployment nobody loaded a catalog into).
    async fn is_empty(&self) -> Result<bool, StoreError>;

    /// One product with its stock, if it is in the catalog.
    async fn product(&self, product_id: &str) -> Result<Option<CatalogEntry>, StoreError>;

    /// The products by id, `limit` of them from the `offset`-th.
    async fn list_products(&self, offset: u64, limit: u32) -> Result<ProductPage, StoreError>;

    /// Sets the units available for a product (it becomes tracked), if it is at `expected_version`
    /// when one is given: [`StoreError::ProductNotFound`], [`StoreError::VersionMismatch`].
    async fn set_stock(
        &self,
        product_id: &str,
        stock: u64,
        expected_version: Option<u64>,
    ) -> Result<CatalogEntry, StoreError>;
}
