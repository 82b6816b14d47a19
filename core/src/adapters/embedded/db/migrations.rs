//! The schema: its migrations, one `.sql` file each under `embedded/migrations/`, applied in order
//! when the database opens; `PRAGMA user_version` records how many ran. A database runs each
//! migration once, so one that has shipped never changes: a schema change is a new file.

use rusqlite::TransactionBehavior;

use super::sql_error;
use crate::ports::StoreError;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_orders_counts_keys_catalog.sql"),
    include_str!("../migrations/0002_workflow_changes_queues.sql"),
    include_str!("../migrations/0003_order_idempotency_and_deletions.sql"),
    include_str!("../migrations/0004_order_failure_reason.sql"),
    include_str!("../migrations/0005_stock_and_reservations.sql"),
    include_str!("../migrations/0006_retention.sql"),
    include_str!("../migrations/0007_execution_history_pages.sql"),
    include_str!("../migrations/0008_execution_wakeups.sql"),
    include_str!("../migrations/0009_stock_refusal_times.sql"),
    include_str!("../migrations/0010_order_correlation_id.sql"),
];

/// What a migration cannot do in SQL, run in its transaction right after its SQL: (the migration's
/// number, counting from 1, the step).
type RustStep = fn(&rusqlite::Transaction<'_>) -> Result<(), StoreError>;
const RUST_STEPS: &[(usize, RustStep)] = &[(8, crate::adapters::embedded::executions::fill_in_next_wakeups)];

/// Applies the migrations this database has not had yet, in one transaction.
pub(super) fn migrate(conn: &mut rusqlite::Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_error)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(sql_error)?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the database was written by a newer version (schema {applied}, this build knows {})",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(migration).map_err(sql_error)?;
        for (_, step) in RUST_STEPS.iter().filter(|(number, _)| *number == index + 1) {
            step(&tx)?;
        }
        tx.pragma_update(None, "user_version", index as i64 + 1).map_err(sql_error)?;
    }
    tx.commit().map_err(sql_error)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::adapters::embedded::Database;

    fn user_version(conn: &rusqlite::Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0)).expect("the schema version")
    }

    #[test]
    fn given_the_shipped_migrations_then_their_text_has_not_changed() {
        // A database that ran a migration never runs it again: an edited one would leave existing
        // files and new ones with different schemas. A schema change is a new file.
        let digests: Vec<String> = MIGRATIONS.iter().map(|sql| hex::encode(Sha256::digest(sql))).collect();
        assert_eq!(
            digests,
            [
                "cf55ab133be73d82f74741b6e14e6c4aa2df792e6235ac72db800984a9df4355",
                "109ed007cb445f196ca4a6e7855b6eec61c5ecc5ad20c93e29ef0dc46c42709b",
                "c23b8f76fe2748294d2ba4727c3829f2307f60fd800bd13c31c3ad7c54d84755",
                "1a49f0cdfc94c4c8d0f37c1396fd39d866a036f8f423b945255ba67300cd33a8",
                "2bb856fda3b1c6028de69cf7b4b6a010f7c900b5e4785c9dbb8a7ac68c81f293",
                "7f36f019d9511ad2fa48713ecfe7bdbaf0a43d8f92c219cdb1533093eb4013d5",
                "a9d4c85c8d2674c755eedb1382ba3af0fc83f29f6de0387b20bb01b5de20c835",
                "72d0e85f300a8ffc25cff69aba81bad869cfafc0f43d0f668bb877f25213f352",
                "8c2885d23bab607648810cff388d8254eecd10d646072c6ac762dbd49ab2725f",
                "8b4ee1157522e650dd9b8e21d82e6041414b4e5cee037bc1e8e284b6bac43d90",
            ]
        );
    }

    #[tokio::test]
    async fn given_a_file_of_an_older_schema_when_it_opens_then_it_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        // Given a file that only ran the first migration, with an order created under a key
        {
            let conn = rusqlite::Connection::open(&path).expect("the file opens");
            conn.execute_batch(MIGRATIONS[0]).expect("the first migration runs");
            conn.pragma_update(None, "user_version", 1).expect("the version is set");
            conn.execute_batch(
                "INSERT INTO orders (order_id, customer_id, status, total_cents, version, created_at,
                                     updated_at, items)
                 VALUES ('o-1', 'CUST001', 'pending', 100, 1, 't', 't', '[]');
                 INSERT INTO idempotency_keys (key, fingerprint, order_id, execution_arn, expires_at)
                 VALUES ('k-1', 'f-1', 'o-1', 'arn', 42);",
            )
            .expect("the rows are written");
        }

        // When it opens
        drop(Database::open(&path).expect("the database opens"));

        // Then it has every migration, and the order carries its key (what migration 3 copies)
        let conn = rusqlite::Connection::open(&path).expect("the file opens");
        assert_eq!(user_version(&conn), MIGRATIONS.len() as i64);
        let binding: (String, String, i64) = conn
            .query_row(
                "SELECT idempotency_key, idempotency_fingerprint, idempotency_expires_at FROM orders
                  WHERE order_id = 'o-1'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("the order is still there");
        assert_eq!(binding, ("k-1".to_owned(), "f-1".to_owned(), 42));
    }

    #[tokio::test]
    async fn given_executions_stored_before_retention_when_it_opens_then_the_finished_have_their_stop_time() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        // Given a file of schema 5 with a finished execution and a running one
        {
            let conn = rusqlite::Connection::open(&path).expect("the file opens");
            for migration in &MIGRATIONS[..5] {
                conn.execute_batch(migration).expect("the migration runs");
            }
            conn.pragma_update(None, "user_version", 5).expect("the version is set");
            conn.execute_batch(
                r#"INSERT INTO executions (execution_arn, state_machine_arn, status, version, record)
                   VALUES ('done', 'm', 'SUCCEEDED', 3, '{"stopDate":"2026-01-02T03:04:05.678901Z"}'),
                          ('running', 'm', 'RUNNING', 1, '{"stopDate":null}');"#,
            )
            .expect("the executions are stored");
        }
        // When it opens
        drop(Database::open(&path).expect("the database opens"));
        // Then the finished one has its stop time in milliseconds, the running one none
        let conn = rusqlite::Connection::open(&path).expect("the file opens");
        let stopped = |arn: &str| -> Option<i64> {
            conn.query_row("SELECT stopped_at FROM executions WHERE execution_arn = ?1", [arn], |row| row.get(0))
                .expect("the execution is there")
        };
        assert_eq!(stopped("done"), Some(1_767_323_045_679));
        assert_eq!(stopped("running"), None);
    }

    #[test]
    fn given_a_file_of_a_newer_schema_when_it_opens_then_it_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        let newer = MIGRATIONS.len() as i64 + 1;
        rusqlite::Connection::open(&path)
            .and_then(|conn| conn.pragma_update(None, "user_version", newer))
            .expect("the version is set");

        let refused = Database::open(&path).err().map(|error| error.to_string()).unwrap_or_default();

        assert!(refused.contains("written by a newer version"), "{refused}");
        let conn = rusqlite::Connection::open(&path).expect("the file opens");
        assert_eq!(user_version(&conn), newer);
    }
}
