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
    let end = after.find('}')?;
    let name = &after[..end];
    let valid = !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || "\"\\${}".contains(c));
    valid.then_some(name)
}

/// Replaces `${Name}` placeholders in `text` with their values in `substitutions`, as
/// CloudFormation does for `DefinitionSubstitutions`. Fails if a placeholder is left unreplaced or
/// the substitutions refer to each other in a loop.
pub fn substitute(text: &str, substitutions: &BTreeMap<String, String>) -> Result<String, LoadError> {
    let mut current = text.to_owned();
    // CloudFormation (Apache StringUtils.replaceEachRepeatedly) repeats passes while the text
    // changes and gives up after one pass per key.
    for _ in 0..=substitutions.len() {
        let (next, changed) = substitute_once(&current, substitutions);
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

fn substitute_once(text: &str, substitutions: &BTreeMap<String, String>) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let replacement = after.find('}').and_then(|end| substitutions.get(&after[..end]).map(|value| (end, value)));
        match replacement {
            Some((end, value)) => {
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
    (out, changed)
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
}
