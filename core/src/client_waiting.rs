//! Work done while a client waits for the answer (an HTTP request), as against the pipeline's
//! background work (queues, the change feed, the workflow). An entry point marks a client's request
//! with [`client_waiting`]; a store that queues its writes serves those first
//! (the embedded writer: docs/ARCHITECTURE.md, "Embedded storage"). Background work is still served
//! beside them, so it never starves; it falls behind during a burst of requests and catches up after.

use std::future::Future;

use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static CLIENT_WAITING: ();
}

/// Runs `work` (a client's request) marked as awaited by a client. A named future rather than an
/// `async fn`'s, so that a layer can wrap every request's future in it without boxing.
pub fn client_waiting<F: Future>(work: F) -> TaskLocalFuture<(), F> {
    CLIENT_WAITING.scope((), work)
}

/// Whether the current task runs a client's request.
pub fn is_client_waiting() -> bool {
    CLIENT_WAITING.try_with(|_| ()).is_ok()
}
