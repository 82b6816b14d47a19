//! The examples of AWS's intrinsic function reference, run end to end through a Pass state's
//! `Parameters`: their inputs, and the outputs the page says they produce. The page is
//! "Intrinsic functions for JSONPath states in Step Functions",
//! https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html; each case names
//! its section. Where the page's printed answer is wrong, the case says so and expects the right one.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, no_tasks};
use serde_json::{Value, json};
use statemachine::ExecutionStatus;

/// Runs a one-state machine whose Pass state has `parameters`, on `input`.
async fn run_parameters(parameters: &Value, input: Value) -> statemachine::ExecutionDescription {
    let h = Harness::new(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": parameters, "End": true}}}),
        no_tasks,
    );
    h.run("intrinsic", input).await
}

#[tokio::test]
async fn given_each_documented_example_when_run_in_pass_parameters_then_the_output_is_the_documented_one() {
    // (section of the page, Parameters, input, output)
    let cases = [
        (
            "Intrinsics for arrays: States.Array",
            json!({"BuildId.$": "States.Array($.Id)"}),
            json!({"Id": 123456}),
            json!({"BuildId": [123456]}),
        ),
        (
            "Intrinsics for arrays: States.ArrayPartition",
            json!({"inputArray.$": "States.ArrayPartition($.inputArray,4)"}),
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]}),
            json!({"inputArray": [[1, 2, 3, 4], [5, 6, 7, 8], [9]]}),
        ),
        (
            "Intrinsics for arrays: States.ArrayContains",
            json!({"contains.$": "States.ArrayContains($.inputArray, $.lookingFor)"}),
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5}),
            json!({"contains": true}),
        ),
        (
            "Intrinsics for arrays: States.ArrayRange",
            json!({"array.$": "States.ArrayRange(1, 9, 2)"}),
            json!({}),
            json!({"array": [1, 3, 5, 7, 9]}),
        ),
        (
            "Intrinsics for arrays: States.ArrayGetItem",
            json!({"item.$": "States.ArrayGetItem($.inputArray, $.index)"}),
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5}),
            json!({"item": 6}),
        ),
        (
            "Intrinsics for arrays: States.ArrayLength",
            json!({"length.$": "States.ArrayLength($.inputArray)"}),
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]}),
            json!({"length": 9}),
        ),
        (
            "Intrinsics for arrays: States.ArrayUnique",
            json!({"array.$": "States.ArrayUnique($.inputArray)"}),
            json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]}),
            json!({"array": [1, 2, 3, 4]}),
        ),
        (
            "Intrinsics for data encoding and decoding: States.Base64Encode",
            json!({"base64.$": "States.Base64Encode($.input)"}),
            json!({"input": "Data to encode"}),
            json!({"base64": "RGF0YSB0byBlbmNvZGU="}),
        ),
        (
            // The page prints "Decoded data"; the Base64 it decodes is its own encoding of
            // "Data to encode", which is what comes back.
            "Intrinsics for data encoding and decoding: States.Base64Decode",
            json!({"data.$": "States.Base64Decode($.base64)"}),
            json!({"base64": "RGF0YSB0byBlbmNvZGU="}),
            json!({"data": "Data to encode"}),
        ),
        (
            // The page prints "aaff4a450a104cd177d28d18d7485e8cae074b7", 39 digits: the SHA-1 of
            // "input data" has 40, with "d74485e" where the page lost a 4.
            "Intrinsic for hash calculation: States.Hash",
            json!({"output.$": "States.Hash($.Data, $.Algorithm)"}),
            json!({"Data": "input data", "Algorithm": "SHA-1"}),
            json!({"output": "aaff4a450a104cd177d28d18d74485e8cae074b7"}),
        ),
        (
            "Intrinsics for JSON data manipulation: States.JsonMerge",
            json!({"output.$": "States.JsonMerge($.json1, $.json2, false)"}),
            json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}}),
            json!({"output": {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}}),
        ),
        (
            "Intrinsics for JSON data manipulation: States.StringToJson",
            json!({"json.$": "States.StringToJson($.escapedJsonString)"}),
            json!({"escapedJsonString": "{\"foo\": \"bar\"}"}),
            json!({"json": {"foo": "bar"}}),
        ),
        (
            // The page prints the string with a space after the colon; the States Language
            // spec's own example, and LocalStack, write compact JSON.
            "Intrinsics for JSON data manipulation: States.JsonToString",
            json!({"text.$": "States.JsonToString($.unescapedJson)"}),
            json!({"unescapedJson": {"foo": "bar"}}),
            json!({"text": "{\"foo\":\"bar\"}"}),
        ),
        (
            "Intrinsics for Math operations: States.MathAdd",
            json!({"value1.$": "States.MathAdd($.value1, $.step)"}),
            json!({"value1": 111, "step": -1}),
            json!({"value1": 110}),
        ),
        (
            "Intrinsic for String operation: States.StringSplit (single delimiting character)",
            json!({"array.$": "States.StringSplit($.inputString, $.splitter)"}),
            json!({"inputString": "1,2,3,4,5", "splitter": ","}),
            json!({"array": ["1", "2", "3", "4", "5"]}),
        ),
        (
            "Intrinsic for String operation: States.StringSplit (multiple delimiting characters)",
            json!({"myStringArray.$": "States.StringSplit($.inputString, $.splitter)"}),
            json!({"inputString": "This.is+a,test=string", "splitter": ".+,="}),
            json!({"myStringArray": ["This", "is", "a", "test", "string"]}),
        ),
        (
            "Intrinsic for generic operation: States.Format (literal template)",
            json!({"greeting.$": "States.Format('Hello, my name is {}.', $.name)"}),
            json!({"name": "Arnav", "template": "Hello, my name is {}."}),
            json!({"greeting": "Hello, my name is Arnav."}),
        ),
        (
            "Intrinsic for generic operation: States.Format (template from the input)",
            json!({"greeting.$": "States.Format($.template, $.name)"}),
            json!({"name": "Arnav", "template": "Hello, my name is {}."}),
            json!({"greeting": "Hello, my name is Arnav."}),
        ),
    ];
    for (section, parameters, input, expected) in cases {
        let done = run_parameters(&parameters, input).await;
        assert_eq!(done.status, ExecutionStatus::Succeeded, "{section}: {:?} {:?}", done.error, done.cause);
        assert_eq!(done.output, Some(expected), "{section}");
    }
}

#[tokio::test]
async fn given_the_documented_hash_input_when_hashed_with_each_algorithm_then_the_digests_are_the_standard_ones() {
    // Section "Intrinsic for hash calculation": MD5, SHA-1, SHA-256, SHA-384 and SHA-512, in
    // lowercase hexadecimal. The digests were computed independently (Python's hashlib).
    let cases = [
        ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
        ("SHA-1", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        ("SHA-256", "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"),
        ("SHA-384", "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"),
        (
            "SHA-512",
            "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4",
        ),
    ];
    for (algorithm, digest) in cases {
        let done = run_parameters(
            &json!({"output.$": "States.Hash($.Data, $.Algorithm)"}),
            json!({"Data": "input data", "Algorithm": algorithm}),
        )
        .await;
        assert_eq!(done.output, Some(json!({"output": digest})), "{algorithm}");
    }
}

#[tokio::test]
async fn given_the_documented_random_and_uuid_examples_when_run_then_the_values_have_the_documented_shape() {
    // Section "Intrinsics for Math operations: States.MathRandom": from 1 (inclusive) to 999
    // (exclusive); the page's 456 is one such number. The same seed gives the same number.
    let random =
        json!({"random.$": "States.MathRandom($.start, $.end)", "seeded.$": "States.MathRandom($.start, $.end, 7)"});
    let first = run_parameters(&random, json!({"start": 1, "end": 999})).await.output.unwrap();
    let second = run_parameters(&random, json!({"start": 1, "end": 999})).await.output.unwrap();
    for output in [&first, &second] {
        let number = output["random"].as_i64().unwrap();
        assert!((1..999).contains(&number), "{number}");
    }
    assert_eq!(first["seeded"], second["seeded"]);
    // Section "Intrinsic for unique identifier generation: States.UUID": a version 4 UUID.
    let done = run_parameters(&json!({"uuid.$": "States.UUID()"}), json!({})).await;
    let uuid = done.output.unwrap()["uuid"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&uuid).unwrap().get_version_num(), 4);
}

#[tokio::test]
async fn given_documented_input_rules_broken_at_run_time_when_run_then_the_execution_fails_with_intrinsic_failure() {
    // Each "Input validation" rule of the page, broken by the input (literals that break one are
    // refused at load instead).
    let cases = [
        (
            "ArrayPartition: a non-zero, positive chunk size",
            "States.ArrayPartition($.a, $.n)",
            json!({"a": [1, 2], "n": -1}),
        ),
        ("ArrayPartition: an array first", "States.ArrayPartition($.a, 2)", json!({"a": "12"})),
        ("ArrayContains: an array first", "States.ArrayContains($.a, 1)", json!({"a": {"k": 1}})),
        ("ArrayRange: integers", "States.ArrayRange($.a, 9, 1)", json!({"a": "1"})),
        ("ArrayRange: a non-zero step", "States.ArrayRange(1, 9, $.step)", json!({"step": 0})),
        ("ArrayRange: at most 1000 items", "States.ArrayRange(1, $.end, 1)", json!({"end": 1001})),
        ("Base64Encode: at most 10,000 characters", "States.Base64Encode($.s)", json!({"s": "x".repeat(10_001)})),
        ("Base64Decode: at most 10,000 characters", "States.Base64Decode($.s)", json!({"s": "QUJD".repeat(2_501)})),
        ("Hash: at most 10,000 characters", "States.Hash($.s, 'MD5')", json!({"s": "x".repeat(10_001)})),
        ("Hash: one of the five algorithms", "States.Hash('x', $.algorithm)", json!({"algorithm": "SHA-3"})),
        ("JsonMerge: shallow mode only", "States.JsonMerge($.a, $.b, $.deep)", json!({"a": {}, "b": {}, "deep": true})),
        ("MathRandom: integer start and end", "States.MathRandom($.start, 10)", json!({"start": "1"})),
        ("MathAdd: integers", "States.MathAdd($.a, 1)", json!({"a": "1"})),
        ("MathAdd: within 32 bits", "States.MathAdd($.a, 1)", json!({"a": -2_147_483_649_i64})),
    ];
    for (rule, expression, input) in cases {
        let done = run_parameters(&json!({"x.$": expression}), input).await;
        assert_eq!(done.status, ExecutionStatus::Failed, "{rule}");
        assert_eq!(done.error.as_deref(), Some("States.IntrinsicFailure"), "{rule}");
        let function = expression.split('(').next().unwrap();
        assert!(done.cause.as_deref().unwrap().starts_with(function), "{rule}: {:?}", done.cause);
    }
}
