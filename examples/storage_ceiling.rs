//! The storage ceiling (`scripts/bench-pipeline`, docs/BENCHMARKS.md): how fast SQLite on this
//! machine stores the rows the pipeline wrote for N orders, with nothing else in the way.
//!
//! `storage_ceiling SOURCE ORDERS [ORDERS_PER_TRANSACTION]` reads every row of every table of
//! SOURCE (a data file the pipeline filled with ORDERS orders, copied before retention so that it
//! still holds the change feed) into memory, then inserts them into a new file with the same schema
//! and the same settings as `orders serve` (WAL, `synchronous = FULL`, one writer), through
//! prepared statements, in transactions of ORDERS_PER_TRANSACTION orders' share of every table
//! (default 100), each committed with its fsync. It prints the orders per second that gives: the
//! most the pipeline's storage could take, to quote the pipeline's own rate against.
//!
//! What it leaves out, and so the ceiling is a ceiling: the pipeline also updates rows (an order's
//! status, an execution at every step), reads inside its writes, and writes queue messages it
//! deletes again; here each final row is written once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Instant;

use orders_core::adapters::embedded::Database;
use rusqlite::types::Value;

/// One table's rows, read from the source.
struct TableRows {
    name: String,
    insert: String,
    rows: Vec<Vec<Value>>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (source, orders, per_transaction) = match args.as_slice() {
        [source, orders] => (PathBuf::from(source), orders.parse::<usize>().expect("ORDERS is a number"), 100),
        [source, orders, per] => (
            PathBuf::from(source),
            orders.parse::<usize>().expect("ORDERS is a number"),
            per.parse::<usize>().expect("ORDERS_PER_TRANSACTION is a number"),
        ),
        _ => {
            eprintln!("usage: storage_ceiling SOURCE ORDERS [ORDERS_PER_TRANSACTION]");
            std::process::exit(2);
        }
    };
    let tables = read_tables(&source);
    let rows: usize = tables.iter().map(|t| t.rows.len()).sum();

    let dir = tempfile::tempdir().expect("a temporary directory");
    let target = dir.path().join("ceiling.sqlite3");
    // The same schema, made by the store itself; then one plain connection as its writer.
    drop(Database::open(&target).expect("the new file opens"));
    let mut conn = rusqlite::Connection::open(&target).expect("the new file opens");
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .expect("the settings of orders serve");

    // Rows the migrations seed (the default catalog) are in the source too.
    for table in &tables {
        conn.execute(&format!("DELETE FROM \"{}\"", table.name), []).expect("the seeded rows go");
    }

    let transactions = orders.div_ceil(per_transaction.max(1)).max(1);
    let started = Instant::now();
    for n in 0..transactions {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("begin");
        for table in &tables {
            let share = |k: usize| table.rows.len() * k / transactions;
            let mut insert = tx.prepare_cached(&table.insert).expect("the insert prepares");
            for row in &table.rows[share(n)..share(n + 1)] {
                insert.execute(rusqlite::params_from_iter(row.iter())).expect("the row inserts");
            }
        }
        tx.commit().expect("commit");
    }
    let elapsed = started.elapsed();
    let bytes = std::fs::metadata(&target).map(|m| m.len()).unwrap_or_default()
        + std::fs::metadata(dir.path().join("ceiling.sqlite3-wal")).map(|m| m.len()).unwrap_or_default();
    println!(
        "storage ceiling: {rows} rows of {orders} orders in {transactions} transactions of {per_transaction} orders: \
         {:.2} s = {:.0} orders/s ({:.0} rows/s; file and log {} MB)",
        elapsed.as_secs_f64(),
        orders as f64 / elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        bytes / 1_000_000
    );
}

/// Every row of every table of the source, in each table's key order.
fn read_tables(source: &std::path::Path) -> Vec<TableRows> {
    let conn = rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the source opens");
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names
        .into_iter()
        .map(|name| {
            let mut select = conn.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
            let columns = select.column_count();
            let rows = select
                .query_map([], |row| (0..columns).map(|i| row.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>())
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let marks = vec!["?"; columns].join(", ");
            TableRows { insert: format!("INSERT INTO \"{name}\" VALUES ({marks})"), name, rows }
        })
        .collect()
}
