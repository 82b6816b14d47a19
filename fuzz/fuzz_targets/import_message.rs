//! Fuzz target `import_message`: the import queue's message parser
//! (`orders_core::domain::import::parse_import_message`), fed twice per input: the bytes as text
//! (lossily decoded), and a well-formed JSON document built from the same bytes (biased towards the
//! schema's field names, so batches and references are reached and not only JSON errors).
//!
//! Properties: it never panics; a refusal always has a message; an accepted message holds 1 to
//! `MAX_ORDERS_PER_MESSAGE` entries; every entry's reference is either usable (not blank, at most
//! `MAX_REFERENCE_CHARS` characters, no control characters, exactly the `client_reference` sent) or
//! refused with one of the documented messages; for valid JSON the verdict is the one the schema
//! (docs/IMPORT.md) predicts.

#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use orders_core::domain::import::{ImportEntry, MAX_ORDERS_PER_MESSAGE, MAX_REFERENCE_CHARS, parse_import_message};
use orders_fuzz::json_value;
use orders_core::domain::json::from_str_unique;
use serde_json::{Map, Value};

const WORDS: &[&str] = &[
    "orders",
    "client_reference",
    "order",
    "customer_id",
    "items",
    "product_id",
    "quantity",
    "",
    " ",
    "ERP-1",
    "\u{7}",
    "\u{85}",
];

const MISSING: &str = "Missing required field: client_reference";
const INVALID: &str =
    "Invalid field client_reference: must be a string of 1 to 200 characters without control characters";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The reference reading is the one every client JSON gets: serde_json's, refusing repeated keys.
    check(&text, from_str_unique(&text).ok().as_ref());

    let mut u = Unstructured::new(data);
    let document = match u.int_in_range(0..=3_u8) {
        // A batch: `{"orders": [...]}`, sometimes with a stray field beside it.
        Ok(0) => batch(&mut u),
        Ok(_) => json_value(&mut u, WORDS, 0),
        Err(_) => return,
    };
    if let Ok(document) = document {
        let body = document.to_string();
        // Compare with the document as read back (a float may come back one unit in the last place
        // off): what matters is that the verdict is the one the body deserves. serde_json does not
        // always read its own output: an object key equal to its private raw-value token
        // (`$serde_json::private::RawValue`, found by this target) is read as a raw value, so the
        // body is then refused as invalid JSON, which `check` expects of any text serde_json refuses.
        check(&body, from_str_unique(&body).ok().as_ref());
    }
});

/// A batch message built from the fuzzer's bytes: up to a few more entries than the limit allows.
fn batch(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let len = u.int_in_range(0..=MAX_ORDERS_PER_MESSAGE + 2)?;
    let mut orders = Vec::with_capacity(len);
    for _ in 0..len {
        let mut entry = Map::new();
        if u.arbitrary::<bool>()? {
            let reference = match u.int_in_range(0..=3_u8)? {
                0 => Value::String("R".repeat(u.int_in_range(0..=MAX_REFERENCE_CHARS + 1)?)),
                1 => json_value(u, WORDS, orders_fuzz::MAX_DEPTH)?,
                _ => Value::String(u.arbitrary()?),
            };
            entry.insert("client_reference".to_owned(), reference);
        }
        if u.arbitrary::<bool>()? {
            entry.insert("order".to_owned(), json_value(u, WORDS, 2)?);
        }
        orders.push(Value::Object(entry));
    }
    let mut message = Map::from_iter([("orders".to_owned(), Value::Array(orders))]);
    if u.ratio(1, 8)? {
        message.insert("note".to_owned(), Value::Null);
    }
    Ok(Value::Object(message))
}

/// Parses `body` and checks the properties; `document` is `body` as JSON when it is JSON.
fn check(body: &str, document: Option<&Value>) {
    let result = parse_import_message(body);
    match (&result, document) {
        (Err(reason), None) => assert!(reason.starts_with("Invalid JSON: "), "not JSON, yet: {reason}"),
        (Ok(_), None) => panic!("text that is not JSON was accepted: {body:?}"),
        (_, Some(document)) => assert_eq!(result, expected(document), "for {body}"),
    }
    match &result {
        Err(reason) => assert!(!reason.is_empty(), "a refusal without a message"),
        Ok(entries) => {
            assert!((1..=MAX_ORDERS_PER_MESSAGE).contains(&entries.len()), "{} entries", entries.len());
            for entry in entries {
                check_entry(entry);
            }
        }
    }
}

fn check_entry(entry: &ImportEntry) {
    match &entry.client_reference {
        Ok(reference) => {
            assert!(!reference.trim().is_empty(), "blank reference accepted");
            assert!(reference.chars().count() <= MAX_REFERENCE_CHARS, "over-long reference accepted");
            assert!(!reference.chars().any(char::is_control), "control character accepted: {reference:?}");
            assert_eq!(entry.raw.get("client_reference").and_then(Value::as_str), Some(reference.as_str()));
        }
        Err(reason) => assert!(reason == MISSING || reason == INVALID, "unexpected refusal: {reason}"),
    }
}

/// What the schema in docs/IMPORT.md says a JSON message yields, written independently of the parser.
fn expected(document: &Value) -> Result<Vec<ImportEntry>, String> {
    let Some(object) = document.as_object() else { return Err("The message must be a JSON object".into()) };
    let raw_entries = match object.get("orders") {
        None => vec![document.clone()],
        Some(Value::Array(orders)) => {
            if orders.is_empty() || orders.len() > MAX_ORDERS_PER_MESSAGE {
                return Err("Invalid field orders: must hold 1 to 100 orders".into());
            }
            if object.len() != 1 {
                return Err("A batch message holds only the field orders".into());
            }
            orders.clone()
        }
        Some(_) => return Err("Invalid field orders: must be an array".into()),
    };
    Ok(raw_entries
        .into_iter()
        .map(|raw| {
            let client_reference = match raw.get("client_reference") {
                None | Some(Value::Null) => Err(MISSING.to_owned()),
                Some(Value::String(text)) => {
                    let usable = text.chars().any(|c| !c.is_whitespace())
                        && text.chars().count() <= MAX_REFERENCE_CHARS
                        && text.chars().all(|c| !c.is_control());
                    if usable { Ok(text.clone()) } else { Err(INVALID.to_owned()) }
                }
                Some(_) => Err(INVALID.to_owned()),
            };
            ImportEntry { client_reference, raw }
        })
        .collect())
}
