//! Reading JSON that clients send (order bodies, status changes, import messages and import file
//! rows) into a [`serde_json::Value`], refusing an object that names a key twice.
//!
//! serde_json keeps the last value of a repeated key without a word, and parsers disagree on which
//! one wins (some keep the first): `{"customer_id":"A","customer_id":"B"}` is an order for `B` here
//! and could be one for `A` in the proxy or producer that checked it. Such a body has no single
//! meaning, so it is refused, naming the key. serde_json has no switch for it (its maintainers
//! point to a custom `Deserialize`, serde-rs/json#762), and the crates that offer one are young
//! and far larger than this visitor, which checks each object's keys while it is parsed (no second
//! pass, serde_json's own nesting limit still applies).

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `text` as one JSON value; an object with a repeated key is an error whose text reads
/// `duplicate key "customer_id" at line 1 column 30`.
pub fn from_str_unique(text: &str) -> serde_json::Result<Value> {
    from_slice_unique(text.as_bytes())
}

/// [`from_str_unique`] for bytes (a request body).
pub fn from_slice_unique(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = UniqueKeys.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Builds a [`Value`] like serde_json's own `Deserialize`, refusing repeated keys.
#[derive(Clone, Copy)]
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(value) = seq.next_element_seed(self)? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":18446744073709551615,"d":"\u00e9"}"#;
        assert_eq!(from_str_unique(text).unwrap(), serde_json::from_str::<Value>(text).unwrap());
        assert!(from_str_unique("{} x").is_err());
        assert!(from_str_unique("{").is_err());
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_naming_it() {
        let error = from_str_unique(r#"{"customer_id":"A","customer_id":"B"}"#).unwrap_err();
        assert!(error.to_string().starts_with(r#"duplicate key "customer_id" at line 1"#), "{error}");
        let nested = r#"{"items":[{"product_id":"P","quantity":1,"quantity":2}]}"#;
        assert!(from_str_unique(nested).unwrap_err().to_string().starts_with(r#"duplicate key "quantity""#));
        // The same key in two different objects is fine.
        assert_eq!(from_str_unique(r#"[{"a":1},{"a":2}]"#).unwrap(), json!([{"a": 1}, {"a": 2}]));
        // Escapes are read before comparing: "\u0061" is "a".
        assert!(from_str_unique(r#"{"a":1,"\u0061":2}"#).is_err());
    }
}
