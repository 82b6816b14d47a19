//! Reading and checking a new order: the request shape shared by `POST /orders` and the import
//! queue, its limits, and pricing against the catalog. Every broken rule names the field and why.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::catalog::ProductCatalog;
use super::money::Money;
use super::order::OrderItem;

/// Longest customer or product id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Most items in one order.
pub const MAX_ITEMS: usize = 100;
/// Largest quantity of one item.
pub const MAX_QUANTITY: u32 = 1_000;

/// A broken rule in a request, worded for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A required field is absent (or null).
    #[error("Missing required field: {0}")]
    Missing(String),
    /// A field is present but wrong.
    #[error("Invalid field {field}: {reason}")]
    Invalid {
        /// Where, e.g. `items[2].quantity`.
        field: String,
        /// Why, e.g. `must be an integer from 1 to 1000`.
        reason: String,
    },
    /// A product id that is not in the catalog.
    #[error("Unknown product_id {product_id:?} in {field}")]
    UnknownProduct {
        /// Where, e.g. `items[0].product_id`.
        field: String,
        /// The id that was sent.
        product_id: String,
    },
    /// The body is not JSON, or not an object.
    #[error("{0}")]
    Body(String),
}

impl ValidationError {
    /// A field that is present but wrong.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError::Invalid { field: field.into(), reason: reason.into() }
    }
}

/// A new order as a client sends it: `{"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 2}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Who places the order: 1 to 64 characters.
    pub customer_id: String,
    /// 1 to 100 items, each product at most once.
    pub items: Vec<NewOrderItem>,
}

/// One requested line: a catalog product and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderItem {
    /// A product id from the catalog.
    pub product_id: String,
    /// 1 to 1000.
    pub quantity: u32,
}

impl NewOrder {
    /// Reads a request body, naming the first broken rule.
    pub fn from_json_bytes(body: &[u8]) -> Result<Self, ValidationError> {
        let value: Value =
            super::json::from_slice_unique(body).map_err(|e| ValidationError::Body(format!("Invalid JSON: {e}")))?;
        Self::from_json_value(value)
    }

    /// Reads an already parsed JSON value, naming the first broken rule.
    pub fn from_json_value(value: Value) -> Result<Self, ValidationError> {
        let Value::Object(mut body) = value else {
            return Err(ValidationError::Body("Request body must be a JSON object".into()));
        };
        let customer_id = take_string(&mut body, "customer_id", "customer_id")?;
        check_identifier("customer_id", &customer_id)?;
        let items = match body.remove("items") {
            None | Some(Value::Null) => return Err(ValidationError::Missing("items".into())),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ValidationError::invalid("items", "must be an array")),
        };
        reject_unknown_fields(&body, "")?;
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(ValidationError::invalid("items", format!("must hold 1 to {MAX_ITEMS} items")));
        }
        let mut seen = HashSet::with_capacity(items.len());
        let items = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let item = read_item(index, item)?;
                if !seen.insert(item.product_id.clone()) {
                    return Err(ValidationError::invalid(
                        format!("items[{index}].product_id"),
                        format!(
                            "{:?} is listed more than once; send one item with the total quantity",
                            item.product_id
                        ),
                    ));
                }
                Ok(item)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewOrder { customer_id, items })
    }

    /// Prices every item from the catalog: the items with their unit prices and line totals, and the
    /// order total. Unknown products are refused by id.
    pub fn price(&self, catalog: &ProductCatalog) -> Result<(Vec<OrderItem>, Money), ValidationError> {
        let mut total = Money::default();
        let mut priced = Vec::with_capacity(self.items.len());
        for (index, item) in self.items.iter().enumerate() {
            let product = catalog.get(&item.product_id).ok_or_else(|| ValidationError::UnknownProduct {
                field: format!("items[{index}].product_id"),
                product_id: item.product_id.clone(),
            })?;
            let too_large = || ValidationError::invalid("items", "order total is too large");
            let line_total = product.unit_price.checked_mul(item.quantity).ok_or_else(too_large)?;
            total = total.checked_add(line_total).filter(|t| *t <= Money::MAX).ok_or_else(too_large)?;
            priced.push(OrderItem {
                product_id: item.product_id.clone(),
                quantity: item.quantity,
                unit_price: product.unit_price,
                line_total,
            });
        }
        Ok((priced, total))
    }

    /// A fingerprint of the request's meaning (not its spelling): equal for bodies that differ only in
    /// white space or key order. Idempotency keys are bound to it.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }
}

fn read_item(index: usize, item: Value) -> Result<NewOrderItem, ValidationError> {
    let Value::Object(mut item) = item else {
        return Err(ValidationError::invalid(format!("items[{index}]"), "must be an object"));
    };
    let product_field = format!("items[{index}].product_id");
    let product_id = take_string(&mut item, "product_id", &product_field)?;
    check_identifier(&product_field, &product_id)?;
    let quantity_field = format!("items[{index}].quantity");
    let quantity = match item.remove("quantity") {
        None | Some(Value::Null) => return Err(ValidationError::Missing(quantity_field)),
        Some(Value::Number(n)) => n.as_u64().filter(|q| (1..=u64::from(MAX_QUANTITY)).contains(q)),
        Some(_) => None,
    };
    let quantity = quantity.and_then(|q| u32::try_from(q).ok()).ok_or_else(|| {
        ValidationError::invalid(&quantity_field, format!("must be an integer from 1 to {MAX_QUANTITY}"))
    })?;
    reject_unknown_fields(&item, &format!("items[{index}]."))?;
    Ok(NewOrderItem { product_id, quantity })
}

fn take_string(object: &mut Map<String, Value>, key: &str, field: &str) -> Result<String, ValidationError> {
    match object.remove(key) {
        None | Some(Value::Null) => Err(ValidationError::Missing(field.to_owned())),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(ValidationError::invalid(field, "must be a string")),
    }
}

fn reject_unknown_fields(rest: &Map<String, Value>, prefix: &str) -> Result<(), ValidationError> {
    match rest.keys().next() {
        Some(key) => Err(ValidationError::invalid(format!("{prefix}{key}"), "is not a known field")),
        None => Ok(()),
    }
}

/// Ids (customer, product): 1 to 64 characters, no control characters, no surrounding spaces.
pub fn check_identifier(field: &str, value: &str) -> Result<(), ValidationError> {
    let length = value.chars().count();
    if length == 0 || length > MAX_ID_CHARS {
        return Err(ValidationError::invalid(field, format!("must be 1 to {MAX_ID_CHARS} characters")));
    }
    if value.trim() != value || value.chars().any(char::is_control) {
        return Err(ValidationError::invalid(field, "must not contain control characters or surrounding spaces"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn read(body: Value) -> Result<NewOrder, String> {
        NewOrder::from_json_value(body).map_err(|e| e.to_string())
    }

    #[test]
    fn the_seed_example_prices_to_150_75() {
        let order = read(json!({"customer_id": "CUST001", "items": [
            {"product_id": "PROD001", "quantity": 2}, {"product_id": "PROD002", "quantity": 1}]}))
        .unwrap();
        let (items, total) = order.price(&ProductCatalog::demo()).unwrap();
        assert_eq!(total.to_string(), "150.75");
        assert_eq!(items[0].line_total.to_string(), "51.00");
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let cases = [
            (json!({}), "Missing required field: customer_id"),
            (json!({"customer_id": "C"}), "Missing required field: items"),
            (json!({"customer_id": 7, "items": []}), "Invalid field customer_id: must be a string"),
            (json!({"customer_id": "", "items": []}), "Invalid field customer_id: must be 1 to 64 characters"),
            (
                json!({"customer_id": "C".repeat(65), "items": []}),
                "Invalid field customer_id: must be 1 to 64 characters",
            ),
            (
                json!({"customer_id": " C", "items": []}),
                "Invalid field customer_id: must not contain control characters or surrounding spaces",
            ),
            (json!({"customer_id": "C", "items": []}), "Invalid field items: must hold 1 to 100 items"),
            (json!({"customer_id": "C", "items": {}}), "Invalid field items: must be an array"),
            (json!({"customer_id": "C", "items": [1]}), "Invalid field items[0]: must be an object"),
            (json!({"customer_id": "C", "items": [{"quantity": 1}]}), "Missing required field: items[0].product_id"),
            (json!({"customer_id": "C", "items": [{"product_id": "P"}]}), "Missing required field: items[0].quantity"),
            (
                json!({"customer_id": "C", "items": [{"product_id": "P", "quantity": 0}]}),
                "Invalid field items[0].quantity: must be an integer from 1 to 1000",
            ),
            (
                json!({"customer_id": "C", "items": [{"product_id": "P", "quantity": -1}]}),
                "Invalid field items[0].quantity: must be an integer from 1 to 1000",
            ),
            (
                json!({"customer_id": "C", "items": [{"product_id": "P", "quantity": 2.5}]}),
                "Invalid field items[0].quantity: must be an integer from 1 to 1000",
            ),
            (
                json!({"customer_id": "C", "items": [{"product_id": "P", "quantity": "2"}]}),
                "Invalid field items[0].quantity: must be an integer from 1 to 1000",
            ),
            (
                json!({"customer_id": "C", "items": [{"product_id": "P", "quantity": 1001}]}),
                "Invalid field items[0].quantity: must be an integer from 1 to 1000",
            ),
            (
                json!({"customer_id": "C", "items": [{"product_id": "P", "quantity": 1, "x": 1}]}),
                "Invalid field items[0].x: is not a known field",
            ),
            (
                json!({"customer_id": "C", "items": [{"product_id": "P", "quantity": 1}], "note": "hi"}),
                "Invalid field note: is not a known field",
            ),
            (json!([1]), "Request body must be a JSON object"),
        ];
        for (body, expected) in cases {
            assert_eq!(read(body.clone()), Err(expected.to_owned()), "body {body}");
        }
        let too_many: Vec<Value> = (0..101).map(|i| json!({"product_id": format!("P{i}"), "quantity": 1})).collect();
        assert_eq!(
            read(json!({"customer_id": "C", "items": too_many})),
            Err("Invalid field items: must hold 1 to 100 items".into())
        );
    }

    #[test]
    fn duplicate_and_unknown_products_are_refused() {
        let dup = read(json!({"customer_id": "C", "items": [
            {"product_id": "PROD001", "quantity": 1}, {"product_id": "PROD001", "quantity": 1}]}));
        assert!(dup.unwrap_err().starts_with("Invalid field items[1].product_id"));
        let order = read(json!({"customer_id": "C", "items": [
            {"product_id": "PROD001", "quantity": 1}, {"product_id": "NOPE", "quantity": 1}]}))
        .unwrap();
        assert_eq!(
            order.price(&ProductCatalog::demo()).unwrap_err().to_string(),
            "Unknown product_id \"NOPE\" in items[1].product_id"
        );
    }

    #[test]
    fn invalid_json_is_a_body_error() {
        let err = NewOrder::from_json_bytes(b"{\"customer_id\": ").unwrap_err();
        assert!(err.to_string().starts_with("Invalid JSON:"), "{err}");
    }

    #[test]
    fn fingerprint_ignores_spelling_but_not_meaning() {
        let a = NewOrder::from_json_bytes(br#"{"customer_id":"C","items":[{"product_id":"P","quantity":1}]}"#).unwrap();
        let b =
            NewOrder::from_json_bytes(br#"{ "items": [ {"quantity": 1, "product_id": "P"} ], "customer_id": "C" }"#)
                .unwrap();
        let c = NewOrder::from_json_bytes(br#"{"customer_id":"C","items":[{"product_id":"P","quantity":2}]}"#).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn fingerprint_of_a_request_is_the_one_stored_before_json_objects_kept_document_order() {
        // Idempotency records store the fingerprint, so it must not change between versions: it is
        // the SHA-256 of the typed request's JSON (fields in declaration order), never of a parsed
        // `Value`, whose key order depends on serde_json's features (docs/ARCHITECTURE.md).
        let order =
            NewOrder::from_json_bytes(br#"{"items":[{"quantity":1,"product_id":"P"}],"customer_id":"C"}"#).unwrap();
        assert_eq!(order.fingerprint(), "00d5ab6763c4ae944e312d2d9de64c1717bb1496fa397301d721abe2dc494186");
    }
}
