//! The ports: the small traits the use cases need from the outside world, with the plain types that
//! cross them, one file per port. Each port has an embedded adapter (SQLite) and an AWS adapter; no
//! AWS or SQLite type appears here.

mod backup_format;
mod backups;
mod callbacks;
mod catalog;
mod changes;
mod fulfilment;
mod orders;
mod queues;
mod status;
mod stock;
mod workflow;

pub use backup_format::{BACKUP_FORMAT_VERSION, BackupFormatError, BackupObject, decode_backup, encode_backup};
pub use backups::{BackupError, BackupKey, BackupStore, BackupWrite, OrderBackup};
pub use callbacks::{CallbackError, TaskCallbacks};
pub use catalog::{CatalogStore, ProductPage};
pub use changes::{ChangeFeed, ChangeImages, ChangeKind, OrderChange, OrderImage, StatusWait};
pub use fulfilment::{FulfilmentHandOff, HandOffError, HandedOff};
pub use orders::{
    CreateLookup, CreateLookups, CreateOutcome, IdempotencyBinding, IdempotencyRecord, ListFilter, ListRequest,
    ListingPlace, OrderPage, OrderStore, PagePosition, RestoreOutcome, StatusUpdate, StoreError,
};
pub use queues::{
    MAX_BATCH, MAX_RECEIVE_WAIT, MessageQueue, OutgoingMessage, QueueError, QueueName, RECEIVE_RETRY, ReceivedMessage,
};
pub use status::{
    BackupBacklog, ExecutionCounts, ExecutionGauge, GaugeError, OldestMessage, OverdueExecution, PipelineGauges,
    QueueGauge,
};
pub use stock::{ProcessingStart, StockLedger};
pub use workflow::{
    ExecutionArn, ExecutionDescription, ExecutionStatus, HistoryEntry, InvalidExecutionArn, StartedExecution,
    WorkflowEngine, WorkflowError,
};
