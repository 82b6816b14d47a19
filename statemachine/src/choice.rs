//! Choice rules of JSONPath states (a JSONata state's rules are `Condition` expressions, see
//! [`crate::jsonata`]): compiling `Variable` + comparison operator rules and their
//! `And`/`Or`/`Not` combinations, with load-time checks (exactly one operator, literal types,
//! `Next` only at the top level, valid timestamps and `StringMatches` escapes), and evaluating them
//! against a Choice state's effective input.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Number, Value};

use crate::error::{Failure, Refusal};
use crate::path::RefPath;
use crate::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Cmp {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Cmp::Eq => ordering == Ordering::Equal,
            Cmp::Lt => ordering == Ordering::Less,
            Cmp::Gt => ordering == Ordering::Greater,
            Cmp::Le => ordering != Ordering::Greater,
            Cmp::Ge => ordering != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Operand<T> {
    Literal(T),
    Path(RefPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MatchPiece {
    Char(char),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    String(Cmp, Operand<String>),
    StringMatches(Vec<MatchPiece>),
    Numeric(Cmp, Operand<Number>),
    Boolean(Operand<bool>),
    Timestamp(Cmp, Operand<DateTime<FixedOffset>>),
    Is(TypeTest, bool),
}

/// A compiled Choice rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: RefPath, op: Op },
}

/// A refusal at a location inside the Choices array (`Choices[1].And[0].NumericEquals`).
#[derive(Debug)]
pub(crate) struct RuleRefusal {
    pub location: String,
    pub refusal: Refusal,
}

/// Compiles a top-level Choice rule (which must have `Next`); returns the rule and its `Next`.
pub(crate) fn compile_top(value: &Value, location: &str) -> Result<(Rule, String), RuleRefusal> {
    let at = |field: &str, refusal: Refusal| RuleRefusal { location: format!("{location}.{field}"), refusal };
    let Value::Object(map) = value else {
        return Err(RuleRefusal {
            location: location.to_owned(),
            refusal: Refusal::invalid("a Choice rule must be an object"),
        });
    };
    let next = match map.get("Next") {
        Some(Value::String(next)) => next.clone(),
        Some(_) => return Err(at("Next", Refusal::invalid("must be a state name (a string)"))),
        None => return Err(at("Next", Refusal::invalid("a top-level Choice rule must have \"Next\""))),
    };
    Ok((compile(value, location, true)?, next))
}

fn compile(value: &Value, location: &str, top_level: bool) -> Result<Rule, RuleRefusal> {
    let here = |field: &str| format!("{location}.{field}");
    let at = |field: &str, refusal: Refusal| RuleRefusal { location: here(field), refusal };
    let Value::Object(map) = value else {
        return Err(RuleRefusal {
            location: location.to_owned(),
            refusal: Refusal::invalid("a Choice rule must be an object"),
        });
    };
    let mut operators = Vec::new();
    for key in map.keys() {
        match key.as_str() {
            "Comment" => {}
            "Next" if top_level => {}
            "Next" => {
                return Err(at("Next", Refusal::invalid("only top-level Choice rules may have \"Next\"")));
            }
            "Variable" => {}
            "And" | "Or" | "Not" => operators.push(key.as_str()),
            "Assign" => {
                return Err(at(key, Refusal::invalid("only a top-level Choice rule may assign variables")));
            }
            "Condition" | "Output" => {
                return Err(at(
                    key,
                    Refusal::invalid(format!(
                        "The QueryLanguage is set to 'JSONPath', but field '{key}' is only supported for the 'JSONata' \
                         QueryLanguage"
                    )),
                ));
            }
            other if operator_kind(other).is_some() => operators.push(other),
            other => {
                return Err(at(other, Refusal::invalid(format!("{other:?} is not a Choice rule field"))));
            }
        }
    }
    let operator = match operators[..] {
        [one] => one,
        [] => {
            return Err(RuleRefusal {
                location: location.to_owned(),
                refusal: Refusal::invalid(
                    "a Choice rule needs And, Or, Not, or a Variable with one comparison operator",
                ),
            });
        }
        _ => {
            return Err(RuleRefusal {
                location: location.to_owned(),
                refusal: Refusal::invalid(format!(
                    "a Choice rule must have exactly one operator, not {}",
                    operators.join(", ")
                )),
            });
        }
    };
    let operand = &map[operator];
    match operator {
        "And" | "Or" => {
            if map.contains_key("Variable") {
                return Err(at(
                    "Variable",
                    Refusal::invalid(format!("a rule with {operator} must not have \"Variable\"")),
                ));
            }
            let Value::Array(items) = operand else {
                return Err(at(operator, Refusal::invalid("must be a non-empty array of Choice rules")));
            };
            if items.is_empty() {
                return Err(at(operator, Refusal::invalid("must be a non-empty array of Choice rules")));
            }
            let rules = items
                .iter()
                .enumerate()
                .map(|(i, item)| compile(item, &format!("{location}.{operator}[{i}]"), false))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Rule(if operator == "And" { Node::And(rules) } else { Node::Or(rules) }))
        }
        "Not" => {
            if map.contains_key("Variable") {
                return Err(at("Variable", Refusal::invalid("a rule with Not must not have \"Variable\"")));
            }
            Ok(Rule(Node::Not(Box::new(compile(operand, &here("Not"), false)?))))
        }
        _ => {
            let variable = match map.get("Variable") {
                Some(Value::String(text)) => {
                    let path = RefPath::parse(text).map_err(|r| at("Variable", r))?;
                    path.check_context(false).map_err(|r| at("Variable", r))?;
                    path
                }
                Some(_) => return Err(at("Variable", Refusal::invalid("must be a path (a string)"))),
                None => {
                    return Err(at("Variable", Refusal::invalid(format!("a rule with {operator} needs \"Variable\""))));
                }
            };
            let op = compile_op(operator, operand).map_err(|r| at(operator, r))?;
            Ok(Rule(Node::Test { variable, op }))
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    String(Cmp),
    StringMatches,
    Numeric(Cmp),
    Boolean,
    Timestamp(Cmp),
    Is(TypeTest),
}

/// The kind of a comparison operator name and whether it is a `…Path` variant.
fn operator_kind(name: &str) -> Option<(Kind, bool)> {
    let (base, is_path) = match name.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let cmp = |suffix: &str| match suffix {
        "Equals" => Some(Cmp::Eq),
        "LessThan" => Some(Cmp::Lt),
        "GreaterThan" => Some(Cmp::Gt),
        "LessThanEquals" => Some(Cmp::Le),
        "GreaterThanEquals" => Some(Cmp::Ge),
        _ => None,
    };
    let kind = if let Some(rest) = base.strip_prefix("String") {
        if rest == "Matches" {
            if is_path {
                return None;
            }
            Kind::StringMatches
        } else {
            Kind::String(cmp(rest)?)
        }
    } else if let Some(rest) = base.strip_prefix("Numeric") {
        Kind::Numeric(cmp(rest)?)
    } else if let Some(rest) = base.strip_prefix("Timestamp") {
        Kind::Timestamp(cmp(rest)?)
    } else if base == "BooleanEquals" {
        Kind::Boolean
    } else {
        if is_path {
            return None;
        }
        Kind::Is(match base {
            "IsNull" => TypeTest::Null,
            "IsPresent" => TypeTest::Present,
            "IsNumeric" => TypeTest::Numeric,
            "IsString" => TypeTest::String,
            "IsBoolean" => TypeTest::Boolean,
            "IsTimestamp" => TypeTest::Timestamp,
            _ => return None,
        })
    };
    Some((kind, is_path))
}

fn compile_op(name: &str, operand: &Value) -> Result<Op, Refusal> {
    let Some((kind, is_path)) = operator_kind(name) else {
        return Err(Refusal::invalid(format!("{name:?} is not a comparison operator")));
    };
    if is_path {
        let Value::String(text) = operand else {
            return Err(Refusal::invalid("must be a path (a string)"));
        };
        let path = RefPath::parse(text)?;
        path.check_context(false)?;
        return Ok(match kind {
            Kind::String(cmp) => Op::String(cmp, Operand::Path(path)),
            Kind::Numeric(cmp) => Op::Numeric(cmp, Operand::Path(path)),
            Kind::Boolean => Op::Boolean(Operand::Path(path)),
            Kind::Timestamp(cmp) => Op::Timestamp(cmp, Operand::Path(path)),
            Kind::StringMatches | Kind::Is(_) => return Err(Refusal::invalid(format!("{name:?} is not an operator"))),
        });
    }
    Ok(match kind {
        Kind::String(cmp) => match operand {
            Value::String(s) => Op::String(cmp, Operand::Literal(s.clone())),
            _ => return Err(Refusal::invalid("must be a string")),
        },
        Kind::StringMatches => match operand {
            Value::String(s) => Op::StringMatches(compile_pattern(s)?),
            _ => return Err(Refusal::invalid("must be a string pattern")),
        },
        Kind::Numeric(cmp) => match operand {
            Value::Number(n) => Op::Numeric(cmp, Operand::Literal(n.clone())),
            _ => return Err(Refusal::invalid("must be a number")),
        },
        Kind::Boolean => match operand {
            Value::Bool(b) => Op::Boolean(Operand::Literal(*b)),
            _ => return Err(Refusal::invalid("must be true or false")),
        },
        Kind::Timestamp(cmp) => match operand.as_str().and_then(timestamp::parse) {
            Some(t) => Op::Timestamp(cmp, Operand::Literal(t)),
            None => {
                return Err(Refusal::invalid(
                    "must be an RFC 3339 timestamp with an uppercase T and Z, e.g. \"2016-03-14T01:59:00Z\"",
                ));
            }
        },
        Kind::Is(test) => match operand {
            Value::Bool(b) => Op::Is(test, *b),
            _ => return Err(Refusal::invalid("must be true or false")),
        },
    })
}

fn compile_pattern(pattern: &str) -> Result<Vec<MatchPiece>, Refusal> {
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('*' | '\\')) => pieces.push(MatchPiece::Char(escaped)),
                _ => {
                    return Err(Refusal::invalid(format!(
                        "pattern {pattern:?} has an open escape \"\\\" (only \\* and \\\\ are escapes)"
                    )));
                }
            },
            '*' => pieces.push(MatchPiece::Star),
            c => pieces.push(MatchPiece::Char(c)),
        }
    }
    Ok(pieces)
}

/// Whether `text` matches the `*`-wildcard pattern.
fn matches(pattern: &[MatchPiece], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(MatchPiece::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(MatchPiece::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|piece| *piece == MatchPiece::Star)
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

impl Rule {
    /// Evaluates the rule against the Choice state's effective `input`.
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<bool, Failure> {
        match &self.0 {
            Node::And(rules) => {
                for rule in rules {
                    if !rule.eval(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Node::Or(rules) => {
                for rule in rules {
                    if rule.eval(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Node::Not(rule) => Ok(!rule.eval(input, context)?),
            Node::Test { variable, op } => {
                let value = variable.resolve(input, context);
                if let Op::Is(TypeTest::Present, expected) = op {
                    return Ok(value.is_some() == *expected);
                }
                let Some(value) = value else {
                    return Err(Failure::runtime(format!(
                        "Invalid path '{variable}': the Choice state's Variable path references a field not present in the input"
                    )));
                };
                let operand = |path: &RefPath| {
                    path.resolve(input, context).ok_or_else(|| {
                        Failure::runtime(format!("Invalid path '{path}': the Choice rule's comparison path references a field not present in the input"))
                    })
                };
                Ok(match op {
                    Op::String(cmp, expected) => {
                        let expected = match expected {
                            Operand::Literal(s) => Some(s.as_str()),
                            Operand::Path(p) => operand(p)?.as_str(),
                        };
                        match (value.as_str(), expected) {
                            (Some(a), Some(b)) => cmp.holds(a.cmp(b)),
                            _ => false,
                        }
                    }
                    Op::StringMatches(pattern) => value.as_str().is_some_and(|s| matches(pattern, s)),
                    Op::Numeric(cmp, expected) => {
                        let expected = match expected {
                            Operand::Literal(n) => Some(n),
                            Operand::Path(p) => match operand(p)? {
                                Value::Number(n) => Some(n),
                                _ => None,
                            },
                        };
                        match (value, expected) {
                            (Value::Number(a), Some(b)) => compare_numbers(a, b).is_some_and(|o| cmp.holds(o)),
                            _ => false,
                        }
                    }
                    Op::Boolean(expected) => {
                        let expected = match expected {
                            Operand::Literal(b) => Some(*b),
                            Operand::Path(p) => operand(p)?.as_bool(),
                        };
                        matches!((value.as_bool(), expected), (Some(a), Some(b)) if a == b)
                    }
                    Op::Timestamp(cmp, expected) => {
                        let expected = match expected {
                            Operand::Literal(t) => Some(*t),
                            Operand::Path(p) => operand(p)?.as_str().and_then(timestamp::parse),
                        };
                        match (value.as_str().and_then(timestamp::parse), expected) {
                            (Some(a), Some(b)) => cmp.holds(a.cmp(&b)),
                            _ => false,
                        }
                    }
                    Op::Is(test, expected) => {
                        let actual = match test {
                            TypeTest::Null => value.is_null(),
                            TypeTest::Present => true,
                            TypeTest::Numeric => value.is_number(),
                            TypeTest::String => value.is_string(),
                            TypeTest::Boolean => value.is_boolean(),
                            TypeTest::Timestamp => value.as_str().and_then(timestamp::parse).is_some(),
                        };
                        actual == *expected
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn rule(value: Value) -> Rule {
        let mut value = value;
        value["Next"] = json!("X");
        match compile_top(&value, "Choices[0]") {
            Ok((rule, _)) => rule,
            Err(e) => panic!("{}: {}", e.location, e.refusal.message),
        }
    }

    fn holds(value: Value, input: Value) -> bool {
        rule(value).eval(&input, &json!({})).unwrap()
    }

    #[test]
    fn given_the_spec_dispatch_event_rules_when_input_is_private_22_then_only_the_twenties_rule_matches() {
        // Given the spec's JSONPath Choice example (without its Assign fields) and its input
        let input = json!({"type": "Private", "value": 22});
        let public = json!({"Not": {"Variable": "$.type", "StringEquals": "Private"}});
        let twenties = json!({"And": [
            {"Variable": "$.value", "IsPresent": true},
            {"Variable": "$.value", "IsNumeric": true},
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30}
        ]});
        let audit = json!({"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold"});
        // Then
        assert!(!holds(public, input.clone()));
        assert!(holds(twenties, input.clone()));
        // The third rule's Variable is absent from this input, which is a runtime error.
        assert!(rule(audit.clone()).eval(&input, &json!({})).is_err());
        assert!(holds(audit, json!({"rating": 53, "auditThreshold": 50})));
    }

    #[test]
    fn given_string_matches_patterns_from_the_spec_when_evaluated_then_star_matches_any_run() {
        let m = |pattern: &str, text: &str| holds(json!({"Variable": "$", "StringMatches": pattern}), json!(text));
        assert!(m("foo*.log", "foo23.log"));
        assert!(m("*.log", "zebra.log"));
        assert!(m("foo*.*", "foobar.zebra"));
        assert!(!m("foo*.log", "foo23.txt"));
        assert!(m("log-\\*", "log-*"));
        assert!(!m("log-\\*", "log-x"));
        assert!(m("a\\\\b", "a\\b"));
        assert!(m("*", ""));
        assert!(!m("abc", "ab"));
    }

    #[test]
    fn given_every_comparison_operator_when_evaluated_then_results_follow_the_spec() {
        let input = json!({
            "s": "b", "n": 10, "f": 2.5, "t": true, "ts": "2016-03-14T01:59:00Z", "nul": null,
            "other_s": "a", "other_n": 10, "other_t": true, "other_ts": "2016-03-14T02:59:00+01:00"
        });
        let cases = [
            (json!({"Variable": "$.s", "StringEquals": "b"}), true),
            (json!({"Variable": "$.s", "StringEqualsPath": "$.other_s"}), false),
            (json!({"Variable": "$.s", "StringLessThan": "c"}), true),
            (json!({"Variable": "$.s", "StringGreaterThan": "a"}), true),
            (json!({"Variable": "$.s", "StringLessThanEquals": "b"}), true),
            (json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.other_s"}), true),
            (json!({"Variable": "$.n", "NumericEquals": 10}), true),
            (json!({"Variable": "$.n", "NumericEquals": 10.0}), true),
            (json!({"Variable": "$.n", "NumericEqualsPath": "$.other_n"}), true),
            (json!({"Variable": "$.f", "NumericLessThan": 3}), true),
            (json!({"Variable": "$.f", "NumericGreaterThan": 2.5}), false),
            (json!({"Variable": "$.f", "NumericGreaterThanEquals": 2.5}), true),
            (json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.f"}), false),
            (json!({"Variable": "$.t", "BooleanEquals": true}), true),
            (json!({"Variable": "$.t", "BooleanEqualsPath": "$.other_t"}), true),
            (json!({"Variable": "$.ts", "TimestampEquals": "2016-03-14T01:59:00Z"}), true),
            (json!({"Variable": "$.ts", "TimestampEqualsPath": "$.other_ts"}), true),
            (json!({"Variable": "$.ts", "TimestampLessThan": "2016-03-14T02:00:00Z"}), true),
            (json!({"Variable": "$.ts", "TimestampGreaterThan": "2016-03-14T02:00:00Z"}), false),
            (json!({"Variable": "$.ts", "TimestampLessThanEquals": "2016-03-14T01:59:00Z"}), true),
            (json!({"Variable": "$.ts", "TimestampGreaterThanEqualsPath": "$.other_ts"}), true),
            (json!({"Variable": "$.nul", "IsNull": true}), true),
            (json!({"Variable": "$.s", "IsNull": true}), false),
            (json!({"Variable": "$.missing", "IsPresent": false}), true),
            (json!({"Variable": "$.s", "IsPresent": true}), true),
            (json!({"Variable": "$.n", "IsNumeric": true}), true),
            (json!({"Variable": "$.s", "IsString": true}), true),
            (json!({"Variable": "$.t", "IsBoolean": true}), true),
            (json!({"Variable": "$.ts", "IsTimestamp": true}), true),
            (json!({"Variable": "$.s", "IsTimestamp": true}), false),
            // Values of the wrong type compare false, never error.
            (json!({"Variable": "$.n", "StringEquals": "10"}), false),
            (json!({"Variable": "$.s", "NumericEquals": 1}), false),
            (json!({"Variable": "$.s", "TimestampEquals": "2016-03-14T01:59:00Z"}), false),
            (json!({"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.n", "NumericEquals": 10}]}), true),
            (
                json!({"And": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.n", "NumericEquals": 10}]}),
                false,
            ),
        ];
        for (rule_json, expected) in cases {
            assert_eq!(holds(rule_json.clone(), input.clone()), expected, "{rule_json}");
        }
    }

    #[test]
    fn given_context_variables_when_evaluated_then_the_context_object_is_read() {
        let r = rule(json!({"Variable": "$$.Execution.Name", "StringMatches": "order-*"}));
        assert!(r.eval(&json!({}), &json!({"context": {"Execution": {"Name": "order-7"}}})).unwrap());
    }

    #[test]
    fn given_malformed_rules_when_compiled_then_refused_with_their_location() {
        let refused = |v: Value| compile_top(&v, "Choices[0]").err().unwrap();
        let r = refused(json!({"Variable": "$.a", "NumericEquals": "1", "Next": "X"}));
        assert_eq!(r.location, "Choices[0].NumericEquals");
        let r = refused(json!({"Variable": "$.a", "NumericEquals": 1, "StringEquals": "1", "Next": "X"}));
        assert!(r.refusal.message.contains("exactly one"));
        let r = refused(json!({"And": [{"Variable": "$.a", "IsNull": true, "Next": "Y"}], "Next": "X"}));
        assert_eq!(r.location, "Choices[0].And[0].Next");
        let r = refused(json!({"Variable": "$.a", "IsNull": true}));
        assert_eq!(r.location, "Choices[0].Next");
        let r = refused(json!({"Variable": "$.a", "TimestampEquals": "2016-03-14", "Next": "X"}));
        assert!(r.refusal.message.contains("timestamp"));
        let r = refused(json!({"Condition": "{% true %}", "Next": "X"}));
        assert!(r.refusal.message.contains("only supported for the 'JSONata' QueryLanguage"));
        let r = refused(json!({"Variable": "$.a", "StringMatches": "bad\\escape", "Next": "X"}));
        assert!(r.refusal.message.contains("escape"));
        let r = refused(json!({"And": [], "Next": "X"}));
        assert_eq!(r.location, "Choices[0].And");
        let r = refused(json!({"Variable": "$.a[?(@.x)]", "IsNull": true, "Next": "X"}));
        assert!(r.refusal.unsupported);
        let r = refused(json!({"Variable": "$.a", "StringMatchesPath": "$.b", "Next": "X"}));
        assert_eq!(r.location, "Choices[0].StringMatchesPath");
    }
}
