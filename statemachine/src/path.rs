//! Reference paths (`$`, `$.a.b`, `$.a[0]`, `$['a b']`, `$.a\.b`) and context paths (`$$.…`):
//! parsing (with the JSONPath parser of [`crate::jsonpath`], refusing every feature a Reference
//! Path excludes: wildcards, recursive descent, slices, unions, filters, functions, negative
//! indexes), reading a value, writing one for `ResultPath`, and checking context paths against the
//! context object this executor provides.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::Refusal;
use crate::jsonpath::{Token, parse_tokens};

/// What a path is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// The data (state input, task result, …): a path starting with one `$`.
    Data,
    /// The context object: a path starting with `$$`.
    Context,
    /// The workflow variables in scope: a path starting with `$name` (the name is its first step).
    Variables,
}

/// Where a path with `root` starts: `data`, or, in `env` (what the engine gives paths to read:
/// `{"context": {…}, "variables": {…}}`, see [`environment`]), the context object or the variables.
pub(crate) fn start_of<'a>(root: Root, data: &'a Value, env: &'a Value) -> &'a Value {
    static NOTHING: Value = Value::Null;
    match root {
        Root::Data => data,
        Root::Context => env.get("context").unwrap_or(&NOTHING),
        Root::Variables => env.get("variables").unwrap_or(&NOTHING),
    }
}

/// What paths read besides their data: the context object (`$$`) and the workflow variables in
/// scope (`$name`).
pub(crate) fn environment(context: Value, variables: Map<String, Value>) -> Value {
    // Moved in, not copied: `json!` would serialise both values into new ones.
    let mut environment = Map::new();
    environment.insert("context".to_owned(), context);
    environment.insert("variables".to_owned(), Value::Object(variables));
    Value::Object(environment)
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Field(String),
    Index(usize),
}

/// A parsed reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefPath {
    root: Root,
    segments: Vec<Segment>,
    text: String,
}

impl fmt::Display for RefPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl RefPath {
    /// Parses a path; `$$…` paths address the context object.
    pub(crate) fn parse(text: &str) -> Result<RefPath, Refusal> {
        let (root, tokens) = parse_tokens(text)?;
        let segments = tokens
            .into_iter()
            .map(|token| match token {
                Token::Name(name) => Ok(Segment::Field(name)),
                Token::Index(index) if index >= 0 => Ok(Segment::Index(usize::try_from(index).unwrap_or(usize::MAX))),
                other => Err(Refusal::unsupported(format!(
                    "path {text:?}: {} are not supported here: this field takes a reference path (names and \
                     indexes only); Parameters, ResultSelector and intrinsic function arguments take full JSONPath",
                    other.feature()
                ))),
            })
            .collect::<Result<_, _>>()?;
        Ok(RefPath { root, segments, text: text.to_owned() })
    }

    /// Parses a path that must address the data, not the context object (`ResultPath`).
    pub(crate) fn parse_data(text: &str) -> Result<RefPath, Refusal> {
        let path = RefPath::parse(text)?;
        match path.root {
            Root::Data => {}
            Root::Context => {
                return Err(Refusal::invalid(format!("path {text:?} must not address the context object (\"$$\")")));
            }
            Root::Variables => {
                return Err(Refusal::invalid(format!(
                    "path {text:?} must address the data (\"$\"); variables are set with Assign"
                )));
            }
        }
        Ok(path)
    }

    /// The path's first `steps` steps as Jayway JsonPath prints a path in its errors:
    /// `$['order']['items'][0]`.
    fn jayway(&self, steps: usize) -> String {
        let mut text = String::from(match self.root {
            Root::Context => "$$",
            Root::Data | Root::Variables => "$",
        });
        for segment in &self.segments[..steps] {
            match segment {
                Segment::Field(name) => text.push_str(&format!("['{name}']")),
                Segment::Index(index) => text.push_str(&format!("[{index}]")),
            }
        }
        text
    }

    /// What the path starts from in `data` or `env` (see [`start_of`]).
    pub(crate) fn start<'a>(&self, data: &'a Value, env: &'a Value) -> &'a Value {
        start_of(self.root, data, env)
    }

    /// Why the path selects nothing in `data`, as Jayway JsonPath (which Step Functions uses)
    /// words it: a field missing from an object before the last step is "Missing property in path
    /// $['a']" (the path up to that field); anything else is "No results for path: $['a']['b']"
    /// (the whole path). Called only once [`RefPath::resolve`] found nothing, so it costs nothing
    /// on a path that selects a value.
    pub(crate) fn no_results(&self, data: &Value, env: &Value) -> String {
        let mut current = start_of(self.root, data, env);
        for (position, segment) in self.segments.iter().enumerate() {
            let next = match segment {
                Segment::Field(name) => match current.as_object() {
                    Some(object) => match object.get(name) {
                        Some(next) => Some(next),
                        None if position + 1 < self.segments.len() => {
                            return format!("Missing property in path {}", self.jayway(position + 1));
                        }
                        None => None,
                    },
                    None => None,
                },
                Segment::Index(index) => current.as_array().and_then(|array| array.get(*index)),
            };
            match next {
                Some(next) => current = next,
                None => break,
            }
        }
        format!("No results for path: {}", self.jayway(self.segments.len()))
    }

    /// Whether this is `$` (the whole data).
    pub(crate) fn is_whole_data(&self) -> bool {
        self.root == Root::Data && self.segments.is_empty()
    }

    /// The value the path selects in `data` (or in `env`, for `$$` and `$name` paths), if any.
    pub(crate) fn resolve<'a>(&self, data: &'a Value, env: &'a Value) -> Option<&'a Value> {
        let mut current = start_of(self.root, data, env);
        for segment in &self.segments {
            current = match segment {
                Segment::Field(name) => current.as_object()?.get(name)?,
                Segment::Index(index) => current.as_array()?.get(*index)?,
            };
        }
        Some(current)
    }

    /// `target` with `value` placed where this (data) path points, creating intervening objects as
    /// needed (`ResultPath` semantics). Fails if an existing value on the way is not an object (or
    /// not an array long enough, for an index).
    pub(crate) fn set(&self, mut target: Value, value: Value) -> Result<Value, String> {
        if self.segments.is_empty() {
            return Ok(value);
        }
        set_in(&mut target, &self.segments, value, &self.text)?;
        Ok(target)
    }

    /// Checks a context path against the context object the executor provides. `$$.Task.Token`
    /// exists only in the Parameters of a `.waitForTaskToken` Task state.
    pub(crate) fn check_context(&self, task_token_available: bool) -> Result<(), Refusal> {
        if self.root != Root::Context {
            return Ok(());
        }
        let fields: Vec<Option<&str>> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Field(name) => Some(name.as_str()),
                Segment::Index(_) => None,
            })
            .collect();
        check_context_fields(&self.text, &fields, task_token_available)
    }
}

/// Checks the fields a context path (`text`) names, in order (`None` for an index), against the
/// context object the executor provides. `$$.Task.Token` exists only in the Parameters of a
/// `.waitForTaskToken` Task state.
pub(crate) fn check_context_fields(
    text: &str,
    fields: &[Option<&str>],
    task_token_available: bool,
) -> Result<(), Refusal> {
    let unknown = || {
        Refusal::unsupported(format!(
            "context path {text:?} addresses a field this executor does not provide \
             (available: $$.Execution.Id/Input/Name/StartTime/RoleArn/RedriveCount, \
             $$.State.EnteredTime/Name/RetryCount, \
             $$.StateMachine.Id/Name, $$.Map.Item.Index/Value/Source in a Map's ItemSelector, and $$.Task.Token \
             in a .waitForTaskToken Task's Parameters)"
        ))
    };
    match fields {
        [] => Ok(()),
        [Some("Execution")] | [Some("State")] | [Some("StateMachine")] => Ok(()),
        [Some("Execution"), Some("Input"), ..] => Ok(()),
        [Some("Execution"), Some("Id" | "Name" | "StartTime" | "RoleArn" | "RedriveCount")] => Ok(()),
        [Some("State"), Some("EnteredTime" | "Name" | "RetryCount")] => Ok(()),
        [Some("StateMachine"), Some("Id" | "Name")] => Ok(()),
        [Some("Task")] | [Some("Task"), Some("Token")] => {
            if task_token_available {
                Ok(())
            } else {
                Err(Refusal::invalid(format!(
                    "context path {text:?}: $$.Task.Token exists only in the Parameters of a Task state whose \
                     Resource ends with .waitForTaskToken"
                )))
            }
        }
        // Present in a Map state's ItemSelector; elsewhere the path selects nothing, as in AWS.
        [Some("Map")] | [Some("Map"), Some("Item")] => Ok(()),
        [Some("Map"), Some("Item"), Some("Index" | "Source")] | [Some("Map"), Some("Item"), Some("Value"), ..] => {
            Ok(())
        }
        _ => Err(unknown()),
    }
}

fn set_in(current: &mut Value, segments: &[Segment], value: Value, text: &str) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        *current = value;
        return Ok(());
    };
    match first {
        Segment::Field(name) => {
            let Value::Object(object) = current else {
                return Err(format!(
                    "unable to apply ResultPath {text:?}: the value holding field {name:?} is {}, not an object",
                    kind_of(current)
                ));
            };
            if rest.is_empty() {
                object.insert(name.clone(), value);
                return Ok(());
            }
            let child = object.entry(name.clone()).or_insert_with(|| Value::Object(Map::new()));
            set_in(child, rest, value, text)
        }
        Segment::Index(index) => {
            let Value::Array(array) = current else {
                return Err(format!(
                    "unable to apply ResultPath {text:?}: the value indexed by [{index}] is {}, not an array",
                    kind_of(current)
                ));
            };
            let length = array.len();
            let Some(child) = array.get_mut(*index) else {
                return Err(format!(
                    "unable to apply ResultPath {text:?}: index [{index}] is beyond the array's {length} element(s)"
                ));
            };
            set_in(child, rest, value, text)
        }
    }
}

/// A short name for the JSON type of `value`, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn fields(text: &str) -> Vec<Segment> {
        RefPath::parse(text).unwrap().segments
    }

    fn f(name: &str) -> Segment {
        Segment::Field(name.to_owned())
    }

    #[test]
    fn given_the_spec_reference_path_examples_when_resolved_then_they_select_single_nodes() {
        // Given the input of the spec's "Reference Paths" section
        let input = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}});
        let context = json!({});
        // Then
        for (path, expected) in [("$.foo", json!(123)), ("$.bar", json!(["a", "b", "c"])), ("$.car.cdr", json!(true))] {
            assert_eq!(RefPath::parse(path).unwrap().resolve(&input, &context), Some(&expected), "{path}");
        }
    }

    #[test]
    fn given_the_spec_acceptable_syntax_examples_when_parsed_then_escapes_and_brackets_work() {
        assert_eq!(fields("$.store.book"), [f("store"), f("book")]);
        assert_eq!(fields("$.store\\.book"), [f("store.book")]);
        assert_eq!(fields("$.\\stor\\e.boo\\k"), [f("store"), f("book")]);
        assert_eq!(fields("$.store.book.title"), [f("store"), f("book"), f("title")]);
        assert_eq!(fields("$.foo.\\.bar"), [f("foo"), f(".bar")]);
        assert_eq!(fields("$.foo\\@bar.baz\\[\\[.\\?pretty"), [f("foo@bar"), f("baz[["), f("?pretty")]);
        assert_eq!(fields("$.&Ж中.\u{10346}"), [f("&Ж中"), f("\u{10346}")]);
        assert_eq!(
            fields("$.ledgers.branch[0].pending.count"),
            [f("ledgers"), f("branch"), Segment::Index(0), f("pending"), f("count")]
        );
        assert_eq!(fields("$.ledgers.branch[0]"), [f("ledgers"), f("branch"), Segment::Index(0)]);
        assert_eq!(
            fields("$.ledgers[0][22][315].foo"),
            [f("ledgers"), Segment::Index(0), Segment::Index(22), Segment::Index(315), f("foo")]
        );
        assert_eq!(fields("$['store']['book']"), [f("store"), f("book")]);
        assert_eq!(fields("$['store'][0]['book']"), [f("store"), Segment::Index(0), f("book")]);
        assert_eq!(fields("$['a b']"), [f("a b")]);
        assert_eq!(fields("$"), []);
    }

    #[test]
    fn given_non_reference_jsonpath_when_parsed_then_refused_as_unsupported_with_the_feature_named() {
        for (path, feature) in [
            ("$..a", "recursive descent"),
            ("$.a[*]", "wildcards"),
            ("$.*", "wildcards"),
            ("$.a[1:3]", "slices"),
            ("$.vals[-3:]", "slices"),
            ("$.a[0,1]", "unions"),
            ("$.a[?(@.x > 1)]", "filters"),
            ("$.a[-1]", "negative indexes"),
            ("$.a.length()", "functions"),
        ] {
            let refusal = RefPath::parse(path).unwrap_err();
            assert!(refusal.unsupported, "{path}");
            assert!(refusal.message.contains(feature), "{path}: {}", refusal.message);
        }
        for invalid in ["a.b", "$.", "$.a.", "$1", "$[", "$['a'", "$.a\\"] {
            assert!(!RefPath::parse(invalid).unwrap_err().unsupported, "{invalid}");
        }
    }

    #[test]
    fn given_bracketed_names_with_backslashes_when_parsed_then_they_unescape_as_jayway_does() {
        // Quoted names follow Jayway (\\ \' \" \n \t \uXXXX; any other \c is c), and the Step Functions
        // "Paths" page's `$.abc.['def ghi']` (a dot before a bracket) is accepted.
        assert_eq!(fields(r"$['it\'s']"), [f("it's")]);
        assert_eq!(fields(r"$['a\\b']"), [f("a\\b")]);
        assert_eq!(fields(r"$['a\nb']"), [f("a\nb")]);
        assert_eq!(fields(r"$['\u00e9t\u00e9']"), [f("été")]);
        assert_eq!(fields(r"$['a\.b']"), [f("a.b")]);
        assert_eq!(fields("$.abc.['def ghi']"), [f("abc"), f("def ghi")]);
        assert_eq!(fields("$[ 'a' ][ 0 ]"), [f("a"), Segment::Index(0)]);
    }

    #[test]
    fn given_result_paths_when_set_then_intervening_objects_are_created() {
        let set = |path: &str, target: Value, value: Value| RefPath::parse(path).unwrap().set(target, value);
        // Spec: "$.master.detail" overwrites, "$.master.result.sum" creates a chain of fields.
        let input = json!({"master": {"detail": [1, 2, 3]}});
        assert_eq!(set("$.master.detail", input.clone(), json!(6)).unwrap(), json!({"master": {"detail": 6}}));
        assert_eq!(
            set("$.master.result.sum", input, json!(6)).unwrap(),
            json!({"master": {"detail": [1, 2, 3], "result": {"sum": 6}}})
        );
        assert_eq!(set("$", json!({"a": 1}), json!("x")).unwrap(), json!("x"));
        assert_eq!(set("$.a[1]", json!({"a": [0, 0]}), json!(9)).unwrap(), json!({"a": [0, 9]}));
        // Spec "JSONPath Runtime Errors": input "foo" with ResultPath "$.x" cannot apply.
        assert!(set("$.x", json!("foo"), json!(1)).is_err());
        assert!(set("$.a[5]", json!({"a": []}), json!(1)).is_err());
    }

    #[test]
    fn given_context_paths_when_checked_then_only_provided_fields_pass() {
        let check = |p: &str, token: bool| RefPath::parse(p).unwrap().check_context(token);
        for ok in
            ["$$", "$$.Execution.Id", "$$.Execution.Input.order.id", "$$.State.RetryCount", "$$.StateMachine.Name"]
        {
            assert!(check(ok, false).is_ok(), "{ok}");
        }
        assert!(check("$$.Task.Token", true).is_ok());
        assert!(check("$$.Task.Token", false).is_err());
        assert!(check("$$.DayOfWeek", false).unwrap_err().unsupported);
        assert!(check("$$.Map.Item.Value.sku", false).is_ok());
        assert!(check("$$.Map.Item.Index", false).is_ok());
        assert!(check("$$.Map.Items", false).unwrap_err().unsupported);
        assert!(check("$$.Execution.RoleArn", false).is_ok());
        assert!(check("$$.Execution.Owner", false).is_err());
    }
}
