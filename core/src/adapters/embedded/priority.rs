//! The scheduling priority of the embedded pipeline's threads (the workers, the change feed, the
//! workflow's executions, the backups' writer): below the threads serving requests, so that when
//! both want the cores a client's request goes first and the pipeline works behind it
//! (ARCHITECTURE "A client's work first").

/// The pipeline threads' nice value: under contention the kernel gives each about a tenth of the
/// time of a request thread (CFS weights 110 against 1024); with the cores free they get all of it.
pub const PIPELINE_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`PIPELINE_NICE`]. On Linux a nice value is a thread's
/// own; elsewhere it would be the whole process's, so it is left alone there.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // A thread starts at its creator's value; one already lower stays as it is.
        let current = rustix::process::getpriority_process(None).unwrap_or_default();
        if current < PIPELINE_NICE
            && let Err(error) = rustix::process::setpriority_process(None, PIPELINE_NICE)
        {
            tracing::warn!(%error, "cannot lower a pipeline thread's priority; it runs at the requests' priority");
        }
    }
}
