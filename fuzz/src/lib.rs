//! Helpers shared by the fuzz targets in `fuzz_targets/`: building well-formed JSON documents out of
//! the fuzzer's bytes, so that targets reach the code behind the JSON parser and not only its error
//! paths. The targets themselves own the properties they check (see docs/FUZZING.md).

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Number, Value};

/// Deepest nesting [`json_value`] builds.
pub const MAX_DEPTH: u32 = 6;
/// Most elements (array items or object fields) per level.
pub const MAX_WIDTH: usize = 8;

/// A JSON value built from `u`. Object keys and strings come from `words` about half of the time
/// (so a target's field names are hit often) and are otherwise arbitrary text; numbers are
/// integers, unsigned integers or finite floats. Never fails for lack of bytes: an exhausted `u`
/// yields `null`s, empty strings and zeros.
pub fn json_value(u: &mut Unstructured<'_>, words: &[&str], depth: u32) -> Result<Value> {
    let kind = if depth >= MAX_DEPTH { u.int_in_range(0..=4)? } else { u.int_in_range(0..=6)? };
    Ok(match kind {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json_number(u)?,
        3 | 4 => Value::String(text(u, words)?),
        5 => {
            let len = u.int_in_range(0..=MAX_WIDTH)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(json_value(u, words, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let len = u.int_in_range(0..=MAX_WIDTH)?;
            let mut object = Map::new();
            for _ in 0..len {
                let key = text(u, words)?;
                let value = json_value(u, words, depth + 1)?;
                object.insert(key, value);
            }
            Value::Object(object)
        }
    })
}

/// A JSON number: a small or large integer (signed or not) or a finite float.
pub fn json_number(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Value::from(u.int_in_range(-2_i64..=1_200)?),
        1 => Value::from(u.arbitrary::<i64>()?),
        2 => Value::from(u.arbitrary::<u64>()?),
        _ => Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
    })
}

/// A string: one of `words` or arbitrary text.
pub fn text(u: &mut Unstructured<'_>, words: &[&str]) -> Result<String> {
    if !words.is_empty() && u.arbitrary::<bool>()? {
        return Ok((*u.choose(words)?).to_owned());
    }
    u.arbitrary()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_make_a_value_and_empty_bytes_make_null() {
        let mut empty = Unstructured::new(&[]);
        assert_eq!(json_value(&mut empty, &["a"], 0).ok(), Some(Value::Null));
        let bytes: Vec<u8> = (0..=255).collect();
        let mut u = Unstructured::new(&bytes);
        assert!(json_value(&mut u, &["a", "b"], 0).is_ok());
    }
}
