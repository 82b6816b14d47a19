//! JSONata states: the examples of the AWS pages "Transforming data with JSONata in Step
//! Functions" and "Passing data between states with variables" (their JSONata examples), the
//! functions Step Functions adds, every field that takes an expression, `$states.result` and
//! `$states.errorOutput`, states of both query languages in one machine, failures
//! (`States.QueryEvaluationError`, worded as AWS words it), and what is refused at load.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, executor_on, no_tasks};
use serde_json::{Value, json};
use statemachine::{
    Definition, ExecutionRecord, ExecutionStatus, ExecutionStore, LoadErrorKind, TaskFailure, TaskOutcome, TaskRequest,
};

const PRICE: &str = "arn:aws:lambda:us-east-1:123456789012:function:price";
const ECHO: &str = "arn:aws:lambda:us-east-1:123456789012:function:echo";
const REFUSE: &str = "arn:aws:lambda:us-east-1:123456789012:function:refuse";
const TOKEN: &str = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";

/// Task resources: `price` answers a Lambda-shaped result, `echo` returns its parameters, `refuse`
/// fails, a `.waitForTaskToken` resource waits for its callback.
fn tasks(request: &TaskRequest) -> Result<TaskOutcome, TaskFailure> {
    match request.resource.as_str() {
        PRICE => Ok(TaskOutcome::Completed(json!({"StatusCode": 200, "Payload": {"current_price": 42.5}}))),
        ECHO => Ok(TaskOutcome::Completed(request.parameters.clone())),
        REFUSE => Err(TaskFailure::new("OutOfStock", "sku-1 is gone")),
        TOKEN => Ok(TaskOutcome::AwaitingCallback),
        other => panic!("unexpected task {other}"),
    }
}

/// A JSONata state machine of `states`, starting at `start`.
fn jsonata_machine(start: &str, states: Value) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": start, "States": states})
}

/// Runs `definition` on `input` and returns its output, failing the test if it does not succeed.
async fn output_of(definition: Value, input: Value) -> Value {
    let done = Harness::new(definition, tasks).run("run", input).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    done.output.unwrap()
}

/// Runs `definition` on `input` and returns its error and cause, failing the test if it does not fail.
async fn failure_of(definition: Value, input: Value) -> (String, String) {
    let done = Harness::new(definition, tasks).run("run", input).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    (done.error.unwrap(), done.cause.unwrap())
}

#[tokio::test]
async fn given_the_aws_conversion_example_when_run_in_both_languages_then_the_task_receives_the_same_payload() {
    // Given the page's "Original sample using JSONPath" and its "Sample after conversion to
    // JSONata", with customerName assigned "María" first
    let first = json!({"Type": "Pass", "Assign": {"customerName": "María"}, "Next": "Task"});
    let jsonpath = json!({"StartAt": "Init", "States": {"Init": first, "Task": {"Type": "Task", "Resource": ECHO, "End": true,
        "Parameters": {"static": "Hello", "title.$": "$.title", "name.$": "$customerName", "not-evaluated": "$customerName"}}}});
    let jsonata = json!({"StartAt": "Init", "States": {"Init": first, "Task": {"QueryLanguage": "JSONata", "Type": "Task",
        "Resource": ECHO, "End": true, "Arguments": {"static": "Hello", "title": "{% $states.input.title %}",
        "name": "{% $customerName %}", "not-evaluated": "$customerName"}}}});
    // When each runs on {"title": "Doctor"}
    let expected = json!({"static": "Hello", "title": "Doctor", "name": "María", "not-evaluated": "$customerName"});
    for definition in [jsonpath, jsonata] {
        // Then both produce the page's JSON result
        assert_eq!(output_of(definition, json!({"title": "Doctor"})).await, expected);
    }
}

#[tokio::test]
async fn given_the_aws_jsonata_examples_when_run_then_the_outputs_are_the_documented_ones() {
    let scenarios = [
        (
            "Example: Input and Output (a Succeed state's Output)",
            json!({"Comment": "Input and Output example using JSONata", "QueryLanguage": "JSONata",
                "StartAt": "Basic Input and Output", "States": {"Basic Input and Output": {"QueryLanguage": "JSONata",
                "Type": "Succeed", "Output": {"lastName": "{% 'Last=>' & $states.input.customer.lastName %}",
                "orderValue": "{% $states.input.order.total %}"}}}}),
            json!({"customer": {"firstName": "Martha", "lastName": "Rivera"}, "order": {"items": 7, "total": 27.91}}),
            json!({"lastName": "Last=>Rivera", "orderValue": 27.91}),
        ),
        (
            "Example: Filtering with JSONata",
            json!({"Comment": "Filter products using JSONata", "QueryLanguage": "JSONata", "StartAt": "FilterDietProducts",
                "States": {"FilterDietProducts": {"Type": "Pass",
                "Output": {"dietProducts": "{% $states.input.products[calories=0] %}"}, "End": true}}}),
            json!({"products": [{"name": "water", "calories": 0}, {"name": "cola", "calories": 140},
                {"name": "diet cola", "calories": 0}]}),
            json!({"dietProducts": [{"name": "water", "calories": 0}, {"name": "diet cola", "calories": 0}]}),
        ),
        (
            "Choice state: Condition comparing a variable with the input",
            jsonata_machine(
                "Store",
                json!({
                "Store": {"Type": "Pass", "Assign": {"current_price": "{% $states.input.current_price %}"}, "Next": "Check Price"},
                "Check Price": {"Type": "Choice", "Default": "Pause",
                    "Choices": [{"Condition": "{% $current_price <= $states.input.desired_price %}", "Next": "Send Notification"}]},
                "Send Notification": {"Type": "Pass", "Output": "notify", "End": true},
                "Pause": {"Type": "Pass", "Output": "pause", "End": true}}),
            ),
            json!({"current_price": 9, "desired_price": 10}),
            json!("notify"),
        ),
        (
            "Writing expressions: TimeoutSeconds, Arguments and Items as expressions",
            jsonata_machine(
                "Init",
                json!({
                "Init": {"Type": "Pass", "Assign": {"timeout": 30, "name": "Ada", "two": 2}, "Next": "Task"},
                "Task": {"Type": "Task", "Resource": ECHO, "TimeoutSeconds": "{% $timeout %}",
                    "Arguments": {"field1": "{% $name %}"}, "Next": "Map"},
                "Map": {"Type": "Map", "Items": [1, "{% $two %}", 3], "ItemProcessor": {"StartAt": "Item",
                    "States": {"Item": {"Type": "Pass", "End": true}}}, "End": true}}),
            ),
            json!({}),
            json!([1, 2, 3]),
        ),
        (
            "The functions Step Functions provides, as the page uses them",
            jsonata_machine(
                "Functions",
                json!({
                "Functions": {"Type": "Pass", "Next": "Show", "Assign": {
                    "arrayPartition": "{% $partition([1,2,3,4], $states.input.chunkSize) %}",
                    "arrayRange": "{% $range(0, 10, 2) %}",
                    "myHash": "{% $hash($states.input.content, $states.input.hashAlgorithmName) %}",
                    "randNoSeed": "{% $random() %}",
                    "randSeeded": "{% $random($states.input.seed) %}",
                    "uniqueId": "{% $uuid() %}",
                    "deserializedPayload": "{% $parse($states.input.json_string) %}"}},
                "Show": {"Type": "Pass", "End": true, "Output": {
                    "arrayPartition": "{% $arrayPartition %}", "arrayRange": "{% $arrayRange %}", "myHash": "{% $myHash %}",
                    "randoms": "{% $randNoSeed >= 0 and $randNoSeed < 1 and $randSeeded = $random($states.input.seed) %}",
                    "uuidLength": "{% $length($uniqueId) %}", "deserializedPayload": "{% $deserializedPayload %}"}}}),
            ),
            json!({"chunkSize": 2, "content": "Hello world", "hashAlgorithmName": "SHA-1", "seed": 7,
                "json_string": "{\"key\": \"value\"}"}),
            json!({"arrayPartition": [[1, 2], [3, 4]], "arrayRange": [0, 2, 4, 6, 8, 10],
                "myHash": "7b502c3a1f48c8609ae212cdfb639dee39673f5e", "randoms": true, "uuidLength": 36,
                "deserializedPayload": {"key": "value"}}),
        ),
        (
            "Variables page: \"Store inputs\" assigns from the input",
            jsonata_machine(
                "Store inputs",
                json!({
                "Store inputs": {"Type": "Pass", "Next": "Show", "Assign": {
                    "desiredPrice": "{% $states.input.desired_price %}", "maximumWait": "{% $states.input.max_days %}"}},
                "Show": {"Type": "Pass", "Output": {"price": "{% $desiredPrice %}", "wait": "{% $maximumWait %}"}, "End": true}}),
            ),
            json!({"desired_price": 10, "max_days": 5}),
            json!({"price": 10, "wait": 5}),
        ),
        (
            "Variables page: a Task assigns from its input and from $states.result",
            jsonata_machine(
                "Get Current Price",
                json!({
                "Get Current Price": {"Type": "Task", "Resource": PRICE, "Next": "Show", "Assign": {
                    "product": "{% $states.input.order.product %}",
                    "currentPrice": "{% $states.result.Payload.current_price %}"}},
                "Show": {"Type": "Pass", "Output": {"product": "{% $product %}", "price": "{% $currentPrice %}"}, "End": true}}),
            ),
            json!({"order": {"product": "kettle"}}),
            json!({"product": "kettle", "price": 42.5}),
        ),
        (
            "Variables page: evaluation order in an Assign ($x=3, $a=6 gives $x=6, $nextX=3)",
            jsonata_machine(
                "Start",
                json!({
                "Start": {"Type": "Pass", "Assign": {"x": 3, "a": 6}, "Next": "Swap"},
                "Swap": {"Type": "Pass", "Assign": {"x": "{% $a %}", "nextX": "{% $x %}"}, "Next": "Show"},
                "Show": {"Type": "Pass", "Output": {"x": "{% $x %}", "nextX": "{% $nextX %}"}, "End": true}}),
            ),
            json!({}),
            json!({"x": 6, "nextX": 3}),
        ),
        (
            "Context object page: the Execution Id, and a Map's item context in its ItemSelector",
            jsonata_machine(
                "ExampleMapState",
                json!({
                "ExampleMapState": {"Type": "Map", "Items": "{% $states.input.items %}",
                    "ItemSelector": {"ContextIndex": "{% $states.context.Map.Item.Index %}",
                        "ContextValue": "{% $states.context.Map.Item.Value %}",
                        "ContextSource": "{% $states.context.Map.Item.Source %}",
                        "ExecutionID": "{% $states.context.Execution.Id %}"},
                    "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "TestPass",
                        "States": {"TestPass": {"Type": "Pass", "End": true}}}, "End": true}}),
            ),
            json!({"items": ["a", "b"]}),
            json!([
                {"ContextIndex": 0, "ContextValue": "a", "ContextSource": "STATE_DATA",
                    "ExecutionID": "arn:aws:states:us-east-1:123456789012:execution:test-machine:run"},
                {"ContextIndex": 1, "ContextValue": "b", "ContextSource": "STATE_DATA",
                    "ExecutionID": "arn:aws:states:us-east-1:123456789012:execution:test-machine:run"}]),
        ),
    ];
    for (example, definition, input, expected) in scenarios {
        // When the example runs on its input
        let output = output_of(definition, input).await;
        // Then its output is the documented one
        assert_eq!(output, expected, "{example}");
    }
}

#[tokio::test]
async fn given_the_aws_choice_rule_examples_when_evaluated_then_each_matches_its_values() {
    // The "Choice Rules (JSONata)" examples of the Choice state page, with variables set first.
    for (condition, variables, matches) in [
        ("{% $foo = 1 %}", json!({"foo": 1}), true),
        ("{% $type = 'local' %}", json!({"type": "local"}), true),
        ("{% $foo > 'MyStringABC' %}", json!({"foo": "MyStringXYZ"}), true),
        ("{% $foo > 'MyStringABC' %}", json!({"foo": "MyString"}), false),
        ("{% $possiblyNullValue != null and $possiblyNullValue = 42 %}", json!({"possiblyNullValue": 42}), true),
        ("{% $possiblyNullValue != null and $possiblyNullValue = 42 %}", json!({"possiblyNullValue": null}), false),
    ] {
        let definition = jsonata_machine(
            "Set",
            json!({
            "Set": {"Type": "Pass", "Assign": variables, "Next": "Route"},
            "Route": {"Type": "Choice", "Default": "No", "Choices": [{"Condition": condition, "Next": "Yes"}]},
            "Yes": {"Type": "Pass", "Output": true, "End": true},
            "No": {"Type": "Pass", "Output": false, "End": true}}),
        );
        assert_eq!(output_of(definition, json!({})).await, json!(matches), "{condition} with {variables}");
    }
}

#[tokio::test]
async fn given_a_task_with_arguments_output_and_assign_when_it_completes_then_each_reads_what_aws_gives_it() {
    // Given a Task whose Arguments read the input, and whose Output and Assign read the input and
    // the result (Assign and Output are evaluated side by side: Output does not see what Assign sets)
    let definition = jsonata_machine(
        "Quote",
        json!({
        "Quote": {"Type": "Task", "Resource": PRICE, "Next": "Show",
            "Arguments": {"FunctionName": "price", "Payload": {"sku": "{% $states.input.sku %}", "tags": ["{% $states.input.tag %}", "fixed"]}},
            "Assign": {"price": "{% $states.result.Payload.current_price %}"},
            "Output": {"sku": "{% $states.input.sku %}", "price": "{% $states.result.Payload.current_price %}",
                "assignedYet": "{% $exists($price) %}"}},
        "Show": {"Type": "Pass", "Output": "{% $merge([$states.input, {'variable': $price}]) %}", "End": true}}),
    );
    let h = Harness::new(definition, tasks);
    // When it runs
    let done = h.run("quoted", json!({"sku": "kettle", "tag": "kitchen"})).await;
    // Then the task got the Arguments, the output is the Output, and the variable is set for the next state
    assert_eq!(
        h.invoker.requests()[0].parameters,
        json!({"FunctionName": "price", "Payload": {"sku": "kettle", "tags": ["kitchen", "fixed"]}})
    );
    assert_eq!(done.output.unwrap(), json!({"sku": "kettle", "price": 42.5, "assignedYet": false, "variable": 42.5}));
    // And without Output a Task's output is its result
    let plain = jsonata_machine("Quote", json!({"Quote": {"Type": "Task", "Resource": PRICE, "End": true}}));
    assert_eq!(output_of(plain, json!({})).await, json!({"StatusCode": 200, "Payload": {"current_price": 42.5}}));
}

#[tokio::test]
async fn given_a_catcher_with_output_and_assign_when_it_catches_then_it_reads_the_error_output() {
    let definition = jsonata_machine(
        "Reserve",
        json!({
        "Reserve": {"Type": "Task", "Resource": REFUSE, "Next": "Done", "Catch": [{"ErrorEquals": ["OutOfStock"], "Next": "Report",
            "Assign": {"reason": "{% $states.errorOutput.Cause %}"},
            "Output": {"failed": "{% $states.input.sku %}", "error": "{% $states.errorOutput.Error %}"}}]},
        "Report": {"Type": "Pass", "Output": "{% $merge([$states.input, {'reason': $reason}]) %}", "End": true},
        "Done": {"Type": "Succeed"}}),
    );
    assert_eq!(
        output_of(definition, json!({"sku": "sku-1"})).await,
        json!({"failed": "sku-1", "error": "OutOfStock", "reason": "sku-1 is gone"})
    );
    // Without Output, a Catcher's output is the error output
    let plain = jsonata_machine(
        "Reserve",
        json!({
        "Reserve": {"Type": "Task", "Resource": REFUSE, "End": true, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}]},
        "Done": {"Type": "Succeed"}}),
    );
    assert_eq!(output_of(plain, json!({})).await, json!({"Error": "OutOfStock", "Cause": "sku-1 is gone"}));
}

#[tokio::test]
async fn given_choice_rules_with_their_own_assign_and_output_when_one_matches_then_its_own_apply_after_the_states_assign()
 {
    let definition = jsonata_machine(
        "Route",
        json!({
        "Route": {"Type": "Choice", "Default": "Show", "Assign": {"route": "default", "vip": "{% $states.input.vip %}"},
            "Output": {"via": "state"},
            "Choices": [
                {"Condition": "{% $states.input.vip %}", "Next": "Show", "Assign": {"route": "vip"}, "Output": {"via": "rule"}},
                {"Condition": false, "Next": "Show"}]},
        "Show": {"Type": "Pass", "Output": {"via": "{% $states.input.via %}", "route": "{% $route %}", "vip": "{% $vip %}"},
            "End": true}}),
    );
    // The state's Assign applies whichever way the state goes, the matched rule's after it (see
    // variables.rs for the sources): `vip` comes from the state's, `route` from the rule's.
    assert_eq!(
        output_of(definition.clone(), json!({"vip": true})).await,
        json!({"via": "rule", "route": "vip", "vip": true})
    );
    assert_eq!(
        output_of(definition, json!({"vip": false})).await,
        json!({"via": "state", "route": "default", "vip": false})
    );
}

#[tokio::test]
async fn given_a_wait_with_expressions_when_it_runs_then_it_waits_that_long_and_outputs_its_output() {
    // Seconds from an expression
    let seconds = jsonata_machine(
        "Pause",
        json!({
        "Pause": {"Type": "Wait", "Seconds": "{% $states.input.delay * 2 %}", "Output": {"waited": "{% $states.input.delay * 2 %}"},
            "Assign": {"paused": true}, "Next": "Show"},
        "Show": {"Type": "Pass", "Output": "{% $merge([$states.input, {'paused': $paused}]) %}", "End": true}}),
    );
    let h = Harness::new(seconds, no_tasks);
    assert_eq!(h.run("wait", json!({"delay": 5})).await.status, ExecutionStatus::Running);
    h.advance(9.0).await;
    assert_eq!(h.describe("wait").await.status, ExecutionStatus::Running);
    h.advance(1.0).await;
    assert_eq!(h.describe("wait").await.output.unwrap(), json!({"waited": 10, "paused": true}));
    // A Timestamp from an expression (the harness's clock starts at 2024-01-01T00:00:00Z)
    let timestamp = jsonata_machine(
        "Until",
        json!({
        "Until": {"Type": "Wait", "Timestamp": "{% $states.input.at %}", "End": true}}),
    );
    let h = Harness::new(timestamp, no_tasks);
    h.run("until", json!({"at": "2024-01-01T00:01:00Z"})).await;
    h.advance(59.0).await;
    assert_eq!(h.describe("until").await.status, ExecutionStatus::Running);
    h.advance(1.0).await;
    assert_eq!(h.describe("until").await.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn given_a_fail_state_with_expressions_when_reached_then_its_error_and_cause_are_their_values() {
    let definition = jsonata_machine(
        "Stop",
        json!({
        "Stop": {"Type": "Fail", "Error": "{% 'Order.' & $states.input.problem %}", "Cause": "{% $string($states.input.count) & ' items' %}"}}),
    );
    assert_eq!(
        failure_of(definition, json!({"problem": "Rejected", "count": 3})).await,
        ("Order.Rejected".to_owned(), "3 items".to_owned())
    );
}

#[tokio::test]
async fn given_parallel_and_map_states_when_they_complete_then_arguments_items_and_output_shape_their_data() {
    // A Parallel state's Arguments are each branch's input; its Output reads the branches' outputs
    // as $states.result. Branch states use the state machine's language.
    let parallel = jsonata_machine(
        "Both",
        json!({
        "Both": {"Type": "Parallel", "Arguments": {"n": "{% $states.input.n %}"}, "End": true,
            "Output": {"sum": "{% $sum($states.result.n) %}", "count": "{% $count($states.result) %}"},
            "Assign": {"first": "{% $states.result[0] %}"},
            "Branches": [
                {"StartAt": "Double", "States": {"Double": {"Type": "Pass", "Output": {"n": "{% $states.input.n * 2 %}"}, "End": true}}},
                {"StartAt": "Triple", "States": {"Triple": {"Type": "Pass", "Output": {"n": "{% $states.input.n * 3 %}"}, "End": true}}}]}}),
    );
    assert_eq!(output_of(parallel, json!({"n": 2})).await, json!({"sum": 10, "count": 2}));
    // A Map's Items and ItemSelector, each iteration's Output, and the Map's Output
    let map = jsonata_machine(
        "Lines",
        json!({
        "Lines": {"Type": "Map", "Items": "{% $states.input.order.lines %}", "End": true,
            "ItemSelector": {"line": "{% $states.context.Map.Item.Value %}", "currency": "{% $states.input.currency %}"},
            "ItemProcessor": {"StartAt": "Total", "States": {"Total": {"Type": "Pass", "End": true,
                "Output": "{% $states.input.line.qty * $states.input.line.price & ' ' & $states.input.currency %}"}}},
            "Output": {"totals": "{% $states.result %}"}}}),
    );
    let input = json!({"currency": "EUR", "order": {"lines": [{"qty": 2, "price": 3}, {"qty": 1, "price": 10}]}});
    assert_eq!(output_of(map, input).await, json!({"totals": ["6 EUR", "10 EUR"]}));
}

#[tokio::test]
async fn given_states_of_both_languages_in_one_machine_when_run_then_data_and_variables_flow_between_them() {
    // A JSONPath machine with a JSONata state, as LocalStack's mixed-language tests run on AWS
    let definition = json!({"StartAt": "JSONataState", "States": {
        "JSONataState": {"QueryLanguage": "JSONata", "Type": "Pass", "Next": "JSONPathState",
            "Output": {"foo": "foobar", "bar": "{% $states.input %}"}, "Assign": {"fromJsonata": "{% $states.input.input_data %}"}},
        "JSONPathState": {"QueryLanguage": "JSONPath", "Type": "Pass", "Next": "Back",
            "Parameters": {"foo.$": "$.foo", "var.$": "$fromJsonata"}, "Assign": {"fromJsonPath.$": "$.foo"}},
        "Back": {"QueryLanguage": "JSONata", "Type": "Pass", "End": true,
            "Output": {"input": "{% $states.input %}", "var": "{% $fromJsonPath %}"}}}});
    assert_eq!(
        output_of(definition, json!({"input_data": "test"})).await,
        json!({"input": {"foo": "foobar", "var": "test"}, "var": "foobar"})
    );
}

#[tokio::test]
async fn given_a_wait_for_task_token_task_when_its_arguments_read_the_token_then_the_callback_completes_it() {
    let definition = jsonata_machine(
        "Ship",
        json!({
        "Ship": {"Type": "Task", "Resource": TOKEN, "End": true, "TimeoutSeconds": "{% $states.input.timeout %}",
            "HeartbeatSeconds": 60,
            "Arguments": {"QueueUrl": "q", "MessageBody": {"token": "{% $states.context.Task.Token %}"}},
            "Output": {"shipped": "{% $states.result.carrier %}"}}}),
    );
    let h = Harness::new(definition, tasks);
    h.run("ship", json!({"timeout": 3600})).await;
    let request = h.invoker.requests().remove(0);
    assert_eq!((request.timeout_seconds, request.heartbeat_seconds), (Some(3600), Some(60)));
    let token = request.parameters["MessageBody"]["token"].as_str().unwrap().to_owned();
    assert_eq!(Some(token.as_str()), request.task_token.as_deref());
    h.executor.send_task_success(&token, json!({"carrier": "ups"})).await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    assert_eq!(h.describe("ship").await.output.unwrap(), json!({"shipped": "ups"}));
}

#[tokio::test]
async fn given_a_timeout_from_an_expression_when_it_runs_out_then_the_task_times_out() {
    let definition = jsonata_machine(
        "Ship",
        json!({
        "Ship": {"Type": "Task", "Resource": TOKEN, "End": true, "TimeoutSeconds": "{% $states.input.timeout %}",
            "Arguments": {"token": "{% $states.context.Task.Token %}"}}}),
    );
    let h = Harness::new(definition, tasks);
    h.run("late", json!({"timeout": 5})).await;
    h.advance(5.0).await;
    let done = h.describe("late").await;
    assert_eq!(done.error.as_deref(), Some("States.Timeout"));
    assert_eq!(done.cause.as_deref(), Some("The task ran longer than its TimeoutSeconds (5)"));
}

#[tokio::test]
async fn given_timeouts_from_expressions_when_the_record_is_stored_as_json_and_resumed_then_they_still_hold() {
    // Given a task waiting with a timeout and heartbeat its expressions gave
    let definition = jsonata_machine(
        "Ship",
        json!({
        "Ship": {"Type": "Task", "Resource": TOKEN, "End": true, "TimeoutSeconds": "{% $states.input.timeout %}",
            "HeartbeatSeconds": "{% $states.input.timeout - 1 %}", "Arguments": {"token": "{% $states.context.Task.Token %}"}}}),
    );
    let h = Harness::new(definition.clone(), tasks);
    h.run("resumed", json!({"timeout": 5})).await;
    let arn = h.executor.execution_arn("resumed");
    // When its record goes through JSON text, as a store keeps it, and a new executor resumes it
    let record = h.store.load_execution(&arn).await.unwrap().unwrap();
    let text = serde_json::to_string(&record).unwrap();
    assert_eq!(serde_json::from_str::<ExecutionRecord>(&text).unwrap(), record);
    assert!(text.contains(r#""timeoutSeconds":5,"heartbeatSeconds":4"#), "{text}");
    let resumed = executor_on(&definition, h.invoker.clone(), h.store.clone(), h.clock.clone());
    resumed.resume_running().await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(4));
    resumed.run_until_idle().await.unwrap();
    // Then the heartbeat the expression gave runs out
    let done = resumed.describe_execution(&arn).await.unwrap();
    assert_eq!(done.error.as_deref(), Some("States.HeartbeatTimeout"));
    assert_eq!(done.cause.as_deref(), Some("No heartbeat was received within HeartbeatSeconds (4)"));
}

#[tokio::test]
async fn given_expressions_that_fail_when_run_then_query_evaluation_error_with_aws_cause() {
    let pass = |output: Value| {
        jsonata_machine("Transform", json!({"Transform": {"Type": "Pass", "Output": output, "End": true}}))
    };
    let prefix = "An error occurred while executing the state 'Transform' (entered at the event id #2). ";
    for (output, cause) in [
        (
            json!({"v": "{% $states.input.absent %}"}),
            "The JSONata expression '$states.input.absent' specified for the field 'Output/v' returned nothing (undefined).",
        ),
        (
            json!({"a": {"b": [1, "{% $states.input.missing %}"]}}),
            "The JSONata expression '$states.input.missing' specified for the field 'Output/a/b[1]' returned nothing (undefined).",
        ),
        (
            json!("{% $states.input.n + 'x' %}"),
            "The JSONata expression '$states.input.n + 'x'' specified for the field 'Output' threw an error during \
             evaluation. T2002: The right side of the + operator must evaluate to a number",
        ),
        (
            json!("{% $eval('1 + 2') %}"),
            "The JSONata expression '$eval('1 + 2')' specified for the field 'Output' threw an error during \
             evaluation. T1006: Attempted to invoke a non-function",
        ),
    ] {
        let (error, got) = failure_of(pass(output), json!({"n": 1})).await;
        assert_eq!(error, "States.QueryEvaluationError");
        assert_eq!(got, format!("{prefix}{cause}"));
    }
    // A value its field does not take
    let choice = jsonata_machine(
        "Route",
        json!({"Route": {"Type": "Choice", "Default": "Done",
        "Choices": [{"Condition": "{% $states.input.n %}", "Next": "Done"}]}, "Done": {"Type": "Succeed"}}),
    );
    let (error, cause) = failure_of(choice, json!({"n": 1})).await;
    assert_eq!(error, "States.QueryEvaluationError");
    assert!(cause.ends_with("specified for the field 'Choices[0]/Condition' returned an unexpected result: the field takes a boolean, not a number (1)"), "{cause}");
    let wait =
        jsonata_machine("Pause", json!({"Pause": {"Type": "Wait", "Seconds": "{% $states.input.s %}", "End": true}}));
    let (error, cause) = failure_of(wait, json!({"s": -1})).await;
    assert_eq!(error, "States.QueryEvaluationError");
    assert!(
        cause.contains("field 'Seconds' returned an unexpected result: the field takes an integer from 0 to 99999999"),
        "{cause}"
    );
    // The page's "Type incompatibility": TimeoutSeconds from an expression giving a string
    let task = jsonata_machine(
        "Init",
        json!({
        "Init": {"Type": "Pass", "Assign": {"timeout": "soon"}, "Next": "Task"},
        "Task": {"Type": "Task", "Resource": ECHO, "TimeoutSeconds": "{% $timeout %}", "End": true}}),
    );
    let (error, cause) = failure_of(task, json!({})).await;
    assert_eq!(error, "States.QueryEvaluationError");
    assert!(
        cause.ends_with(
            "The JSONata expression '$timeout' specified for the field 'TimeoutSeconds' returned an unexpected result: \
             the field takes an integer from 1 to 99999999, not a string (\"soon\")"
        ),
        "{cause}"
    );
}

#[tokio::test]
async fn given_a_task_whose_arguments_fail_when_it_has_a_catcher_then_the_query_evaluation_error_is_caught() {
    let definition = jsonata_machine(
        "Quote",
        json!({
        "Quote": {"Type": "Task", "Resource": PRICE, "Next": "Done", "Arguments": {"sku": "{% $states.input.sku %}"},
            "Retry": [{"ErrorEquals": ["States.QueryEvaluationError"], "MaxAttempts": 1, "IntervalSeconds": 1}],
            "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": true},
        "Done": {"Type": "Succeed"}}),
    );
    let h = Harness::new(definition, tasks);
    h.run("missing", json!({})).await;
    h.advance(1.0).await;
    let done = h.describe("missing").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let caught = done.output.unwrap();
    assert_eq!(caught["Error"], json!("States.QueryEvaluationError"));
    assert_eq!(
        caught["Cause"],
        json!(
            "An error occurred while executing the state 'Quote' (entered at the event id #2). The JSONata expression \
             '$states.input.sku' specified for the field 'Arguments/sku' returned nothing (undefined)."
        )
    );
    // Retried once, then caught: the task was never invoked
    assert!(h.invoker.requests().is_empty());
    assert!(h.history_types("missing").await.iter().all(|t| t != "TaskScheduled"));
}

#[tokio::test]
async fn given_a_map_whose_items_are_not_an_array_or_a_task_whose_output_fails_when_caught_then_the_catcher_runs() {
    let processor = json!({"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}});
    let caught = json!({"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Caught", "Output": "{% $states.errorOutput.Cause %}"});
    for (state, field) in [
        (
            json!({"Type": "Map", "Items": "{% $states.input.n %}", "ItemProcessor": processor, "End": true, "Catch": [caught]}),
            "'Items'",
        ),
        (
            json!({"Type": "Task", "Resource": PRICE, "Output": "{% $states.result.missing %}", "End": true, "Catch": [caught]}),
            "'Output'",
        ),
    ] {
        let definition = jsonata_machine("S", json!({"S": state, "Caught": {"Type": "Pass", "End": true}}));
        let cause = output_of(definition, json!({"n": 3})).await;
        assert!(cause.as_str().unwrap().contains(&format!("specified for the field {field}")), "{cause}");
    }
}

#[test]
fn given_definitions_aws_refuses_when_loaded_then_refused_naming_the_state_and_field() {
    let refusal = |states: Value| Definition::from_json(&jsonata_machine("S", states)).unwrap_err();
    for (state, field, kind, words) in [
        (
            json!({"Type": "Pass", "Output": {"a": "{% $states.input.x[ %}"}, "End": true}),
            "Output.a",
            LoadErrorKind::Invalid,
            "the JSONata expression '$states.input.x[' is not valid",
        ),
        (
            json!({"Type": "Pass", "Output": "{% phone %}", "End": true}),
            "Output",
            LoadErrorKind::Invalid,
            "Reference to 'phone' at the top level is not supported",
        ),
        (
            json!({"Type": "Pass", "Output": "{% $$.Execution.Id %}", "End": true}),
            "Output",
            LoadErrorKind::Invalid,
            "Reference to '$$' is not supported",
        ),
        (
            json!({"Type": "Pass", "Output": " {% $states.input %}", "End": true}),
            "Output",
            LoadErrorKind::Invalid,
            "is not a JSONata expression",
        ),
        (
            json!({"Type": "Task", "Resource": ECHO, "Arguments": {"r": "{% $states.result %}"}, "End": true}),
            "Arguments.r",
            LoadErrorKind::Invalid,
            "$states.result is only available",
        ),
        (
            json!({"Type": "Task", "Resource": ECHO, "End": true, "Output": "{% $states.errorOutput %}"}),
            "Output",
            LoadErrorKind::Invalid,
            "$states.errorOutput is only available",
        ),
        (
            json!({"Type": "Task", "Resource": ECHO, "End": true, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S2",
                "Assign": {"x": "{% $states.result %}"}}]}),
            "Catch[0].Assign.x",
            LoadErrorKind::Invalid,
            "$states.result is only available",
        ),
        (
            json!({"Type": "Task", "Resource": ECHO, "End": true, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S2", "ResultPath": "$.e"}]}),
            "Catch[0].ResultPath",
            LoadErrorKind::Invalid,
            "but field 'ResultPath' is only supported for the 'JSONPath' QueryLanguage",
        ),
        (
            json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "S2"}]}),
            "Choices[0].Variable",
            LoadErrorKind::Invalid,
            "but field 'Variable' is only supported for the 'JSONPath' QueryLanguage",
        ),
        (
            json!({"Type": "Choice", "Choices": [{"Condition": "yes", "Next": "S2"}]}),
            "Choices[0].Condition",
            LoadErrorKind::Invalid,
            "must be a JSONata expression",
        ),
        (
            json!({"Type": "Wait", "SecondsPath": "$.s", "End": true}),
            "SecondsPath",
            LoadErrorKind::Invalid,
            "only supported for the 'JSONPath'",
        ),
        (
            json!({"Type": "Pass", "Assign": {"x.$": "{% 1 %}"}, "End": true}),
            "Assign",
            LoadErrorKind::Invalid,
            "not a variable name",
        ),
        (
            json!({"Type": "Map", "Items": {"a": 1}, "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true}),
            "Items",
            LoadErrorKind::Unsupported,
            "key-value pairs",
        ),
        (
            json!({"Type": "Map", "MaxConcurrency": "{% $n %}", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true}),
            "MaxConcurrency",
            LoadErrorKind::Unsupported,
            "give them as numbers",
        ),
    ] {
        let mut states = json!({"S2": {"Type": "Succeed"}});
        states["S"] = state;
        let error = refusal(states);
        assert_eq!(
            (error.kind, error.state.as_deref(), error.field.as_deref()),
            (kind, Some("S"), Some(field)),
            "{error}"
        );
        assert!(error.to_string().contains(words), "{error} should say {words:?}");
    }
    // A nested state falls back to the state machine's language, not to its Parallel's.
    let nested =
        Definition::from_json(&json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "QueryLanguage": "JSONata",
        "End": true, "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Output": 1, "End": true}}}]}}}))
        .unwrap_err();
    assert_eq!((nested.state.as_deref(), nested.field.as_deref()), (Some("B"), Some("Output")), "{nested}");
}

/// The `EvaluationFailed` events of an execution's history: (state, error, cause, location).
async fn evaluation_failures(h: &Harness, name: &str) -> Vec<(String, String, String, Option<String>)> {
    h.history(name)
        .await
        .into_iter()
        .filter(|e| e.event_type.to_string() == "EvaluationFailed")
        .map(|e| {
            let d = e.details;
            (d.state.unwrap().into(), d.error.unwrap(), d.cause.unwrap(), d.location.map(String::from))
        })
        .collect()
}

#[tokio::test]
async fn given_a_map_whose_items_are_not_an_array_when_run_then_it_fails_as_aws_records_it() {
    // AWS's executions as LocalStack recorded them (tests/aws/services/stepfunctions/v2/scenarios/
    // test_base_scenarios.snapshot.json of localstack/localstack): test_map_state_items_variable_sampling
    // (Items "{% $ItemsVar %}") and test_map_state_items_input_types (no Items, the input a
    // non-array) for a number, a string, a boolean, an object and null. An object fails too,
    // where the ItemsPath page says its key-value pairs are iterated.
    let processor = json!({"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": true}}});
    let sampling = |value: Value| {
        jsonata_machine(
            "Start",
            json!({
            "Start": {"Type": "Pass", "Assign": {"ItemsVar": value}, "Next": "MapIterateState"},
            "MapIterateState": {"Type": "Map", "MaxConcurrency": 1, "Items": "{% $ItemsVar %}", "ItemProcessor": processor, "End": true}}),
        )
    };
    let input_types = jsonata_machine(
        "Start",
        json!({
        "Start": {"Type": "Pass", "Output": "{% $states.input.items %}", "Next": "MapIterateState"},
        "MapIterateState": {"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": processor, "End": true}}),
    );
    let prefix = "An error occurred while executing the state 'MapIterateState' (entered at the event id #4). ";
    for (value, kind, text) in [
        (json!(1), "number", "1"),
        (json!("string"), "string", "\"string\""),
        (json!(true), "boolean", "true"),
        (json!({"foo": "bar"}), "object", "{\"foo\":\"bar\"}"),
        (json!(null), "null", "null"),
    ] {
        let expected = format!(
            "{prefix}The JSONata expression '$ItemsVar' specified for the field 'Items' returned an unexpected result \
             type. Expected 'array', but was '{kind}' for value: {text}"
        );
        let h = Harness::new(sampling(value.clone()), tasks);
        let done = h.run("sampling", json!({})).await;
        assert_eq!(
            (done.error.as_deref(), done.cause.as_deref()),
            (Some("States.QueryEvaluationError"), Some(&*expected))
        );
        let types = h.history_types("sampling").await;
        assert_eq!(types[4..], ["EvaluationFailed", "MapStateFailed", "ExecutionFailed"], "{types:?}");
        let failures = evaluation_failures(&h, "sampling").await;
        let location = Some("Items".to_owned());
        assert_eq!(
            failures,
            [("MapIterateState".to_owned(), "States.QueryEvaluationError".to_owned(), expected, location)]
        );

        let expected = format!("{prefix}Map state input must be an array but was: {text}");
        let h = Harness::new(input_types.clone(), tasks);
        let done = h.run("input", json!({"items": value})).await;
        assert_eq!(
            (done.error.as_deref(), done.cause.as_deref()),
            (Some("States.QueryEvaluationError"), Some(&*expected))
        );
        assert_eq!(h.history_types("input").await[4..], ["EvaluationFailed", "MapStateFailed", "ExecutionFailed"]);
        // This one names no field
        let failures = evaluation_failures(&h, "input").await;
        assert_eq!(
            failures,
            [("MapIterateState".to_owned(), "States.QueryEvaluationError".to_owned(), expected, None)]
        );
    }
}

#[tokio::test]
async fn given_an_expression_that_fails_when_run_then_an_evaluation_failed_event_names_the_state_and_field() {
    // As AWS records it (LocalStack's test_base_evaluate_expressions/test_undefined_reference
    // snapshots, e.g. BASE_UNDEFINED_OUTPUT_FIELD): the state entered, EvaluationFailed with the
    // state, error, cause and field ("Output/result"), then the execution's failure.
    let h = Harness::new(
        jsonata_machine(
            "State0",
            json!({"State0": {"Type": "Pass", "Output": {"result": "{% $doesNotExist %}"}, "End": true}}),
        ),
        tasks,
    );
    let done = h.run("undefined", json!({})).await;
    assert_eq!(
        h.history_types("undefined").await,
        ["ExecutionStarted", "PassStateEntered", "EvaluationFailed", "ExecutionFailed"]
    );
    let cause = "An error occurred while executing the state 'State0' (entered at the event id #2). The JSONata \
                 expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined).";
    assert_eq!(done.cause.as_deref(), Some(cause));
    let failures = evaluation_failures(&h, "undefined").await;
    let expected = (
        "State0".to_owned(),
        "States.QueryEvaluationError".to_owned(),
        cause.to_owned(),
        Some("Output/result".to_owned()),
    );
    assert_eq!(failures, [expected]);

    // Handled by a Retrier and then a Catcher, each attempt's failure is written (LocalStack's
    // interpreter writes it before the Retriers and Catchers see the error; no recording of
    // AWS shows a handled one), and a JSONPath state's failure writes none.
    let h = Harness::new(
        json!({"StartAt": "Quote", "States": {
            "Quote": {"QueryLanguage": "JSONata", "Type": "Task", "Resource": PRICE, "Arguments": {"sku": "{% $states.input.sku %}"},
                "Retry": [{"ErrorEquals": ["States.QueryEvaluationError"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Missing"}], "End": true},
            "Missing": {"Type": "Pass", "InputPath": "$.absent", "End": true}}}),
        tasks,
    );
    h.executor.start_execution("caught", json!({})).await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    h.advance(1.0).await;
    let done = h.describe("caught").await;
    assert_eq!(done.error.as_deref(), Some("States.Runtime"), "{done:?}");
    let failures = evaluation_failures(&h, "caught").await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures.iter().all(|(state, _, _, location)| state == "Quote" && location.as_deref() == Some("Arguments/sku"))
    );
    let types = h.history_types("caught").await;
    let first = types.iter().position(|t| t == "EvaluationFailed").unwrap();
    assert_eq!(types[first - 1], "TaskStateEntered", "{types:?}");
    assert_eq!(types[types.len() - 3..], ["TaskStateExited", "PassStateEntered", "ExecutionFailed"], "{types:?}");
}

#[tokio::test]
async fn given_a_heartbeat_not_below_the_timeout_when_the_task_starts_then_evaluation_failed_names_the_field() {
    // Refused as any failed expression is: States.QueryEvaluationError, which a Retrier or
    // Catcher may handle, and an EvaluationFailed event at the field whose expression gave the
    // refused value, before anything handles it (AWS words no cause for this: the text is ours).
    let ship = |timeout: Value, heartbeat: Value| {
        jsonata_machine(
            "Ship",
            json!({"Ship": {"Type": "Task", "Resource": TOKEN, "End": true, "TimeoutSeconds": timeout,
                "HeartbeatSeconds": heartbeat, "Arguments": {"token": "{% $states.context.Task.Token %}"}}}),
        )
    };
    let cause = "An error occurred while executing the state 'Ship' (entered at the event id #2). The \
                 HeartbeatSeconds (5) must be smaller than the TimeoutSeconds (5)";
    for (definition, location) in [
        (ship(json!("{% $states.input.timeout %}"), json!("{% $states.input.timeout %}")), "HeartbeatSeconds"),
        (ship(json!(5), json!("{% $states.input.timeout %}")), "HeartbeatSeconds"),
        (ship(json!("{% $states.input.timeout %}"), json!(5)), "TimeoutSeconds"),
    ] {
        let h = Harness::new(definition, tasks);
        let done = h.run("equal", json!({"timeout": 5})).await;
        assert_eq!(
            (done.error.as_deref(), done.cause.as_deref()),
            (Some("States.QueryEvaluationError"), Some(cause)),
            "{location}"
        );
        assert_eq!(
            h.history_types("equal").await,
            ["ExecutionStarted", "TaskStateEntered", "EvaluationFailed", "ExecutionFailed"]
        );
        let expected =
            ("Ship".to_owned(), "States.QueryEvaluationError".to_owned(), cause.to_owned(), Some(location.to_owned()));
        assert_eq!(evaluation_failures(&h, "equal").await, [expected]);
    }
}
