//! The catalog port: product prices for pricing, and replacing the catalog from a file.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ProductCatalog;

/// The catalog: prices for pricing, and replacing the whole catalog from a file.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// The products among `product_ids` that exist (unknown ids are simply absent).
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError>;

    /// Replaces the whole catalog. Existing orders keep the prices they were made with.
    async fn replace_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError>;

    /// True when the catalog holds no product at all (a deployment nobody loaded a catalog into).
    async fn is_empty(&self) -> Result<bool, StoreError>;
}
