//! The runtime the embedded pipeline runs on (the workers, the change feed, the workflow's
//! executions, retention), apart from the one serving requests, its threads at a lower scheduling
//! priority on Linux: when both want the cores, a client's request goes first, and the pipeline
//! works behind it (ARCHITECTURE "A client's work first").

use std::time::Duration;

use anyhow::Context;
use orders_core::adapters::embedded::lower_thread_priority;
use tokio::runtime::{Handle, Runtime};

/// How long stopping waits for the pipeline's tasks still running (each can be repeated: a task
/// cut short is resumed or redelivered at the next start).
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The pipeline's runtime; stopping or dropping it ends its tasks.
pub struct Background {
    runtime: Option<Runtime>,
}

impl Background {
    /// Starts a runtime of `threads` worker threads, each at the pipeline's priority
    /// ([`orders_core::adapters::embedded::PIPELINE_NICE`]).
    pub fn start(threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("pipeline")
            .on_thread_start(lower_thread_priority)
            .enable_all()
            .build()
            .context("cannot start the pipeline's runtime")?;
        Ok(Background { runtime: Some(runtime) })
    }

    /// Where to spawn the pipeline's tasks.
    pub fn handle(&self) -> &Handle {
        self.runtime.as_ref().expect("the runtime runs until the Background is stopped").handle()
    }

    /// Ends the runtime, waiting up to [`STOP_WAIT`] for its tasks (off the async threads).
    pub async fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            let _ = tokio::task::spawn_blocking(move || runtime.shutdown_timeout(STOP_WAIT)).await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async thread must not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use orders_core::adapters::embedded::PIPELINE_NICE;

    #[tokio::test]
    async fn given_the_background_runtime_then_its_threads_run_below_the_callers_priority() {
        let own = rustix::process::getpriority_process(None).expect("this thread's nice value");
        let background = Background::start(1).expect("the runtime starts");
        // Worker and blocking threads alike
        let worker = background.handle().spawn(async { rustix::process::getpriority_process(None) });
        let blocking = background.handle().spawn_blocking(|| rustix::process::getpriority_process(None));
        assert_eq!(worker.await.expect("the task ends").expect("a nice value"), own.max(PIPELINE_NICE));
        assert_eq!(blocking.await.expect("the task ends").expect("a nice value"), own.max(PIPELINE_NICE));
        // And the caller's own thread is left as it was
        assert_eq!(rustix::process::getpriority_process(None).expect("this thread's nice value"), own);
        background.stop().await;
    }
}
