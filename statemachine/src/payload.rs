//! Payload templates (`Parameters`, `ResultSelector`): compiling a template at load (fields whose
//! names end in `.$` hold a path, a `$$` context path or an intrinsic function; duplicates after
//! renaming are refused) and building the payload from an input and the context object.

use serde_json::{Map, Value};

use crate::error::{Failure, Refusal, error_names};
use crate::intrinsics::Call;
use crate::path::RefPath;

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    /// A subtree without `.$` fields: copied as is.
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    /// `"name.$": "$.path"` (or `$$.path`); keeps the original field name for messages.
    Path {
        path: RefPath,
        field: String,
    },
    /// `"name.$": "States.Fn(…)"`.
    Intrinsic(Call),
}

/// A refusal located at a field inside the template (`parts.first.$`).
#[derive(Debug)]
pub(crate) struct TemplateRefusal {
    pub location: String,
    pub refusal: Refusal,
}

impl Template {
    /// Compiles the template `value` (which must be an object). `task_token_available` says whether
    /// `$$.Task.Token` may be referenced.
    pub(crate) fn compile(value: &Value, task_token_available: bool) -> Result<Template, TemplateRefusal> {
        if !value.is_object() {
            return Err(TemplateRefusal {
                location: String::new(),
                refusal: Refusal::invalid("a payload template must be a JSON object"),
            });
        }
        compile_value(value, "", task_token_available)
    }

    /// The payload for `input`.
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, Failure> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Object(fields) => {
                let mut map = Map::new();
                for (name, template) in fields {
                    map.insert(name.clone(), template.eval(input, context)?);
                }
                Value::Object(map)
            }
            Template::Array(items) => {
                Value::Array(items.iter().map(|t| t.eval(input, context)).collect::<Result<_, _>>()?)
            }
            Template::Path { path, field } => path.resolve(input, context).cloned().ok_or_else(|| {
                let source = if path.root() == crate::path::Root::Context { "context object" } else { "input" };
                Failure::new(
                    error_names::PARAMETER_PATH_FAILURE,
                    format!(
                        "The JSONPath '{path}' specified for the field '{field}' could not be found in the {source}"
                    ),
                )
            })?,
            Template::Intrinsic(call) => call.eval(input, context)?,
        })
    }
}

fn join(location: &str, name: &str) -> String {
    if location.is_empty() { name.to_owned() } else { format!("{location}.{name}") }
}

fn has_dynamic_fields(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k.ends_with(".$") || has_dynamic_fields(v)),
        Value::Array(items) => items.iter().any(has_dynamic_fields),
        _ => false,
    }
}

fn compile_value(value: &Value, location: &str, task_token: bool) -> Result<Template, TemplateRefusal> {
    if !has_dynamic_fields(value) {
        return Ok(Template::Literal(value.clone()));
    }
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(String, Template)> = Vec::with_capacity(map.len());
            for (name, child) in map {
                let here = join(location, name);
                let (out_name, template) = match name.strip_suffix(".$") {
                    Some(stripped) => (stripped.to_owned(), compile_dynamic(child, &here, task_token)?),
                    None => (name.clone(), compile_value(child, &here, task_token)?),
                };
                if fields.iter().any(|(existing, _)| *existing == out_name) {
                    return Err(TemplateRefusal {
                        location: here,
                        refusal: Refusal::invalid(format!(
                            "field {out_name:?} appears twice once the \".$\" suffix is stripped"
                        )),
                    });
                }
                fields.push((out_name, template));
            }
            Ok(Template::Object(fields))
        }
        Value::Array(items) => Ok(Template::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| compile_value(item, &format!("{location}[{i}]"), task_token))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(Template::Literal(other.clone())),
    }
}

fn compile_dynamic(value: &Value, location: &str, task_token: bool) -> Result<Template, TemplateRefusal> {
    let at = |refusal: Refusal| TemplateRefusal { location: location.to_owned(), refusal };
    let Value::String(text) = value else {
        return Err(at(Refusal::invalid(
            "the value of a field whose name ends in \".$\" must be a string (a path or an intrinsic function)",
        )));
    };
    if text.starts_with('$') {
        let path = RefPath::parse(text).map_err(at)?;
        path.check_context(task_token).map_err(at)?;
        Ok(Template::Path { path, field: location.to_owned() })
    } else {
        Call::parse(text, task_token).map(Template::Intrinsic).map_err(at)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn given_the_spec_static_parameters_when_evaluated_then_the_payload_is_the_template() {
        let template = Template::compile(&json!({"first": 88, "second": 99}), false).unwrap();
        assert_eq!(template.eval(&json!({"ignored": true}), &json!({})).unwrap(), json!({"first": 88, "second": 99}));
    }

    #[test]
    fn given_the_spec_parameters_example_without_its_slice_when_evaluated_then_paths_and_context_are_embedded() {
        // Given the spec's Payload Template example, except "last3.$": "$.vals[-3:]" (a slice, which a
        // reference path cannot express; see the refusal test) and with the interpreter-defined
        // $$.DayOfWeek replaced by a context field this executor provides.
        let template = Template::compile(
            &json!({
                "flagged": true,
                "parts": {"first.$": "$.vals[0]", "last.$": "$.vals[5]"},
                "weekday.$": "$$.Execution.Name",
                "formattedOutput.$": "States.Format('Today is {}', $$.Execution.Name)"
            }),
            false,
        )
        .unwrap();
        let input = json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]});
        let context = json!({"Execution": {"Name": "TUESDAY"}});
        // When / Then
        assert_eq!(
            template.eval(&input, &context).unwrap(),
            json!({"flagged": true, "parts": {"first": 0, "last": 50}, "weekday": "TUESDAY", "formattedOutput": "Today is TUESDAY"})
        );
    }

    #[test]
    fn given_the_spec_parameters_example_verbatim_when_compiled_then_the_slice_is_refused_at_its_field() {
        let refusal = Template::compile(
            &json!({"flagged": true, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"}}),
            false,
        )
        .err()
        .unwrap();
        assert_eq!(refusal.location, "parts.last3.$");
        assert!(refusal.refusal.unsupported);
    }

    #[test]
    fn given_dynamic_fields_in_arrays_when_evaluated_then_they_are_resolved_too() {
        let template = Template::compile(&json!({"items": [{"id.$": "$.a"}, 2]}), false).unwrap();
        assert_eq!(template.eval(&json!({"a": "x"}), &json!({})).unwrap(), json!({"items": [{"id": "x"}, 2]}));
    }

    #[test]
    fn given_a_missing_path_when_evaluated_then_parameter_path_failure_names_the_field() {
        let template = Template::compile(&json!({"order": {"id.$": "$.orderId"}}), false).unwrap();
        let failure = template.eval(&json!({}), &json!({})).unwrap_err();
        assert_eq!(failure.error, "States.ParameterPathFailure");
        assert!(failure.cause.contains("'$.orderId'") && failure.cause.contains("order.id.$"), "{}", failure.cause);
    }

    #[test]
    fn given_bad_templates_when_compiled_then_refused() {
        assert!(Template::compile(&json!({"a.$": 1}), false).is_err());
        assert!(Template::compile(&json!({"a": 1, "a.$": "$.x"}), false).is_err());
        assert!(Template::compile(&json!("not an object"), false).is_err());
        assert!(Template::compile(&json!({"t.$": "$$.Task.Token"}), false).is_err());
        assert!(Template::compile(&json!({"t.$": "$$.Task.Token"}), true).is_ok());
    }
}
