//! The product catalog in the catalog table: looking products up in batches, and replacing the
//! whole (small) catalog; the [`CatalogStore`] port.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};

use super::{Attrs, DynamoDbStore, build_error, n, s, sdk_error};
use crate::domain::{Money, Product, ProductCatalog};
use crate::ports::{CatalogStore, StoreError};

#[async_trait]
impl CatalogStore for DynamoDbStore {
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError> {
        let mut products = Vec::with_capacity(product_ids.len());
        for chunk in product_ids.chunks(100) {
            let mut keys = KeysAndAttributes::builder();
            for id in chunk {
                keys = keys.keys(HashMap::from([("product_id".to_owned(), s(*id))]));
            }
            let mut request = Some(HashMap::from([(self.catalog.clone(), keys.build().map_err(build_error)?)]));
            while let Some(items) = request.take().filter(|r| !r.is_empty()) {
                let output =
                    self.client.batch_get_item().set_request_items(Some(items)).send().await.map_err(sdk_error)?;
                for item in output.responses().and_then(|r| r.get(&self.catalog)).into_iter().flatten() {
                    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                    let cents = item.get("unit_price_cents").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
                    if let (Some(product_id), Some(name), Some(cents)) = (text("product_id"), text("name"), cents) {
                        products.push(Product { product_id, name, unit_price: Money::from_cents(cents) });
                    }
                }
                request = output.unprocessed_keys;
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
        let mut existing = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.catalog)
                .projection_expression("product_id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            existing
                .extend(output.items().iter().filter_map(|i| i.get("product_id").and_then(|v| v.as_s().ok()).cloned()));
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let products = catalog.products();
        let mut writes = Vec::new();
        for id in existing.iter().filter(|id| catalog.get(id).is_none()) {
            let delete = DeleteRequest::builder().key("product_id", s(id.clone())).build().map_err(build_error)?;
            writes.push(WriteRequest::builder().delete_request(delete).build());
        }
        for product in &products {
            let put = PutRequest::builder()
                .item("product_id", s(product.product_id.clone()))
                .item("name", s(product.name.clone()))
                .item("unit_price_cents", n(product.unit_price.cents()))
                .build()
                .map_err(build_error)?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        for chunk in writes.chunks(25) {
            let mut request = Some(HashMap::from([(self.catalog.clone(), chunk.to_vec())]));
            while let Some(items) = request.take().filter(|r| !r.is_empty()) {
                let output =
                    self.client.batch_write_item().set_request_items(Some(items)).send().await.map_err(sdk_error)?;
                request = output.unprocessed_items;
            }
        }
        Ok(())
    }
}
