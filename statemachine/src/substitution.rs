//! Definition substitutions, as AWS SAM's `DefinitionSubstitutions` (CloudFormation's
//! `AWS::StepFunctions::StateMachine` property of that name) apply them: every `${Name}` in the
//! definition *text* is replaced by the value mapped to `Name`, verbatim (no JSON escaping), and
//! replacing repeats while a replacement introduced another mapped placeholder. Unlike
//! CloudFormation, a placeholder left without a value is an error rather than literal text.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{LoadError, LoadErrorKind};

/// The placeholder names (`Name` of each `${Name}`) that `text` uses.
///
/// A placeholder is `${`, a non-empty name without whitespace, quotes, backslashes, `$`, `{` or `}`,
/// and `}`; `${}` is not one.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match placeholder_name(after) {
            Some(name) => {
                names.insert(name.to_owned());
                rest = &after[name.len() + 1..];
            }
            None => rest = after,
        }
    }
    names
}

/// The name of the placeholder whose `${` was just before `after`, if it is one.
fn placeholder_name(after: &str) -> Option<&str> {
    // A name holds no `$`, so the search may stop at one: searching on to the next `}` made a text
    // of many `${` and no `}` take quadratic time (found by the `asl_paths` fuzz target).
    let end = after.find(['}', '$']).filter(|&end| after[end..].starts_with('}'))?;
    let name = &after[..end];
    let valid = !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || "\"\\${}".contains(c));
    valid.then_some(name)
}

/// The longest text substitution may produce, in bytes: Step Functions' limit for a definition
/// (1,048,576). A text already longer is not refused for its own size, only for growing.
const MAX_SUBSTITUTED_BYTES: usize = 1_048_576;

/// Replaces `${Name}` placeholders in `text` with their values in `substitutions`, as
/// CloudFormation does for `DefinitionSubstitutions`. Fails if a placeholder is left unreplaced, the
/// substitutions refer to each other in a loop, or they would make the text longer than a
/// definition may be (values that repeat their own placeholder grow the text exponentially).
pub fn substitute(text: &str, substitutions: &BTreeMap<String, String>) -> Result<String, LoadError> {
    let mut current = text.to_owned();
    let limit = MAX_SUBSTITUTED_BYTES.max(text.len());
    // CloudFormation (Apache StringUtils.replaceEachRepeatedly) repeats passes while the text
    // changes and gives up after one pass per key.
    for _ in 0..=substitutions.len() {
        let Some((next, changed)) = substitute_once(&current, substitutions, limit) else {
            return Err(LoadError::new(
                LoadErrorKind::Substitution,
                None,
                None,
                format!(
                    "definition substitutions make the definition longer than {limit} bytes; \
                     do the substitutions refer to each other in a loop?"
                ),
            ));
        };
        current = next;
        if !changed {
            let missing = placeholders(&current);
            if missing.is_empty() {
                return Ok(current);
            }
            let names: Vec<String> = missing.iter().map(|n| format!("${{{n}}}")).collect();
            return Err(LoadError::new(
                LoadErrorKind::Substitution,
                None,
                None,
                format!("no substitution given for placeholder(s) {}", names.join(", ")),
            ));
        }
    }
    Err(LoadError::new(
        LoadErrorKind::Substitution,
        None,
        None,
        "definition substitutions refer to each other in a loop",
    ))
}

/// One pass over `text`, and whether it replaced anything; `None` once the result would pass
/// `limit` bytes.
fn substitute_once(text: &str, substitutions: &BTreeMap<String, String>, limit: usize) -> Option<(String, bool)> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    let mut closes = NextClose::new(text);
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let offset = text.len() - after.len();
        let replacement = closes
            .at_or_after(offset)
            .map(|close| close - offset)
            .and_then(|end| substitutions.get(&after[..end]).map(|value| (end, value)));
        match replacement {
            Some((end, value)) => {
                if out.len() + value.len() > limit {
                    return None;
                }
                out.push_str(value);
                changed = true;
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out.len() <= limit).then_some((out, changed))
}

/// The first `}` at or after a position of a text, for positions that only move forward. Each `}`
/// is searched for once: searching again from every `${` made a text of many `${` and few `}` take
/// quadratic time (found by the `asl_paths` fuzz target).
struct NextClose<'a> {
    text: &'a str,
    found: Option<usize>,
    none_left: bool,
}

impl<'a> NextClose<'a> {
    fn new(text: &'a str) -> Self {
        NextClose { text, found: None, none_left: false }
    }

    /// The byte offset of the first `}` at or after `from` (a character boundary), if any.
    fn at_or_after(&mut self, from: usize) -> Option<usize> {
        match self.found {
            Some(close) if close >= from => return Some(close),
            None if self.none_left => return None,
            _ => {}
        }
        self.found = self.text[from..].find('}').map(|index| from + index);
        self.none_left = self.found.is_none();
        self.found
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn given_a_text_with_placeholders_when_listed_then_each_name_appears_once() {
        let text =
            r#"{"A": "${FnArn}", "B": "${Queue}-${FnArn}", "C": "States.Format('${}', $.x)", "D": "${ not one}"}"#;
        let names: Vec<String> = placeholders(text).into_iter().collect();
        assert_eq!(names, ["FnArn", "Queue"]);
    }

    #[test]
    fn given_all_values_when_substituted_then_text_is_replaced_verbatim() {
        let text = r#"{"Resource": "${FnArn}", "Q": "${Queue}"}"#;
        let out = substitute(text, &map(&[("FnArn", "arn:aws:lambda:x"), ("Queue", "q"), ("Unused", "u")])).unwrap();
        assert_eq!(out, r#"{"Resource": "arn:aws:lambda:x", "Q": "q"}"#);
    }

    #[test]
    fn given_a_value_that_is_itself_a_placeholder_when_substituted_then_replaced_repeatedly() {
        let out = substitute("${A}", &map(&[("A", "${B}"), ("B", "done")])).unwrap();
        assert_eq!(out, "done");
    }

    #[test]
    fn given_a_missing_value_when_substituted_then_the_error_names_the_placeholder() {
        let err = substitute(r#"{"a": "${Known}", "b": "${Missing}"}"#, &map(&[("Known", "k")])).unwrap_err();
        assert_eq!(err.kind, LoadErrorKind::Substitution);
        assert!(err.to_string().contains("${Missing}"), "{err}");
    }

    #[test]
    fn given_looping_values_when_substituted_then_refused() {
        let err = substitute("${A}", &map(&[("A", "${B}"), ("B", "${A}")])).unwrap_err();
        assert!(err.message.contains("loop"), "{err}");
    }

    #[test]
    fn given_values_that_repeat_their_own_placeholder_when_substituted_then_refused_before_memory_runs_out() {
        // Found by the `asl_paths` fuzz target (a value holding its own placeholder 37 times): one
        // pass is allowed per key, and each pass multiplies the text, so memory ran out long before
        // the loop was noticed. Here: 4,000 bytes × 8^7 would be 8 GB.
        let eightfold = "${S}".repeat(8);
        let substitutions =
            map(&[("S", eightfold.as_str()), ("T", "t"), ("U", "u"), ("V", "v"), ("W", "w"), ("X", "x")]);
        let err = substitute(&"${S}".repeat(1000), &substitutions).unwrap_err();
        assert_eq!(err.kind, LoadErrorKind::Substitution);
        assert!(err.message.contains("longer than 1048576 bytes"), "{err}");
        let long_text = "x".repeat(MAX_SUBSTITUTED_BYTES + 1);
        assert_eq!(substitute(&long_text, &map(&[])).unwrap(), long_text, "a long text is not refused for its size");
    }

    #[test]
    fn given_many_unclosed_placeholders_when_substituted_then_done_in_linear_time() {
        // Found by the `asl_paths` fuzz target: 500 × `${A}` with A = 1,000 × `${` made a 1 MB text
        // of `${` that each pass and the placeholder scan searched from every `${` to its end
        // (over 30 s). Quadratic, this test would run for minutes; linear, it takes milliseconds.
        let opened = "${".repeat(1000);
        let out = substitute(&"${A}".repeat(500), &map(&[("A", opened.as_str())])).unwrap();
        assert_eq!(out.len(), 1_000_000);
        let many = "${".repeat(200_000);
        let text = format!("{many}${{A}}{many}}}");
        assert_eq!(placeholders(&text).into_iter().collect::<Vec<_>>(), ["A"]);
        assert_eq!(substitute(&text, &map(&[("A", "a")])).unwrap(), format!("{many}a{many}}}"));
    }
}
