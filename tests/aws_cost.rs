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
            // the create's one look: the prices, the listing counter (the number is taken in the
            // create's transaction, on condition the counter has not moved) and the key's record
            ("DynamoDB", "BatchGetItem", 1),
            ("DynamoDB", "GetItem", 2),
            ("DynamoDB", "TransactWriteItems", 3),
            // the create starts the workflow before writing the order (StartExecution's own
            // idempotency: no look before it), and notes on the order that it did
            ("Step Functions", "StartExecution", 1),
            // (the delivery's transaction also consumes the order's stock: the reservation record
            // and the products, as the processing noted them on the order)
        ]),
        "the api function"
    );
    assert_eq!(
        functions["stream"],
        table(&[
            // every version backed up by the stream function itself (v1–v4); the backup queue only
            // carries the writes that fail, so no SendMessage on the happy path
            ("S3", "PutObject", 4),
            // no StartExecution: the insert record says the create started the workflow (it
            // starts it only for an order whose create could not)
            // the one task, answered at the delivery
            ("Step Functions", "SendTaskSuccess", 1),
        ]),
        "the stream function"
    );
    assert_eq!(
        functions["fulfilment"],
        table(&[
            // the processing task: the order and its products' stock read at once (the products
            // named by the execution's input), then one transaction (the reservation record, the
            // stock taken, the order marked processing with the task's token, its listing
            // counters); the hand-off makes no AWS request (no webhook here), and the task is
            // answered at the delivery, by the stream function
            ("DynamoDB", "BatchGetItem", 1),
            ("DynamoDB", "TransactWriteItems", 1),
        ]),
        "the fulfilment function"
    );
    // Nothing for the backup function: it only retries the writes the stream function could not make
    assert_eq!(functions["backup"], table(&[]), "the backup function");
    assert_eq!(measurement.code_requests(), 14);

    let workflow: BTreeMap<&str, u64> = measurement.workflow.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(workflow, BTreeMap::from([("sqs:sendMessage.waitForTaskToken", 1)]));
    assert_eq!(measurement.transitions, 2, "{:?}", measurement.states);
    assert_eq!(measurement.failed_batches, 0);
}
