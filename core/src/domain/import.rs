//! Reading an import message (schema in `docs/IMPORT.md`): one order
//! (`{"client_reference", "order"}`) or a batch (`{"orders": […]}`), split into entries, each with
//! its client reference checked. Pure parsing, no AWS or queue types: the import use case
//! (`application::import`) creates the orders, and the fuzz target `import_message` exercises this code.
//!
//! The error texts are part of the contract: they travel to the import dead-letter queue as the
//! `reason` attribute and tests assert them.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest client reference, in characters.
pub const MAX_REFERENCE_CHARS: usize = 200;
/// Most orders in one message.
pub const MAX_ORDERS_PER_MESSAGE: usize = 100;

/// One order of an import message, as far as it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportEntry {
    /// The reference (1 to [`MAX_REFERENCE_CHARS`] characters, not blank, no control characters),
    /// or why it is not usable, worded for the import dead-letter queue.
    pub client_reference: Result<String, String>,
    /// The entry as sent (its `order` field is the `POST /orders` body); kept whole so a refused
    /// entry can be forwarded unchanged.
    pub raw: Value,
}

/// The entries of a message body: one order (`{"client_reference", "order"}`) or a batch
/// (`{"orders": […]}` of 1 to [`MAX_ORDERS_PER_MESSAGE`] entries and no other field).
///
/// `Err` means no entry could be read at all (not JSON, not an object, a malformed batch); the text
/// says why. Otherwise each entry carries its own verdict on its `client_reference`; its `order` is
/// not read here.
pub fn parse_import_message(body: &str) -> Result<Vec<ImportEntry>, String> {
    let value: Value = super::json::from_str_unique(body).map_err(|e| format!("Invalid JSON: {e}"))?;
    let Value::Object(object) = &value else { return Err("The message must be a JSON object".into()) };
    let raw_entries = match object.get("orders") {
        Some(Value::Array(orders)) if orders.is_empty() || orders.len() > MAX_ORDERS_PER_MESSAGE => {
            return Err(format!("Invalid field orders: must hold 1 to {MAX_ORDERS_PER_MESSAGE} orders"));
        }
        Some(Value::Array(orders)) if object.len() == 1 => orders.clone(),
        Some(Value::Array(_)) => return Err("A batch message holds only the field orders".into()),
        Some(_) => return Err("Invalid field orders: must be an array".into()),
        None => vec![value.clone()],
    };
    Ok(raw_entries
        .into_iter()
        .map(|raw| {
            let client_reference = read_client_reference(raw.get("client_reference"));
            ImportEntry { client_reference, raw }
        })
        .collect())
}

/// The one rule for a `client_reference`, shared by the import worker and `orders import`: a string
/// of 1 to [`MAX_REFERENCE_CHARS`] characters (any Unicode: references come from other systems,
/// which number orders in their own scripts), not blank, without control characters. `Err` says
/// why, in the wording the import DLQ's `reason` carries.
pub fn read_client_reference(value: Option<&Value>) -> Result<String, String> {
    match value {
        None | Some(Value::Null) => Err("Missing required field: client_reference".to_owned()),
        Some(Value::String(reference))
            if !reference.trim().is_empty()
                && reference.chars().count() <= MAX_REFERENCE_CHARS
                && !reference.chars().any(char::is_control) =>
        {
            Ok(reference.clone())
        }
        Some(_) => Err(format!(
            "Invalid field client_reference: must be a string of 1 to {MAX_REFERENCE_CHARS} characters without control characters"
        )),
    }
}

/// The idempotency key an imported order is created with, from its (valid) reference. An
/// Idempotency-Key is printable ASCII, so a reference that is printable ASCII is used as it is
/// (`import:ERP-1`, as since the first import), and any other reference by its SHA-256
/// (`import-sha256:<64 hex digits>`): the same reference always gives the same key, two references
/// never share one, and the two forms cannot meet (an ASCII reference's key starts `import:`).
pub fn idempotency_key(reference: &str) -> String {
    if reference.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        format!("import:{reference}")
    } else {
        format!("import-sha256:{}", hex::encode(Sha256::digest(reference.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn references(body: &str) -> Result<Vec<Result<String, String>>, String> {
        parse_import_message(body).map(|entries| entries.into_iter().map(|e| e.client_reference).collect())
    }

    #[test]
    fn one_order_or_a_batch() {
        let one = json!({"client_reference": "R-1", "order": {}}).to_string();
        assert_eq!(references(&one), Ok(vec![Ok("R-1".to_owned())]));
        let batch = json!({"orders": [{"client_reference": "A"}, {"client_reference": "B"}]}).to_string();
        assert_eq!(references(&batch), Ok(vec![Ok("A".to_owned()), Ok("B".to_owned())]));
        let entries = parse_import_message(&batch).unwrap();
        assert_eq!(entries[1].raw, json!({"client_reference": "B"}));
    }

    #[test]
    fn messages_that_hold_no_readable_entry_are_refused_with_their_reason() {
        let too_many: Vec<Value> = (0..=MAX_ORDERS_PER_MESSAGE).map(|i| json!({"client_reference": i})).collect();
        let cases = [
            (json!([1]).to_string(), "The message must be a JSON object"),
            (json!({"orders": {}}).to_string(), "Invalid field orders: must be an array"),
            (json!({"orders": []}).to_string(), "Invalid field orders: must hold 1 to 100 orders"),
            (json!({"orders": too_many}).to_string(), "Invalid field orders: must hold 1 to 100 orders"),
            (json!({"orders": [{}], "x": 1}).to_string(), "A batch message holds only the field orders"),
        ];
        for (body, expected) in cases {
            assert_eq!(references(&body), Err(expected.to_owned()), "{body}");
        }
        assert!(references("{").unwrap_err().starts_with("Invalid JSON: "));
        // A key named twice has no single meaning: the producer is told which one.
        let twice = r#"{"client_reference":"A","client_reference":"B","order":{}}"#;
        assert!(references(twice).unwrap_err().starts_with(r#"Invalid JSON: duplicate key "client_reference""#));
    }

    #[test]
    fn every_valid_reference_gives_a_printable_key_of_its_own() {
        assert_eq!(idempotency_key("ERP-2024-000123"), "import:ERP-2024-000123");
        for reference in ["Bestellung-Müller-1", "注文-42", &"é".repeat(MAX_REFERENCE_CHARS)] {
            let key = idempotency_key(reference);
            assert!(key.starts_with("import-sha256:") && key.len() == 14 + 64, "{key}");
            assert!(key.bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(key, idempotency_key(reference), "the same reference, the same key");
        }
        assert_ne!(idempotency_key("Bestellung-Müller-1"), idempotency_key("Bestellung-Müller-2"));
        assert!(idempotency_key(&"x".repeat(MAX_REFERENCE_CHARS)).len() <= 255);
    }

    #[test]
    fn each_reference_is_judged_on_its_own() {
        let invalid =
            "Invalid field client_reference: must be a string of 1 to 200 characters without control characters";
        let batch = json!({"orders": [
            {}, {"client_reference": null}, {"client_reference": 7}, {"client_reference": " "},
            {"client_reference": "a\u{7}b"}, {"client_reference": "x".repeat(MAX_REFERENCE_CHARS + 1)},
            {"client_reference": "é".repeat(MAX_REFERENCE_CHARS)},
        ]});
        let missing = Err("Missing required field: client_reference".to_owned());
        let bad = Err(invalid.to_owned());
        assert_eq!(
            references(&batch.to_string()),
            Ok(vec![
                missing.clone(),
                missing,
                bad.clone(),
                bad.clone(),
                bad.clone(),
                bad,
                Ok("é".repeat(MAX_REFERENCE_CHARS))
            ])
        );
    }
}
