//! What one order costs on AWS, guarded: the AWS requests our code makes, the requests the workflow
//! makes itself, and the state transitions, from `POST /orders` to `delivered`, counted on moto
//! (`docs/benchmarks/aws-cost.md`; the benchmark `benches/aws_cost.rs` prints them). Counts,
//! not timings: a change that adds a request to an order's path fails here, and so does one that
//! removes one (update the table and the doc).

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "support/moto.rs"]
mod moto;

#[path = "support/deployment.rs"]
mod deployment;

#[path = "support/aws_cost.rs"]
mod aws_cost;

use std::collections::BTreeMap;

use aws_cost::Pipeline;

fn table(rows: &[(&str, &str, u64)]) -> BTreeMap<(String, String), u64> {
    rows.iter().map(|(service, operation, n)| (((*service).to_owned(), (*operation).to_owned()), *n)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_order_from_created_to_delivered_makes_these_aws_requests_and_transitions() {
    let measurement = Pipeline::start().await.run(1).await;
    let functions = &measurement.by_function;

    assert_eq!(
        functions["api"],
        table(&[
            ("DynamoDB", "BatchGetItem", 1),
            ("DynamoDB", "GetItem", 2),
            ("DynamoDB", "TransactWriteItems", 3),
            ("DynamoDB", "UpdateItem", 1),
            // StartExecution's own idempotency: no look before it
            ("Step Functions", "StartExecution", 1),
        ]),
        "the api function"
    );
    assert_eq!(
        functions["stream"],
        table(&[
            // the listing reconciled after the workflow's `processing` write; on delivery, the
            // reservation record read and consumed with the products' stock, one transaction
            ("DynamoDB", "GetItem", 2),
            ("DynamoDB", "TransactWriteItems", 2),
            // every version backed up by the stream function itself (v1–v4); the backup queue only
            // carries the writes that fail, so no SendMessage on the happy path
            ("S3", "PutObject", 4),
            // The insert record makes sure the order's execution exists: StartExecution answers a
            // repeat of the running execution the api started as a success.
            ("Step Functions", "StartExecution", 1),
            // the one wait, woken by the delivery
            ("Step Functions", "SendTaskSuccess", 1),
        ]),
        "the stream function"
    );
    assert_eq!(
        functions["fulfilment"],
        table(&[
            // reserve: the order, its reservation record, the products' stock, one transaction;
            // hand off: the order (no webhook here)
            ("DynamoDB", "BatchGetItem", 1),
            ("DynamoDB", "GetItem", 3),
            ("DynamoDB", "TransactWriteItems", 1),
            // the wait for the delivery kept on the order
            ("DynamoDB", "UpdateItem", 1),
            ("Step Functions", "SendTaskSuccess", 2),
        ]),
        "the fulfilment function"
    );
    // Nothing for the backup function: it only retries the writes the stream function could not make
    assert_eq!(functions["backup"], table(&[]), "the backup function");
    assert_eq!(measurement.code_requests(), 26);

    let workflow: BTreeMap<&str, u64> = measurement.workflow.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(workflow, BTreeMap::from([("dynamodb:updateItem", 1), ("sqs:sendMessage.waitForTaskToken", 3)]));
    assert_eq!(measurement.transitions, 5, "{:?}", measurement.states);
    assert_eq!(measurement.failed_batches, 0);
}
