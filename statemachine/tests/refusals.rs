//! Definitions the executor must refuse at load, each with an error naming the state and field,
//! and definition substitutions.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use statemachine::{Definition, LoadError, LoadErrorKind, placeholders};

/// A one-state machine whose state is `state`, named "S".
fn machine_with(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}})
}

fn refused(definition: Value) -> LoadError {
    match Definition::from_json(&definition) {
        Ok(_) => panic!("should have been refused: {definition}"),
        Err(error) => error,
    }
}

/// Asserts the refusal's kind, state, field and that its message mentions `words`.
fn assert_refusal(error: &LoadError, kind: LoadErrorKind, state: Option<&str>, field: Option<&str>, words: &str) {
    assert_eq!(error.kind, kind, "{error}");
    assert_eq!(error.state.as_deref(), state, "{error}");
    assert_eq!(error.field.as_deref(), field, "{error}");
    assert!(error.to_string().contains(words), "{error:?} should mention {words:?}");
}

#[test]
fn given_malformed_parallel_and_map_states_when_loaded_then_each_is_refused_at_its_field() {
    let branch = |states: Value| json!({"StartAt": "B", "States": states});
    for (state, field, words) in [
        (json!({"Type": "Parallel", "Branches": [], "Next": "Done"}), "Branches", "must not be empty"),
        (json!({"Type": "Parallel", "Next": "Done"}), "Branches", "is required"),
        (
            json!({"Type": "Parallel", "Branches": [branch(json!({"B": {"Type": "Pass", "Next": "Done"}}))], "Next": "Done"}),
            "Next",
            "no state is named \"Done\"",
        ),
        (
            json!({"Type": "Parallel", "Branches": [{"StartAt": "Nowhere", "States": {"B": {"Type": "Succeed"}}}], "End": true}),
            "Branches[0].StartAt",
            "no state is named \"Nowhere\"",
        ),
        (json!({"Type": "Map", "Next": "Done"}), "ItemProcessor", "is required"),
        (
            json!({"Type": "Map", "ItemProcessor": branch(json!({"B": {"Type": "Succeed"}})), "ToleratedFailureCount": 1, "End": true}),
            "ToleratedFailureCount",
            "only allowed in a DISTRIBUTED Map",
        ),
        (
            json!({"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "B",
                "States": {"B": {"Type": "Succeed"}}}, "End": true}),
            "ItemProcessor.ProcessorConfig.ExecutionType",
            "is required for a DISTRIBUTED Map",
        ),
        (
            json!({"Type": "Map", "ItemProcessor": branch(json!({"B": {"Type": "Succeed"}})), "MaxConcurrency": -1, "End": true}),
            "MaxConcurrency",
            "must be an integer",
        ),
    ] {
        let error = refused(machine_with(state));
        assert_eq!(error.kind, LoadErrorKind::Invalid, "{error}");
        let (at_state, at_field) = if field == "Next" { ("B", "Next") } else { ("S", field) };
        assert_refusal(&error, LoadErrorKind::Invalid, Some(at_state), Some(at_field), words);
    }
}

#[test]
fn given_a_state_name_used_in_a_branch_and_outside_when_loaded_then_refused_as_not_unique() {
    let error = refused(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}], "Next": "Done"},
        "Done": {"Type": "Succeed"}}}));
    assert_refusal(&error, LoadErrorKind::Invalid, Some("Done"), None, "unique across the whole state machine");
}

#[test]
fn given_a_map_reading_items_from_s3_when_loaded_then_refused_as_not_supported() {
    let error =
        refused(machine_with(json!({"Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "B",
        "States": {"B": {"Type": "Succeed"}}}, "End": true})));
    assert_refusal(&error, LoadErrorKind::Unsupported, Some("S"), Some("ItemReader"), "reading them from S3");
}

#[test]
fn given_fields_of_the_other_query_language_when_loaded_then_refused_with_step_functions_message() {
    // JSONata fields in a JSONPath state, and JSONPath fields in a JSONata one (AWS: "it is invalid
    // to use path-based fields when using JSONata as your top level workflow or state query
    // language").
    for (state, field, language, other) in [
        (json!({"Type": "Task", "Resource": "r", "Arguments": {}, "Next": "Done"}), "Arguments", "JSONPath", "JSONata"),
        (json!({"Type": "Pass", "Output": {}, "Next": "Done"}), "Output", "JSONPath", "JSONata"),
        (
            json!({"Type": "Pass", "QueryLanguage": "JSONata", "InputPath": "$.a", "Next": "Done"}),
            "InputPath",
            "JSONata",
            "JSONPath",
        ),
        (
            json!({"Type": "Pass", "QueryLanguage": "JSONata", "Result": 1, "Next": "Done"}),
            "Result",
            "JSONata",
            "JSONPath",
        ),
        (
            json!({"Type": "Task", "QueryLanguage": "JSONata", "Resource": "r", "Parameters": {}, "Next": "Done"}),
            "Parameters",
            "JSONata",
            "JSONPath",
        ),
    ] {
        let error = refused(machine_with(state));
        let said = format!(
            "The QueryLanguage is set to '{language}', but field '{field}' is only supported for the '{other}' \
             QueryLanguage"
        );
        assert_refusal(&error, LoadErrorKind::Invalid, Some("S"), Some(field), &said);
    }
    // A JSONata state machine's state may not say JSONPath; saying JSONPath explicitly elsewhere is fine.
    let back = refused(json!({"QueryLanguage": "JSONata", "StartAt": "S",
        "States": {"S": {"Type": "Succeed", "QueryLanguage": "JSONPath"}}}));
    assert_refusal(
        &back,
        LoadErrorKind::Invalid,
        Some("S"),
        Some("QueryLanguage"),
        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
    );
    let unknown = refused(json!({"QueryLanguage": "JsonPath", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}));
    assert_refusal(
        &unknown,
        LoadErrorKind::Invalid,
        None,
        Some("QueryLanguage"),
        "must be \"JSONPath\" or \"JSONata\"",
    );
    Definition::from_json(&json!({"QueryLanguage": "JSONPath", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}))
        .unwrap();
}

#[test]
fn given_credentials_path_timeouts_and_unknown_fields_when_loaded_then_each_is_refused_by_name() {
    for (state, field, words) in [
        (json!({"Type": "Task", "Resource": "r", "Credentials": {}, "Next": "Done"}), "Credentials", "Credentials"),
        (
            json!({"Type": "Task", "Resource": "r", "TimeoutSecondsPath": "$.t", "Next": "Done"}),
            "TimeoutSecondsPath",
            "TimeoutSeconds",
        ),
        (
            json!({"Type": "Task", "Resource": "r", "HeartbeatSecondsPath": "$.t", "Next": "Done"}),
            "HeartbeatSecondsPath",
            "HeartbeatSeconds",
        ),
        (json!({"Type": "Pass", "Retries": 3, "Next": "Done"}), "Retries", "unknown or unsupported field \"Retries\""),
    ] {
        let error = refused(machine_with(state));
        assert_refusal(&error, LoadErrorKind::Unsupported, Some("S"), Some(field), words);
    }
    let top = refused(json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}, "Extra": 1}));
    assert_refusal(&top, LoadErrorKind::Unsupported, None, Some("Extra"), "unknown or unsupported top-level field");
}

#[test]
fn given_fields_of_another_state_type_when_loaded_then_refused_as_not_allowed_there() {
    for (state, field) in [
        (json!({"Type": "Pass", "ResultSelector": {}, "Next": "Done"}), "ResultSelector"),
        (json!({"Type": "Pass", "Retry": [], "Next": "Done"}), "Retry"),
        (json!({"Type": "Pass", "ItemProcessor": {}, "Next": "Done"}), "ItemProcessor"),
        (
            json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Done"}], "End": true}),
            "End",
        ),
        (json!({"Type": "Succeed", "Next": "Done"}), "Next"),
        (json!({"Type": "Fail", "InputPath": "$.a"}), "InputPath"),
        (json!({"Type": "Wait", "Seconds": 1, "Result": 1, "Next": "Done"}), "Result"),
    ] {
        let error = refused(machine_with(state));
        assert_refusal(
            &error,
            LoadErrorKind::Invalid,
            Some("S"),
            Some(field),
            &format!("may not have the field \"{field}\""),
        );
    }
}

#[test]
fn given_non_reference_paths_when_loaded_then_refused_with_the_field_named() {
    for (state, field, words) in [
        (json!({"Type": "Pass", "InputPath": "$.items[?(@.ok)]", "Next": "Done"}), "InputPath", "filters"),
        (json!({"Type": "Pass", "OutputPath": "$..id", "Next": "Done"}), "OutputPath", "recursive descent"),
        (json!({"Type": "Wait", "SecondsPath": "$.a[0,1]", "Next": "Done"}), "SecondsPath", "unions"),
        (json!({"Type": "Pass", "ResultPath": "$.a[*]", "Next": "Done"}), "ResultPath", "wildcards"),
        (
            json!({"Type": "Choice", "Choices": [{"Variable": "$.a[1:]", "IsNull": true, "Next": "Done"}]}),
            "Choices[0].Variable",
            "slices",
        ),
        (
            json!({"Type": "Pass", "Parameters": {"a": {"n.$": "$.list.length()"}}, "Next": "Done"}),
            "Parameters.a.n.$",
            "length()",
        ),
        (
            json!({"Type": "Pass", "Parameters": {"m.$": "$.list[?(@.name =~ /a.*/)]"}, "Next": "Done"}),
            "Parameters.m.$",
            "regular expressions",
        ),
        (
            json!({"Type": "Task", "Resource": "r", "ResultSelector": {"x.$": "$.v[?(@.n > $.min)]"}, "Next": "Done"}),
            "ResultSelector.x.$",
            "another value",
        ),
        (
            json!({"Type": "Pass", "Parameters": {"d.$": "$$.DayOfWeek"}, "Next": "Done"}),
            "Parameters.d.$",
            "does not provide",
        ),
    ] {
        let error = refused(machine_with(state));
        assert_refusal(&error, LoadErrorKind::Unsupported, Some("S"), Some(field), words);
    }
    let context_result = refused(machine_with(json!({"Type": "Pass", "ResultPath": "$$.x", "Next": "Done"})));
    assert_refusal(&context_result, LoadErrorKind::Invalid, Some("S"), Some("ResultPath"), "context object");
    let token = refused(machine_with(
        json!({"Type": "Task", "Resource": "r", "Parameters": {"t.$": "$$.Task.Token"}, "Next": "Done"}),
    ));
    assert_refusal(&token, LoadErrorKind::Invalid, Some("S"), Some("Parameters.t.$"), ".waitForTaskToken");
}

#[test]
fn given_full_jsonpath_in_payload_templates_when_loaded_then_accepted() {
    // Parameters, ResultSelector and intrinsic arguments take JSONPath, not only reference paths
    // (Step Functions Developer Guide, "Paths" and "InputPath, Parameters and ResultSelector").
    for state in [
        json!({"Type": "Pass", "Parameters": {"a": {"b.$": "$.list[*]"}}, "Next": "Done"}),
        json!({"Type": "Task", "Resource": "r", "ResultSelector": {"x.$": "$.v[1:2]"}, "Next": "Done"}),
        json!({"Type": "Pass", "Parameters": {"x.$": "$..id", "y.$": "$.a[0,1]", "z.$": "$['a','b']"}, "Next": "Done"}),
        json!({"Type": "Pass", "Parameters": {"x.$": "$.items[?(@.price > 10 && @.tag != 'old')]"}, "Next": "Done"}),
        json!({"Type": "Pass", "Parameters": {"x.$": "States.ArrayLength($.items[?(@.ok == true)])"}, "Next": "Done"}),
        json!({"Type": "Pass", "Parameters": {"x.$": "$$.Execution.Input.items[*].id"}, "Next": "Done"}),
    ] {
        Definition::from_json(&machine_with(state.clone())).unwrap_or_else(|e| panic!("{state}: {e}"));
    }
}

#[test]
fn given_the_spec_parameters_example_verbatim_when_loaded_then_only_its_day_of_week_is_refused() {
    // Its slice "$.vals[-3:]" is fine; $$.DayOfWeek is interpreter-defined and not provided here.
    let error = refused(json!({"StartAt": "X", "States": {
        "X": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:task:X", "Next": "Y",
              "Parameters": {"flagged": true, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
                             "weekday.$": "$$.DayOfWeek", "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)"}},
        "Y": {"Type": "Succeed"}}}));
    assert_eq!(error.state.as_deref(), Some("X"));
    assert_eq!(error.kind, LoadErrorKind::Unsupported);
    assert!(error.message.contains("$$.DayOfWeek"), "{error}");
}

#[test]
fn given_every_intrinsic_function_when_loaded_then_none_is_refused() {
    for expression in [
        "States.Hash($.a, 'SHA-1')",
        "States.Base64Encode($.a)",
        "States.Base64Decode($.a)",
        "States.ArrayPartition($.a, 2)",
        "States.ArrayContains($.a, 1)",
        "States.ArrayRange(1, 9, 2)",
        "States.ArrayUnique($.a)",
        "States.JsonMerge($.a, $.b, false)",
        "States.MathRandom(1, 9)",
        "States.MathRandom(1, 9, 42)",
        "States.StringSplit($.a, ',')",
    ] {
        let definition = machine_with(json!({"Type": "Pass", "Parameters": {"x.$": expression}, "Next": "Done"}));
        Definition::from_json(&definition).unwrap_or_else(|e| panic!("{expression} was refused: {e}"));
    }
    let fail = json!({"StartAt": "S", "States": {"S": {"Type": "Fail", "CausePath": "States.Hash($.a, 'MD5')"}}});
    Definition::from_json(&fail).unwrap();
}

#[test]
fn given_unknown_or_malformed_intrinsics_when_loaded_then_refused_as_invalid() {
    let unknown = refused(machine_with(json!({"Type": "Pass", "Parameters": {"x.$": "My.Func()"}, "Next": "Done"})));
    assert_refusal(&unknown, LoadErrorKind::Invalid, Some("S"), Some("Parameters.x.$"), "is not an intrinsic function");
    let arity = refused(machine_with(
        json!({"Type": "Pass", "Parameters": {"x.$": "States.Format('{} and {}', $.a)"}, "Next": "Done"}),
    ));
    assert_refusal(&arity, LoadErrorKind::Invalid, Some("S"), Some("Parameters.x.$"), "placeholder");
    let deep_merge = refused(machine_with(json!({"Type": "Fail", "CausePath": "States.JsonMerge($.a, $.b, true)"})));
    assert_refusal(&deep_merge, LoadErrorKind::Invalid, Some("S"), Some("CausePath"), "shallow merging mode");
    let too_long = refused(machine_with(
        json!({"Type": "Pass", "Parameters": {"x.$": "States.ArrayRange(0, 1000, 1)"}, "Next": "Done"}),
    ));
    assert_refusal(&too_long, LoadErrorKind::Invalid, Some("S"), Some("Parameters.x.$"), "at most 1000");
}

#[test]
fn given_broken_transitions_when_loaded_then_refused() {
    let missing = refused(machine_with(json!({"Type": "Pass", "Next": "Nowhere"})));
    assert_refusal(&missing, LoadErrorKind::Invalid, Some("S"), Some("Next"), "no state is named \"Nowhere\"");
    let both = refused(machine_with(json!({"Type": "Pass", "Next": "Done", "End": true})));
    assert_refusal(&both, LoadErrorKind::Invalid, Some("S"), Some("End"), "must not have \"Next\"");
    let neither = refused(machine_with(json!({"Type": "Pass"})));
    assert_refusal(&neither, LoadErrorKind::Invalid, Some("S"), Some("Next"), "\"Next\" or \"End\": true");
    let unreachable = refused(json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}}));
    assert_refusal(&unreachable, LoadErrorKind::Invalid, Some("B"), None, "not reachable");
    let start = refused(json!({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}}));
    assert_refusal(&start, LoadErrorKind::Invalid, None, Some("StartAt"), "no state is named \"Z\"");
    let catch = refused(machine_with(json!({"Type": "Task", "Resource": "r", "Next": "Done",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]})));
    assert_refusal(&catch, LoadErrorKind::Invalid, Some("S"), Some("Catch[0].Next"), "Gone");
    let default = refused(machine_with(
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Done"}], "Default": "Gone"}),
    ));
    assert_refusal(&default, LoadErrorKind::Invalid, Some("S"), Some("Default"), "Gone");
}

#[test]
fn given_invalid_retry_catch_and_timeouts_when_loaded_then_refused_at_the_exact_field() {
    let task = |extra: Value| {
        let mut state = json!({"Type": "Task", "Resource": "r", "Next": "Done"});
        state.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        machine_with(state)
    };
    for (extra, field, words) in [
        (json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10}), "HeartbeatSeconds", "smaller than TimeoutSeconds"),
        (json!({"TimeoutSeconds": 0}), "TimeoutSeconds", "integer from 1"),
        (json!({"TimeoutSeconds": 1.5}), "TimeoutSeconds", "integer"),
        (
            json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}),
            "Retry[0].ErrorEquals",
            "must be the last one",
        ),
        (json!({"Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}), "Retry[0].ErrorEquals", "alone"),
        (json!({"Retry": [{"ErrorEquals": []}]}), "Retry[0].ErrorEquals", "must not be empty"),
        (json!({"Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]}), "Retry[0].BackoffRate", "at least 1.0"),
        (
            json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]}),
            "Retry[0].IntervalSeconds",
            "integer from 1",
        ),
        (json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]}), "Retry[0].MaxAttempts", "integer from 0"),
        (json!({"Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "SAMPLE"}]}), "Retry[0].JitterStrategy", "FULL"),
        (
            json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}, {"ErrorEquals": ["E"], "Next": "Done"}]}),
            "Catch[0].ErrorEquals",
            "last one",
        ),
        (json!({"Catch": [{"ErrorEquals": ["E"]}]}), "Catch[0].Next", "required"),
    ] {
        let error = refused(task(extra.clone()));
        assert_refusal(&error, LoadErrorKind::Invalid, Some("S"), Some(field), words);
    }
    let assign = refused(task(json!({"Catch": [{"ErrorEquals": ["E"], "Next": "Done", "Assign": {"1st": 1}}]})));
    assert_refusal(&assign, LoadErrorKind::Invalid, Some("S"), Some("Catch[0].Assign"), "not a variable name");
    // MaxAttempts 0 is legal.
    Definition::from_json(&task(json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 0}]}))).unwrap();
}

#[test]
fn given_invalid_wait_fail_and_choice_states_when_loaded_then_refused() {
    let two = refused(machine_with(
        json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2016-03-14T01:59:00Z", "Next": "Done"}),
    ));
    assert_refusal(&two, LoadErrorKind::Invalid, Some("S"), Some("Seconds"), "exactly one");
    let stamp = refused(machine_with(json!({"Type": "Wait", "Timestamp": "2016-03-14 01:59", "Next": "Done"})));
    assert_refusal(&stamp, LoadErrorKind::Invalid, Some("S"), Some("Timestamp"), "RFC 3339");
    let fail = refused(machine_with(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})));
    assert_refusal(&fail, LoadErrorKind::Invalid, Some("S"), Some("ErrorPath"), "both Error and ErrorPath");
    let choice = refused(machine_with(
        json!({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": "1", "Next": "Done"}]}),
    ));
    assert_refusal(&choice, LoadErrorKind::Invalid, Some("S"), Some("Choices[0].NumericEquals"), "must be a number");
    let empty = refused(machine_with(json!({"Type": "Choice", "Choices": []})));
    assert_refusal(&empty, LoadErrorKind::Invalid, Some("S"), Some("Choices"), "must not be empty");
}

#[test]
fn given_bad_documents_when_loaded_then_refused() {
    let json_error = Definition::load("{ not json").unwrap_err();
    assert_eq!(json_error.kind, LoadErrorKind::Json);
    let version = refused(json!({"Version": "2.0", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}));
    assert_refusal(&version, LoadErrorKind::Invalid, None, Some("Version"), "1.0");
    let no_type = refused(machine_with(json!({"Next": "Done"})));
    assert_refusal(&no_type, LoadErrorKind::Invalid, Some("S"), Some("Type"), "is required");
    let bad_type = refused(machine_with(json!({"Type": "Sleep", "Next": "Done"})));
    assert_refusal(&bad_type, LoadErrorKind::Invalid, Some("S"), Some("Type"), "unknown state type");
    let long_name = "n".repeat(81);
    let long = refused(json!({"StartAt": long_name, "States": {long_name.clone(): {"Type": "Succeed"}}}));
    assert_eq!(long.state.as_deref(), Some(long_name.as_str()));
}

const TEMPLATE: &str = r#"{
  "StartAt": "Reserve",
  "States": {
    "Reserve": {"Type": "Task", "Resource": "${ReserveFunctionArn}", "Next": "Notify"},
    "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
               "Parameters": {"QueueUrl": "${QueueUrl}", "MessageBody.$": "States.Format('cost: ${}', $.cost)"},
               "End": true}
  }
}"#;

#[test]
fn given_a_sam_template_definition_when_placeholders_are_listed_then_every_substitution_name_appears() {
    let names: Vec<String> = placeholders(TEMPLATE).into_iter().collect();
    assert_eq!(names, ["QueueUrl", "ReserveFunctionArn"]);
}

#[test]
fn given_all_substitutions_when_loaded_then_the_resources_are_replaced() {
    let substitutions: BTreeMap<String, String> = [
        ("ReserveFunctionArn", "arn:aws:lambda:us-east-1:123456789012:function:reserve"),
        ("QueueUrl", "https://sqs.us-east-1.amazonaws.com/123456789012/orders"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let definition = Definition::load_with_substitutions(TEMPLATE, &substitutions).unwrap();
    let resources: Vec<&str> = definition.task_resources().into_iter().collect();
    assert_eq!(
        resources,
        ["arn:aws:lambda:us-east-1:123456789012:function:reserve", "arn:aws:states:::sqs:sendMessage"]
    );
    assert_eq!(
        definition.source()["States"]["Notify"]["Parameters"]["QueueUrl"],
        json!("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
    );
}

#[test]
fn given_a_missing_substitution_when_loaded_then_refused_naming_the_placeholder() {
    let substitutions = BTreeMap::from([("ReserveFunctionArn".to_owned(), "arn:aws:lambda:x".to_owned())]);
    let error = Definition::load_with_substitutions(TEMPLATE, &substitutions).unwrap_err();
    assert_eq!(error.kind, LoadErrorKind::Substitution);
    assert!(error.to_string().contains("${QueueUrl}"), "{error}");
    // Loading without substitutions keeps the placeholder text, which is not an error by itself
    // (a Resource may be any string); listing placeholders is how callers check.
    assert!(Definition::load(TEMPLATE).is_ok());
}

#[test]
fn given_bad_assignments_when_loaded_then_each_is_refused_at_its_field() {
    for (state, field, words) in [
        (json!({"Type": "Pass", "Assign": [1], "Next": "Done"}), "Assign", "must be an object"),
        (json!({"Type": "Pass", "Assign": {"has-dash": 1}, "Next": "Done"}), "Assign", "not a variable name"),
        (json!({"Type": "Pass", "Assign": {"states": 1}, "Next": "Done"}), "Assign", "reserved"),
        (json!({"Type": "Succeed", "Assign": {"x": 1}}), "Assign", "may not assign variables"),
        (
            json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "Done",
                "Assign": {"x.$": "$.a["}}], "Default": "Done"}),
            "Choices[0].Assign.x.$",
            "",
        ),
    ] {
        let error = refused(machine_with(state));
        assert_eq!(error.kind, LoadErrorKind::Invalid, "{error}");
        assert_refusal(&error, LoadErrorKind::Invalid, Some("S"), Some(field), words);
    }
    // And a variable is never a place to write a result to
    let error = refused(machine_with(json!({"Type": "Pass", "ResultPath": "$x", "Next": "Done"})));
    assert_refusal(&error, LoadErrorKind::Invalid, Some("S"), Some("ResultPath"), "variables are set with Assign");
}
