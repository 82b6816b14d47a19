//! The product catalog in SQLite: products with their available stock, units reserved and version.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::db::{Database, execute_cached, query_row_cached, sql_error};
use crate::domain::{CatalogEntry, Money, Product, ProductCatalog};
use crate::ports::{CatalogStore, ProductPage, StoreError};

/// The columns [`read_entry`] reads, in its order.
const ENTRY_COLUMNS: &str = "product_id, name, unit_price_cents, stock, reserved, version";

#[async_trait]
impl CatalogStore for Database {
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError> {
        self.read_by_key(|tx| {
            let sql = format!("SELECT {ENTRY_COLUMNS} FROM catalog WHERE product_id = ?1");
            let mut stmt = tx.prepare_cached(&sql).map_err(sql_error)?;
            let mut found = Vec::with_capacity(product_ids.len());
            for id in product_ids {
                let entry = stmt.query_row([id], read_entry).optional().map_err(sql_error)?;
                found.extend(entry.map(|entry| entry.product));
            }
            Ok(found.into_iter().collect())
        })
    }

    async fn replace_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        let products = catalog.products();
        self.write(move |tx| {
            let listed: HashSet<&str> = products.iter().map(|p| p.product_id.as_str()).collect();
            let existing: Vec<String> = tx
                .prepare_cached("SELECT product_id FROM catalog")
                .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
                .map_err(sql_error)?;
            for gone in existing.iter().filter(|id| !listed.contains(id.as_str())) {
                execute_cached(tx, "DELETE FROM catalog WHERE product_id = ?1", [gone]).map_err(sql_error)?;
            }
            upsert_products(tx, &products)
        })
        .await
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        self.read_by_key(|tx| {
            query_row_cached(tx, "SELECT NOT EXISTS (SELECT 1 FROM catalog)", [], |row| row.get(0)).map_err(sql_error)
        })
    }

    async fn product(&self, product_id: &str) -> Result<Option<CatalogEntry>, StoreError> {
        let product_id = product_id.to_owned();
        self.read(move |tx| entry(tx, &product_id)).await
    }

    async fn list_products(&self, offset: u64, limit: u32) -> Result<ProductPage, StoreError> {
        self.read(move |tx| {
            let total: u64 =
                query_row_cached(tx, "SELECT COUNT(*) FROM catalog", [], |row| row.get(0)).map_err(sql_error)?;
            let sql = format!("SELECT {ENTRY_COLUMNS} FROM catalog ORDER BY product_id LIMIT ?1 OFFSET ?2");
            let products = tx
                .prepare_cached(&sql)
                .and_then(|mut stmt| {
                    stmt.query_map(params![limit, i64::try_from(offset).unwrap_or(i64::MAX)], read_entry)?.collect()
                })
                .map_err(sql_error)?;
            Ok(ProductPage { products, total })
        })
        .await
    }

    async fn set_stock(
        &self,
        product_id: &str,
        stock: u64,
        expected_version: Option<u64>,
    ) -> Result<CatalogEntry, StoreError> {
        let product_id = product_id.to_owned();
        self.write(move |tx| {
            let current = entry(tx, &product_id)?.ok_or_else(|| StoreError::ProductNotFound(product_id.clone()))?;
            if let Some(expected) = expected_version.filter(|expected| *expected != current.version) {
                return Err(StoreError::VersionMismatch { expected, current: current.version });
            }
            execute_cached(
                tx,
                "UPDATE catalog SET stock = ?1, version = version + 1 WHERE product_id = ?2",
                params![stock, product_id],
            )
            .map_err(sql_error)?;
            entry(tx, &product_id)?.ok_or_else(|| StoreError::ProductNotFound(product_id.clone()))
        })
        .await
    }
}

impl Database {
    /// Puts `catalog` in place if the catalog is empty (first start).
    pub async fn seed_catalog_if_empty(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        let products = catalog.products();
        self.write(move |tx| {
            let empty: bool = query_row_cached(tx, "SELECT NOT EXISTS (SELECT 1 FROM catalog)", [], |row| row.get(0))
                .map_err(sql_error)?;
            if empty { upsert_products(tx, &products) } else { Ok(()) }
        })
        .await
    }
}

/// One product with its stock, inside a transaction.
pub(super) fn entry(tx: &rusqlite::Connection, product_id: &str) -> Result<Option<CatalogEntry>, StoreError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM catalog WHERE product_id = ?1");
    tx.prepare_cached(&sql).and_then(|mut stmt| stmt.query_row([product_id], read_entry).optional()).map_err(sql_error)
}

fn read_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<CatalogEntry> {
    Ok(CatalogEntry {
        product: Product {
            product_id: row.get(0)?,
            name: row.get(1)?,
            unit_price: Money::from_cents(row.get(2)?),
            stock: row.get(3)?,
        },
        reserved: row.get(4)?,
        version: row.get(5)?,
    })
}

/// Writes the products: new ones as given; existing ones with the given name and price, keeping
/// the units they have reserved and, when they are tracked and stay tracked, their stock (see
/// [`CatalogStore::replace_catalog`]).
fn upsert_products(tx: &rusqlite::Transaction<'_>, products: &[Product]) -> Result<(), StoreError> {
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO catalog (product_id, name, unit_price_cents, stock) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (product_id) DO UPDATE SET name = excluded.name,
                 unit_price_cents = excluded.unit_price_cents,
                 stock = CASE WHEN excluded.stock IS NULL THEN NULL ELSE COALESCE(catalog.stock, excluded.stock) END,
                 version = version + 1",
        )
        .map_err(sql_error)?;
    for product in products {
        upsert
            .execute(params![product.product_id, product.name, product.unit_price.cents(), product.stock])
            .map_err(sql_error)?;
    }
    Ok(())
}
