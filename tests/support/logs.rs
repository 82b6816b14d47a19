//! JSON log lines read back, as an operator searches them: the lines about one order (its
//! `order_id` in the event's fields or in any span it happened in) and the value a field has on a
//! line, wherever on the line it is (`tracing-subscriber`'s JSON layout puts the event's fields at
//! the top level and the spans' under `span` and `spans`).
//!
//! Include it with `#[path = "…/tests/support/logs.rs"] mod logs;`. Needs serde_json.

#![allow(dead_code)]

use serde_json::Value;

/// The JSON lines of `output` (other lines skipped).
pub fn json_lines(output: &str) -> Vec<Value> {
    output.lines().filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok()).filter(Value::is_object).collect()
}

/// The value of `field` on `line`: the event's own, else the innermost span's that has it.
pub fn field<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    let own = line.get(name).and_then(Value::as_str);
    let current = line.get("span").and_then(|span| span.get(name)).and_then(Value::as_str);
    let spans = line
        .get("spans")
        .and_then(Value::as_array)
        .and_then(|spans| spans.iter().rev().find_map(|span| span.get(name).and_then(Value::as_str)));
    own.or(current).or(spans).filter(|value| !value.is_empty())
}

/// The lines about the order `order_id`.
pub fn about_order<'a>(lines: &'a [Value], order_id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| field(line, "order_id") == Some(order_id)).collect()
}
