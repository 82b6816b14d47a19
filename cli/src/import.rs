//! `orders import FILE`: reads orders from a JSON Lines or CSV file, checks each against the same
//! rules as `POST /orders` (and the catalog), sends the valid ones to the import queue in batches,
//! and reports every rejected row with its line and reason in `FILE.rejects.jsonl`. Exits non-zero
//! when anything was rejected. Re-importing a file creates nothing new: each order's
//! `client_reference` makes it idempotent (docs/IMPORT.md).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use futures::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use orders_core::domain::import::read_client_reference;
use orders_core::domain::{NewOrder, ProductCatalog};
use orders_core::ports::{OutgoingMessage, QueueName};
use serde_json::{Value, json};

use orders_core::wiring::Ports;

use crate::backend;
use crate::config::{ImportArgs, ImportFormat};

/// Messages sent at once.
const SENDS_AT_ONCE: usize = 16;

/// An order read from the file.
#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    client_reference: String,
    order: Value,
    parsed: NewOrder,
}

/// A row that will not be imported, and why.
#[derive(Debug, Clone, serde::Serialize)]
struct Rejected {
    line: usize,
    client_reference: Option<String>,
    reason: String,
}

/// What a file holds.
#[derive(Debug, Default)]
struct Read {
    entries: Vec<Entry>,
    rejected: Vec<Rejected>,
}

impl Read {
    /// Takes one order whose `client_reference` field held `reference` (read with the import
    /// worker's own rule, so what passes here is not refused there).
    fn accept(&mut self, line: usize, reference: Option<&Value>, order: Value, seen: &mut HashMap<String, usize>) {
        let client_reference = reference.and_then(Value::as_str).map(str::to_owned);
        let reject = |reason: String| Rejected { line, client_reference: client_reference.clone(), reason };
        let reference = match read_client_reference(reference) {
            Ok(reference) => reference,
            Err(reason) => {
                self.rejected.push(reject(reason));
                return;
            }
        };
        if let Some(first) = seen.get(&reference) {
            self.rejected.push(reject(format!("client_reference appears more than once (first on line {first})")));
            return;
        }
        seen.insert(reference.clone(), line);
        match NewOrder::from_json_value(order.clone()) {
            Ok(parsed) => self.entries.push(Entry { line, client_reference: reference, order, parsed }),
            Err(error) => self.rejected.push(reject(format!("order: {error}"))),
        }
    }
}

fn read_jsonl(text: &str) -> Read {
    let mut read = Read::default();
    let mut seen = HashMap::new();
    // A byte order mark (some editors on Windows write one) is not part of line 1's JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match orders_core::domain::json::from_str_unique(raw) {
            Ok(Value::Object(mut entry)) => {
                let order = entry.remove("order").unwrap_or(Value::Null);
                read.accept(line, entry.get("client_reference"), order, &mut seen);
            }
            Ok(_) => read.rejected.push(Rejected {
                line,
                client_reference: None,
                reason: "A line must be a JSON object".into(),
            }),
            Err(error) => {
                read.rejected.push(Rejected { line, client_reference: None, reason: format!("Invalid JSON: {error}") })
            }
        }
    }
    read
}

/// CSV: `client_reference,customer_id,product_id,quantity`, one row per item; rows sharing a
/// reference make one order.
fn read_csv(text: &str) -> anyhow::Result<Read> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().context("the CSV file has no header row")?.clone();
    let expected = ["client_reference", "customer_id", "product_id", "quantity"];
    if headers.iter().collect::<Vec<_>>() != expected {
        bail!("the CSV header must be {}", expected.join(","));
    }
    let mut groups: Vec<(usize, String, String, Vec<Value>)> = Vec::new();
    let mut by_reference: HashMap<String, usize> = HashMap::new();
    let mut read = Read::default();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                read.rejected.push(Rejected {
                    line,
                    client_reference: None,
                    reason: format!("Invalid CSV row: {error}"),
                });
                continue;
            }
        };
        let (reference, customer, product, quantity) = (&record[0], &record[1], &record[2], &record[3]);
        let quantity: Value =
            quantity.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(quantity.to_owned()));
        let item = json!({"product_id": product, "quantity": quantity});
        match by_reference.get(reference) {
            Some(&group) if groups[group].2 == customer => groups[group].3.push(item),
            Some(&group) => read.rejected.push(Rejected {
                line,
                client_reference: Some(reference.to_owned()),
                reason: format!(
                    "rows of one client_reference name different customers (first on line {})",
                    groups[group].0
                ),
            }),
            None => {
                by_reference.insert(reference.to_owned(), groups.len());
                groups.push((line, reference.to_owned(), customer.to_owned(), vec![item]));
            }
        }
    }
    let mut seen = HashMap::new();
    for (line, reference, customer, items) in groups {
        let reference = Value::String(reference);
        read.accept(line, Some(&reference), json!({"customer_id": customer, "items": items}), &mut seen);
    }
    Ok(read)
}

/// Drops (and rejects) entries naming products the catalog does not have.
async fn check_products(read: &mut Read, backend: &Ports) -> anyhow::Result<()> {
    let ids: BTreeSet<String> =
        read.entries.iter().flat_map(|e| e.parsed.items.iter().map(|i| i.product_id.clone())).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut known = Vec::new();
    for chunk in ids.chunks(100) {
        known.extend(backend.catalog.products(chunk).await.context("cannot read the catalog")?.products());
    }
    let catalog: ProductCatalog = known.into_iter().collect();
    let entries = std::mem::take(&mut read.entries);
    for entry in entries {
        match entry.parsed.price(&catalog) {
            Ok(_) => read.entries.push(entry),
            Err(error) => read.rejected.push(Rejected {
                line: entry.line,
                client_reference: Some(entry.client_reference),
                reason: format!("order: {error}"),
            }),
        }
    }
    Ok(())
}

fn rejects_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".rejects.jsonl");
    file.with_file_name(name)
}

/// Runs `orders import`.
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let format = args.format.unwrap_or_else(|| {
        let csv = args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv { ImportFormat::Csv } else { ImportFormat::Jsonl }
    });
    let mut read = match format {
        ImportFormat::Jsonl => read_jsonl(&text),
        ImportFormat::Csv => read_csv(&text)?,
    };
    let backend = backend::open(&args.target).await?;
    check_products(&mut read, &backend).await?;
    read.rejected.sort_by_key(|r| r.line);

    let total = read.entries.len() + read.rejected.len();
    let progress = ProgressBar::new(read.entries.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} sending {pos}/{len} orders [{bar:30}] {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let source = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut messages = 0;
    let batches: Vec<_> = read.entries.chunks(usize::from(args.batch_size)).collect();
    // SENDS_AT_ONCE messages in flight: the embedded store commits them together, SQS takes them
    // in parallel.
    for group in batches.chunks(SENDS_AT_ONCE) {
        let sends = group.iter().map(|batch| {
            let orders: Vec<Value> =
                batch.iter().map(|e| json!({"client_reference": e.client_reference, "order": e.order})).collect();
            let message = OutgoingMessage {
                body: json!({ "orders": orders }).to_string(),
                attributes: [("source".to_owned(), source.clone())].into(),
            };
            backend.queues.send(QueueName::Import, message)
        });
        for sent in join_all(sends).await {
            sent.context("cannot send to the import queue")?;
        }
        messages += group.len();
        progress.inc(group.iter().map(|batch| batch.len() as u64).sum());
    }
    progress.finish_and_clear();

    let rejects = rejects_path(&args.file);
    if read.rejected.is_empty() {
        let _ = std::fs::remove_file(&rejects);
    } else {
        let mut out = std::fs::File::create(&rejects).with_context(|| format!("cannot write {}", rejects.display()))?;
        for rejected in &read.rejected {
            writeln!(out, "{}", serde_json::to_string(rejected)?)?;
        }
    }
    println!(
        "read {total} orders from {}: sent {} in {messages} messages to the import queue; rejected {}",
        args.file.display(),
        read.entries.len(),
        read.rejected.len()
    );
    if !read.rejected.is_empty() {
        bail!(
            "{} of {total} orders were rejected; their lines and reasons are in {}",
            read.rejected.len(),
            rejects.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_lines_are_read_and_bad_lines_rejected_with_their_line() {
        let text = [
            r#"{"client_reference":"A","order":{"customer_id":"C","items":[{"product_id":"P","quantity":1}]}}"#,
            "",
            "{not json",
            r#"{"client_reference":"A","order":{"customer_id":"C","items":[{"product_id":"P","quantity":1}]}}"#,
            r#"{"order":{"customer_id":"C","items":[{"product_id":"P","quantity":1}]}}"#,
            r#"{"client_reference":"B","order":{"customer_id":"C","items":[{"product_id":"P","quantity":0}]}}"#,
        ]
        .join("\n");
        let read = read_jsonl(&text);
        assert_eq!(read.entries.len(), 1);
        let reasons: Vec<(usize, &str)> = read.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert_eq!(reasons[0].0, 3);
        assert!(reasons[0].1.starts_with("Invalid JSON"));
        assert_eq!(reasons[1], (4, "client_reference appears more than once (first on line 1)"));
        assert_eq!(reasons[2], (5, "Missing required field: client_reference"));
        assert_eq!(reasons[3], (6, "order: Invalid field items[0].quantity: must be an integer from 1 to 1000"));
    }

    #[test]
    fn csv_rows_of_one_reference_make_one_order() {
        let text = "client_reference,customer_id,product_id,quantity\nR1,C1,PROD001,2\nR1,C1,PROD002,1\nR2,C2,PROD001,x\nR1,C9,PROD003,1\n";
        let read = read_csv(text).unwrap();
        assert_eq!(read.entries.len(), 1);
        assert_eq!(read.entries[0].parsed.items.len(), 2);
        let reasons: Vec<(usize, &str)> = read.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert!(reasons.contains(&(5, "rows of one client_reference name different customers (first on line 2)")));
        assert!(reasons.contains(&(4, "order: Invalid field items[0].quantity: must be an integer from 1 to 1000")));
        assert!(read_csv("a,b\n1,2\n").is_err());
    }
}
