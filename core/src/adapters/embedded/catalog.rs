//! The product catalog in SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::db::{Database, execute_cached, query_row_cached, sql_error};
use crate::domain::{Money, Product, ProductCatalog};
use crate::ports::{CatalogStore, StoreError};

#[async_trait]
impl CatalogStore for Database {
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError> {
        self.read_by_key(|tx| {
            let mut stmt = tx
                .prepare_cached("SELECT product_id, name, unit_price_cents FROM catalog WHERE product_id = ?1")
                .map_err(sql_error)?;
            let mut found = Vec::with_capacity(product_ids.len());
            for id in product_ids {
                let product = stmt
                    .query_row([id], |row| {
                        Ok(Product {
                            product_id: row.get(0)?,
                            name: row.get(1)?,
                            unit_price: Money::from_cents(row.get(2)?),
                        })
                    })
                    .optional()
                    .map_err(sql_error)?;
                found.extend(product);
            }
            Ok(found.into_iter().collect())
        })
    }

    async fn replace_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        let products = catalog.products();
        self.write(move |tx| {
            execute_cached(tx, "DELETE FROM catalog", []).map_err(sql_error)?;
            insert_products(tx, &products)
        })
        .await
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        self.read_by_key(|tx| {
            query_row_cached(tx, "SELECT NOT EXISTS (SELECT 1 FROM catalog)", [], |row| row.get(0)).map_err(sql_error)
        })
    }
}

impl Database {
    /// Puts `catalog` in place if the catalog is empty (first start).
    pub async fn seed_catalog_if_empty(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        let products = catalog.products();
        self.write(move |tx| {
            let empty: bool = query_row_cached(tx, "SELECT NOT EXISTS (SELECT 1 FROM catalog)", [], |row| row.get(0))
                .map_err(sql_error)?;
            if empty { insert_products(tx, &products) } else { Ok(()) }
        })
        .await
    }
}

fn insert_products(tx: &rusqlite::Transaction<'_>, products: &[Product]) -> Result<(), StoreError> {
    let mut insert = tx
        .prepare_cached("INSERT INTO catalog (product_id, name, unit_price_cents) VALUES (?1, ?2, ?3)")
        .map_err(sql_error)?;
    for product in products {
        insert.execute(params![product.product_id, product.name, product.unit_price.cents()]).map_err(sql_error)?;
    }
    Ok(())
}
