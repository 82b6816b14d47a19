//! The product catalog in the catalog table: looking products up in batches, replacing the whole
//! (small) catalog, listing it, and setting a product's stock; the [`CatalogStore`] port. A product
//! item holds `product_id`, `name`, `unit_price_cents`, `stock` (absent: not tracked), `reserved`
//! and `version`; the reservations (`stock.rs`) change the last three.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, ReturnValue, WriteRequest};

use super::{Attrs, DynamoDbStore, build_error, n, number, s, sdk_error};
use crate::domain::{CatalogEntry, Money, Product, ProductCatalog};
use crate::ports::{CatalogStore, ProductPage, StoreError};

#[async_trait]
impl CatalogStore for DynamoDbStore {
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError> {
        let mut products = Vec::with_capacity(product_ids.len());
        for chunk in product_ids.chunks(100) {
            let mut keys = KeysAndAttributes::builder();
            for id in chunk {
                keys = keys.keys(HashMap::from([("product_id".to_owned(), s(*id))]));
            }
            let read =
                self.batch_get(HashMap::from([(self.catalog.clone(), keys.build().map_err(build_error)?)])).await?;
            for item in read.get(&self.catalog).into_iter().flatten() {
                products.extend(read_entry(item).map(|entry| entry.product));
            }
        }
        Ok(products.into_iter().collect())
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        // One item is enough to know (a scan with a limit reads at most that many).
        let output = self
            .client
            .scan()
            .table_name(&self.catalog)
            .projection_expression("product_id")
            .limit(1)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.items().is_empty())
    }

    async fn replace_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        // The catalog is small: read its ids, delete those no longer listed, write the rest.
        let existing: Vec<String> = self
            .scan_catalog(Some("product_id"))
            .await?
            .iter()
            .filter_map(|item| item.get("product_id").and_then(|v| v.as_s().ok()).cloned())
            .collect();
        let mut deletes = Vec::new();
        for id in existing.iter().filter(|id| catalog.get(id).is_none()) {
            let delete = DeleteRequest::builder().key("product_id", s(id.clone())).build().map_err(build_error)?;
            deletes.push(WriteRequest::builder().delete_request(delete).build());
        }
        for chunk in deletes.chunks(25) {
            let mut request = Some(HashMap::from([(self.catalog.clone(), chunk.to_vec())]));
            while let Some(items) = request.take().filter(|r| !r.is_empty()) {
                let output =
                    self.client.batch_write_item().set_request_items(Some(items)).send().await.map_err(sdk_error)?;
                request = output.unprocessed_items;
            }
        }
        // One update per product (not a batch of puts): a product that stays keeps its stock and
        // the units reserved for orders in progress, which only an update leaves in place.
        for product in catalog.products() {
            // The file's stock is a starting stock: a tracked product keeps the stock it has.
            let stock = match product.stock {
                Some(_) => "#stock = if_not_exists(#stock, :stock), ",
                None => "",
            };
            let mut update = self
                .client
                .update_item()
                .table_name(&self.catalog)
                .key("product_id", s(product.product_id.clone()))
                .update_expression(format!(
                    "SET #name = :name, unit_price_cents = :price, {stock}#reserved = if_not_exists(#reserved, :zero), \
                     #version = if_not_exists(#version, :zero) + :one{}",
                    if product.stock.is_none() { " REMOVE #stock" } else { "" }
                ))
                .expression_attribute_names("#name", "name")
                .expression_attribute_names("#stock", "stock")
                .expression_attribute_names("#reserved", "reserved")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":name", s(product.name.clone()))
                .expression_attribute_values(":price", n(product.unit_price.cents()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1));
            if let Some(stock) = product.stock {
                update = update.expression_attribute_values(":stock", n(stock));
            }
            update.send().await.map_err(sdk_error)?;
        }
        Ok(())
    }

    async fn product(&self, product_id: &str) -> Result<Option<CatalogEntry>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.catalog)
            .key("product_id", s(product_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.item.as_ref().and_then(read_entry))
    }

    async fn list_products(&self, offset: u64, limit: u32) -> Result<ProductPage, StoreError> {
        // The catalog is small (a file a merchant loads): the whole of it is read and sorted.
        let mut products: Vec<CatalogEntry> = self.scan_catalog(None).await?.iter().filter_map(read_entry).collect();
        products.sort_by(|a, b| a.product.product_id.cmp(&b.product.product_id));
        let total = products.len() as u64;
        let products =
            products.into_iter().skip(usize::try_from(offset).unwrap_or(usize::MAX)).take(limit as usize).collect();
        Ok(ProductPage { products, total })
    }

    async fn set_stock(
        &self,
        product_id: &str,
        stock: u64,
        expected_version: Option<u64>,
    ) -> Result<CatalogEntry, StoreError> {
        let condition = match expected_version {
            None => "attribute_exists(product_id)",
            Some(0) => "attribute_exists(product_id) AND attribute_not_exists(#version)",
            Some(_) => "attribute_exists(product_id) AND #version = :expected",
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.catalog)
            .key("product_id", s(product_id))
            .update_expression("SET #stock = :stock, #version = if_not_exists(#version, :zero) + :one")
            .condition_expression(condition)
            .expression_attribute_names("#stock", "stock")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":stock", n(stock))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        if let Some(expected) = expected_version.filter(|v| *v != 0) {
            update = update.expression_attribute_values(":expected", n(expected));
        }
        match update.send().await {
            Ok(output) => output
                .attributes
                .as_ref()
                .and_then(read_entry)
                .ok_or_else(|| StoreError::Internal(format!("product {product_id} unreadable after its update"))),
            Err(SdkError::ServiceError(service)) if service.err().is_conditional_check_failed_exception() => {
                match self.product(product_id).await? {
                    None => Err(StoreError::ProductNotFound(product_id.to_owned())),
                    Some(current) => Err(StoreError::VersionMismatch {
                        expected: expected_version.unwrap_or_default(),
                        current: current.version,
                    }),
                }
            }
            Err(error) => Err(sdk_error(error)),
        }
    }
}

impl DynamoDbStore {
    /// Every item of the (small) catalog table, read strongly consistent; only `projection`'s
    /// attributes when one is given.
    async fn scan_catalog(&self, projection: Option<&str>) -> Result<Vec<Attrs>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.catalog)
                .consistent_read(true)
                .set_projection_expression(projection.map(str::to_owned))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}

/// A product item, if it has every attribute a product needs (`reserved` and `version` are 0 on
/// items written before stock was kept).
pub(super) fn read_entry(item: &Attrs) -> Option<CatalogEntry> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some(CatalogEntry {
        product: Product {
            product_id: text("product_id")?,
            name: text("name")?,
            unit_price: Money::from_cents(number(item, "unit_price_cents")?),
            stock: number(item, "stock"),
        },
        reserved: number(item, "reserved").unwrap_or(0),
        version: number(item, "version").unwrap_or(0),
    })
}
