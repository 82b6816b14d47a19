//! Loading a state machine definition: parsing the ASL JSON (after optional
//! `DefinitionSubstitutions`), validating it, and compiling it into the typed model the engine
//! runs. Everything this executor does not implement is refused here, with an error naming the
//! state and field, so that a definition that loads is one that runs as Step Functions would run it.
//!
//! Each state is read in its query language (its own `QueryLanguage`, else the state machine's):
//! a field of the other language is refused with Step Functions' message, and a JSONata state's
//! expressions are compiled and checked here (see [`crate::jsonata`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::model::{
    Catcher, ChoiceBranch, ChoiceState, Condition, Definition, EnvReads, FailState, IoPath, MapState, ParallelState,
    PassState, Payload, Reason, ResultHandling, ResultPath, Retrier, Seconds, State, StateKind, SucceedState,
    TaskState, ToleratedFailure, Transition, WaitFor, WaitState,
};
use crate::choice;
use crate::error::{LoadError, LoadErrorKind, Refusal, error_names};
use crate::intrinsics::Call;
use crate::jsonata::{self, Expression, Field, FieldRefusal, Reads};
use crate::path::RefPath;
use crate::payload::Template;
use crate::substitution;
use crate::timestamp;

/// The largest value Step Functions accepts for second counts and attempt counts.
const MAX_SECONDS: u64 = 99_999_999;
/// The largest `MaxDelaySeconds` Step Functions accepts (one year).
const MAX_DELAY_SECONDS: u64 = 31_622_400;

impl Definition {
    /// Loads a definition from its JSON text.
    pub fn load(text: &str) -> Result<Definition, LoadError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            LoadError::new(LoadErrorKind::Json, None, None, format!("the definition is not valid JSON: {e}"))
        })?;
        Definition::from_json(&value)
    }

    /// Loads a definition after replacing its `${Name}` placeholders as SAM
    /// `DefinitionSubstitutions` do (see [`substitute`](crate::substitute)). A placeholder
    /// without a value is an error.
    pub fn load_with_substitutions(
        text: &str,
        substitutions: &BTreeMap<String, String>,
    ) -> Result<Definition, LoadError> {
        Definition::load(&substitution::substitute(text, substitutions)?)
    }

    /// Loads a definition from parsed JSON.
    pub fn from_json(value: &Value) -> Result<Definition, LoadError> {
        load(value)
    }
}

const TOP_LEVEL_FIELDS: &[&str] = &["Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"];

/// Every state-level field the States Language defines, to tell "not allowed here" from "unknown".
const ASL_STATE_FIELDS: &[&str] = &[
    "Type",
    "Comment",
    "QueryLanguage",
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "Resource",
    "Retry",
    "Catch",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "Choices",
    "Default",
    "Seconds",
    "SecondsPath",
    "Timestamp",
    "TimestampPath",
    "Error",
    "Cause",
    "ErrorPath",
    "CausePath",
    "Branches",
    "ItemsPath",
    "ItemSelector",
    "ItemProcessor",
    "Iterator",
    "MaxConcurrency",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
    "Label",
];

/// The query language of a state (or, at the top level, of the state machine's states by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    JsonPath,
    Jsonata,
}

impl Language {
    fn name(self) -> &'static str {
        match self {
            Language::JsonPath => "JSONPath",
            Language::Jsonata => "JSONata",
        }
    }
}

/// Fields only JSONata states have.
const JSONATA_FIELDS: &[&str] = &["Arguments", "Output", "Items", "Condition"];

/// Fields only JSONPath states have: AWS, "`InputPath`, `Parameters`, `ResultSelector`,
/// `ResultPath`, `OutputPath`, and other JSONPath fields are only supported in JSONPath", the
/// other ones being every `…Path` field and a Pass state's `Result`.
const JSONPATH_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "Variable",
];

/// The refusal of a field `key` (at `field`: `Catch[0].ResultPath`) of the other query
/// language, worded as Step Functions words it.
fn other_language_field(state: &str, key: &str, field: &str, language: Language) -> Option<LoadError> {
    let other = match language {
        Language::JsonPath if JSONATA_FIELDS.contains(&key) => Language::Jsonata,
        Language::Jsonata if JSONPATH_FIELDS.contains(&key) => Language::JsonPath,
        _ => return None,
    };
    Some(invalid(
        Some(state),
        Some(field),
        format!(
            "The QueryLanguage is set to '{}', but field '{key}' is only supported for the '{}' QueryLanguage",
            language.name(),
            other.name()
        ),
    ))
}

fn allowed_fields(type_name: &str, language: Language) -> &'static [&'static str] {
    if language == Language::Jsonata {
        return match type_name {
            "Pass" => &["Assign", "Output", "Next", "End"],
            "Task" => &[
                "Assign",
                "Arguments",
                "Output",
                "Resource",
                "Next",
                "End",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "HeartbeatSeconds",
            ],
            "Choice" => &["Assign", "Output", "Choices", "Default"],
            "Wait" => &["Assign", "Output", "Seconds", "Timestamp", "Next", "End"],
            "Succeed" => &["Output"],
            "Fail" => &["Error", "Cause"],
            "Parallel" => &["Assign", "Arguments", "Output", "Branches", "Next", "End", "Retry", "Catch"],
            "Map" => &[
                "Assign",
                "Output",
                "Items",
                "ItemSelector",
                "ItemProcessor",
                "Iterator",
                "MaxConcurrency",
                "ToleratedFailureCount",
                "ToleratedFailurePercentage",
                "Label",
                "Next",
                "End",
                "Retry",
                "Catch",
            ],
            _ => &[],
        };
    }
    match type_name {
        "Pass" => &["Assign", "InputPath", "OutputPath", "Parameters", "ResultPath", "Result", "Next", "End"],
        "Task" => &[
            "Assign",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Resource",
            "Next",
            "End",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "HeartbeatSeconds",
        ],
        "Choice" => &["Assign", "InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &[
            "Assign",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
            "Next",
            "End",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel" => &[
            "Assign",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Branches",
            "Next",
            "End",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "Assign",
            "InputPath",
            "OutputPath",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "ToleratedFailureCount",
            "ToleratedFailurePercentage",
            "Label",
            "ResultSelector",
            "ResultPath",
            "Next",
            "End",
            "Retry",
            "Catch",
        ],
        _ => &[],
    }
}

fn invalid(state: Option<&str>, field: Option<&str>, message: impl Into<String>) -> LoadError {
    LoadError::new(LoadErrorKind::Invalid, state, field, message)
}

fn unsupported(state: Option<&str>, field: Option<&str>, message: impl Into<String>) -> LoadError {
    LoadError::new(LoadErrorKind::Unsupported, state, field, message)
}

/// The refusal for a field a state of this type may not have.
fn refuse_field(state: &str, type_name: &str, field: &str, language: Language) -> LoadError {
    if let Some(refusal) = other_language_field(state, field, field, language) {
        return refusal;
    }
    let at = Some(field);
    match field {
        "Assign" => invalid(Some(state), at, format!("a {type_name} state may not assign variables")),
        "Credentials" => unsupported(Some(state), at, "cross-account \"Credentials\" are not supported"),
        "TimeoutSecondsPath" | "HeartbeatSecondsPath" => unsupported(
            Some(state),
            at,
            "timeouts taken from the input are not supported; use TimeoutSeconds / HeartbeatSeconds",
        ),
        "ItemReader" | "ResultWriter" if type_name == "Map" => unsupported(
            Some(state),
            at,
            "a Map's items are read from its input; reading them from S3 (ItemReader) and writing results to S3 \
             (ResultWriter) are not supported",
        ),
        "ItemBatcher" if type_name == "Map" => {
            unsupported(Some(state), at, "batching a Map's items (ItemBatcher) is not supported")
        }
        "MaxConcurrencyPath" | "ToleratedFailureCountPath" | "ToleratedFailurePercentagePath" if type_name == "Map" => {
            unsupported(Some(state), at, "Map settings taken from the input are not supported; give them as numbers")
        }
        known if ASL_STATE_FIELDS.contains(&known) => {
            invalid(Some(state), at, format!("a {type_name} state may not have the field \"{known}\""))
        }
        unknown => unsupported(Some(state), at, format!("unknown or unsupported field \"{unknown}\"")),
    }
}

fn query_language(state: Option<&str>, value: &Value) -> Result<Language, LoadError> {
    match value.as_str() {
        Some("JSONPath") => Ok(Language::JsonPath),
        Some("JSONata") => Ok(Language::Jsonata),
        _ => Err(invalid(state, Some("QueryLanguage"), "must be \"JSONPath\" or \"JSONata\"")),
    }
}

/// Field accessors for one state's (or one Retrier's/Catcher's) JSON object, with errors that name
/// the state and field.
struct Fields<'a> {
    state: &'a str,
    prefix: String,
    map: &'a Map<String, Value>,
    language: Language,
}

impl<'a> Fields<'a> {
    fn field(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The field `key` as a JSONata expression names it.
    fn jsonata_field(&self, key: &str) -> Field {
        match self.prefix.strip_suffix('.') {
            Some(prefix) if !prefix.is_empty() => Field::new(prefix).key(key),
            _ => Field::new(key),
        }
    }

    fn jsonata_refusal(&self, refused: FieldRefusal) -> LoadError {
        refused.refusal.at(Some(self.state), &refused.field)
    }

    fn jsonata(&self) -> bool {
        self.language == Language::Jsonata
    }

    /// A JSONata field holding any JSON value (`Output`).
    fn jsonata_template(&self, key: &str, reads: Reads) -> Result<Option<jsonata::Template>, LoadError> {
        let Some(value) = self.map.get(key) else { return Ok(None) };
        jsonata::Template::compile(value, &self.jsonata_field(key), reads)
            .map(Some)
            .map_err(|r| self.jsonata_refusal(r))
    }

    /// A JSONata field that is an object or a single expression (`Arguments`, `ItemSelector`).
    fn jsonata_object(&self, key: &str, reads: Reads) -> Result<Option<jsonata::Template>, LoadError> {
        let template = self.jsonata_template(key, reads)?;
        match &template {
            None | Some(jsonata::Template::Expression(_)) => Ok(template),
            Some(_) if self.map.get(key).is_some_and(Value::is_object) => Ok(template),
            Some(_) => Err(self.invalid(key, "must be a JSON object or a JSONata expression")),
        }
    }

    /// The JSONata expression a string field holds, if it holds one.
    fn expression(&self, key: &str, reads: Reads) -> Result<Option<Expression>, LoadError> {
        let Some(Value::String(text)) = self.map.get(key).filter(|_| self.jsonata()) else { return Ok(None) };
        match Expression::text_of(text).map_err(|r| self.refusal(key, r))? {
            Some(inner) => Expression::compile(inner, &self.jsonata_field(key), reads)
                .map(Some)
                .map_err(|r| self.jsonata_refusal(r)),
            None => Ok(None),
        }
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> LoadError {
        invalid(Some(self.state), Some(&self.field(key)), message)
    }

    fn unsupported(&self, key: &str, message: impl Into<String>) -> LoadError {
        unsupported(Some(self.state), Some(&self.field(key)), message)
    }

    fn refusal(&self, key: &str, refusal: Refusal) -> LoadError {
        refusal.at(Some(self.state), &self.field(key))
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, LoadError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(key, "must be a string")),
        }
    }

    fn required_string(&self, key: &str) -> Result<&'a str, LoadError> {
        self.string(key)?.ok_or_else(|| self.invalid(key, "is required"))
    }

    fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, LoadError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => match value.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.invalid(key, format!("must be an integer from {min} to {max}"))),
            },
        }
    }

    fn io_path(&self, key: &str) -> Result<IoPath, LoadError> {
        match self.map.get(key) {
            None => Ok(IoPath::Whole),
            Some(Value::Null) => Ok(IoPath::Empty),
            Some(Value::String(text)) => {
                let path = RefPath::parse(text).map_err(|r| self.refusal(key, r))?;
                path.check_context(false).map_err(|r| self.refusal(key, r))?;
                Ok(IoPath::Path(path))
            }
            Some(_) => Err(self.invalid(key, "must be a path (a string) or null")),
        }
    }

    fn result_path(&self, key: &str) -> Result<ResultPath, LoadError> {
        match self.map.get(key) {
            None => Ok(ResultPath::Path(RefPath::parse_data("$").map_err(|r| self.refusal(key, r))?)),
            Some(Value::Null) => Ok(ResultPath::Discard),
            Some(Value::String(text)) => {
                Ok(ResultPath::Path(RefPath::parse_data(text).map_err(|r| self.refusal(key, r))?))
            }
            Some(_) => Err(self.invalid(key, "must be a reference path (a string) or null")),
        }
    }

    /// `Assign`: an object whose keys are variable names (in JSONPath without a trailing `.$`),
    /// evaluated like a payload template (a JSONata template in a JSONata state, reading what
    /// `reads` says).
    fn assign(&self, reads: Reads) -> Result<Option<Payload>, LoadError> {
        let Some(value) = self.map.get("Assign") else { return Ok(None) };
        let Value::Object(bindings) = value else {
            return Err(self.invalid("Assign", "must be an object of variable names and values"));
        };
        for key in bindings.keys() {
            // JSONPath marks a value to evaluate with `.$`; JSONata keys are the names themselves.
            let name = if self.jsonata() { key.as_str() } else { key.strip_suffix(".$").unwrap_or(key) };
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name.chars().count() <= 80;
            if !valid {
                return Err(self.invalid(
                    "Assign",
                    format!(
                        "{name:?} is not a variable name: a letter or _, then letters, digits or _, up to 80 characters"
                    ),
                ));
            }
            if name == "states" {
                return Err(self.invalid("Assign", "\"states\" is a reserved variable name"));
            }
        }
        if self.jsonata() {
            return Ok(self.jsonata_template("Assign", reads)?.map(Payload::Jsonata));
        }
        Ok(self.template("Assign", false)?.map(Payload::Path))
    }

    /// `Parameters` (JSONPath) or `Arguments` (JSONata): the payload a Task or Parallel state
    /// hands on.
    fn payload(&self, task_token: bool) -> Result<Option<Payload>, LoadError> {
        if self.jsonata() {
            return Ok(self.jsonata_object("Arguments", Reads::default())?.map(Payload::Jsonata));
        }
        Ok(self.template("Parameters", task_token)?.map(Payload::Path))
    }

    /// JSONata's `Output`.
    fn output(&self, reads: Reads) -> Result<Option<jsonata::Template>, LoadError> {
        self.jsonata_template("Output", reads)
    }

    /// A Task's `TimeoutSeconds` or `HeartbeatSeconds`: a number, or in JSONata an expression.
    fn seconds(&self, key: &str) -> Result<Option<Seconds>, LoadError> {
        if let Some(expression) = self.expression(key, Reads::default())? {
            return Ok(Some(Seconds::Expression(expression)));
        }
        Ok(self.integer(key, 1, MAX_SECONDS)?.map(Seconds::Literal))
    }

    fn template(&self, key: &str, task_token: bool) -> Result<Option<Template>, LoadError> {
        let Some(value) = self.map.get(key) else { return Ok(None) };
        Template::compile(value, task_token).map(Some).map_err(|r| {
            let field =
                if r.location.is_empty() { self.field(key) } else { format!("{}.{}", self.field(key), r.location) };
            r.refusal.at(Some(self.state), &field)
        })
    }

    fn transition(&self) -> Result<Transition, LoadError> {
        let next = self.string("Next")?;
        let end = match self.map.get("End") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(self.invalid("End", "must be true or false")),
        };
        match (next, end) {
            (Some(_), Some(true)) => Err(self.invalid("End", "a state with \"End\": true must not have \"Next\"")),
            (Some(next), _) => Ok(Transition::Next(next.to_owned())),
            (None, Some(true)) => Ok(Transition::End),
            (None, _) => Err(self.invalid("Next", "a non-terminal state needs \"Next\" or \"End\": true")),
        }
    }

    fn error_equals(&self, key: &str) -> Result<Vec<String>, LoadError> {
        let Some(Value::Array(items)) = self.map.get(key) else {
            return Err(self.invalid(key, "is required: a non-empty array of error names"));
        };
        let names: Vec<String> = items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| self.invalid(key, "must hold only strings")))
            .collect::<Result<_, _>>()?;
        if names.is_empty() {
            return Err(self.invalid(key, "must not be empty"));
        }
        if names.len() > 1 && names.iter().any(|n| n == error_names::ALL) {
            return Err(self.invalid(key, "\"States.ALL\" must appear alone"));
        }
        Ok(names)
    }
}

fn load(value: &Value) -> Result<Definition, LoadError> {
    let Value::Object(top) = value else {
        return Err(invalid(None, None, "a definition must be a JSON object"));
    };
    for key in top.keys() {
        if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
            let message = match key.as_str() {
                "Assign" => "state machine variables are not supported".to_owned(),
                other => format!("unknown or unsupported top-level field \"{other}\""),
            };
            return Err(unsupported(None, Some(key), message));
        }
    }
    let language = match top.get("QueryLanguage") {
        None => Language::JsonPath,
        Some(value) => query_language(None, value)?,
    };
    match top.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "1.0" => {}
        Some(_) => {
            return Err(invalid(None, Some("Version"), "only version \"1.0\" of the States Language is supported"));
        }
    }
    let comment = match top.get("Comment") {
        None => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => return Err(invalid(None, Some("Comment"), "must be a string")),
    };
    let start_at = match top.get("StartAt") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(invalid(None, Some("StartAt"), "must be a state name (a string)")),
        None => return Err(invalid(None, Some("StartAt"), "is required")),
    };
    let timeout_seconds = match top.get("TimeoutSeconds") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_SECONDS).contains(&n) => Some(n),
            _ => {
                return Err(invalid(
                    None,
                    Some("TimeoutSeconds"),
                    format!("must be an integer from 1 to {MAX_SECONDS}"),
                ));
            }
        },
    };
    let mut states = BTreeMap::new();
    load_machine(None, top, &start_at, language, &mut states)?;
    Ok(Definition { comment, start_at, timeout_seconds, states, source: value.clone() })
}

/// Loads the `States` of a state machine, a Parallel branch or a Map's item processor (`within`
/// names the state and field holding it) into `all`, and checks its graph: transitions stay
/// within it, and every state is reachable from its `StartAt`. State names are unique across
/// the whole definition, as the States Language requires. `language` is the state machine's query
/// language, which a state without its own `QueryLanguage` uses, at any depth.
fn load_machine(
    within: Option<(&str, &str)>,
    map: &Map<String, Value>,
    start_at: &str,
    language: Language,
    all: &mut BTreeMap<String, State>,
) -> Result<(), LoadError> {
    let (state, field) = within.map_or((None, String::new()), |(s, f)| (Some(s), format!("{f}.")));
    let Some(Value::Object(state_values)) = map.get("States") else {
        return Err(invalid(state, Some(&format!("{field}States")), "is required: an object of states"));
    };
    if state_values.is_empty() {
        return Err(invalid(state, Some(&format!("{field}States")), "must hold at least one state"));
    }
    let mut states = BTreeMap::new();
    for (name, state_value) in state_values {
        states.insert(name.clone(), load_state(name, state_value, language, all)?);
    }
    check_graph(start_at, &states).map_err(|error| match within {
        // A missing StartAt is the branch's, not the definition's.
        Some((outer, field)) if error.state.is_none() => {
            LoadError { state: Some(outer.to_owned()), field: Some(format!("{field}.StartAt")), ..error }
        }
        _ => error,
    })?;
    for (name, loaded) in states {
        if all.contains_key(&name) {
            return Err(invalid(
                Some(&name),
                None,
                "state names must be unique across the whole state machine, branches included",
            ));
        }
        all.insert(name, loaded);
    }
    Ok(())
}

/// A Parallel branch or a Map item processor: a `StartAt` and `States` (`allowed` are the
/// other fields it may have); its states go into `all`. Returns its `StartAt`.
fn load_nested_machine(
    state: &str,
    field: &str,
    value: &Value,
    allowed: &[&str],
    language: Language,
    all: &mut BTreeMap<String, State>,
) -> Result<String, LoadError> {
    let Value::Object(map) = value else {
        return Err(invalid(Some(state), Some(field), "must be an object with StartAt and States"));
    };
    for key in map.keys() {
        if !["StartAt", "States", "Comment"].contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
            return Err(unsupported(
                Some(state),
                Some(&format!("{field}.{key}")),
                format!("unknown or unsupported field \"{key}\""),
            ));
        }
    }
    let start_at = match map.get("StartAt") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(invalid(Some(state), Some(&format!("{field}.StartAt")), "is required: a state name")),
    };
    load_machine(Some((state, field)), map, &start_at, language, all)?;
    Ok(start_at)
}

/// Loads one state; `machine_language` is the state machine's query language.
fn load_state(
    name: &str,
    value: &Value,
    machine_language: Language,
    all: &mut BTreeMap<String, State>,
) -> Result<State, LoadError> {
    let state = Some(name);
    if name.is_empty() || name.chars().count() > 80 {
        return Err(invalid(state, None, "a state name must be 1 to 80 characters"));
    }
    let Value::Object(map) = value else {
        return Err(invalid(state, None, "a state must be a JSON object"));
    };
    let type_name = match map.get("Type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(invalid(state, Some("Type"), "must be a string")),
        None => return Err(invalid(state, Some("Type"), "is required")),
    };
    match type_name {
        "Pass" | "Task" | "Choice" | "Wait" | "Succeed" | "Fail" | "Parallel" | "Map" => {}
        other => {
            return Err(invalid(
                state,
                Some("Type"),
                format!(
                    "unknown state type \"{other}\" (expected Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)"
                ),
            ));
        }
    }
    let language = match map.get("QueryLanguage") {
        None => machine_language,
        Some(value) => match query_language(state, value)? {
            // AWS: a JSONata state machine cannot be taken back to JSONPath one state at a time.
            Language::JsonPath if machine_language == Language::Jsonata => {
                return Err(invalid(
                    state,
                    Some("QueryLanguage"),
                    "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                ));
            }
            language => language,
        },
    };
    let allowed = allowed_fields(type_name, language);
    for key in map.keys() {
        match key.as_str() {
            "Type" | "QueryLanguage" => {}
            "Comment" => {
                if !map[key].is_string() {
                    return Err(invalid(state, Some("Comment"), "must be a string"));
                }
            }
            other if allowed.contains(&other) => {}
            other => return Err(refuse_field(name, type_name, other, language)),
        }
    }
    let fields = Fields { state: name, prefix: String::new(), map, language };
    let kind = match type_name {
        "Pass" => StateKind::Pass(PassState {
            assign: fields.assign(Reads::default())?,
            input_path: fields.io_path("InputPath")?,
            parameters: fields.template("Parameters", false)?,
            result: fields.get("Result").cloned(),
            result_path: fields.result_path("ResultPath")?,
            output_path: fields.io_path("OutputPath")?,
            output: fields.output(Reads::default())?,
            transition: fields.transition()?,
        }),
        "Task" => StateKind::Task(Box::new(load_task(&fields)?)),
        "Choice" => StateKind::Choice(load_choice(&fields)?),
        "Parallel" => StateKind::Parallel(Box::new(load_parallel(&fields, machine_language, all)?)),
        "Map" => StateKind::Map(Box::new(load_map(&fields, machine_language, all)?)),
        "Wait" => StateKind::Wait(load_wait(&fields)?),
        "Succeed" => StateKind::Succeed(SucceedState {
            input_path: fields.io_path("InputPath")?,
            output_path: fields.io_path("OutputPath")?,
            output: fields.output(Reads::default())?,
        }),
        _ => StateKind::Fail(FailState {
            error: load_reason(&fields, "Error", "ErrorPath")?,
            cause: load_reason(&fields, "Cause", "CausePath")?,
        }),
    };
    let reads = match language {
        Language::Jsonata => EnvReads::Everything,
        Language::JsonPath => env_reads(value),
    };
    Ok(State { kind, reads })
}

/// What a JSONPath state may read besides its data, from what its JSON's strings mention: `$$`
/// (the context object) and `$name` (a variable), and whether a `$$` may reach the execution's
/// input (every one but a path into another field of the context object). A literal string that
/// mentions one only makes the engine build what nothing reads.
fn env_reads(value: &Value) -> EnvReads {
    /// Beginnings of context paths that cannot reach `$$.Execution.Input` and always select
    /// something (a path into `$$.Map.Item.Value`, or `$$.Execution.RoleArn` without a role, can
    /// select nothing, and that failure's cause quotes the whole context object).
    const AWAY_FROM_INPUT: &[&str] =
        &[".State", ".Task", ".Execution.Id", ".Execution.Name", ".Execution.StartTime", ".Execution.RedriveCount"];
    match value {
        Value::String(text) => text
            .match_indices('$')
            .map(|(at, _)| {
                let rest = &text[at + 1..];
                match rest.strip_prefix('$') {
                    Some(path) if AWAY_FROM_INPUT.iter().any(|away| path.starts_with(away)) => EnvReads::AllButInput,
                    Some(_) => EnvReads::Everything,
                    None if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => EnvReads::AllButInput,
                    None => EnvReads::Nothing,
                }
            })
            .max()
            .unwrap_or(EnvReads::Nothing),
        Value::Array(items) => items.iter().map(env_reads).max().unwrap_or(EnvReads::Nothing),
        Value::Object(fields) => fields.values().map(env_reads).max().unwrap_or(EnvReads::Nothing),
        Value::Null | Value::Bool(_) | Value::Number(_) => EnvReads::Nothing,
    }
}

/// The result and error handling of a Task, Parallel or Map state.
fn load_result_handling(fields: &Fields<'_>) -> Result<ResultHandling, LoadError> {
    let (retry, catch) = load_retry_and_catch(fields)?;
    let reads_result = Reads { result: true, error_output: false };
    Ok(ResultHandling {
        assign: fields.assign(reads_result)?,
        result_selector: fields.template("ResultSelector", false)?,
        result_path: fields.result_path("ResultPath")?,
        output_path: fields.io_path("OutputPath")?,
        output: fields.output(reads_result)?,
        retry,
        catch,
        transition: fields.transition()?,
    })
}

fn load_retry_and_catch(fields: &Fields<'_>) -> Result<(Vec<Retrier>, Vec<Catcher>), LoadError> {
    Ok((
        load_list(fields, "Retry", "must be an array of Retriers", &|i, item, last| {
            load_retrier(fields.state, i, item, last, fields.language)
        })?,
        load_list(fields, "Catch", "must be an array of Catchers", &|i, item, last| {
            load_catcher(fields.state, i, item, last, fields.language)
        })?,
    ))
}

/// The array field `key` (absent: empty), each element loaded with `load(index, value, is_last)`.
fn load_list<T>(
    fields: &Fields<'_>,
    key: &str,
    not_an_array: &str,
    load: &dyn Fn(usize, &Value, bool) -> Result<T, LoadError>,
) -> Result<Vec<T>, LoadError> {
    match fields.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().enumerate().map(|(i, item)| load(i, item, i + 1 == items.len())).collect()
        }
        Some(_) => Err(fields.invalid(key, not_an_array)),
    }
}

fn load_parallel(
    fields: &Fields<'_>,
    machine_language: Language,
    all: &mut BTreeMap<String, State>,
) -> Result<ParallelState, LoadError> {
    let Some(Value::Array(branch_values)) = fields.get("Branches") else {
        return Err(fields.invalid("Branches", "is required: a non-empty array of branches"));
    };
    if branch_values.is_empty() {
        return Err(fields.invalid("Branches", "must not be empty"));
    }
    let branches = branch_values
        .iter()
        .enumerate()
        .map(|(i, branch)| {
            load_nested_machine(fields.state, &format!("Branches[{i}]"), branch, &[], machine_language, all)
        })
        .collect::<Result<_, _>>()?;
    let result = load_result_handling(fields)?;
    Ok(ParallelState { input_path: fields.io_path("InputPath")?, parameters: fields.payload(false)?, branches, result })
}

fn load_map(
    fields: &Fields<'_>,
    machine_language: Language,
    all: &mut BTreeMap<String, State>,
) -> Result<MapState, LoadError> {
    let (processor_field, processor_value) = match (fields.get("ItemProcessor"), fields.get("Iterator")) {
        (Some(_), Some(_)) => {
            return Err(fields.invalid("Iterator", "a Map state has ItemProcessor or the older Iterator, not both"));
        }
        (Some(value), None) => ("ItemProcessor", value),
        (None, Some(value)) => ("Iterator", value),
        (None, None) => return Err(fields.invalid("ItemProcessor", "is required")),
    };
    let distributed = match processor_value.get("ProcessorConfig") {
        None => false,
        Some(config) => {
            let config = sub_object(
                fields.state,
                format!("{processor_field}.ProcessorConfig."),
                config,
                &["Mode", "ExecutionType"],
                fields.language,
            )?;
            let distributed = match config.string("Mode")? {
                None | Some("INLINE") => false,
                Some("DISTRIBUTED") => true,
                Some(other) => {
                    return Err(config.invalid("Mode", format!("must be \"INLINE\" or \"DISTRIBUTED\", not {other:?}")));
                }
            };
            match config.string("ExecutionType")? {
                None if !distributed => {}
                Some("STANDARD" | "EXPRESS") if distributed => {}
                None => return Err(config.invalid("ExecutionType", "is required for a DISTRIBUTED Map")),
                Some(_) if !distributed => {
                    return Err(config.invalid("ExecutionType", "is only allowed for a DISTRIBUTED Map"));
                }
                Some(other) => {
                    return Err(config.invalid("ExecutionType", format!("must be STANDARD or EXPRESS, not {other:?}")));
                }
            }
            distributed
        }
    };
    let processor = load_nested_machine(
        fields.state,
        processor_field,
        processor_value,
        &["ProcessorConfig"],
        machine_language,
        all,
    )?;
    let item_selector = match (fields.get("ItemSelector"), fields.get("Parameters")) {
        (Some(_), Some(_)) => {
            return Err(fields.invalid("Parameters", "a Map state has ItemSelector or the older Parameters, not both"));
        }
        (Some(_), None) if fields.jsonata() => {
            fields.jsonata_object("ItemSelector", Reads::default())?.map(Payload::Jsonata)
        }
        (Some(_), None) => fields.template("ItemSelector", false)?.map(Payload::Path),
        (None, _) => fields.template("Parameters", false)?.map(Payload::Path),
    };
    let items = match fields.get("Items") {
        None => None,
        Some(Value::Object(_)) => {
            return Err(fields.unsupported(
                "Items",
                "iterating over an object's key-value pairs is not supported; give Items an array",
            ));
        }
        Some(Value::Array(_) | Value::String(_)) => fields.jsonata_template("Items", Reads::default())?,
        Some(_) => return Err(fields.invalid("Items", "must be an array or a JSONata expression")),
    };
    if let Some(jsonata::Template::Literal(Value::String(_))) = items {
        return Err(fields.invalid("Items", "must be an array or a JSONata expression"));
    }
    for key in ["MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage"] {
        if fields.expression(key, Reads::default())?.is_some() {
            return Err(fields.unsupported(
                key,
                "Map settings given as JSONata expressions are not supported; give them as numbers",
            ));
        }
    }
    let items_path = match fields.get("ItemsPath") {
        None => RefPath::parse("$").map_err(|r| fields.refusal("ItemsPath", r))?,
        Some(Value::String(text)) => {
            let path = RefPath::parse(text).map_err(|r| fields.refusal("ItemsPath", r))?;
            path.check_context(false).map_err(|r| fields.refusal("ItemsPath", r))?;
            path
        }
        Some(_) => return Err(fields.invalid("ItemsPath", "must be a reference path (a string)")),
    };
    let tolerated_count = fields.integer("ToleratedFailureCount", 0, u64::from(u32::MAX))?;
    let tolerated_percentage = match fields.get("ToleratedFailurePercentage") {
        None => None,
        Some(value) => match value.as_f64() {
            Some(p) if (0.0..=100.0).contains(&p) => Some(p),
            _ => return Err(fields.invalid("ToleratedFailurePercentage", "must be a number from 0 to 100")),
        },
    };
    if !distributed {
        for key in ["ToleratedFailureCount", "ToleratedFailurePercentage", "Label"] {
            if fields.get(key).is_some() {
                return Err(fields.invalid(key, "is only allowed in a DISTRIBUTED Map"));
            }
        }
    }
    if let Some(label) = fields.string("Label")?
        && (label.chars().count() > 40
            || label.chars().any(|c| c.is_whitespace() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)))
    {
        return Err(fields.invalid("Label", "must be up to 40 characters, without whitespace or special characters"));
    }
    let result = load_result_handling(fields)?;
    Ok(MapState {
        input_path: fields.io_path("InputPath")?,
        items_path,
        items,
        jsonata: fields.jsonata(),
        item_selector,
        processor,
        max_concurrency: fields.integer("MaxConcurrency", 0, u64::from(u32::MAX))?.unwrap_or(0),
        distributed,
        tolerated: ToleratedFailure { count: tolerated_count, percentage: tolerated_percentage },
        result,
    })
}

fn load_task(fields: &Fields<'_>) -> Result<TaskState, LoadError> {
    let resource = fields.required_string("Resource")?;
    if resource.is_empty() {
        return Err(fields.invalid("Resource", "must not be empty"));
    }
    let wait_for_task_token = resource.ends_with(".waitForTaskToken");
    let timeout_seconds = fields.seconds("TimeoutSeconds")?;
    let heartbeat_seconds = fields.seconds("HeartbeatSeconds")?;
    if let (Some(timeout), Some(heartbeat)) =
        (timeout_seconds.as_ref().and_then(Seconds::literal), heartbeat_seconds.as_ref().and_then(Seconds::literal))
        && heartbeat >= timeout
    {
        return Err(fields.invalid("HeartbeatSeconds", "must be smaller than TimeoutSeconds"));
    }
    let result = load_result_handling(fields)?;
    Ok(TaskState {
        resource: resource.to_owned(),
        wait_for_task_token,
        input_path: fields.io_path("InputPath")?,
        parameters: fields.payload(wait_for_task_token)?,
        timeout_seconds,
        heartbeat_seconds,
        result,
    })
}

fn sub_object<'a>(
    state: &'a str,
    prefix: String,
    value: &'a Value,
    allowed: &[&str],
    language: Language,
) -> Result<Fields<'a>, LoadError> {
    let Value::Object(map) = value else {
        return Err(invalid(Some(state), Some(prefix.trim_end_matches('.')), "must be an object"));
    };
    let fields = Fields { state, prefix, map, language };
    let mut unknown = map.keys().filter(|key| !allowed.contains(&key.as_str()) && *key != "Comment");
    // A field of the other query language is the likelier mistake: it is named before one unknown.
    if let Some(error) = unknown.clone().find_map(|key| other_language_field(state, key, &fields.field(key), language))
    {
        return Err(error);
    }
    match unknown.next() {
        Some(key) => {
            Err(unsupported(Some(state), Some(&fields.field(key)), format!("unknown or unsupported field \"{key}\"")))
        }
        None => Ok(fields),
    }
}

fn load_retrier(
    state: &str,
    index: usize,
    value: &Value,
    last: bool,
    language: Language,
) -> Result<Retrier, LoadError> {
    let fields = sub_object(
        state,
        format!("Retry[{index}]."),
        value,
        &["ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"],
        language,
    )?;
    let error_equals = fields.error_equals("ErrorEquals")?;
    if error_equals.iter().any(|e| e == error_names::ALL) && !last {
        return Err(fields.invalid("ErrorEquals", "a Retrier with \"States.ALL\" must be the last one"));
    }
    let backoff_rate = match fields.get("BackoffRate") {
        None => 2.0,
        Some(v) => match v.as_f64() {
            Some(rate) if (1.0..=f64::from(u32::MAX)).contains(&rate) => rate,
            _ => return Err(fields.invalid("BackoffRate", "must be a number of at least 1.0")),
        },
    };
    let full_jitter = match fields.string("JitterStrategy")? {
        None | Some("NONE") => false,
        Some("FULL") => true,
        Some(other) => {
            return Err(fields.invalid("JitterStrategy", format!("must be \"FULL\" or \"NONE\", not {other:?}")));
        }
    };
    Ok(Retrier {
        error_equals,
        interval_seconds: fields.integer("IntervalSeconds", 1, MAX_SECONDS)?.unwrap_or(1),
        max_attempts: fields.integer("MaxAttempts", 0, MAX_SECONDS)?.unwrap_or(3),
        backoff_rate,
        max_delay_seconds: fields.integer("MaxDelaySeconds", 1, MAX_DELAY_SECONDS)?,
        full_jitter,
    })
}

fn load_catcher(
    state: &str,
    index: usize,
    value: &Value,
    last: bool,
    language: Language,
) -> Result<Catcher, LoadError> {
    let allowed: &[&str] = match language {
        Language::JsonPath => &["ErrorEquals", "Next", "ResultPath", "Assign"],
        Language::Jsonata => &["ErrorEquals", "Next", "Output", "Assign"],
    };
    let fields = sub_object(state, format!("Catch[{index}]."), value, allowed, language)?;
    let error_equals = fields.error_equals("ErrorEquals")?;
    if error_equals.iter().any(|e| e == error_names::ALL) && !last {
        return Err(fields.invalid("ErrorEquals", "a Catcher with \"States.ALL\" must be the last one"));
    }
    let reads_error_output = Reads { result: false, error_output: true };
    Ok(Catcher {
        error_equals,
        next: fields.required_string("Next")?.to_owned(),
        result_path: fields.result_path("ResultPath")?,
        assign: fields.assign(reads_error_output)?,
        output: fields.output(reads_error_output)?,
    })
}

fn load_choice(fields: &Fields<'_>) -> Result<ChoiceState, LoadError> {
    let Some(Value::Array(items)) = fields.get("Choices") else {
        return Err(fields.invalid("Choices", "is required: a non-empty array of Choice rules"));
    };
    if items.is_empty() {
        return Err(fields.invalid("Choices", "must not be empty"));
    }
    let choices = items
        .iter()
        .enumerate()
        .map(|(i, item)| match fields.language {
            Language::JsonPath => load_path_rule(fields, i, item),
            Language::Jsonata => load_jsonata_rule(fields, i, item),
        })
        .collect::<Result<_, LoadError>>()?;
    Ok(ChoiceState {
        input_path: fields.io_path("InputPath")?,
        output_path: fields.io_path("OutputPath")?,
        choices,
        default: fields.string("Default")?.map(str::to_owned),
        assign: fields.assign(Reads::default())?,
        output: fields.output(Reads::default())?,
    })
}

/// A top-level JSONPath Choice rule: its comparison (or `And`/`Or`/`Not`), its `Next`, its `Assign`.
fn load_path_rule(fields: &Fields<'_>, index: usize, item: &Value) -> Result<ChoiceBranch, LoadError> {
    // A top-level rule's Assign is the branch's, not part of the rule.
    let mut rule = item.clone();
    let assign = match rule.as_object_mut().and_then(|map| map.remove("Assign")) {
        None => None,
        Some(value) => {
            let map = Map::from_iter([("Assign".to_owned(), value)]);
            Fields { state: fields.state, prefix: format!("Choices[{index}]."), map: &map, language: fields.language }
                .assign(Reads::default())?
        }
    };
    let (rule, next) = choice::compile_top(&rule, &format!("Choices[{index}]"))
        .map_err(|r| r.refusal.at(Some(fields.state), &r.location))?;
    Ok(ChoiceBranch { condition: Condition::Rule(rule), next, assign, output: None })
}

/// A JSONata Choice rule: a `Condition` (an expression giving a boolean, or a boolean), `Next`,
/// and the `Assign` and `Output` that apply when it matches.
fn load_jsonata_rule(fields: &Fields<'_>, index: usize, item: &Value) -> Result<ChoiceBranch, LoadError> {
    let rule = sub_object(
        fields.state,
        format!("Choices[{index}]."),
        item,
        &["Condition", "Next", "Assign", "Output"],
        fields.language,
    )?;
    let condition = match rule.get("Condition") {
        None => return Err(rule.invalid("Condition", "is required: a JSONata expression giving true or false")),
        Some(Value::Bool(_)) => rule.jsonata_template("Condition", Reads::default())?,
        Some(Value::String(_)) => match rule.expression("Condition", Reads::default())? {
            Some(expression) => Some(jsonata::Template::Expression(expression)),
            None => return Err(rule.invalid("Condition", "must be a JSONata expression (\"{% … %}\") or a boolean")),
        },
        Some(_) => return Err(rule.invalid("Condition", "must be a JSONata expression (\"{% … %}\") or a boolean")),
    };
    Ok(ChoiceBranch {
        condition: Condition::Jsonata(condition.unwrap_or(jsonata::Template::Literal(Value::Bool(false)))),
        next: rule.required_string("Next")?.to_owned(),
        assign: rule.assign(Reads::default())?,
        output: rule.output(Reads::default())?,
    })
}

fn load_wait(fields: &Fields<'_>) -> Result<WaitState, LoadError> {
    let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
        .into_iter()
        .filter(|k| fields.get(k).is_some())
        .collect();
    let wait = match given[..] {
        [key @ ("Seconds" | "Timestamp")] if fields.expression(key, Reads::default())?.is_some() => {
            let expression =
                fields.expression(key, Reads::default())?.ok_or_else(|| fields.invalid(key, "is required"))?;
            if key == "Seconds" {
                WaitFor::SecondsExpression(expression)
            } else {
                WaitFor::TimestampExpression(expression)
            }
        }
        ["Seconds"] => WaitFor::Seconds(fields.integer("Seconds", 0, MAX_SECONDS)?.unwrap_or(0)),
        ["Timestamp"] => {
            let text = fields.required_string("Timestamp")?;
            WaitFor::Timestamp(timestamp::parse(text).ok_or_else(|| {
                fields.invalid(
                    "Timestamp",
                    "must be an RFC 3339 timestamp with an uppercase T and Z, e.g. \"2016-03-14T01:59:00Z\"",
                )
            })?)
        }
        [key @ ("SecondsPath" | "TimestampPath")] => {
            let text = fields.required_string(key)?;
            let path = RefPath::parse(text).map_err(|r| fields.refusal(key, r))?;
            path.check_context(false).map_err(|r| fields.refusal(key, r))?;
            if key == "SecondsPath" { WaitFor::SecondsPath(path) } else { WaitFor::TimestampPath(path) }
        }
        _ => {
            return Err(fields.invalid(
                "Seconds",
                "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath",
            ));
        }
    };
    Ok(WaitState {
        assign: fields.assign(Reads::default())?,
        input_path: fields.io_path("InputPath")?,
        output_path: fields.io_path("OutputPath")?,
        wait,
        output: fields.output(Reads::default())?,
        transition: fields.transition()?,
    })
}

fn load_reason(fields: &Fields<'_>, literal: &str, path_key: &str) -> Result<Option<Reason>, LoadError> {
    if let Some(expression) = fields.expression(literal, Reads::default())? {
        return Ok(Some(Reason::Expression(expression)));
    }
    match (fields.string(literal)?, fields.string(path_key)?) {
        (Some(_), Some(_)) => {
            Err(fields.invalid(path_key, format!("a Fail state must not have both {literal} and {path_key}")))
        }
        (Some(text), None) => Ok(Some(Reason::Literal(text.to_owned()))),
        (None, Some(text)) if text.starts_with('$') => {
            let path = RefPath::parse(text).map_err(|r| fields.refusal(path_key, r))?;
            path.check_context(false).map_err(|r| fields.refusal(path_key, r))?;
            Ok(Some(Reason::Path(path)))
        }
        (None, Some(text)) => {
            Ok(Some(Reason::Intrinsic(Call::parse(text, false).map_err(|r| fields.refusal(path_key, r))?)))
        }
        (None, None) => Ok(None),
    }
}

/// The transitions out of a state: (field, target state).
fn transitions_of(state: &State) -> Vec<(String, String)> {
    let next_of = |t: &Transition| match t {
        Transition::Next(next) => vec![("Next".to_owned(), next.clone())],
        Transition::End => Vec::new(),
    };
    let with_catchers = |transition: &Transition| {
        let mut targets = next_of(transition);
        for (i, c) in state.kind.error_handling().1.iter().enumerate() {
            targets.push((format!("Catch[{i}].Next"), c.next.clone()));
        }
        targets
    };
    match &state.kind {
        StateKind::Pass(s) => next_of(&s.transition),
        StateKind::Wait(s) => next_of(&s.transition),
        StateKind::Task(s) => with_catchers(&s.result.transition),
        StateKind::Parallel(s) => with_catchers(&s.result.transition),
        StateKind::Map(s) => with_catchers(&s.result.transition),
        StateKind::Choice(s) => {
            let mut targets: Vec<(String, String)> = s
                .choices
                .iter()
                .enumerate()
                .map(|(i, branch)| (format!("Choices[{i}].Next"), branch.next.clone()))
                .collect();
            if let Some(default) = &s.default {
                targets.push(("Default".to_owned(), default.clone()));
            }
            targets
        }
        StateKind::Succeed(_) | StateKind::Fail(_) => Vec::new(),
    }
}

/// Every transition target exists (in the same machine: a branch's states cannot leave it), and
/// every state is reachable from `start_at`.
fn check_graph(start_at: &str, states: &BTreeMap<String, State>) -> Result<(), LoadError> {
    if !states.contains_key(start_at) {
        return Err(invalid(None, Some("StartAt"), format!("no state is named \"{start_at}\"")));
    }
    let mut edges: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, state) in states {
        let targets = transitions_of(state);
        for (field, target) in &targets {
            if !states.contains_key(target) {
                return Err(invalid(Some(name), Some(field), format!("no state is named \"{target}\"")));
            }
        }
        edges.insert(name.as_str(), targets.into_iter().map(|(_, t)| t).collect());
    }
    let mut reached: BTreeSet<&str> = BTreeSet::new();
    let mut queue = VecDeque::from([start_at]);
    while let Some(name) = queue.pop_front() {
        if reached.insert(name) {
            queue.extend(edges.get(name).into_iter().flatten().map(String::as_str));
        }
    }
    if let Some(unreachable) = states.keys().find(|n| !reached.contains(n.as_str())) {
        return Err(invalid(
            Some(unreachable),
            None,
            format!("the state is not reachable from StartAt \"{start_at}\""),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn given_states_mentioning_context_paths_and_variables_when_loaded_then_what_they_read_is_known() {
        for (state, reads) in [
            (
                json!({"Type": "Pass", "End": true, "InputPath": "$.a", "Parameters": {"b.$": "$.b[?(@.c)]"}}),
                EnvReads::Nothing,
            ),
            (json!({"Type": "Pass", "End": true, "Result": "costs $5"}), EnvReads::Nothing),
            (json!({"Type": "Pass", "End": true, "Parameters": {"n.$": "$$.Execution.Name"}}), EnvReads::AllButInput),
            (
                json!({"Type": "Pass", "End": true, "Parameters": {"t.$": "States.Format('{}', $$.State.EnteredTime)"}}),
                EnvReads::AllButInput,
            ),
            (json!({"Type": "Pass", "End": true, "Parameters": {"v.$": "$total"}}), EnvReads::AllButInput),
            (
                json!({"Type": "Pass", "End": true, "Parameters": {"i.$": "$$.Execution.Input.order"}}),
                EnvReads::Everything,
            ),
            (json!({"Type": "Pass", "End": true, "Parameters": {"e.$": "$$.Execution"}}), EnvReads::Everything),
            (json!({"Type": "Pass", "End": true, "Parameters": {"c.$": "$$"}}), EnvReads::Everything),
            (json!({"Type": "Pass", "End": true, "QueryLanguage": "JSONata", "Output": 1}), EnvReads::Everything),
        ] {
            let loaded = load_state("S", &state, Language::JsonPath, &mut BTreeMap::new()).unwrap();
            assert_eq!(loaded.reads, reads, "{state}");
        }
    }
}
