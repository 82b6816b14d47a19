//! `orders catalog load FILE`: replaces the product catalog of a deployment (AWS, an AWS-compatible
//! endpoint, or the embedded data dir) with a JSON file. Orders already made keep their prices.

use std::path::Path;

use anyhow::Context;
use orders_core::domain::ProductCatalog;
use serde::Serialize;

use crate::backend;
use crate::config::{OutputFormat, TargetArgs};
use crate::output::print_json;

/// What `orders catalog load --output json` prints.
#[derive(Debug, Serialize)]
pub struct CatalogLoaded {
    /// How many products the catalog now holds.
    pub products: usize,
    /// The file they came from.
    pub file: String,
}

/// Reads and validates a catalog file:
/// `{"products":[{"product_id":"PROD001","name":"Widget","unit_price":"25.50"}]}`.
pub fn read(path: &Path) -> anyhow::Result<ProductCatalog> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    ProductCatalog::from_json(&text).with_context(|| format!("catalog {}", path.display()))
}

/// Runs `orders catalog load`.
pub async fn load(file: &Path, target: TargetArgs, output: OutputFormat) -> anyhow::Result<()> {
    let catalog = read(file)?;
    let backend = backend::open(&target).await?;
    backend.catalog.replace_catalog(&catalog).await.context("cannot store the catalog")?;
    let loaded = CatalogLoaded { products: catalog.products().len(), file: file.display().to_string() };
    match output {
        OutputFormat::Text => println!("catalog replaced: {} products from {}", loaded.products, loaded.file),
        OutputFormat::Json => print_json(&loaded)?,
    }
    Ok(())
}
