//! The product catalog: ids, names, unit prices and (optionally) the stock available. Pricing an order reads it; the embedded default
//! starts with a small demo catalog (PROD001 … PROD005) so the API seed's examples work as written.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::money::Money;
use super::stock::check_stock;
use super::validation::{ValidationError, check_identifier};

/// A product that can be ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Catalog id, e.g. `PROD001`.
    pub product_id: String,
    /// Human-readable name.
    pub name: String,
    /// Price of one unit; in a catalog file a number or a decimal string (`"25.50"`), read exactly.
    pub unit_price: Money,
    /// Units available to reserve (0 to [`super::stock::MAX_STOCK`]); `None`: stock is not tracked (unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<u64>,
}

/// A set of products by id: what pricing needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductCatalog {
    products: HashMap<String, Product>,
}

/// The shape of a catalog file: `{"products": [{"product_id": …, "name": …, "unit_price": "25.50", "stock": 120}]}`
/// (`stock` optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    products: Vec<Product>,
}

/// Why a catalog could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file is not the documented JSON shape.
    #[error("catalog file is not valid: {0}")]
    Format(#[from] serde_json::Error),
    /// A product breaks a rule.
    #[error("catalog product {index}: {source}")]
    Product {
        /// Position in the file.
        index: usize,
        /// The broken rule.
        source: ValidationError,
    },
    /// Two products share an id.
    #[error("catalog lists product {0} more than once")]
    Duplicate(String),
    /// No products at all.
    #[error("catalog has no products")]
    Empty,
}

impl ProductCatalog {
    /// Builds a catalog, checking ids, names and prices.
    pub fn new(products: Vec<Product>) -> Result<Self, CatalogError> {
        if products.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut by_id = HashMap::with_capacity(products.len());
        for (index, product) in products.into_iter().enumerate() {
            check_product(&product).map_err(|source| CatalogError::Product { index, source })?;
            if by_id.contains_key(&product.product_id) {
                return Err(CatalogError::Duplicate(product.product_id));
            }
            by_id.insert(product.product_id.clone(), product);
        }
        Ok(ProductCatalog { products: by_id })
    }

    /// Reads a catalog file (see [`CatalogFile`] for the shape).
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let file: CatalogFile = serde_json::from_str(text)?;
        Self::new(file.products)
    }

    /// The demo catalog of the embedded default: 2 × PROD001 + 1 × PROD002 = 150.75, the seed's total.
    pub fn demo() -> Self {
        let product = |id: &str, name: &str, cents| Product {
            product_id: id.to_owned(),
            name: name.to_owned(),
            unit_price: Money::from_cents(cents),
            stock: None,
        };
        let products = [
            product("PROD001", "Widget", 2550),
            product("PROD002", "Gadget", 9975),
            product("PROD003", "Gizmo", 1200),
            product("PROD004", "Sprocket", 499),
            product("PROD005", "Doohickey", 14900),
        ];
        ProductCatalog { products: products.into_iter().map(|p| (p.product_id.clone(), p)).collect() }
    }

    /// Looks a product up.
    pub fn get(&self, product_id: &str) -> Option<&Product> {
        self.products.get(product_id)
    }

    /// All products, sorted by id.
    pub fn products(&self) -> Vec<Product> {
        let mut all: Vec<Product> = self.products.values().cloned().collect();
        all.sort_by(|a, b| a.product_id.cmp(&b.product_id));
        all
    }
}

impl FromIterator<Product> for ProductCatalog {
    /// Collects already-checked products (from storage) without checking them again.
    fn from_iter<I: IntoIterator<Item = Product>>(iter: I) -> Self {
        ProductCatalog { products: iter.into_iter().map(|p| (p.product_id.clone(), p)).collect() }
    }
}

fn check_product(product: &Product) -> Result<(), ValidationError> {
    check_identifier("product_id", &product.product_id)?;
    if product.name.trim().is_empty() || product.name.chars().count() > 200 {
        return Err(ValidationError::invalid("name", "must be 1 to 200 characters"));
    }
    if product.unit_price.cents() <= 0 || product.unit_price > Money::MAX {
        return Err(ValidationError::invalid("unit_price", "must be more than 0"));
    }
    if let Some(stock) = product.stock {
        check_stock(stock)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_a_catalog_file_with_exact_prices_and_stock() {
        let catalog = ProductCatalog::from_json(
            r#"{"products":[{"product_id":"A1","name":"Apple","unit_price":"0.29","stock":120},
                            {"product_id":"B2","name":"Bread","unit_price":3.1}]}"#,
        )
        .unwrap();
        assert_eq!(catalog.get("A1").unwrap().unit_price.cents(), 29);
        assert_eq!(catalog.get("B2").unwrap().unit_price.cents(), 310);
        assert_eq!((catalog.get("A1").unwrap().stock, catalog.get("B2").unwrap().stock), (Some(120), None));
    }

    #[test]
    fn refuses_bad_catalogs() {
        let dup = r#"{"products":[{"product_id":"A","name":"x","unit_price":1},{"product_id":"A","name":"y","unit_price":2}]}"#;
        assert!(matches!(ProductCatalog::from_json(dup), Err(CatalogError::Duplicate(_))));
        let free = r#"{"products":[{"product_id":"A","name":"x","unit_price":0}]}"#;
        assert!(matches!(ProductCatalog::from_json(free), Err(CatalogError::Product { .. })));
        assert!(matches!(ProductCatalog::from_json(r#"{"products":[]}"#), Err(CatalogError::Empty)));
        assert!(ProductCatalog::from_json("[1,2]").is_err());
        for stock in ["-1", "1.5", "\"3\"", "1000000001"] {
            let text = format!(r#"{{"products":[{{"product_id":"A","name":"x","unit_price":1,"stock":{stock}}}]}}"#);
            assert!(ProductCatalog::from_json(&text).is_err(), "stock {stock} was taken");
        }
    }
}
