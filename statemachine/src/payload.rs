//! Payload templates (`Parameters`, `ResultSelector`): compiling a template at load (fields whose
//! names end in `.$` hold a JSONPath, a `$$` context path or an intrinsic function; duplicates after
//! renaming are refused) and building the payload from an input and the context object. Paths here
//! are full JSONPath as Step Functions reads them (wildcards, slices, filters, …; see
//! [`crate::jsonpath`]), not just reference paths.

use serde_json::{Map, Value};

use crate::error::{Failure, Refusal};
use crate::intrinsics::Call;
use crate::jsonpath::JsonPath;

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    /// A subtree without `.$` fields: copied as is.
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    /// `"name.$": "$.path"` (or `$$.path`); keeps the field's name (`name.$`) for messages.
    Path {
        path: JsonPath,
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
            Template::Path { path, field } => path.select(input, context).ok_or_else(|| {
                // Step Functions' wording; its `States.Runtime` cannot be retried or caught.
                let searched = crate::path::start_of(path.root(), input, context);
                Failure::runtime(format!(
                    "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
                    serde_json::to_string(searched).unwrap_or_default()
                ))
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
                    Some(stripped) => (stripped.to_owned(), compile_dynamic(child, &here, name, task_token)?),
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

fn compile_dynamic(value: &Value, location: &str, field: &str, task_token: bool) -> Result<Template, TemplateRefusal> {
    let at = |refusal: Refusal| TemplateRefusal { location: location.to_owned(), refusal };
    let Value::String(text) = value else {
        return Err(at(Refusal::invalid(
            "the value of a field whose name ends in \".$\" must be a string (a path or an intrinsic function)",
        )));
    };
    if text.starts_with('$') {
        let path = JsonPath::parse(text).map_err(at)?;
        path.check_context(task_token).map_err(at)?;
        Ok(Template::Path { path, field: field.to_owned() })
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
    fn given_the_spec_parameters_example_when_evaluated_then_paths_slices_and_context_are_embedded() {
        // Given the States Language spec's Payload Template example ("Parameters"), with the
        // interpreter-defined $$.DayOfWeek replaced by a context field this executor provides.
        let template = Template::compile(
            &json!({
                "flagged": true,
                "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
                "weekday.$": "$$.Execution.Name",
                "formattedOutput.$": "States.Format('Today is {}', $$.Execution.Name)"
            }),
            false,
        )
        .unwrap();
        let input = json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]});
        let context = json!({"context": {"Execution": {"Name": "TUESDAY"}}});
        // When / Then: the spec's expected output
        assert_eq!(
            template.eval(&input, &context).unwrap(),
            json!({"flagged": true, "parts": {"first": 0, "last3": [30, 40, 50]}, "weekday": "TUESDAY", "formattedOutput": "Today is TUESDAY"})
        );
    }

    #[test]
    fn given_indefinite_paths_in_a_template_when_evaluated_then_each_gives_an_array() {
        // Given the input of the Step Functions "Paths" page and paths of the kinds it and the
        // "Parameters" page (input-output-inputpath-params.html) show
        let input = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true},
                           "jar": [{"a": 1}, {"a": 5}, {"a": 2}, {"a": 7}, {"a": 3}]});
        let scenarios = [
            ("$.jar[?(@.a >= 5)]", json!([{"a": 5}, {"a": 7}])),
            ("$.jar[?(@.a > 6)].a", json!([7])),
            ("$.jar[?(@.a > 100)]", json!([])),
            ("$.jar[*].a", json!([1, 5, 2, 7, 3])),
            ("$.bar[1:]", json!(["b", "c"])),
            ("$.bar[0,2]", json!(["a", "c"])),
            ("$..cdr", json!([true])),
            ("$.car.*", json!([true])),
            ("$.bar[-1]", json!("c")),
        ];
        for (path, expected) in scenarios {
            // When
            let template = Template::compile(&json!({"out.$": path}), false).unwrap();
            // Then
            assert_eq!(template.eval(&input, &json!({})).unwrap(), json!({"out": expected}), "{path}");
        }
    }

    #[test]
    fn given_result_selector_paths_when_evaluated_then_they_read_the_task_result_the_same_way() {
        // AWS "ResultSelector" example (input-output-inputpath-params.html): pick parts of a result.
        let template = Template::compile(
            &json!({"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType",
                    "StepIds.$": "$.output.Steps[*].Id"}),
            false,
        )
        .unwrap();
        let result = json!({"resourceType": "elasticmapreduce", "output": {"ClusterId": "AKIAIOSFODNN7EXAMPLE",
                            "Steps": [{"Id": "s-1"}, {"Id": "s-2"}]}});
        assert_eq!(
            template.eval(&result, &json!({})).unwrap(),
            json!({"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce", "StepIds": ["s-1", "s-2"]})
        );
    }

    #[test]
    fn given_a_backslash_in_a_bracketed_name_when_evaluated_then_it_is_unescaped_as_jayway_does() {
        let template =
            Template::compile(&json!({"a.$": r"$['it\'s']", "b.$": r"$['x\\y']", "c.$": r"$['\u0041']"}), false)
                .unwrap();
        let input = json!({"it's": 1, "x\\y": 2, "A": 3});
        assert_eq!(template.eval(&input, &json!({})).unwrap(), json!({"a": 1, "b": 2, "c": 3}));
    }

    #[test]
    fn given_dynamic_fields_in_arrays_when_evaluated_then_they_are_resolved_too() {
        let template = Template::compile(&json!({"items": [{"id.$": "$.a"}, 2]}), false).unwrap();
        assert_eq!(template.eval(&json!({"a": "x"}), &json!({})).unwrap(), json!({"items": [{"id": "x"}, 2]}));
    }

    #[test]
    fn given_a_path_that_selects_nothing_when_evaluated_then_states_runtime_with_the_aws_cause() {
        // AWS reports e.g. "The JSONPath '$.application.address' specified for the field 'address.$'
        // could not be found in the input '{\"flagged\":false}'" as States.Runtime (uncatchable).
        let template = Template::compile(&json!({"order": {"id.$": "$.orderId"}}), false).unwrap();
        let failure = template.eval(&json!({"flagged": false}), &json!({})).unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
        assert_eq!(
            failure.cause,
            r#"The JSONPath '$.orderId' specified for the field 'id.$' could not be found in the input '{"flagged":false}'"#
        );
        // An indefinite path whose definite beginning is missing fails the same way.
        let template = Template::compile(&json!({"ids.$": "$.items[*].id"}), false).unwrap();
        assert_eq!(template.eval(&json!({}), &json!({})).unwrap_err().error, "States.Runtime");
        // A context path names the context object as the input.
        let template = Template::compile(&json!({"x.$": "$$.Execution.Input.missing"}), false).unwrap();
        let failure = template.eval(&json!({}), &json!({"context": {"Execution": {"Input": {}}}})).unwrap_err();
        assert!(failure.cause.ends_with(r#"in the input '{"Execution":{"Input":{}}}'"#), "{}", failure.cause);
    }

    #[test]
    fn given_bad_templates_when_compiled_then_refused() {
        assert!(Template::compile(&json!({"a.$": 1}), false).is_err());
        assert!(Template::compile(&json!({"a": 1, "a.$": "$.x"}), false).is_err());
        assert!(Template::compile(&json!("not an object"), false).is_err());
        assert!(Template::compile(&json!({"t.$": "$$.Task.Token"}), false).is_err());
        assert!(Template::compile(&json!({"t.$": "$$.Task.Token"}), true).is_ok());
        let function = Template::compile(&json!({"n": {"count.$": "$.items.length()"}}), false).err().unwrap();
        assert_eq!(function.location, "n.count.$");
        assert!(function.refusal.unsupported && function.refusal.message.contains("length()"));
    }
}
