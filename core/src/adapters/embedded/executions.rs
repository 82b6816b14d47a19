//! The embedded workflow engine's execution store: the `statemachine` crate's [`ExecutionStore`] on
//! SQLite. One row per execution (its record as compressed JSON, with status, version and current
//! task token as columns for look-ups) and its history in pages of up to [`EVENTS_PER_PAGE`]
//! events; every save checks the version and appends the step's events to the last page in the
//! same write (the page built before it, off the writer thread).

use std::cell::RefCell;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Transaction, params};
use statemachine::{CreateOutcome, ExecutionRecord, ExecutionStatus, ExecutionStore, HistoryEvent, StoreError};

use super::db::{Database, execute_cached, query_row_cached};
use crate::ports;

/// Most events a history page holds before the next step starts a new one: a step rewrites at most
/// this many events, however long the history grows. The order workflow's executions fit in one.
const EVENTS_PER_PAGE: usize = 64;

/// zstd's level for records and pages. On the order workflow's records and pages (about 1.5 KB of
/// JSON each) level 1 takes about 15% less time than the default 3 for 1% more bytes (597 against
/// 591 for a record, 503 against 497 for a page); negative levels halve the time again but add
/// about 30% (docs/BENCHMARKS.md, 2026-12-05).
const COMPRESSION_LEVEL: i32 = 1;

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

fn from_port(error: ports::StoreError) -> StoreError {
    backend(error)
}

fn sql(error: rusqlite::Error) -> ports::StoreError {
    super::db::sql_error(error)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ports::StoreError> {
    serde_json::to_string(value).map_err(|e| ports::StoreError::Internal(format!("execution JSON: {e}")))
}

/// The largest JSON a stored value may unpack to: far above Step Functions' 256 KiB payloads, and a
/// bound on what a damaged frame header can make this allocate.
const MAX_UNPACKED: usize = 64 << 20;

thread_local! {
    // zstd's contexts allocate their work space when made: each thread keeps one of each rather
    // than paying that at every record (it was 5% of the CPU under load).
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_error(what: &str) -> impl Fn(std::io::Error) -> ports::StoreError + '_ {
    move |e| ports::StoreError::Internal(format!("{what}: {e}"))
}

/// Compressed JSON, as records and history pages are stored: a record is about 40% of its JSON, a
/// page of the order workflow's events about 35%.
fn pack(json: &[u8]) -> Result<Vec<u8>, ports::StoreError> {
    COMPRESSOR.with_borrow_mut(|compressor| {
        let compressor = match compressor {
            Some(compressor) => compressor,
            None => compressor
                .insert(zstd::bulk::Compressor::new(COMPRESSION_LEVEL).map_err(zstd_error("cannot compress"))?),
        };
        compressor.compress(json).map_err(zstd_error("compressing an execution"))
    })
}

/// The JSON of a stored value: compressed (a BLOB) or, as stored before compression, TEXT.
fn unpack(value: ValueRef<'_>) -> Result<Vec<u8>, ports::StoreError> {
    match value {
        ValueRef::Text(text) => Ok(text.to_vec()),
        ValueRef::Blob(packed) => {
            let size = zstd::zstd_safe::get_frame_content_size(packed).ok().flatten().unwrap_or(MAX_UNPACKED as u64);
            let capacity = usize::try_from(size).unwrap_or(MAX_UNPACKED).min(MAX_UNPACKED);
            DECOMPRESSOR.with_borrow_mut(|decompressor| {
                let decompressor = match decompressor {
                    Some(decompressor) => decompressor,
                    None => {
                        decompressor.insert(zstd::bulk::Decompressor::new().map_err(zstd_error("cannot decompress"))?)
                    }
                };
                decompressor.decompress(packed, capacity).map_err(zstd_error("stored execution is not readable"))
            })
        }
        other => Err(ports::StoreError::Internal(format!("stored execution has type {:?}", other.data_type()))),
    }
}

fn from_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, ports::StoreError> {
    serde_json::from_slice(json).map_err(|e| ports::StoreError::Internal(format!("stored execution JSON: {e}")))
}

/// A stored record, compressed or not.
fn read_record(value: ValueRef<'_>) -> Result<ExecutionRecord, ports::StoreError> {
    from_json(&unpack(value)?)
}

/// A step's events laid out as the history page they go into, built before the write on the
/// caller's thread: reading, unpacking, extending and compressing the execution's last page was a
/// sixth of the writer thread's time under load, and the writer is the one thread every write
/// waits for. The write stores it only if the execution's last page is still the one it was built
/// on, else builds it again there ([`append_events`]).
struct PreparedPage {
    /// The bounds (first and last event) of the execution's last page when it was read, if any.
    built_on: Option<(i64, i64)>,
    first_event: i64,
    last_event: i64,
    packed: Vec<u8>,
}

/// The bounds of the execution's last history page.
fn last_page_bounds(conn: &rusqlite::Connection, arn: &str) -> Result<Option<(i64, i64)>, ports::StoreError> {
    query_row_cached(
        conn,
        "SELECT first_event, last_event FROM execution_history_pages
          WHERE execution_arn = ?1 ORDER BY first_event DESC LIMIT 1",
        [arn],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
    .map_err(sql)
}

/// The page a step's events go into: the execution's last page with them appended while it has
/// room, else a new page of them. `None` for a step without events.
fn prepare_page(
    conn: &rusqlite::Connection,
    arn: &str,
    events: &[(u64, String)],
) -> Result<Option<PreparedPage>, ports::StoreError> {
    if events.is_empty() {
        return Ok(None);
    }
    let last_page = query_row_cached(
        conn,
        "SELECT first_event, last_event, events FROM execution_history_pages
          WHERE execution_arn = ?1 ORDER BY first_event DESC LIMIT 1",
        [arn],
        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, unpack(row.get_ref(2)?))),
    )
    .optional()
    .map_err(sql)?;
    let built_on = last_page.as_ref().map(|(first, last, _)| (*first, *last));
    let (first_event, lines) = match last_page {
        Some((first, last, lines)) if (last - first + 1) as usize + events.len() <= EVENTS_PER_PAGE => {
            (Some(first), lines?)
        }
        _ => (None, Vec::new()),
    };
    page_with(built_on, first_event, lines, events)
}

/// `events` appended to a page's JSON `lines`, packed: a page beginning at `first_event`, or a new
/// one beginning with them (`lines` empty). `None` for no events.
fn page_with(
    built_on: Option<(i64, i64)>,
    first_event: Option<i64>,
    mut lines: Vec<u8>,
    events: &[(u64, String)],
) -> Result<Option<PreparedPage>, ports::StoreError> {
    let (Some((first_new, _)), Some((last_new, _))) = (events.first(), events.last()) else { return Ok(None) };
    push_lines(&mut lines, events);
    Ok(Some(PreparedPage {
        built_on,
        first_event: first_event.unwrap_or(*first_new as i64),
        last_event: *last_new as i64,
        packed: pack(&lines)?,
    }))
}

/// Stores a step's events in the write `tx`: the page prepared before the write if the execution's
/// last page is still the one it was built on, else the events appended to the last page as it is.
fn append_events(
    tx: &Transaction<'_>,
    arn: &str,
    prepared: Option<&PreparedPage>,
    events: &[(u64, String)],
) -> Result<(), ports::StoreError> {
    match prepared {
        Some(page) if last_page_bounds(tx, arn)? == page.built_on => {
            put_page(tx, arn, page.first_event, page.last_event, &page.packed)
        }
        _ => match prepare_page(tx, arn, events)? {
            Some(page) => put_page(tx, arn, page.first_event, page.last_event, page.packed),
            None => Ok(()),
        },
    }
}

/// Writes a history page: its events' JSON lines, compressed (as TEXT only in rows stored before
/// compression).
fn put_page(
    tx: &Transaction<'_>,
    arn: &str,
    first_event: i64,
    last_event: i64,
    lines: impl rusqlite::ToSql,
) -> Result<(), ports::StoreError> {
    execute_cached(
        tx,
        "INSERT OR REPLACE INTO execution_history_pages (execution_arn, first_event, last_event, events)
         VALUES (?1, ?2, ?3, ?4)",
        params![arn, first_event, last_event, lines],
    )
    .map_err(sql)?;
    Ok(())
}

/// An execution's history: the events stored one per row before pages, then the pages'.
fn read_history(tx: &rusqlite::Connection, arn: &str) -> Result<Vec<HistoryEvent>, ports::StoreError> {
    let mut events = Vec::new();
    let mut rows_before_pages = tx
        .prepare_cached("SELECT event FROM execution_history WHERE execution_arn = ?1 ORDER BY event_id")
        .map_err(sql)?;
    let rows = rows_before_pages.query_map([arn], |row| row.get::<_, String>(0)).map_err(sql)?;
    for row in rows {
        events.push(from_json(row.map_err(sql)?.as_bytes())?);
    }
    let mut pages = tx
        .prepare_cached("SELECT events FROM execution_history_pages WHERE execution_arn = ?1 ORDER BY first_event")
        .map_err(sql)?;
    let mut rows = pages.query([arn]).map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        let lines = unpack(row.get_ref(0).map_err(sql)?)?;
        for line in lines.split(|byte| *byte == b'\n') {
            events.push(from_json(line)?);
        }
    }
    Ok(events)
}

/// When the execution next has something due, in milliseconds since the epoch, rounded up: read
/// back, it never wakes the execution before its time.
fn wakeup_millis(record: &ExecutionRecord) -> Option<i64> {
    record.next_wakeup().map(|at| at.timestamp_millis() + i64::from(at.timestamp_subsec_nanos() % 1_000_000 != 0))
}

/// Migration 8's step: the next wake-up of every running execution stored before it (read from its
/// record, which SQL cannot read into). A record that cannot be read is left without one, and
/// said so: the database still opens, and that execution fails as before when it is loaded.
pub(super) fn fill_in_next_wakeups(tx: &Transaction<'_>) -> Result<(), ports::StoreError> {
    let mut running =
        tx.prepare("SELECT execution_arn, record FROM executions WHERE status = 'RUNNING'").map_err(sql)?;
    let mut rows = running.query([]).map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        let arn: String = row.get(0).map_err(sql)?;
        let next_wakeup = match read_record(row.get_ref(1).map_err(sql)?) {
            Ok(record) => wakeup_millis(&record),
            Err(error) => {
                tracing::warn!(execution_arn = %arn, %error, "an execution's record is unreadable: no timer for it");
                continue;
            }
        };
        tx.execute("UPDATE executions SET next_wakeup = ?1 WHERE execution_arn = ?2", params![next_wakeup, arn])
            .map_err(sql)?;
    }
    Ok(())
}

/// Stores a new execution with its first events, as [`ExecutionStore::create_execution`] does, in
/// the write `tx` (which may write other things too).
pub(super) fn insert_execution(tx: &Transaction<'_>, row: &ExecutionRow) -> Result<CreateOutcome, ports::StoreError> {
    let ExecutionRow { arn, machine, status, stopped_at, next_wakeup, version, token, record, first_page, .. } = row;
    let inserted = execute_cached(
        tx,
        "INSERT INTO executions (execution_arn, state_machine_arn, status, version, task_token, record,
                                 stopped_at, next_wakeup)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (execution_arn) DO NOTHING",
        params![arn, machine, status, version, token, record, stopped_at, next_wakeup],
    )
    .map_err(sql)?;
    if inserted == 0 {
        let existing = query_row_cached(tx, "SELECT record FROM executions WHERE execution_arn = ?1", [arn], |row| {
            Ok(read_record(row.get_ref(0)?))
        })
        .map_err(sql)??;
        return Ok(CreateOutcome::AlreadyExists(Box::new(existing)));
    }
    // A new execution has no page yet: its first, packed before the write, is stored as it is.
    if let Some(page) = first_page {
        put_page(tx, arn, page.first_event, page.last_event, &page.packed)?;
    }
    Ok(CreateOutcome::Created)
}

/// Adds events to a page's JSON lines.
fn push_lines(lines: &mut Vec<u8>, events: &[(u64, String)]) {
    for (_, event) in events {
        if !lines.is_empty() {
            lines.push(b'\n');
        }
        lines.extend_from_slice(event.as_bytes());
    }
}

/// An execution as its row holds it, with the history events to append, ready to move to the
/// database thread.
pub(super) struct ExecutionRow {
    arn: String,
    machine: String,
    status: &'static str,
    /// When it stopped (milliseconds since the epoch), once it has.
    stopped_at: Option<i64>,
    /// When it next has something due (milliseconds since the epoch), while running.
    next_wakeup: Option<i64>,
    version: i64,
    token: Option<String>,
    /// The record's JSON, compressed.
    record: Vec<u8>,
    events: Vec<(u64, String)>,
    /// A new execution's first history page, packed.
    first_page: Option<PreparedPage>,
}

impl ExecutionRow {
    /// A new execution, its record and first page compressed here, before the write: on the
    /// starter's thread (the change feed's, or a request's asking for it), not the writer's. Stored as plain JSON instead and
    /// compressed at the next step, a record left its table's pages half empty once rewritten
    /// smaller (2 KB per execution instead of 800 B).
    pub(super) fn new_execution(record: &ExecutionRecord, events: &[HistoryEvent]) -> Result<Self, StoreError> {
        let mut row = ExecutionRow::new(record, events)?;
        row.first_page = page_with(None, None, Vec::new(), &row.events).map_err(from_port)?;
        Ok(row)
    }

    /// A saved execution, its record compressed.
    pub(super) fn new(record: &ExecutionRecord, events: &[HistoryEvent]) -> Result<Self, StoreError> {
        Ok(ExecutionRow {
            arn: record.execution_arn.clone(),
            machine: record.state_machine_arn.clone(),
            status: record.status.as_str(),
            stopped_at: record.stop_date.map(|at| at.timestamp_millis()),
            next_wakeup: wakeup_millis(record),
            version: record.version as i64,
            token: record.task_token().map(str::to_owned),
            record: pack(to_json(record).map_err(from_port)?.as_bytes()).map_err(from_port)?,
            events: events
                .iter()
                .map(|event| Ok((event.id, to_json(event)?)))
                .collect::<Result<_, _>>()
                .map_err(from_port)?,
            first_page: None,
        })
    }
}

#[async_trait]
impl ExecutionStore for Database {
    async fn create_execution(
        &self,
        record: &ExecutionRecord,
        events: &[HistoryEvent],
    ) -> Result<CreateOutcome, StoreError> {
        let row = ExecutionRow::new_execution(record, events)?;
        self.write(move |tx| insert_execution(tx, &row)).await.map_err(from_port)
    }

    async fn load_execution(&self, execution_arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        self.read_by_key(|tx| {
            query_row_cached(tx, "SELECT record FROM executions WHERE execution_arn = ?1", [execution_arn], |row| {
                Ok(read_record(row.get_ref(0)?))
            })
            .optional()
            .map_err(sql)?
            .transpose()
        })
        .map_err(from_port)
    }

    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        expected_version: u64,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError> {
        let ExecutionRow { arn, status, stopped_at, next_wakeup, version, token, record, events, .. } =
            ExecutionRow::new(record, events)?;
        // Built here, on the executor's thread; the write checks it still fits.
        let page = self.read_by_key(|conn| prepare_page(conn, &arn, &events)).map_err(from_port)?;
        self.write(move |tx| {
            let stored: Option<i64> =
                query_row_cached(tx, "SELECT version FROM executions WHERE execution_arn = ?1", [&arn], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(sql)?;
            match stored {
                None => return Ok(Err(StoreError::NotFound(arn.clone()))),
                Some(stored) if stored != expected_version as i64 => {
                    return Ok(Err(StoreError::VersionConflict { execution_arn: arn.clone(), expected_version }));
                }
                Some(_) => {}
            }
            execute_cached(
                tx,
                "UPDATE executions SET status = ?1, version = ?2, task_token = ?3, record = ?4, stopped_at = ?6,
                                       next_wakeup = ?7
                     WHERE execution_arn = ?5",
                params![status, version, token, record, arn, stopped_at, next_wakeup],
            )
            .map_err(sql)?;
            append_events(tx, &arn, page.as_ref(), &events)?;
            Ok(Ok(()))
        })
        .await
        .map_err(from_port)?
    }

    async fn load_history(&self, execution_arn: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let arn = execution_arn.to_owned();
        self.read(move |tx| read_history(tx, &arn)).await.map_err(from_port)
    }

    async fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let machine = state_machine_arn.to_owned();
        let status = status.map(ExecutionStatus::as_str);
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT record FROM executions WHERE state_machine_arn = ?1 AND (?2 IS NULL OR status = ?2)
                     ORDER BY execution_arn",
                )
                .map_err(sql)?;
            let mut rows = stmt.query(params![machine, status]).map_err(sql)?;
            let mut records = Vec::new();
            while let Some(row) = rows.next().map_err(sql)? {
                records.push(read_record(row.get_ref(0).map_err(sql)?)?);
            }
            Ok(records)
        })
        .await
        .map_err(from_port)
    }

    async fn find_by_task_token(&self, task_token: &str) -> Result<Option<String>, StoreError> {
        self.read_by_key(|tx| {
            query_row_cached(tx, "SELECT execution_arn FROM executions WHERE task_token = ?1", [task_token], |row| {
                row.get(0)
            })
            .optional()
            .map_err(sql)
        })
        .map_err(from_port)
    }

    async fn wakeups_due_by(
        &self,
        state_machine_arn: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let machine = state_machine_arn.to_owned();
        self.read(move |tx| {
            let mut due = tx
                .prepare_cached(
                    "SELECT execution_arn, next_wakeup FROM executions
                      WHERE state_machine_arn = ?1 AND next_wakeup IS NOT NULL AND next_wakeup <= ?2",
                )
                .map_err(sql)?;
            let rows = due
                .query_map(params![machine, until.timestamp_millis()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(sql)?;
            let mut wakeups = Vec::new();
            for row in rows {
                let (arn, at) = row.map_err(sql)?;
                let at = DateTime::from_timestamp_millis(at)
                    .ok_or_else(|| ports::StoreError::Internal(format!("stored wake-up {at} is out of range")))?;
                wakeups.push((arn, at));
            }
            Ok(wakeups)
        })
        .await
        .map_err(from_port)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use statemachine::{Definition, Executor, StateMachineArn, TaskFailure, TaskInvoker, TaskOutcome, TaskRequest};

    use rusqlite::types::ToSqlOutput;

    use super::*;

    /// Completes every task at once.
    struct Immediate;

    #[async_trait]
    impl TaskInvoker for Immediate {
        async fn invoke(&self, _: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
            Ok(TaskOutcome::Completed(json!("done")))
        }
    }

    /// A workflow of `tasks` Task states one after the other: each is two writes (before its
    /// invocation and after its result).
    fn task_chain(tasks: usize) -> Definition {
        let mut states = serde_json::Map::new();
        for n in 0..tasks {
            let mut state = json!({"Type": "Task", "Resource": "work", "ResultPath": format!("$.t{n}")});
            if n + 1 == tasks {
                state["End"] = json!(true);
            } else {
                state["Next"] = json!(format!("T{}", n + 1));
            }
            states.insert(format!("T{n}"), state);
        }
        Definition::from_json(&json!({"StartAt": "T0", "States": states})).unwrap()
    }

    async fn run(database: &Database, tasks: usize, name: &str) -> (Executor, String) {
        let arn = StateMachineArn::new("us-east-1", "123456789012", "Pages").unwrap();
        let executor = Executor::new(task_chain(tasks), arn, Arc::new(Immediate), Arc::new(database.clone()));
        let started = executor.start_execution(name, json!({"order_id": name})).await.unwrap();
        executor.run_until_idle().await.unwrap();
        (executor, started.execution_arn)
    }

    /// A new database, and a plain connection to its file for looking at the rows.
    fn opened() -> (tempfile::TempDir, Database, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(&dir.path().join("orders.db")).unwrap();
        let file = rusqlite::Connection::open(dir.path().join("orders.db")).unwrap();
        (dir, database, file)
    }

    fn pages(file: &rusqlite::Connection, arn: &str) -> Vec<(i64, i64)> {
        let mut stmt = file
            .prepare("SELECT first_event, last_event FROM execution_history_pages WHERE execution_arn = ?1 ORDER BY 1")
            .unwrap();
        stmt.query_map([arn], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[tokio::test]
    async fn given_a_long_execution_then_its_history_is_paged_compressed_and_read_back_whole() {
        let (_dir, database, file) = opened();

        // When an execution runs 40 tasks, each step saved on its own
        let (executor, arn) = run(&database, 40, "long").await;

        // Then its history reads back whole and in order
        let history = executor.get_execution_history(&arn).await.unwrap();
        let ids: Vec<u64> = history.iter().map(|event| event.id).collect();
        assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
        assert_eq!(history.last().unwrap().event_type.as_str(), "ExecutionSucceeded");
        // And it is kept in pages of at most 64 events, each following the one before
        let pages = pages(&file, &arn);
        assert_eq!(pages.len(), ids.len().div_ceil(EVENTS_PER_PAGE), "{pages:?}");
        assert!(pages.windows(2).all(|w| w[1].0 == w[0].1 + 1), "{pages:?}");
        assert!(pages.iter().all(|(first, last)| last - first < EVENTS_PER_PAGE as i64), "{pages:?}");
        assert_eq!(pages.last().unwrap().1, ids.len() as i64);
        // And the record is stored compressed
        let record: Vec<u8> =
            file.query_row("SELECT record FROM executions WHERE execution_arn = ?1", [&arn], |row| row.get(0)).unwrap();
        let status: Value = from_json(&zstd::decode_all(&record[..]).unwrap()).unwrap();
        assert_eq!(status["status"], "SUCCEEDED");
    }

    #[tokio::test]
    async fn given_a_new_execution_then_its_record_and_first_page_are_stored_compressed_and_read_back() {
        let (_dir, database, file) = opened();
        let arn = StateMachineArn::new("us-east-1", "123456789012", "Pages").unwrap();
        let executor = Executor::new(task_chain(2), arn, Arc::new(Immediate), Arc::new(database.clone()));
        let types = |execution_arn: &str| -> (String, String) {
            let record = file
                .query_row("SELECT typeof(record) FROM executions WHERE execution_arn = ?1", [execution_arn], |r| {
                    r.get(0)
                })
                .unwrap();
            let page = file
                .query_row(
                    "SELECT typeof(events) FROM execution_history_pages WHERE execution_arn = ?1",
                    [execution_arn],
                    |r| r.get(0),
                )
                .unwrap();
            (record, page)
        };

        // When an execution is prepared and stored, as an order's start stores one, and not run yet
        let prepared = executor.prepare_start("fresh", json!({"order_id": "fresh"})).unwrap();
        let arn = prepared.record.execution_arn.clone();
        assert_eq!(
            database.create_execution(&prepared.record, &prepared.events).await.unwrap(),
            CreateOutcome::Created
        );

        // Then its record and its first page are compressed, and read back as stored
        assert_eq!(types(&arn), ("blob".to_owned(), "blob".to_owned()));
        assert_eq!(database.load_execution(&arn).await.unwrap().as_ref(), Some(&prepared.record));
        assert_eq!(database.load_history(&arn).await.unwrap(), prepared.events);
        // And storing it again finds the first one
        assert!(matches!(
            database.create_execution(&prepared.record, &prepared.events).await.unwrap(),
            CreateOutcome::AlreadyExists(existing) if *existing == prepared.record
        ));

        // When it runs to its end
        executor.run_stored(prepared);
        executor.run_until_idle().await.unwrap();

        // Then both stay compressed, and the history reads back whole
        assert_eq!(types(&arn), ("blob".to_owned(), "blob".to_owned()));
        let history = executor.get_execution_history(&arn).await.unwrap();
        assert_eq!(history.first().unwrap().event_type.as_str(), "ExecutionStarted");
        assert_eq!(history.last().unwrap().event_type.as_str(), "ExecutionSucceeded");
    }

    #[test]
    fn given_a_page_built_on_a_last_page_that_changed_before_the_write_then_the_write_builds_it_again() {
        let (_dir, _database, mut file) = opened();
        let line = |n: u64| (n, format!("{{\"id\":{n}}}"));
        let stored = |file: &rusqlite::Connection| -> Vec<(i64, i64, Vec<u8>)> {
            let mut stmt = file
                .prepare(
                    "SELECT first_event, last_event, events FROM execution_history_pages WHERE execution_arn = 'a'",
                )
                .unwrap();
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, unpack(row.get_ref(2)?).unwrap())))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        // Given an execution's last page holding events 1 and 2
        let tx = file.transaction().unwrap();
        put_page(&tx, "a", 1, 2, ToSqlOutput::Borrowed(ValueRef::Text(b"{\"id\":1}\n{\"id\":2}"))).unwrap();
        tx.commit().unwrap();
        // And event 3's page built on it
        let prepared = prepare_page(&file, "a", &[line(3)]).unwrap().unwrap();
        assert_eq!(prepared.built_on, Some((1, 2)));

        // When another write appends to that page before this one runs
        let tx = file.transaction().unwrap();
        append_events(&tx, "a", None, &[line(3), line(4)]).unwrap();
        tx.commit().unwrap();
        // And this write then stores event 5 with the page built before
        let tx = file.transaction().unwrap();
        append_events(&tx, "a", Some(&prepared), &[line(5)]).unwrap();
        tx.commit().unwrap();

        // Then the page is built again on what is stored: nothing written in between is lost
        assert_eq!(stored(&file), vec![(1, 5, b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"id\":4}\n{\"id\":5}".to_vec())]);
        // And a page built on the last page as it is is stored as it was built
        let prepared = prepare_page(&file, "a", &[line(6)]).unwrap();
        let tx = file.transaction().unwrap();
        append_events(&tx, "a", prepared.as_ref(), &[line(6)]).unwrap();
        tx.commit().unwrap();
        assert_eq!(stored(&file)[0].1, 6);
    }

    #[tokio::test]
    async fn given_waiting_and_finished_executions_then_the_timers_are_read_by_due_time_and_filled_in_by_migration() {
        let (_dir, database, mut file) = opened();
        let machine = StateMachineArn::new("us-east-1", "123456789012", "Timers").unwrap();
        let waits = Definition::from_json(&json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 3600, "End": true}}}))
        .unwrap();
        let executor = Executor::new(waits, machine.clone(), Arc::new(Immediate), Arc::new(database.clone()));
        // Given three executions waiting an hour, and one that has finished
        let before = Utc::now();
        for name in ["w1", "w2", "w3"] {
            executor.start_execution(name, json!({})).await.unwrap();
        }
        let (_, finished) = run(&database, 1, "done").await;
        executor.run_until_idle().await.unwrap();
        let due_by = async |until: DateTime<Utc>| {
            let mut due = database.wakeups_due_by(&machine.to_string(), until).await.unwrap();
            due.sort();
            due
        };
        // Then none is due within half an hour, and the three are within two hours, at their time
        assert_eq!(due_by(before + chrono::TimeDelta::minutes(30)).await, []);
        let due = due_by(before + chrono::TimeDelta::hours(2)).await;
        assert_eq!(due.iter().map(|(arn, _)| arn.rsplit(':').next().unwrap()).collect::<Vec<_>>(), ["w1", "w2", "w3"]);
        assert!(due.iter().all(|(_, at)| *at >= before + chrono::TimeDelta::hours(1)), "{due:?}");
        assert!(!due.iter().any(|(arn, _)| *arn == finished));
        // And when rows lack the time (as stored before migration 8), its step fills it in again
        file.execute("UPDATE executions SET next_wakeup = NULL", []).unwrap();
        let tx = file.transaction().unwrap();
        fill_in_next_wakeups(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(due_by(before + chrono::TimeDelta::hours(2)).await, due);
    }

    #[tokio::test]
    async fn given_an_execution_stored_before_compression_then_it_reads_and_goes_on_in_pages() {
        let (_dir, database, conn) = opened();
        // Given a finished execution, rewritten as the schema before pages stored it: the record as
        // JSON text and one row per event
        let (executor, arn) = run(&database, 3, "older").await;
        let history = executor.get_execution_history(&arn).await.unwrap();
        let record = ExecutionStore::load_execution(&database, &arn).await.unwrap().unwrap();
        {
            conn.execute("DELETE FROM execution_history_pages", []).unwrap();
            conn.execute("UPDATE executions SET record = ?1", [serde_json::to_string(&record).unwrap()]).unwrap();
            for event in &history {
                conn.execute(
                    "INSERT INTO execution_history (execution_arn, event_id, event) VALUES (?1, ?2, ?3)",
                    params![arn, event.id as i64, serde_json::to_string(event).unwrap()],
                )
                .unwrap();
            }
        }

        // When it is read, then it is as it was
        assert_eq!(executor.get_execution_history(&arn).await.unwrap(), history);
        assert_eq!(ExecutionStore::load_execution(&database, &arn).await.unwrap(), Some(record.clone()));
        // And when a step appends to it, the new events go to a page after the old rows
        let last = history.last().unwrap();
        let mut next = last.clone();
        next.id = last.id + 1;
        next.previous_event_id = last.id;
        let mut saved = record.clone();
        saved.version += 1;
        database.save_execution(&saved, record.version, std::slice::from_ref(&next)).await.unwrap();
        let read = executor.get_execution_history(&arn).await.unwrap();
        assert_eq!(read.len(), history.len() + 1);
        assert_eq!(read.last(), Some(&next));
        assert_eq!(pages(&conn, &arn), [(next.id as i64, next.id as i64)]);
    }
}
