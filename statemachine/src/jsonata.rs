//! JSONata in the states whose `QueryLanguage` is `JSONata`: which strings are expressions
//! (`"{% … %}"`), compiling each expression when the definition is loaded (jsonata-core's parser,
//! then the checks Step Functions makes when a state machine is created), the templates of
//! `Arguments`, `Output`, `Assign`, `ItemSelector` and `Items` (any JSON value, with expressions at
//! any depth), and evaluating them: `$states` (`input`, `result`, `errorOutput`, `context`) and the
//! workflow variables bound, the functions Step Functions adds (`$partition`, `$range`, `$hash`,
//! `$random`, `$uuid`, `$parse`) installed and `$eval` taken away, values converted to and from
//! serde_json, and every failure a `States.QueryEvaluationError` worded as AWS words it.

use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::Arc;

use jsonata_core::ast::{AstNode, Stage};
use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError, EvaluatorOptions};
use jsonata_core::value::{JValue, with_stack};
use serde_json::{Map, Number, Value};

use crate::error::{Failure, Refusal};
use crate::intrinsics;
use crate::path::kind_of;

/// AWS: "A JSONata expression that takes longer than 1 second to evaluate will fail".
const TIMEOUT_MS: u64 = 1000;

/// How deep an evaluation may nest (jsonata-core's `stack` guard, raising D1011). AWS refuses
/// expressions nesting past its own limit with a "Stack overflow error"; this one allows a
/// non-tail-recursive function about 30 calls deep, as AWS is measured to.
const MAX_EVALUATION_DEPTH: usize = 100;

/// The longest sequence an expression may build (jsonata-core's D2015). AWS bounds an
/// expression's memory instead ("Expression evaluation memory limit exceeded"), which it is
/// measured to reach a little under a million numbers.
const MAX_SEQUENCE_LENGTH: usize = 1_000_000;

/// How deep a value an expression gives may nest. The execution record holding it is read back
/// by a JSON parser that stops at 128 levels, and the record adds levels of its own.
const MAX_RESULT_DEPTH: usize = 100;

/// Where an expression sits in its state: the field as a load error names it (`Output.a[0]`) and as
/// AWS's runtime causes name it (`Output/a[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    load: String,
    aws: String,
}

impl Field {
    /// A field of the state (`Output`, `Catch[0]`, `Choices[1]`).
    pub(crate) fn new(name: &str) -> Field {
        Field { load: name.to_owned(), aws: name.to_owned() }
    }

    /// A field inside this one (`Output.a` / `Output/a`).
    pub(crate) fn key(&self, key: &str) -> Field {
        Field { load: format!("{}.{key}", self.load), aws: format!("{}/{key}", self.aws) }
    }

    /// An element of this array field (`Items[1]`).
    pub(crate) fn index(&self, index: usize) -> Field {
        Field { load: format!("{}[{index}]", self.load), aws: format!("{}[{index}]", self.aws) }
    }
}

/// A refusal at load, with the field it is in.
#[derive(Debug)]
pub(crate) struct FieldRefusal {
    pub field: String,
    pub refusal: Refusal,
}

/// What `$states` holds besides `input` and `context` where an expression is written. AWS refuses
/// a definition that reads `$states.result` or `$states.errorOutput` where they are not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    /// `$states.result`: a Task's, Parallel's or Map's `Output` and `Assign`.
    pub result: bool,
    /// `$states.errorOutput`: a Catcher's `Output` and `Assign`.
    pub error_output: bool,
}

/// A compiled `{% … %}` expression.
#[derive(Debug, Clone)]
pub(crate) struct Expression {
    /// The text between `{%` and `%}`, trimmed, as AWS quotes it in causes.
    text: Arc<str>,
    /// The field, as AWS names it in causes.
    field: Arc<str>,
    ast: Arc<AstNode>,
    /// Every `$name` it mentions (a superset of the variables it reads): only these are bound.
    names: Arc<[String]>,
}

impl Expression {
    /// The expression `text` is, if it is one: `{%` and `%}` with nothing before or after them. A
    /// string that opens or closes like one without being one is refused, as AWS refuses it ("the
    /// string must start with `{%` with no leading spaces, and must end with `%}` with no trailing
    /// spaces").
    pub(crate) fn text_of(text: &str) -> Result<Option<&str>, Refusal> {
        let trimmed = text.trim();
        if !trimmed.starts_with("{%") && !trimmed.ends_with("%}") {
            return Ok(None);
        }
        match text.strip_prefix("{%").and_then(|rest| rest.strip_suffix("%}")) {
            Some(inner) => Ok(Some(inner.trim())),
            None => Err(Refusal::invalid(format!(
                "{text:?} is not a JSONata expression: one starts with \"{{%\" and ends with \"%}}\", with nothing \
                 before or after them"
            ))),
        }
    }

    /// Compiles the expression `text` (without its `{% %}`) written in `field`.
    pub(crate) fn compile(text: &str, field: &Field, reads: Reads) -> Result<Expression, FieldRefusal> {
        let at = |refusal: Refusal| FieldRefusal { field: field.load.clone(), refusal };
        let ast = jsonata_core::parser::parse(text)
            .map_err(|error| at(Refusal::invalid(format!("the JSONata expression '{text}' is not valid: {error}"))))?;
        check(&ast, true, reads)
            .map_err(|message| at(Refusal::invalid(format!("the JSONata expression '{text}': {message}"))))?;
        let mut names = Vec::new();
        collect_names(&ast, &mut names);
        names.sort_unstable();
        names.dedup();
        Ok(Expression { text: text.into(), field: field.aws.as_str().into(), ast: Arc::new(ast), names: names.into() })
    }

    fn failure(&self, what: impl std::fmt::Display) -> Failure {
        Failure::evaluation(
            format!("The JSONata expression '{}' specified for the field '{}' {what}", self.text, self.field),
            Some(self.field.clone()),
        )
    }

    /// The field the expression is written in, as AWS names it in a failure's location
    /// (`Output/result`, `HeartbeatSeconds`).
    pub(crate) fn field(&self) -> &Arc<str> {
        &self.field
    }

    /// A failure of this expression's field worded without the expression (AWS words some so,
    /// e.g. a Wait's `Timestamp` that is no timestamp), still located at the field.
    pub(crate) fn failure_in_field(&self, cause: impl std::fmt::Display) -> Failure {
        Failure::evaluation(cause.to_string(), Some(self.field.clone()))
    }

    /// The failure for a value its field does not take (`expected`: "a boolean", "an integer
    /// from 0 to 99999999", …).
    pub(crate) fn wrong_value(&self, expected: &str, value: &Value) -> Failure {
        self.failure(format_args!("returned an unexpected result: the field takes {expected}, not {}", describe(value)))
    }
}

/// A value's JSON type, as AWS's causes name it (`'number'`, `'object'`, …).
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as a cause describes it: its kind, and a short one's JSON text.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 64 { format!("{} ({text})", kind_of(value)) } else { kind_of(value).to_owned() }
}

/// A field's value in a JSONata state: any JSON, each string that is a `{% … %}` expression
/// evaluated, at any depth of objects and arrays.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// A value without expressions: copied as it is.
    Literal(Value),
    Expression(Expression),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

impl Template {
    /// Compiles the value of `field`.
    pub(crate) fn compile(value: &Value, field: &Field, reads: Reads) -> Result<Template, FieldRefusal> {
        let compiled = match value {
            Value::String(text) => {
                match Expression::text_of(text)
                    .map_err(|refusal| FieldRefusal { field: field.load.clone(), refusal })?
                {
                    Some(inner) => Template::Expression(Expression::compile(inner, field, reads)?),
                    None => Template::Literal(value.clone()),
                }
            }
            Value::Object(fields) => Template::Object(
                fields
                    .iter()
                    .map(|(key, item)| Ok((key.clone(), Template::compile(item, &field.key(key), reads)?)))
                    .collect::<Result<_, FieldRefusal>>()?,
            ),
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| Template::compile(item, &field.index(index), reads))
                    .collect::<Result<_, _>>()?,
            ),
            other => Template::Literal(other.clone()),
        };
        // A subtree without expressions is kept as the value it is.
        Ok(match compiled {
            Template::Object(_) | Template::Array(_) if !compiled.has_expressions() => Template::Literal(value.clone()),
            other => other,
        })
    }

    fn has_expressions(&self) -> bool {
        match self {
            Template::Literal(_) => false,
            Template::Expression(_) => true,
            Template::Object(fields) => fields.iter().any(|(_, item)| item.has_expressions()),
            Template::Array(items) => items.iter().any(Template::has_expressions),
        }
    }

    /// The template's value in `scope`.
    pub(crate) fn eval(&self, scope: &Scope<'_>) -> Result<Value, Failure> {
        Ok(match self {
            Template::Literal(value) => value.clone(),
            Template::Expression(expression) => scope.eval(expression)?,
            Template::Object(fields) => {
                let mut object = Map::new();
                for (key, item) in fields {
                    object.insert(key.clone(), item.eval(scope)?);
                }
                Value::Object(object)
            }
            Template::Array(items) => {
                Value::Array(items.iter().map(|item| item.eval(scope)).collect::<Result<_, _>>()?)
            }
        })
    }

    /// A Map's `Items` giving something other than an array, worded as AWS words it (LocalStack's
    /// snapshots recorded against AWS: test_base_scenarios.snapshot.json,
    /// test_map_state_items_eval_jsonata_fail and test_map_state_items_variable_sampling).
    pub(crate) fn not_an_array(&self, value: &Value) -> Failure {
        match self {
            Template::Expression(expression) => expression.failure(format_args!(
                "returned an unexpected result type. Expected 'array', but was '{}' for value: {value}",
                json_type(value)
            )),
            _ => self.wrong_value("Items", "an array", value),
        }
    }

    /// The failure for a value the field does not take; a literal's kind is checked at load, so
    /// it is an expression's (or, for an object or array, the field's own).
    pub(crate) fn wrong_value(&self, field: &str, expected: &str, value: &Value) -> Failure {
        match self {
            Template::Expression(expression) => expression.wrong_value(expected, value),
            _ => Failure::evaluation(
                format!("The field '{field}' takes {expected}, not {}", describe(value)),
                Some(field.into()),
            ),
        }
    }
}

/// What a state's expressions read: `$states` (built once, when an expression first reads it)
/// and the workflow variables in scope.
pub(crate) struct Scope<'a> {
    input: &'a Value,
    result: Option<&'a Value>,
    error_output: Option<&'a Value>,
    /// What the engine gives paths to read: `{"context": …, "variables": …}`.
    env: &'a Value,
    states: OnceCell<JValue>,
}

impl<'a> Scope<'a> {
    /// `$states.input` is `input`, `$states.context` and the variables come from `env`.
    pub(crate) fn new(input: &'a Value, env: &'a Value) -> Self {
        Scope { input, result: None, error_output: None, env, states: OnceCell::new() }
    }

    /// What paths read: `{"context": …, "variables": …}`.
    pub(crate) fn env(&self) -> &'a Value {
        self.env
    }

    /// With `$states.result`.
    pub(crate) fn with_result(self, result: &'a Value) -> Self {
        Scope { result: Some(result), states: OnceCell::new(), ..self }
    }

    /// With `$states.errorOutput`.
    pub(crate) fn with_error_output(self, error_output: &'a Value) -> Self {
        Scope { error_output: Some(error_output), states: OnceCell::new(), ..self }
    }

    fn states(&self) -> &JValue {
        self.states.get_or_init(|| {
            let mut fields = vec![("input".to_owned(), to_jvalue(self.input))];
            if let Some(result) = self.result {
                fields.push(("result".to_owned(), to_jvalue(result)));
            }
            if let Some(error_output) = self.error_output {
                fields.push(("errorOutput".to_owned(), to_jvalue(error_output)));
            }
            if let Some(context) = self.env.get("context") {
                fields.push(("context".to_owned(), to_jvalue(context)));
            }
            JValue::Object(Rc::new(fields.into_iter().collect()))
        })
    }

    /// The expression's value. Nothing (JSONata's undefined) is a failure: JSON has no such value.
    pub(crate) fn eval(&self, expression: &Expression) -> Result<Value, Failure> {
        let result = self.evaluate(expression).map_err(|error| {
            expression.failure(format_args!("threw an error during evaluation. {}", error.message()))
        })?;
        match from_jvalue(&result, 0) {
            Ok(Some(value)) => Ok(value),
            Ok(None) if matches!(result, JValue::Undefined) => Err(expression.failure("returned nothing (undefined).")),
            // A function (or regex) is no JSON value: AWS's wording (LocalStack's
            // test_base_scenarios.snapshot.json, recorded against AWS:
            // test_map_state_items_eval_jsonata_fail[function]).
            Ok(None) => Err(expression.failure("returned an unsupported result type.")),
            Err(TooDeep) => {
                Err(expression
                    .failure(format_args!("returned a value nested more than {MAX_RESULT_DEPTH} levels deep.")))
            }
        }
    }

    fn evaluate(&self, expression: &Expression) -> Result<JValue, EvaluatorError> {
        let mut context = Context::new();
        let variables = self.env.get("variables").and_then(Value::as_object);
        for name in expression.names.iter() {
            if name == "states" {
                context.bind(name.clone(), self.states().clone());
            } else if let Some(value) = variables.and_then(|variables| variables.get(name)) {
                context.bind(name.clone(), to_jvalue(value));
            }
        }
        let options = EvaluatorOptions {
            timeout_ms: Some(TIMEOUT_MS),
            max_stack_depth: Some(MAX_EVALUATION_DEPTH),
            max_sequence_length: Some(MAX_SEQUENCE_LENGTH),
            ..EvaluatorOptions::default()
        };
        let mut evaluator = Evaluator::with_options(context, options);
        install_functions(&mut evaluator)?;
        // No context item: AWS refuses expressions that would read one at the top level.
        evaluator.evaluate(&expression.ast, &JValue::Undefined)
    }
}

/// The functions Step Functions adds to JSONata, and `$eval` taken away ("`$eval` is not
/// available—use `$parse` instead"): calling it fails as calling any non-function does.
fn install_functions(evaluator: &mut Evaluator) -> Result<(), EvaluatorError> {
    evaluator.register_fn("partition", partition)?;
    evaluator.register_fn("range", range)?;
    evaluator.register_fn("hash", hash)?;
    evaluator.register_fn("uuid", uuid)?;
    evaluator.register_fn("parse", parse)?;
    evaluator.register_fn_override("random", random)?;
    evaluator.register_fn_override("eval", |_: &[JValue]| {
        Err(EvaluatorError::TypeError("T1006: Attempted to invoke a non-function".to_owned()))
    })
}

/// JSONata's error for an argument its function does not take (positions count from 1).
fn signature_error(function: &str, position: usize) -> EvaluatorError {
    EvaluatorError::TypeError(format!(
        "T0410: Argument {position} of function \"{function}\" does not match function signature"
    ))
}

/// A number argument as an integer: AWS "will automatically round down any non-integer
/// numbers provided", measured to round towards zero (-1.7 is -1).
fn integer(function: &str, position: usize, value: &JValue) -> Result<i64, EvaluatorError> {
    match value {
        JValue::Number(n) if n.is_finite() && n.abs() < 9.0e15 => Ok(n.trunc() as i64),
        _ => Err(signature_error(function, position)),
    }
}

fn argument(args: &[JValue], position: usize) -> &JValue {
    args.get(position - 1).unwrap_or(&JValue::Undefined)
}

/// `$partition(array, size)`: `States.ArrayPartition`. Nothing for an empty array or a size
/// of 0, as AWS is measured to answer.
fn partition(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let (array, size) = (argument(args, 1), argument(args, 2));
    if array.is_undefined() || size.is_undefined() {
        return Ok(JValue::Undefined);
    }
    let items: Vec<Value> = match array {
        JValue::Array(items) => items.iter().filter_map(|item| from_jvalue(item, 0).ok().flatten()).collect(),
        single => from_jvalue(single, 0).ok().flatten().into_iter().collect(),
    };
    let size = integer("partition", 2, size)?;
    if size < 0 {
        return Err(EvaluatorError::EvaluationError(format!(
            "The chunk size of function \"partition\" must be a positive integer, not {size}"
        )));
    }
    if items.is_empty() || size == 0 {
        return Ok(JValue::Undefined);
    }
    Ok(to_jvalue(&intrinsics::partition(&items, usize::try_from(size).unwrap_or(usize::MAX))))
}

/// `$range(start, end, step)`: `States.ArrayRange`, end included. Nothing without a step or with a
/// step away from the end (as AWS is measured to answer), one number for a range of one.
fn range(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let (start, end, step) = (argument(args, 1), argument(args, 2), argument(args, 3));
    if start.is_undefined() || end.is_undefined() || step.is_undefined() {
        return Ok(JValue::Undefined);
    }
    let (start, end, step) = (integer("range", 1, start)?, integer("range", 2, end)?, integer("range", 3, step)?);
    if step == 0 {
        return Ok(JValue::Undefined);
    }
    let length = intrinsics::range_length(start, end, step);
    if length > MAX_SEQUENCE_LENGTH as i128 {
        return Err(EvaluatorError::EvaluationError("Expression evaluation memory limit exceeded".to_owned()));
    }
    let mut items: Vec<JValue> = intrinsics::range(start, end, step).iter().map(to_jvalue).collect();
    Ok(match items.len() {
        0 => JValue::Undefined,
        1 => items.remove(0),
        _ => JValue::array(items),
    })
}

/// `$hash(text, algorithm)`: `States.Hash` (MD5, SHA-1, SHA-256, SHA-384, SHA-512), lowercase hex.
fn hash(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let (text, algorithm) = (argument(args, 1), argument(args, 2));
    if text.is_undefined() || algorithm.is_undefined() {
        return Ok(JValue::Undefined);
    }
    let text = text.as_str().ok_or_else(|| signature_error("hash", 1))?;
    let algorithm = algorithm.as_str().ok_or_else(|| signature_error("hash", 2))?;
    intrinsics::hash_hex(text, algorithm).map(JValue::from).ok_or_else(|| {
        EvaluatorError::EvaluationError(format!(
            "The hash algorithm '{algorithm}' is not supported; the algorithms are MD5, SHA-1, SHA-256, SHA-384 and \
             SHA-512"
        ))
    })
}

/// `$uuid()`: `States.UUID`, a version 4 UUID.
fn uuid(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    if !args.is_empty() {
        return Err(signature_error("uuid", 1));
    }
    Ok(JValue::from(intrinsics::uuid()))
}

/// `$parse(text)`: the JSON `text` holds, as `States.StringToJson` reads it.
fn parse(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let text = argument(args, 1);
    if text.is_undefined() {
        return Ok(JValue::Undefined);
    }
    let text = text.as_str().ok_or_else(|| signature_error("parse", 1))?;
    intrinsics::string_to_json(text).map(|value| to_jvalue(&value)).map_err(|error| {
        EvaluatorError::EvaluationError(format!("Unable to parse the argument of function \"parse\": {error}"))
    })
}

/// `$random([seed])`: a number from 0 (included) to 1 (excluded); the same for the same seed.
fn random(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let seed = match argument(args, 1) {
        JValue::Undefined => None,
        seed => Some(integer("random", 1, seed)?),
    };
    Ok(JValue::Number(intrinsics::random_fraction(seed)))
}

/// Checks an expression as AWS does when a state machine is created: no `$$`; at the top level
/// (where there is no context item: the input is `$states.input`) no `$` and no field names;
/// `$states.result` and `$states.errorOutput` only where `reads` allows them. A step after a
/// path's first, a predicate, a sort term and a group-by run on items, so names there are fine; a
/// function's body keeps the context it is defined in.
fn check(node: &AstNode, top: bool, reads: Reads) -> Result<(), String> {
    let at_top = |reference: &str| {
        if top {
            Err(format!(
                "Reference to '{reference}' at the top level is not supported: read the state's input as \
                 $states.input and a variable as $name"
            ))
        } else {
            Ok(())
        }
    };
    let all = |nodes: &[AstNode], top: bool| nodes.iter().try_for_each(|node| check(node, top, reads));
    with_stack(|| match node {
        AstNode::ParentVariable(_) => {
            Err("Reference to '$$' is not supported: the context object is $states.context".to_owned())
        }
        AstNode::Variable(name) if name.is_empty() => at_top("$"),
        AstNode::Name(name) => at_top(name),
        AstNode::Wildcard => at_top("*"),
        AstNode::Descendant => at_top("**"),
        AstNode::Parent(_) => at_top("%"),
        AstNode::Path { steps } => {
            if let [first, second, ..] = steps.as_slice()
                && matches!(&first.node, AstNode::Variable(name) if name == "states")
                && let AstNode::Name(field) = &second.node
            {
                match field.as_str() {
                    "result" if !reads.result => {
                        return Err("$states.result is only available in the Output and Assign of a Task, Parallel \
                                    or Map state"
                            .to_owned());
                    }
                    "errorOutput" if !reads.error_output => {
                        return Err("$states.errorOutput is only available in a Catcher's Output and Assign".to_owned());
                    }
                    _ => {}
                }
            }
            steps.iter().enumerate().try_for_each(|(index, step)| {
                check(&step.node, top && index == 0, reads)?;
                step.stages.iter().try_for_each(|stage| match stage {
                    Stage::Filter(filter) => check(filter, false, reads),
                    Stage::KeepArray | Stage::Index(_) => Ok(()),
                })
            })
        }
        AstNode::Binary { lhs, rhs, .. } => {
            check(lhs, top, reads)?;
            check(rhs, top, reads)
        }
        AstNode::Unary { operand, .. } => check(operand, top, reads),
        AstNode::Function { args, .. } => all(args, top),
        AstNode::Call { procedure, args } => {
            check(procedure, top, reads)?;
            all(args, top)
        }
        AstNode::Lambda { body, .. } => check(body, top, reads),
        AstNode::Array(items) | AstNode::ArrayGroup(items) | AstNode::Block(items) => all(items, top),
        AstNode::Object(pairs) => pairs.iter().try_for_each(|(key, value)| {
            check(key, top, reads)?;
            check(value, top, reads)
        }),
        AstNode::ObjectTransform { input, pattern } => {
            check(input, top, reads)?;
            pattern.iter().try_for_each(|(key, value)| {
                check(key, false, reads)?;
                check(value, false, reads)
            })
        }
        AstNode::Conditional { condition, then_branch, else_branch } => {
            check(condition, top, reads)?;
            check(then_branch, top, reads)?;
            else_branch.as_deref().map_or(Ok(()), |branch| check(branch, top, reads))
        }
        AstNode::FunctionApplication(body) => check(body, false, reads),
        AstNode::Sort { input, terms } => {
            check(input, top, reads)?;
            terms.iter().try_for_each(|(term, _)| check(term, false, reads))
        }
        AstNode::Transform { location, update, delete } => {
            check(location, false, reads)?;
            check(update, false, reads)?;
            delete.as_deref().map_or(Ok(()), |delete| check(delete, false, reads))
        }
        AstNode::String(_)
        | AstNode::Number(_)
        | AstNode::Boolean(_)
        | AstNode::Null
        | AstNode::Undefined
        | AstNode::Placeholder
        | AstNode::Regex { .. }
        | AstNode::Variable(_) => Ok(()),
    })
}

/// Every `$name` an expression mentions.
fn collect_names(node: &AstNode, names: &mut Vec<String>) {
    let all = |nodes: &[AstNode], names: &mut Vec<String>| nodes.iter().for_each(|node| collect_names(node, names));
    with_stack(|| match node {
        AstNode::Variable(name) if !name.is_empty() => names.push(name.clone()),
        AstNode::Path { steps } => {
            for step in steps {
                collect_names(&step.node, names);
                for stage in &step.stages {
                    if let Stage::Filter(filter) = stage {
                        collect_names(filter, names);
                    }
                }
            }
        }
        AstNode::Binary { lhs, rhs, .. } => {
            collect_names(lhs, names);
            collect_names(rhs, names);
        }
        AstNode::Unary { operand: node, .. }
        | AstNode::Lambda { body: node, .. }
        | AstNode::FunctionApplication(node) => collect_names(node, names),
        AstNode::Function { args, .. } => all(args, names),
        AstNode::Call { procedure, args } => {
            collect_names(procedure, names);
            all(args, names);
        }
        AstNode::Array(items) | AstNode::ArrayGroup(items) | AstNode::Block(items) => all(items, names),
        AstNode::Object(pairs) | AstNode::ObjectTransform { pattern: pairs, .. } => {
            if let AstNode::ObjectTransform { input, .. } = node {
                collect_names(input, names);
            }
            for (key, value) in pairs {
                collect_names(key, names);
                collect_names(value, names);
            }
        }
        AstNode::Conditional { condition, then_branch, else_branch } => {
            collect_names(condition, names);
            collect_names(then_branch, names);
            if let Some(branch) = else_branch {
                collect_names(branch, names);
            }
        }
        AstNode::Sort { input, terms } => {
            collect_names(input, names);
            for (term, _) in terms {
                collect_names(term, names);
            }
        }
        AstNode::Transform { location, update, delete } => {
            collect_names(location, names);
            collect_names(update, names);
            if let Some(delete) = delete {
                collect_names(delete, names);
            }
        }
        _ => {}
    })
}

/// A JSON value as JSONata's.
fn to_jvalue(value: &Value) -> JValue {
    match value {
        Value::Null => JValue::Null,
        Value::Bool(b) => JValue::Bool(*b),
        Value::Number(n) => JValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(text) => JValue::string(text.as_str()),
        Value::Array(items) => with_stack(|| JValue::array(items.iter().map(to_jvalue).collect())),
        Value::Object(fields) => with_stack(|| {
            JValue::Object(Rc::new(fields.iter().map(|(key, item)| (key.clone(), to_jvalue(item))).collect()))
        }),
    }
}

/// A value nested deeper than [`MAX_RESULT_DEPTH`].
struct TooDeep;

/// A JSONata value as JSON; `None` for nothing (undefined, and functions, which JSON cannot hold),
/// which an object leaves out and an array holds as `null`, as JavaScript's `JSON.stringify` does.
fn from_jvalue(value: &JValue, depth: usize) -> Result<Option<Value>, TooDeep> {
    if depth > MAX_RESULT_DEPTH {
        return Err(TooDeep);
    }
    Ok(Some(match value {
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => number(*n),
        JValue::String(text) => Value::String(text.to_string()),
        JValue::Array(items) => with_stack(|| {
            items
                .iter()
                .map(|item| Ok(from_jvalue(item, depth + 1)?.unwrap_or(Value::Null)))
                .collect::<Result<_, TooDeep>>()
                .map(Value::Array)
        })?,
        JValue::Object(fields) => with_stack(|| {
            let mut object = Map::new();
            for (key, item) in fields.iter() {
                if let Some(item) = from_jvalue(item, depth + 1)? {
                    object.insert(key.clone(), item);
                }
            }
            Ok(Value::Object(object))
        })?,
        _ => return Ok(None),
    }))
}

/// A JSONata number (a double) as JSON: a whole number as an integer (`1`, not `1.0`); one JSON
/// cannot write (infinite, not a number) as the text JavaScript names it, as AWS writes it.
fn number(n: f64) -> Value {
    /// 2^63: every whole double below it in magnitude fits an i64.
    const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() {
        Value::String("NaN".to_owned())
    } else if n.is_infinite() {
        Value::String(if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned())
    } else if n.fract() == 0.0 && n.abs() < I64_BOUND {
        Value::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn compile(text: &str) -> Result<Expression, FieldRefusal> {
        Expression::compile(text, &Field::new("Output"), Reads { result: true, error_output: false })
    }

    fn eval(text: &str, input: Value, variables: Value) -> Result<Value, Failure> {
        let env = json!({"context": {"Execution": {"Name": "run-1"}}, "variables": variables});
        Scope::new(&input, &env).eval(&compile(text).unwrap())
    }

    #[test]
    fn given_strings_when_read_then_only_whole_delimited_ones_are_expressions() {
        assert_eq!(Expression::text_of("{% $x %}").unwrap(), Some("$x"));
        assert_eq!(Expression::text_of("{%$x%}").unwrap(), Some("$x"));
        assert_eq!(Expression::text_of("plain $x").unwrap(), None);
        assert_eq!(Expression::text_of("50% off").unwrap(), None);
        for broken in [" {% $x %}", "{% $x %} ", "{% $x", "$x %}", "{%"] {
            assert!(Expression::text_of(broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn given_numbers_when_converted_then_whole_ones_stay_integers() {
        assert_eq!(
            eval("{'a': 1, 'b': 2.5, 'c': 3 * 2, 'd': -0}", json!({}), json!({})).unwrap(),
            json!({"a": 1, "b": 2.5, "c": 6, "d": 0})
        );
        assert_eq!(serde_json::to_string(&eval("1 + 1", json!({}), json!({})).unwrap()).unwrap(), "2");
        assert_eq!(eval("1/0", json!({}), json!({})).unwrap(), json!("Infinity"));
        assert_eq!(
            eval("$states.input.big", json!({"big": 12_345_678_901_234_i64}), json!({})).unwrap(),
            json!(12_345_678_901_234_i64)
        );
    }

    #[test]
    fn given_objects_when_evaluated_then_literals_keep_their_order_and_input_objects_come_by_key() {
        // An object written in the expression keeps its order, as in AWS.
        assert_eq!(eval("$keys({'z': 1, 'a': 2})", json!({}), json!({})).unwrap(), json!(["z", "a"]));
        // An object from the input comes with its keys in name order: the engine's JSON keeps no
        // document order (serde_json without `preserve_order`, docs/ARCHITECTURE.md), where AWS
        // keeps the document's.
        let input = serde_json::from_str(r#"{"z": 1, "a": 2, "m": 3}"#).unwrap();
        assert_eq!(eval("$keys($states.input)", input, json!({})).unwrap(), json!(["a", "m", "z"]));
    }

    #[test]
    fn given_variables_and_states_when_evaluated_then_both_are_bound() {
        let value = eval("$states.input.n + $n & $states.context.Execution.Name", json!({"n": 1}), json!({"n": 2}));
        assert_eq!(value.unwrap(), json!("3run-1"));
    }

    #[test]
    fn given_an_expression_that_gives_nothing_or_throws_when_evaluated_then_query_evaluation_error() {
        let nothing = eval("$states.input.missing", json!({}), json!({})).unwrap_err();
        assert_eq!(nothing.error, "States.QueryEvaluationError");
        assert_eq!(
            nothing.cause,
            "The JSONata expression '$states.input.missing' specified for the field 'Output' returned nothing (undefined)."
        );
        let thrown = eval("'a' + 1", json!({}), json!({})).unwrap_err();
        assert_eq!(
            thrown.cause,
            "The JSONata expression ''a' + 1' specified for the field 'Output' threw an error during evaluation. \
             T2001: The left side of the + operator must evaluate to a number"
        );
        let eval_is_gone = eval("$eval('1 + 2')", json!({}), json!({})).unwrap_err();
        assert!(
            eval_is_gone.cause.ends_with("threw an error during evaluation. T1006: Attempted to invoke a non-function"),
            "{}",
            eval_is_gone.cause
        );
    }

    #[test]
    fn given_runaway_expressions_when_evaluated_then_the_limits_stop_them() {
        let recursion = eval("($f := function($n){$n = 0 ? 0 : 1 + $f($n - 1)}; $f(1000))", json!({}), json!({}));
        assert!(recursion.unwrap_err().cause.contains("D1011"));
        assert_eq!(
            eval("($f := function($n){$n = 0 ? 0 : 1 + $f($n - 1)}; $f(25))", json!({}), json!({})).unwrap(),
            json!(25)
        );
        let endless = eval("($f := function($n){ $f($n + 1) }; $f(0))", json!({}), json!({}));
        assert!(endless.unwrap_err().cause.contains("D1012"));
        assert!(eval("$count([1..2000000])", json!({}), json!({})).unwrap_err().cause.contains("D2015"));
        let deep = eval("$reduce([1..200], function($acc, $n){ {'a': $acc} }, 0)", json!({}), json!({})).unwrap_err();
        assert!(deep.cause.ends_with("returned a value nested more than 100 levels deep."), "{}", deep.cause);
    }

    #[test]
    fn given_expressions_reading_what_aws_refuses_when_compiled_then_refused() {
        for (text, said) in [
            ("phone", "Reference to 'phone' at the top level is not supported"),
            ("order.total", "Reference to 'order' at the top level"),
            ("$", "Reference to '$' at the top level"),
            ("$.a", "Reference to '$' at the top level"),
            ("$$.Execution.Id", "Reference to '$$' is not supported"),
            ("$map($states.input.a, function($x){ b })", "Reference to 'b'"),
            ("$states.errorOutput.Cause", "$states.errorOutput is only available"),
            ("1 +", "is not valid: S0207"),
        ] {
            let refused = compile(text).unwrap_err();
            assert_eq!(refused.field, "Output");
            assert!(refused.refusal.message.contains(said), "{text}: {}", refused.refusal.message);
        }
        let no_result = Expression::compile("$states.result", &Field::new("Arguments"), Reads::default()).unwrap_err();
        assert!(no_result.refusal.message.contains("$states.result is only available"));
        for accepted in [
            "$states.input.items[value > 3].name",
            "$states.input.items.(price * quantity)",
            "$states.input.xs^(>n)",
            "$map($states.input.a, function($x){ $x.b })",
        ] {
            compile(accepted).unwrap_or_else(|e| panic!("{accepted}: {}", e.refusal.message));
        }
    }

    #[test]
    fn given_templates_when_compiled_then_literal_subtrees_stay_values_and_fields_are_named() {
        let template = Template::compile(
            &json!({"static": {"a": [1, "x"]}, "dynamic": ["{% $states.input.a %}", 2]}),
            &Field::new("Arguments"),
            Reads::default(),
        )
        .unwrap();
        let Template::Object(fields) = &template else { panic!("{template:?}") };
        let field = |name: &str| &fields.iter().find(|(key, _)| key == name).unwrap().1;
        assert!(matches!(field("static"), Template::Literal(_)));
        assert!(!matches!(field("dynamic"), Template::Literal(_)));
        let env = json!({"variables": {}});
        let failure = template.eval(&Scope::new(&json!({}), &env)).unwrap_err();
        assert!(failure.cause.contains("specified for the field 'Arguments/dynamic[0]'"), "{}", failure.cause);
        let refused =
            Template::compile(&json!({"a": {"b": "{% foo %}"}}), &Field::new("Output"), Reads::default()).unwrap_err();
        assert_eq!(refused.field, "Output.a.b");
    }

    #[test]
    fn given_the_functions_step_functions_adds_when_called_then_they_answer_as_documented() {
        let none = || json!({});
        assert_eq!(eval("$partition([1,2,3,4], 2)", none(), none()).unwrap(), json!([[1, 2], [3, 4]]));
        assert_eq!(eval("$partition([1,2,3,4,5], 2.9)", none(), none()).unwrap(), json!([[1, 2], [3, 4], [5]]));
        assert!(
            eval("$partition([1,2], 0)", none(), none()).unwrap_err().cause.ends_with("returned nothing (undefined).")
        );
        assert_eq!(eval("$range(0, 10, 2)", none(), none()).unwrap(), json!([0, 2, 4, 6, 8, 10]));
        assert_eq!(eval("$range(5, 1, -1.5)", none(), none()).unwrap(), json!([5, 4, 3, 2, 1]));
        assert_eq!(eval("$range(7, 7, 1)", none(), none()).unwrap(), json!(7));
        assert_eq!(
            eval("$hash('Hello world', 'SHA-1')", none(), none()).unwrap(),
            json!("7b502c3a1f48c8609ae212cdfb639dee39673f5e")
        );
        assert!(eval("$hash('x', 'sha-1')", none(), none()).unwrap_err().cause.contains("is not supported"));
        assert_eq!(eval("$random(42) = $random(42)", none(), none()).unwrap(), json!(true));
        assert_eq!(eval("$random() >= 0 and $random() < 1", none(), none()).unwrap(), json!(true));
        assert_eq!(eval("$length($uuid())", none(), none()).unwrap(), json!(36));
        assert_eq!(
            eval("$parse($states.input.s)", json!({"s": "{\"key\": [1, 2.5]}"}), none()).unwrap(),
            json!({"key": [1, 2.5]})
        );
        assert!(
            eval("$range('0', 4, 1)", none(), none())
                .unwrap_err()
                .cause
                .ends_with("T0410: Argument 1 of function \"range\" does not match function signature")
        );
    }
}
