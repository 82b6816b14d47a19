//! `orders catalog load FILE`: replaces the product catalog of a deployment (AWS, an AWS-compatible
//! endpoint, or the embedded data dir) with a JSON file. Orders already made keep their prices.

use std::path::Path;

use anyhow::Context;
use orders_core::domain::ProductCatalog;

use crate::backend;
use crate::config::TargetArgs;

/// Reads and validates a catalog file:
/// `{"products":[{"product_id":"PROD001","name":"Widget","unit_price":"25.50"}]}`.
pub fn read(path: &Path) -> anyhow::Result<ProductCatalog> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    ProductCatalog::from_json(&text).with_context(|| format!("catalog {}", path.display()))
}

/// Runs `orders catalog load`.
pub async fn load(file: &Path, target: TargetArgs) -> anyhow::Result<()> {
    let catalog = read(file)?;
    let backend = backend::open(&target).await?;
    backend.catalog.replace_catalog(&catalog).await.context("cannot store the catalog")?;
    println!("catalog replaced: {} products from {}", catalog.products().len(), file.display());
    Ok(())
}
