//! The checked-in expectations of the differential test (`known_differences.json` beside this
//! file), owning how a difference is recognised as known: the definitions our engine refuses at
//! load, counted by reason, and the differences between our engine and moto that are understood,
//! each with the AWS documentation that says which side is wrong.
//!
//! A known difference matches a differing case when the case uses its `feature`, the outcomes
//! differ in exactly its `differs_in` aspects, and each side's outcome matches its pattern (`ours`,
//! `moto`: a subset of the outcome's JSON; a string with `*` in it is a wildcard pattern); each of
//! these that it leaves out matches anything. The first entry that matches explains the case, so
//! the specific entries come before the general ones.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::engines::Outcome;
use crate::generator::Case;

pub const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/workflow_differential/known_differences.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// How many generated definitions our engine refuses at load, by reason (`Kind: message`).
    pub refused_at_load: BTreeMap<String, usize>,
    pub differences: Vec<KnownDifference>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDifference {
    pub id: String,
    pub summary: String,
    /// A feature tag the case must carry (see the generator); none: any case.
    #[serde(default)]
    pub feature: Option<String>,
    /// The aspects that differ, exactly: some of `status`, `output`, `error`, `cause`; none: any.
    #[serde(default)]
    pub differs_in: Option<Vec<String>>,
    #[serde(default)]
    pub ours: Option<Value>,
    #[serde(default)]
    pub moto: Option<Value>,
    /// `ours` or `moto`: the side the documentation says is wrong.
    pub wrong: Side,
    /// For a difference where we are wrong: the file where the fix belongs.
    #[serde(default)]
    pub fix_in: Option<String>,
    pub docs: Documentation,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Ours,
    Moto,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Documentation {
    pub url: String,
    /// A one-line quote or summary of what the page says.
    pub says: String,
}

pub fn load() -> Expectations {
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|error| panic!("cannot read {PATH}: {error}"));
    let expectations: Expectations =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{PATH} is not valid: {error}"));
    for known in &expectations.differences {
        assert!(
            known.wrong == Side::Moto || known.fix_in.is_some(),
            "{PATH}: {} says our engine is wrong, so it must say where the fix belongs (fix_in)",
            known.id
        );
        assert!(known.docs.url.starts_with("https://"), "{PATH}: {} needs the documentation's URL", known.id);
    }
    expectations
}

impl KnownDifference {
    pub fn matches(&self, case: &Case, differs_in: &[&str], ours: &Outcome, moto: &Outcome) -> bool {
        self.feature.as_ref().is_none_or(|feature| case.features.contains(feature))
            && self
                .differs_in
                .as_ref()
                .is_none_or(|aspects| aspects.iter().map(String::as_str).eq(differs_in.iter().copied()))
            && self.ours.as_ref().is_none_or(|pattern| matches_pattern(pattern, &ours.to_json()))
            && self.moto.as_ref().is_none_or(|pattern| matches_pattern(pattern, &moto.to_json()))
    }
}

/// Whether `value` has everything `pattern` has (objects: a subset of fields; strings: equal, or
/// matching `*` wildcards).
fn matches_pattern(pattern: &Value, value: &Value) -> bool {
    match (pattern, value) {
        (Value::Object(wanted), Value::Object(fields)) => {
            wanted.iter().all(|(key, want)| fields.get(key).is_some_and(|have| matches_pattern(want, have)))
        }
        (Value::String(wanted), Value::String(text)) if wanted.contains('*') => wildcard(wanted, text),
        _ => pattern == value,
    }
}

fn wildcard(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let pieces: Vec<&str> = pieces.collect();
    for (index, piece) in pieces.iter().enumerate() {
        if index == pieces.len() - 1 {
            return rest.ends_with(piece);
        }
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}
