//! The operator's console: `orders status` against a stack in a known state (embedded default and
//! moto), `--output json` of every operator command that prints a result, and the shell completions.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use orders_core::adapters::embedded::{DATABASE_FILE, Database, EmbeddedQueues};
use orders_core::ports::{MessageQueue, OutgoingMessage, QueueName};
use orders_testkit::eventually;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{AwsTarget, Launch, Server, orders_aws_cli, orders_cli};

/// Runs an operator command with `--output json` on the embedded data: its JSON document (panics,
/// showing stdout and stderr, when it fails or prints anything else).
fn json_of(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let (ok, stdout, stderr) = orders_cli(server.data_dir(), &all);
    assert!(ok, "{args:?} failed: {stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON document ({e}): {stdout}"))
}

/// The entry of `name` in the status's queues, work queues and dead-letter queues alike.
fn queue<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["queues"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| [q, &q["dead_letter_queue"]])
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name} in {status}"))
}

async fn order_id_of(response: reqwest::Response) -> String {
    crate::common::body_json(response).await["order_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_orders_queues_executions_backups_and_stock_outs_of_the_embedded_default() {
    // Given a stack with one order processing, one cancelled, one failed for want of PROD003 (its
    // stock set to 0), and one message parked in the backup DLQ
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(Launch { data_dir: Some(dir.path().to_owned()), ..Launch::default() }).await;
    let set = server.request(Method::PUT, "/products/PROD003/stock").json(&json!({"stock": 0})).send().await.unwrap();
    assert_eq!(set.status(), 200);
    let processing = server.create_processing("A").await;
    let cancelled = server.create_processing("B").await;
    assert_eq!(server.set_status(&cancelled, "cancelled", None).await.status(), 200);
    let body = json!({"customer_id": "C", "items": [{"product_id": "PROD003", "quantity": 1}]});
    let failed = order_id_of(server.create(&body).await).await;
    server.wait_for_order(&failed, |o| o["status"] == "failed").await;
    let queues = EmbeddedQueues::new(Database::open(&dir.path().join(DATABASE_FILE)).unwrap(), []);
    let parked = OutgoingMessage {
        body: json!({"kind": "version", "order_id": processing}).to_string(),
        attributes: [("reason".to_owned(), "disk full".to_owned())].into(),
    };
    queues.send(QueueName::BackupDlq, parked).await.unwrap();

    // When the operator asks for the status (once the workflows and backups have settled)
    let status = eventually("the executions to settle and the backups to catch up", async || {
        let status = json_of(&server, &["status"]);
        let settled = status["executions"]["by_status"]["RUNNING"] == 1 && status["backup"]["pending_changes"] == 0;
        if settled { Ok(status) } else { Err(status) }
    })
    .await;

    // Then it counts the orders by status
    assert_eq!(
        status["orders"],
        json!({"total": 3, "pending": 0, "processing": 1, "shipped": 0, "delivered": 0, "cancelled": 1, "failed": 1})
    );
    // And the parked message in the backup DLQ, with its age; the work queues are empty
    let dlq = queue(&status, "backup-dlq");
    assert_eq!(dlq["messages"], 1, "{status}");
    assert!(dlq["oldest_message_age_seconds"].as_u64().unwrap() < 600, "{status}");
    for name in ["backup", "fulfilment", "import", "fulfilment-dlq", "import-dlq"] {
        assert_eq!(queue(&status, name)["messages"], 0, "{name}: {status}");
        assert_eq!(queue(&status, name)["oldest_message_age_seconds"], 0, "{name}: {status}");
    }
    // And the executions: one running (the processing order waits for its delivery), two ended,
    // none overdue
    let by_status = &status["executions"]["by_status"];
    let ended: u64 =
        ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"].iter().map(|s| by_status[s].as_u64().unwrap()).sum();
    assert_eq!(ended, 2, "{status}");
    assert_eq!(status["executions"]["overdue"], 0, "{status}");
    assert_eq!(status["executions"]["counts_complete"], true);
    // And the backups are caught up, with the parked job counted; one stock-out in the last hour
    assert_eq!(status["backup"], json!({"lag_seconds": 0, "pending_changes": 0, "queued_jobs": 0, "dead_letters": 1}));
    assert_eq!(status["stock_outs_last_hour"], 1, "{status}");
    // And the text form says the same on one screen
    let (ok, text, stderr) = orders_cli(server.data_dir(), &["status"]);
    assert!(ok, "{stderr}");
    assert!(text.contains("orders        3 in all: pending 0, processing 1"), "{text}");
    assert!(text.contains("stock-outs    1 in the last hour"), "{text}");

    // When serve is stopped, the running execution's deadline is an hour past, and the stream
    // processor's position one change behind
    assert_eq!(server.stop_with("TERM").await, Some(0));
    let sql = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let an_hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let updated =
        sql.execute("UPDATE executions SET next_wakeup = ?1 WHERE status = 'RUNNING'", [an_hour_ago]).unwrap();
    assert_eq!(updated, 1);
    sql.execute("UPDATE feed_positions SET position = position - 1 WHERE consumer = 'stream-processor'", []).unwrap();
    let (ok, stdout, stderr) = orders_cli(dir.path(), &["status", "--output", "json"]);
    assert!(ok, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();

    // Then the execution is overdue, named with its deadline, and the backups lag by one change
    assert_eq!(status["executions"]["overdue"], 1, "{status}");
    let example = &status["executions"]["overdue_examples"][0];
    assert!(example["execution_arn"].as_str().unwrap().ends_with(&processing), "{status}");
    assert!(example["overdue_seconds"].as_u64().unwrap() >= 3600, "{status}");
    assert_eq!(status["backup"]["pending_changes"], 1, "{status}");
    assert!(status["backup"]["lag_seconds"].is_u64(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operator_command_that_prints_a_result_prints_one_json_document() {
    // Given a stack with an order processing and a message in the backup DLQ
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(Launch { data_dir: Some(dir.path().to_owned()), ..Launch::default() }).await;
    let order_id = server.create_processing("A").await;
    let queues = EmbeddedQueues::new(Database::open(&dir.path().join(DATABASE_FILE)).unwrap(), []);
    let parked = OutgoingMessage {
        body: "{\"job\":1}".to_owned(),
        attributes: [("reason".to_owned(), "disk full".to_owned())].into(),
    };
    queues.send(QueueName::BackupDlq, parked).await.unwrap();

    // When each command runs with --output json, then each prints its documented shape
    let listing = json_of(&server, &["dlq", "list"]);
    let names: Vec<&str> =
        listing["dead_letter_queues"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["backup-dlq", "fulfilment-dlq", "import-dlq"]);
    assert_eq!(listing["dead_letter_queues"][0]["source_queue"], "backup");
    assert_eq!(listing["dead_letter_queues"][0]["messages"], 1);
    assert_eq!(listing["dead_letter_queues"][0]["oldest_message_age_minutes"], 0);
    assert_eq!(listing["dead_letter_queues"][1]["oldest_message_age_minutes"], Value::Null);

    let peek = json_of(&server, &["dlq", "peek", "backup"]);
    assert_eq!(peek["queue"], "backup-dlq");
    assert_eq!(peek["messages"], 1);
    let shown = &peek["shown"][0];
    assert_eq!(shown["body"], "{\"job\":1}");
    assert_eq!(shown["reason"], "disk full");
    assert_eq!(shown["attributes"]["reason"], "disk full");
    assert!(shown["receive_count"].as_u64().unwrap() >= 1, "{peek}");
    assert!(shown["sent_at"].as_str().unwrap().ends_with('Z'), "{peek}");

    let execution = eventually("the execution to wait for the delivery", async || {
        let report = json_of(&server, &["executions", &order_id]);
        if report["current_state"].is_string() { Ok(report) } else { Err(report) }
    })
    .await;
    assert_eq!(execution["execution"]["status"], "RUNNING");
    assert_eq!(execution["execution"]["name"], order_id.as_str());
    assert_eq!(execution["history"][0]["event_type"], "ExecutionStarted");
    assert_eq!(execution["history"][0]["id"], 1);

    let verified = eventually("the backups to catch up", async || {
        let mut args = vec!["backup", "verify", "--output", "json"];
        args.push("--data-dir");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
            .args(&args)
            .arg(server.data_dir())
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        if output.status.success() { Ok(report) } else { Err(report) }
    })
    .await;
    assert_eq!(verified, json!({"checked": 1, "backed_up": 1, "missing": [], "resurrected": []}));

    let file = dir.path().join("catalog.json");
    std::fs::write(
        &file,
        json!({"products": [{"product_id": "A1", "name": "Apple", "unit_price": "0.29"}]}).to_string(),
    )
    .unwrap();
    let loaded = json_of(&server, &["catalog", "load", file.to_str().unwrap()]);
    assert_eq!(loaded, json!({"products": 1, "file": file.display().to_string()}));

    // And an error still goes to stderr with a non-zero exit, and nothing to stdout
    let (ok, stdout, stderr) = orders_cli(server.data_dir(), &["executions", "nonsense", "--output", "json"]);
    assert!(!ok);
    assert_eq!(stdout, "");
    assert!(stderr.contains("is neither an order id nor an execution ARN"), "{stderr}");
    let (ok, _, stderr) = orders_cli(server.data_dir(), &["status", "--output", "yaml"]);
    assert!(!ok && stderr.contains("--output"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_on_an_aws_endpoint_reads_queues_executions_and_the_functions_metrics() {
    // Given orders serve on moto with two orders processing and a message in the import DLQ
    let moto = crate::moto::Moto::start().await;
    let aws = AwsTarget { endpoint: moto.endpoint(), prefix: "status".into() };
    let server = Server::launch(Launch { aws: Some(aws.clone()), ..Launch::default() }).await;
    server.create_processing("A").await;
    server.create_processing("B").await;
    let clients = orders_core::adapters::aws::AwsClients::for_emulator(&aws.endpoint, "us-east-1").await;
    let url = clients.sqs.get_queue_url().queue_name("status-import-dlq").send().await.unwrap().queue_url.unwrap();
    clients.sqs.send_message().queue_url(url).message_body("{\"job\":1}").send().await.unwrap();
    // And what the functions reported to CloudWatch in the last minutes (from their EMF lines):
    // backups 42 s behind in the stream function, 7 s in the backup function, 3 stock-outs
    let datum = |metric: &str, function: &str, value: f64, unit| {
        let function = Dimension::builder().name("function").value(function).build();
        MetricDatum::builder().metric_name(metric).dimensions(function).value(value).unit(unit).build()
    };
    clients
        .cloudwatch
        .put_metric_data()
        .namespace("OrderPipeline/status")
        .metric_data(datum("backup_lag_seconds", "stream", 42.0, StandardUnit::Seconds))
        .metric_data(datum("backup_lag_seconds", "backup", 7.0, StandardUnit::Seconds))
        .metric_data(datum("stock_outs", "fulfilment", 2.0, StandardUnit::Count))
        .metric_data(datum("stock_outs", "fulfilment", 1.0, StandardUnit::Count))
        .send()
        .await
        .unwrap();
    // And the age SQS reported for the import DLQ's oldest message: two minutes
    let queue_name = Dimension::builder().name("QueueName").value("status-import-dlq").build();
    let age = MetricDatum::builder()
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(queue_name)
        .value(120.0)
        .unit(StandardUnit::Seconds)
        .build();
    clients.cloudwatch.put_metric_data().namespace("AWS/SQS").metric_data(age).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    // When the operator asks for the status
    let status = eventually("the status to show both orders processing", async || {
        let (ok, output) = orders_aws_cli(&aws, dir.path(), &["status", "--output", "json"]);
        assert!(ok, "{output}");
        let status: Value = serde_json::from_str(&output).unwrap_or_else(|e| panic!("not JSON ({e}): {output}"));
        if status["orders"]["processing"] == 2 { Ok(status) } else { Err(status) }
    })
    .await;

    // Then orders, queue depths and executions come from DynamoDB, SQS and Step Functions, the
    // backup lag (the larger of the two functions') and the stock-outs from CloudWatch
    assert_eq!(status["orders"]["total"], 2, "{status}");
    assert_eq!(queue(&status, "import-dlq")["messages"], 1, "{status}");
    assert_eq!(queue(&status, "backup-dlq")["messages"], 0, "{status}");
    assert_eq!(status["executions"]["by_status"]["RUNNING"], 2, "{status}");
    assert_eq!(status["executions"]["overdue"], 0, "{status}");
    assert_eq!(status["backup"]["lag_seconds"], 42, "{status}");
    assert_eq!(status["stock_outs_last_hour"], 3, "{status}");
    // And the DLQ's oldest message is as old as SQS said (and as long ago as it said it), an empty
    // queue's 0
    let oldest = queue(&status, "import-dlq")["oldest_message_age_seconds"].as_u64().unwrap_or_default();
    assert!((120..180).contains(&oldest), "{status}");
    assert_eq!(queue(&status, "import")["oldest_message_age_seconds"], 0, "{status}");
    // And the stream's backlog, which only its iterator age tells, is null rather than guessed
    assert_eq!(status["backup"]["pending_changes"], Value::Null, "{status}");
}

#[test]
fn completions_for_bash_name_every_subcommand_and_zsh_and_fish_are_printed_too() {
    let completions = |shell: &str| {
        let output =
            std::process::Command::new(env!("CARGO_BIN_EXE_orders")).args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let bash = completions("bash");
    assert!(bash.contains("complete -F _orders"), "{bash}");
    for subcommand in ["serve", "setup", "import", "executions", "backup", "catalog", "dlq", "status", "completions"] {
        assert!(bash.contains(subcommand), "bash completion lacks {subcommand}");
    }
    assert!(bash.contains("--output"), "bash completion lacks --output");
    assert!(completions("zsh").contains("#compdef orders"));
    assert!(completions("fish").contains("complete -c orders"));
}
