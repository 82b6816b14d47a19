//! The [`Executor`]: the Step Functions-like API (start, describe, history, list, stop, task
//! callbacks), durable progress (every transition is saved through the [`ExecutionStore`] before
//! the next one; [`Executor::resume_running`] continues after a restart), concurrency (each
//! execution advances in its own Tokio task; calls on the same execution are serialised by a
//! per-execution lock), and time (a background driver, or [`Executor::run_until_idle`] in tests,
//! fires due waits, retries and timeouts).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use crate::arn::{ExecutionArn, StateMachineArn, validate_name};
use crate::clock::{Clock, SystemClock};
use crate::definition::Definition;
use crate::engine::{
    Action, Callback, Invocation, Machine, Step, execution_of_token, is_well_formed_token, new_execution,
};
use crate::error::{ExecutorError, StoreError, error_names};
use crate::history::HistoryEvent;
use crate::store::{CreateOutcome, ExecutionRecord, ExecutionStatus, ExecutionStore};
use crate::task::{TaskFailure, TaskInvoker, TaskOutcome, TaskRequest};

/// Tuning knobs of an [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The longest the background driver sleeps between looks at due timers (it also wakes when
    /// a new timer is set). Default: 1 s.
    pub max_driver_sleep: Duration,
    /// When advancing an execution fails (e.g. the store is unavailable), how long until the
    /// driver tries again. Default: 1 s.
    pub retry_after_error: Duration,
    /// How far ahead the executor keeps executions' timers in memory. Timers further out stay in
    /// the store alone ([`ExecutionStore::wakeups_due_by`]), which the executor reads again before
    /// half of this has passed: memory holds what is due soon, not every running execution's
    /// timeout (a store of 100,000 orders waiting days to ship would otherwise keep 100,000 timers).
    /// Default: 10 minutes.
    pub wakeup_horizon: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            max_driver_sleep: Duration::from_secs(1),
            retry_after_error: Duration::from_secs(1),
            wakeup_horizon: Duration::from_secs(600),
        }
    }
}

/// What [`Executor::start_execution`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct StartedExecution {
    pub execution_arn: String,
    /// When it started.
    pub start_date: DateTime<Utc>,
}

/// An execution ready to be stored and run: see [`Executor::prepare_start`].
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedExecution {
    /// Its record, as first stored.
    pub record: ExecutionRecord,
    /// Its first history events.
    pub events: Vec<HistoryEvent>,
    /// The one task the start stopped at, scheduled and not yet invoked.
    first_task: Option<Invocation>,
    /// Whether that task was invoked in the start's own write and now waits for its callback:
    /// nothing is left to do until the callback, a timer or a stop.
    waiting_for_callback: bool,
}

impl PreparedExecution {
    /// The task the start stopped at, when it stopped at exactly one, scheduled and not yet
    /// invoked: a store that can invoke it in the same transaction as the execution's own write
    /// does so and records the outcome with [`Executor::invoked_with_start`].
    pub fn task_to_invoke(&self) -> Option<&TaskRequest> {
        self.first_task.as_ref().map(|task| &*task.request)
    }
}

/// What [`Executor::describe_execution`] returns.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ExecutionDescription {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub input: Value,
    /// Its output, once SUCCEEDED.
    pub output: Option<Value>,
    /// The error, once FAILED / TIMED_OUT / ABORTED.
    pub error: Option<String>,
    /// The cause, once FAILED / TIMED_OUT / ABORTED.
    pub cause: Option<String>,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// When it stopped.
    pub stop_date: Option<DateTime<Utc>>,
    /// The state it is in, while RUNNING.
    pub current_state: Option<String>,
    /// The task token it is waiting on, if any (not part of Step Functions' DescribeExecution;
    /// handy for local tooling).
    pub task_token: Option<String>,
}

impl From<&ExecutionRecord> for ExecutionDescription {
    fn from(record: &ExecutionRecord) -> Self {
        ExecutionDescription {
            execution_arn: record.execution_arn.clone(),
            state_machine_arn: record.state_machine_arn.clone(),
            name: record.name.clone(),
            status: record.status,
            input: record.input.clone(),
            output: record.output.clone(),
            error: record.error.clone(),
            cause: record.cause.clone(),
            start_date: record.start_date,
            stop_date: record.stop_date,
            current_state: record.current.as_ref().map(|c| c.name.clone()),
            task_token: record.task_token().map(str::to_owned),
        }
    }
}

/// Builds an [`Executor`]; see [`Executor::builder`].
pub struct ExecutorBuilder {
    definition: Arc<Definition>,
    state_machine_arn: StateMachineArn,
    invoker: Arc<dyn TaskInvoker>,
    store: Arc<dyn ExecutionStore>,
    clock: Arc<dyn Clock>,
    options: ExecutorOptions,
    role_arn: Option<String>,
}

impl ExecutorBuilder {
    /// Reads time from `clock` instead of the system clock (e.g. a
    /// [`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The IAM role the state machine runs as, shown to executions as `$$.Execution.RoleArn` (as
    /// Step Functions shows the state machine's role); without one that path selects nothing.
    pub fn role_arn(mut self, role_arn: impl Into<String>) -> Self {
        self.role_arn = Some(role_arn.into());
        self
    }

    /// Sets the tuning options.
    pub fn options(mut self, options: ExecutorOptions) -> Self {
        self.options = options;
        self
    }

    /// The executor.
    pub fn build(self) -> Executor {
        let (jobs, _) = watch::channel(0usize);
        Executor {
            inner: Arc::new(Inner {
                machine_arn: self.state_machine_arn.to_string(),
                machine: self.state_machine_arn,
                definition: self.definition,
                invoker: self.invoker,
                store: self.store,
                clock: self.clock,
                options: self.options,
                role_arn: self.role_arn,
                locks: Mutex::default(),
                wakeups: Mutex::default(),
                in_flight: Mutex::default(),
                jobs,
                driver_wake: Notify::new(),
                changed: Notify::new(),
                job_errors: Mutex::default(),
                runtime: std::sync::OnceLock::new(),
            }),
        }
    }
}

/// Runs executions of one state machine definition. Cheap to clone (clones share everything);
/// `Send + Sync`. Must be used inside a Tokio runtime: executions advance in spawned tasks.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    definition: Arc<Definition>,
    machine: StateMachineArn,
    machine_arn: String,
    invoker: Arc<dyn TaskInvoker>,
    store: Arc<dyn ExecutionStore>,
    clock: Arc<dyn Clock>,
    options: ExecutorOptions,
    /// The IAM role executions run as (`$$.Execution.RoleArn`), if given.
    role_arn: Option<String>,
    /// One lock per execution while something holds or awaits it, serialising everything that
    /// changes it (an execution waiting for a callback has none: see [`ExecutionLock`]).
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When running executions next have something due, as far ahead as read from the store.
    wakeups: Mutex<Wakeups>,
    /// Task invocations running in this process: (execution ARN, invocation id).
    in_flight: Mutex<HashSet<(String, u64)>>,
    /// How many spawned jobs are running.
    jobs: watch::Sender<usize>,
    driver_wake: Notify,
    changed: Notify,
    job_errors: Mutex<Vec<ExecutorError>>,
    /// The runtime the driver was started on ([`Executor::spawn_driver`]): executions advance
    /// there, whoever starts or answers them (a host may keep its request handlers on a runtime of
    /// their own and run the workflow's work behind them).
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

/// The timers the executor keeps in memory: every running execution's next due time up to
/// `loaded_until`, and possibly some beyond it. Later ones are in the store, read when
/// `loaded_until` comes near (`Executor::load_wakeups_if_near`).
struct Wakeups {
    due: HashMap<String, DateTime<Utc>>,
    /// Every timer due by this time is in `due` (or being acted on); none is read from the store
    /// yet at first.
    loaded_until: DateTime<Utc>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Wakeups { due: HashMap::new(), loaded_until: DateTime::<Utc>::MIN_UTC }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor").field("state_machine_arn", &self.inner.machine_arn).finish_non_exhaustive()
    }
}

/// Counts a spawned job for [`Executor::run_until_idle`] while it lives.
struct JobGuard(Arc<Inner>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0.jobs.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Marks a task invocation as running in this process while it lives.
struct InFlightGuard {
    inner: Arc<Inner>,
    key: (String, u64),
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        lock(&self.inner.in_flight).remove(&self.key);
    }
}

/// A handle on one execution's lock; the last handle dropped removes the lock from the map, so
/// that the executor keeps no lock for the executions that are only waiting (a store of 100,000
/// orders waiting to ship would otherwise hold 100,000 of them). A later step makes a new one.
struct ExecutionLock {
    inner: Arc<Inner>,
    execution_arn: String,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::ops::Deref for ExecutionLock {
    type Target = tokio::sync::Mutex<()>;

    fn deref(&self) -> &Self::Target {
        &self.lock
    }
}

impl Drop for ExecutionLock {
    fn drop(&mut self) {
        let mut locks = lock(&self.inner.locks);
        // Only the map's and this handle's: no one else holds or awaits it. Checked under the
        // map's mutex, which every new handle is taken under.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.execution_arn);
        }
    }
}

/// The background driver started by [`Executor::spawn_driver`]; dropping it stops the driver too.
pub struct DriverHandle {
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl DriverHandle {
    /// Stops the driver and waits for it to finish. Executions keep their state; a new driver (or
    /// a new executor after [`Executor::resume_running`]) carries on with them.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.await;
        }
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverHandle").field("running", &self.shutdown.is_some()).finish()
    }
}

impl Executor {
    /// A builder for an executor of `definition`, known as `state_machine_arn`, running tasks
    /// with `invoker` and keeping executions in `store`.
    pub fn builder(
        definition: impl Into<Arc<Definition>>,
        state_machine_arn: StateMachineArn,
        invoker: Arc<dyn TaskInvoker>,
        store: Arc<dyn ExecutionStore>,
    ) -> ExecutorBuilder {
        ExecutorBuilder {
            definition: definition.into(),
            state_machine_arn,
            invoker,
            store,
            clock: Arc::new(SystemClock),
            options: ExecutorOptions::default(),
            role_arn: None,
        }
    }

    /// An executor with the system clock and default options.
    pub fn new(
        definition: impl Into<Arc<Definition>>,
        state_machine_arn: StateMachineArn,
        invoker: Arc<dyn TaskInvoker>,
        store: Arc<dyn ExecutionStore>,
    ) -> Executor {
        Executor::builder(definition, state_machine_arn, invoker, store).build()
    }

    /// The definition it runs.
    pub fn definition(&self) -> &Definition {
        &self.inner.definition
    }

    /// The state machine's ARN.
    pub fn state_machine_arn(&self) -> &str {
        &self.inner.machine_arn
    }

    /// The ARN an execution named `name` has (or would have).
    pub fn execution_arn(&self, name: &str) -> String {
        self.inner.machine.execution_arn(name)
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Starts an execution named `name` with `input`; it runs in the background. As in Step
    /// Functions, names are unique per state machine: repeating a start with the same name and an
    /// equal input while that execution is RUNNING returns it again; otherwise (different input,
    /// or the execution has ended) the start fails with
    /// [`ExecutorError::ExecutionAlreadyExists`], which tells the existing status and whether the
    /// input was the same.
    pub async fn start_execution(&self, name: &str, input: Value) -> Result<StartedExecution, ExecutorError> {
        let prepared = self.prepare_start(name, input)?;
        match self.inner.store.create_execution(&prepared.record, &prepared.events).await? {
            CreateOutcome::Created => Ok(self.run_stored(prepared)),
            CreateOutcome::AlreadyExists(existing) => {
                let execution_arn = prepared.record.execution_arn;
                let same_input = existing.input == prepared.record.input;
                if same_input && existing.status == ExecutionStatus::Running {
                    Ok(StartedExecution { execution_arn, start_date: existing.start_date })
                } else {
                    Err(ExecutorError::ExecutionAlreadyExists { execution_arn, status: existing.status, same_input })
                }
            }
        }
    }

    /// A new execution named `name` with `input`, taken up to its first task, wait or end, as
    /// [`ExecutionStore::create_execution`] would store it, but not stored: for a store that writes
    /// it in one transaction with data of its own (an order and its workflow, say). Once stored,
    /// [`Executor::run_stored`] runs it; a prepared execution that is never stored leaves no trace.
    pub fn prepare_start(&self, name: &str, input: Value) -> Result<PreparedExecution, ExecutorError> {
        validate_name(name)?;
        let execution_arn = self.inner.machine.execution_arn(name);
        // An execution is only ever found again by its ARN: start none whose ARN would be refused.
        if execution_arn.parse::<ExecutionArn>().is_err() {
            return Err(ExecutorError::InvalidArn(execution_arn));
        }
        let (record, events, action) = new_execution(
            &self.inner.definition,
            &Machine {
                arn: &self.inner.machine_arn,
                name: self.inner.machine.name(),
                role_arn: self.inner.role_arn.as_deref(),
            },
            execution_arn,
            name.to_owned(),
            input,
            self.now(),
        );
        let first_task = match action {
            Action::Invoke(mut invocations) if invocations.len() == 1 => invocations.pop(),
            _ => None,
        };
        Ok(PreparedExecution { record, events, first_task, waiting_for_callback: false })
    }

    /// Applies to `prepared` the outcome of its first task ([`PreparedExecution::task_to_invoke`]),
    /// invoked by its caller inside the very write that stores the execution: the start, the task's
    /// effect (a queue message, say) and `TaskSubmitted` are then one atomic write, where otherwise
    /// the execution's first step would be a write of its own after the start. Step Functions
    /// records the same events; here no crash can come between them. False, with nothing applied
    /// and the task still to invoke, when there is no such task or the engine refuses the outcome
    /// (the execution is no longer waiting on it): its first drive then invokes it.
    pub fn invoked_with_start(
        &self,
        prepared: &mut PreparedExecution,
        outcome: Result<TaskOutcome, TaskFailure>,
    ) -> bool {
        let Some(invocation_id) = prepared.first_task.as_ref().map(|task| task.invocation_id) else { return false };
        let awaiting = matches!(outcome, Ok(TaskOutcome::AwaitingCallback));
        let mut step = Step::new(&self.inner.definition, self.inner.machine.name(), &mut prepared.record, self.now());
        if !step.apply_invocation(invocation_id, outcome) {
            return false;
        }
        prepared.events.extend(step.into_events());
        prepared.first_task = None;
        prepared.waiting_for_callback = awaiting && prepared.record.status == ExecutionStatus::Running;
        true
    }

    /// Runs, in the background, an execution from [`Executor::prepare_start`] that its caller has
    /// just stored (as [`ExecutionStore::create_execution`] stores one). Were the process to stop
    /// first, [`Executor::resume_running`] runs it after the restart.
    pub fn run_stored(&self, prepared: PreparedExecution) -> StartedExecution {
        let record = prepared.record;
        tracing::debug!(execution_arn = %record.execution_arn, "execution started");
        self.after_save(&record);
        let started = StartedExecution { execution_arn: record.execution_arn.clone(), start_date: record.start_date };
        // An execution whose first task was invoked in its start's write and waits for its callback
        // has nothing to do until then: a drive would step it only to find that out.
        if !prepared.waiting_for_callback {
            self.spawn_drive_from(record.execution_arn.clone(), Some(record));
        }
        started
    }

    async fn load_own(&self, execution_arn: &str) -> Result<ExecutionRecord, ExecutorError> {
        StateMachineArn::parse_execution_arn(execution_arn)?;
        self.inner
            .store
            .load_execution(execution_arn)
            .await?
            .ok_or_else(|| ExecutorError::ExecutionDoesNotExist(execution_arn.to_owned()))
    }

    fn check_own(&self, record: &ExecutionRecord) -> Result<(), ExecutorError> {
        if record.state_machine_arn == self.inner.machine_arn {
            Ok(())
        } else {
            Err(ExecutorError::WrongStateMachine {
                execution_arn: record.execution_arn.clone(),
                state_machine_arn: record.state_machine_arn.clone(),
            })
        }
    }

    /// The execution's status, input, output, error and dates.
    pub async fn describe_execution(&self, execution_arn: &str) -> Result<ExecutionDescription, ExecutorError> {
        Ok(ExecutionDescription::from(&self.load_own(execution_arn).await?))
    }

    /// The execution's history events, oldest first.
    pub async fn get_execution_history(&self, execution_arn: &str) -> Result<Vec<HistoryEvent>, ExecutorError> {
        self.load_own(execution_arn).await?;
        Ok(self.inner.store.load_history(execution_arn).await?)
    }

    /// This state machine's executions, optionally only those with `status`.
    pub async fn list_executions(
        &self,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionDescription>, ExecutorError> {
        let records = self.inner.store.list_executions(&self.inner.machine_arn, status).await?;
        Ok(records.iter().map(ExecutionDescription::from).collect())
    }

    /// Waits until the execution is no longer RUNNING and describes it. (With a
    /// [`ManualClock`](crate::ManualClock), something must move the clock for waits to end.)
    pub async fn wait_for_execution(&self, execution_arn: &str) -> Result<ExecutionDescription, ExecutorError> {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let description = self.describe_execution(execution_arn).await?;
            if description.status != ExecutionStatus::Running {
                return Ok(description);
            }
            changed.await;
        }
    }

    /// Stops a running execution: it becomes ABORTED with `error` and `cause`, its outstanding
    /// task token stops being valid, and late task results are ignored. Stopping an execution that
    /// has already ended changes nothing. Returns the stop date.
    pub async fn stop_execution(
        &self,
        execution_arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<DateTime<Utc>, ExecutorError> {
        let record = self.load_own(execution_arn).await?;
        self.check_own(&record)?;
        let execution_lock = self.lock_for(execution_arn);
        let _guard = execution_lock.lock().await;
        let mut record = self.load_own(execution_arn).await?;
        let before = record.clone();
        let mut step = Step::new(&self.inner.definition, self.inner.machine.name(), &mut record, self.now());
        step.abort(error.map(str::to_owned), cause.map(str::to_owned));
        let events = step.into_events();
        self.persist(&before, &mut record, &events).await?;
        Ok(record.stop_date.unwrap_or_else(|| self.now()))
    }

    /// Completes the `.waitForTaskToken` task waiting on `task_token` with `output` (as
    /// Step Functions' SendTaskSuccess). Fails with [`ExecutorError::InvalidToken`] for a token
    /// this executor cannot have issued and [`ExecutorError::TaskTimedOut`] for a token whose task
    /// is no longer waiting (so a repeated call is recognisable).
    pub async fn send_task_success(&self, task_token: &str, output: Value) -> Result<(), ExecutorError> {
        self.callback(task_token, Callback::Success(output)).await
    }

    /// Fails the task waiting on `task_token` with `error` and `cause` (as SendTaskFailure); the
    /// state's Retry and Catch apply.
    pub async fn send_task_failure(&self, task_token: &str, error: &str, cause: &str) -> Result<(), ExecutorError> {
        self.callback(task_token, Callback::Failure { error: error.to_owned(), cause: cause.to_owned() }).await
    }

    /// Records a heartbeat for the task waiting on `task_token` (as SendTaskHeartbeat), restarting
    /// its `HeartbeatSeconds` countdown.
    pub async fn send_task_heartbeat(&self, task_token: &str) -> Result<(), ExecutorError> {
        self.callback(task_token, Callback::Heartbeat).await
    }

    async fn callback(&self, token: &str, callback: Callback) -> Result<(), ExecutorError> {
        if !is_well_formed_token(token) {
            return Err(ExecutorError::InvalidToken);
        }
        // A task inside a branch or iteration has a token naming its execution; the store indexes
        // only each execution's own task's.
        let execution_arn = match execution_of_token(token) {
            Some(execution_arn) => execution_arn,
            None => match self.inner.store.find_by_task_token(token).await? {
                Some(execution_arn) => execution_arn,
                None => return Err(ExecutorError::TaskTimedOut),
            },
        };
        let Some(record) = self.inner.store.load_execution(&execution_arn).await? else {
            return Err(ExecutorError::TaskTimedOut);
        };
        self.check_own(&record)?;
        let heartbeat = matches!(callback, Callback::Heartbeat);
        let execution_lock = self.lock_for(&execution_arn);
        let guard = execution_lock.lock().await;
        let Some(mut record) = self.inner.store.load_execution(&execution_arn).await? else {
            return Err(ExecutorError::TaskTimedOut);
        };
        let before = record.clone();
        let mut step = Step::new(&self.inner.definition, self.inner.machine.name(), &mut record, self.now());
        if !step.apply_callback(token, callback) {
            drop(guard);
            // If a deadline passed unnoticed, process the timeout now.
            self.spawn_drive(execution_arn);
            return Err(ExecutorError::TaskTimedOut);
        }
        let events = step.into_events();
        self.persist(&before, &mut record, &events).await?;
        drop(guard);
        if !heartbeat && record.status == ExecutionStatus::Running {
            self.spawn_drive_from(execution_arn, Some(record));
        }
        Ok(())
    }

    /// Picks up this state machine's RUNNING executions from the store and continues them: call
    /// it at start-up. Waits and timeouts continue against their saved deadlines; a task whose
    /// invocation was under way when the process stopped is invoked again. Returns how many
    /// executions were resumed.
    pub async fn resume_running(&self) -> Result<usize, ExecutorError> {
        let running = self.inner.store.list_executions(&self.inner.machine_arn, Some(ExecutionStatus::Running)).await?;
        for record in &running {
            self.note_wakeup(record);
            self.spawn_drive(record.execution_arn.clone());
        }
        tracing::info!(state_machine_arn = %self.inner.machine_arn, count = running.len(), "resumed running executions");
        Ok(running.len())
    }

    /// Starts a background task that advances executions whose waits, retry intervals or
    /// timeouts are due, reading time from the executor's clock. From then on every execution
    /// advances on the runtime this is called on.
    pub fn spawn_driver(&self) -> DriverHandle {
        let (shutdown, mut stop) = oneshot::channel::<()>();
        let this = self.clone();
        let _ = self.inner.runtime.set(tokio::runtime::Handle::current());
        let join = tokio::spawn(async move {
            loop {
                let read = this.load_wakeups_if_near().await;
                let mut sleep_for = this.until_next_wakeup().min(this.inner.options.max_driver_sleep);
                if let Err(error) = read {
                    // The read is due again at once: wait as after any failed step, not in a loop.
                    tracing::warn!(%error, "reading the executions' timers failed; will retry");
                    sleep_for = sleep_for.max(this.inner.options.retry_after_error);
                }
                tokio::select! {
                    _ = &mut stop => break,
                    () = tokio::time::sleep(sleep_for) => {}
                    () = this.inner.driver_wake.notified() => {}
                }
                this.fire_due();
            }
        });
        DriverHandle { shutdown: Some(shutdown), join: Some(join) }
    }

    /// Runs everything that can run now, for deterministic tests: waits until no execution is
    /// being advanced, fires every wait, retry and timeout that is due by the clock, and repeats
    /// until nothing is due. Task invocations are awaited, so an invoker that never returns makes
    /// this never return. Returns the first error a background step hit since the last call.
    pub async fn run_until_idle(&self) -> Result<(), ExecutorError> {
        loop {
            let mut jobs = self.inner.jobs.subscribe();
            let _ = jobs.wait_for(|n| *n == 0).await;
            self.load_wakeups_if_near().await?;
            let due = self.take_due();
            if due.is_empty() {
                break;
            }
            for execution_arn in due {
                self.spawn_drive(execution_arn);
            }
        }
        match lock(&self.inner.job_errors).drain(..).next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Fires, in the background, every wait, retry and timeout that is due by the clock, without
    /// waiting for the executions it wakes; returns how many were woken. (What the driver does on
    /// each wake-up; useful in tests where an invocation is deliberately left hanging.)
    pub async fn tick(&self) -> Result<usize, ExecutorError> {
        self.load_wakeups_if_near().await?;
        Ok(self.fire_due())
    }

    /// Reads from the store the timers due within the horizon, once the last read's reach is less
    /// than half the horizon away. `loaded_until` moves before the read: a timer saved while it
    /// runs is either in what it reads or, noted after it, kept in memory. A timer read that
    /// memory already has a newer value for at worst wakes its execution early, which then finds
    /// nothing due and notes the right time.
    async fn load_wakeups_if_near(&self) -> Result<(), ExecutorError> {
        let horizon = TimeDelta::from_std(self.inner.options.wakeup_horizon).unwrap_or(TimeDelta::MAX);
        let now = self.now();
        let until = now.checked_add_signed(horizon).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let previous = {
            let mut wakeups = lock(&self.inner.wakeups);
            if wakeups.loaded_until > now.checked_add_signed(horizon / 2).unwrap_or(DateTime::<Utc>::MAX_UTC) {
                return Ok(());
            }
            std::mem::replace(&mut wakeups.loaded_until, until)
        };
        match self.inner.store.wakeups_due_by(&self.inner.machine_arn, until).await {
            Ok(due) => {
                let mut wakeups = lock(&self.inner.wakeups);
                for (execution_arn, at) in due {
                    wakeups.due.entry(execution_arn).or_insert(at);
                }
                Ok(())
            }
            Err(error) => {
                // Not read: read the same span again next time.
                let mut wakeups = lock(&self.inner.wakeups);
                wakeups.loaded_until = wakeups.loaded_until.min(previous);
                Err(error.into())
            }
        }
    }

    fn fire_due(&self) -> usize {
        let due = self.take_due();
        let count = due.len();
        for execution_arn in due {
            self.spawn_drive(execution_arn);
        }
        count
    }

    /// How long until a timer in memory is due, or the store's timers must be read again.
    fn until_next_wakeup(&self) -> Duration {
        let now = self.now();
        let half_horizon = TimeDelta::from_std(self.inner.options.wakeup_horizon / 2).unwrap_or(TimeDelta::MAX);
        let wakeups = lock(&self.inner.wakeups);
        let read_again_at = wakeups.loaded_until.checked_sub_signed(half_horizon).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let next = wakeups.due.values().min().map_or(read_again_at, |at| read_again_at.min(*at));
        (next - now).to_std().unwrap_or(Duration::ZERO)
    }

    fn take_due(&self) -> Vec<String> {
        let now = self.now();
        let mut due = Vec::new();
        lock(&self.inner.wakeups).due.retain(|arn, at| {
            if *at <= now {
                due.push(arn.clone());
                false
            } else {
                true
            }
        });
        due
    }

    fn note_wakeup(&self, record: &ExecutionRecord) {
        let mut wakeups = lock(&self.inner.wakeups);
        match record.next_wakeup() {
            // Further out, the store has it, and it is read from there in time.
            Some(at) if at <= wakeups.loaded_until => {
                if wakeups.due.insert(record.execution_arn.clone(), at) != Some(at) {
                    self.inner.driver_wake.notify_one();
                }
            }
            _ => {
                wakeups.due.remove(&record.execution_arn);
            }
        }
    }

    fn lock_for(&self, execution_arn: &str) -> ExecutionLock {
        let lock = lock(&self.inner.locks).entry(execution_arn.to_owned()).or_default().clone();
        ExecutionLock { inner: self.inner.clone(), execution_arn: execution_arn.to_owned(), lock }
    }

    /// Drops the timer and lock of an execution that has ended.
    fn forget_if_done(&self, record: &ExecutionRecord) {
        self.note_wakeup(record);
        if record.status != ExecutionStatus::Running {
            lock(&self.inner.locks).remove(&record.execution_arn);
        }
    }

    /// Bookkeeping after a record was saved.
    fn after_save(&self, record: &ExecutionRecord) {
        self.forget_if_done(record);
        self.inner.changed.notify_waiters();
    }

    /// Saves `record` (a changed copy of `before`) with `events`.
    async fn persist(
        &self,
        before: &ExecutionRecord,
        record: &mut ExecutionRecord,
        events: &[HistoryEvent],
    ) -> Result<(), ExecutorError> {
        if events.is_empty() && record == before {
            self.forget_if_done(record);
            return Ok(());
        }
        record.version = before.version + 1;
        self.inner.store.save_execution(record, before.version, events).await?;
        for event in events {
            tracing::debug!(execution_arn = %record.execution_arn, id = event.id, event = %event.event_type, "history event");
        }
        self.after_save(record);
        Ok(())
    }

    fn spawn_drive(&self, execution_arn: String) {
        self.spawn_drive_from(execution_arn, None);
    }

    /// Advances the execution in the background, starting from `saved` (the record this executor
    /// has just saved) rather than a read of the store, when given.
    fn spawn_drive_from(&self, execution_arn: String, saved: Option<ExecutionRecord>) {
        self.inner.jobs.send_modify(|n| *n += 1);
        let job = JobGuard(self.inner.clone());
        let this = self.clone();
        self.spawn(async move {
            let _job = job;
            if let Err(error) = this.drive(&execution_arn, saved).await {
                this.retry_later(execution_arn, error);
            }
        });
    }

    /// After a failed step: the execution is woken again after `retry_after_error`, and the error
    /// kept for [`Executor::run_until_idle`].
    fn retry_later(&self, execution_arn: String, error: ExecutorError) {
        tracing::warn!(execution_arn = %execution_arn, %error, "advancing the execution failed; will retry");
        let retry_at = self
            .now()
            .checked_add_signed(TimeDelta::from_std(self.inner.options.retry_after_error).unwrap_or(TimeDelta::MAX))
            .unwrap_or_else(|| self.now());
        lock(&self.inner.wakeups).due.insert(execution_arn, retry_at);
        let mut errors = lock(&self.inner.job_errors);
        if errors.len() < 64 {
            errors.push(error);
        }
    }

    /// Invokes a task in the background (one of several an execution's branches or iterations
    /// wait on together), applies its outcome as soon as it returns, and advances the execution
    /// from there.
    fn spawn_invocation(&self, execution_arn: String, invocation: Invocation) {
        let key = (execution_arn.clone(), invocation.invocation_id);
        lock(&self.inner.in_flight).insert(key.clone());
        let in_flight = InFlightGuard { inner: self.inner.clone(), key };
        self.inner.jobs.send_modify(|n| *n += 1);
        let job = JobGuard(self.inner.clone());
        let this = self.clone();
        self.spawn(async move {
            let _job = job;
            let outcome = this.invoke(*invocation.request).await;
            let applied = {
                let execution_lock = this.lock_for(&execution_arn);
                let _guard = execution_lock.lock().await;
                let applied = this.apply_invocation(&execution_arn, invocation.invocation_id, outcome, None).await;
                drop(in_flight);
                applied
            };
            let advanced = match applied {
                Ok(known) => this.drive(&execution_arn, known).await,
                Err(error) => Err(error),
            };
            if let Err(error) = advanced {
                this.retry_later(execution_arn, error);
            }
        });
    }

    /// Advances one execution as far as it can go now. Between its steps the record stays in memory:
    /// each save is conditional on the version it read ([`ExecutionStore::save_execution`]), so a
    /// record someone else changed in the meantime (a callback, a stop, another process) is never
    /// overwritten: the save fails, and the step runs again on the record read back from the store.
    /// Reading the record back after every save was a read, a decompression and a parse per step.
    async fn drive(&self, execution_arn: &str, mut known: Option<ExecutionRecord>) -> Result<(), ExecutorError> {
        let execution_lock = self.lock_for(execution_arn);
        loop {
            let guard = execution_lock.lock().await;
            let Some((mut record, from_memory)) = self.record_to_step(execution_arn, &mut known).await? else {
                return Ok(());
            };
            if record.state_machine_arn != self.inner.machine_arn || record.status != ExecutionStatus::Running {
                self.forget_if_done(&record);
                return Ok(());
            }
            let before = record.clone();
            let in_flight = |id: u64| lock(&self.inner.in_flight).contains(&(execution_arn.to_owned(), id));
            let mut step = Step::new(&self.inner.definition, self.inner.machine.name(), &mut record, self.now());
            let action = step.advance_to_durable_point(&in_flight);
            let events = step.into_events();
            if !self.save_step(&before, &mut record, &events, from_memory).await? {
                continue;
            }
            match action {
                Action::Continue => known = Some(record),
                Action::Idle => return Ok(()),
                Action::Invoke(mut invocations) => {
                    // Tasks beyond the first (of branches or iterations) run beside it.
                    for other in invocations.split_off(1) {
                        self.spawn_invocation(execution_arn.to_owned(), other);
                    }
                    let Some(Invocation { request, invocation_id }) = invocations.pop() else { return Ok(()) };
                    let key = (execution_arn.to_owned(), invocation_id);
                    lock(&self.inner.in_flight).insert(key.clone());
                    let in_flight_guard = InFlightGuard { inner: self.inner.clone(), key };
                    drop(guard);
                    let outcome = self.invoke(*request).await;
                    let _guard = execution_lock.lock().await;
                    let applied = self.apply_invocation(execution_arn, invocation_id, outcome, Some(record)).await;
                    drop(in_flight_guard);
                    // If the result was stale (a callback, timeout or stop came first), the next
                    // step finds out what, if anything, is left to do.
                    known = applied?;
                }
            }
        }
    }

    /// Applies a task's outcome to `saved` (the record as this executor last saved it, if known),
    /// or, if the stored record has moved on since, to the stored one. Returns the record as it
    /// now is, when known without a read.
    async fn apply_invocation(
        &self,
        execution_arn: &str,
        invocation_id: u64,
        outcome: Result<TaskOutcome, TaskFailure>,
        saved: Option<ExecutionRecord>,
    ) -> Result<Option<ExecutionRecord>, ExecutorError> {
        let mut known = saved;
        loop {
            let Some((mut record, from_memory)) = self.record_to_step(execution_arn, &mut known).await? else {
                return Ok(None);
            };
            let before = record.clone();
            let mut step = Step::new(&self.inner.definition, self.inner.machine.name(), &mut record, self.now());
            if !step.apply_invocation(invocation_id, outcome.clone()) {
                return Ok(None);
            }
            let events = step.into_events();
            if self.save_step(&before, &mut record, &events, from_memory).await? {
                return Ok(Some(record));
            }
        }
    }

    /// The record a step begins from: `known` (as this executor last saved it), taken, or else the
    /// store's; and whether it came from memory.
    async fn record_to_step(
        &self,
        execution_arn: &str,
        known: &mut Option<ExecutionRecord>,
    ) -> Result<Option<(ExecutionRecord, bool)>, ExecutorError> {
        match known.take() {
            Some(record) => Ok(Some((record, true))),
            None => Ok(self.inner.store.load_execution(execution_arn).await?.map(|record| (record, false))),
        }
    }

    /// Saves a step. False when the step began from a record in memory that someone else has
    /// changed since: nothing was written, and the step is to run again on the stored record.
    async fn save_step(
        &self,
        before: &ExecutionRecord,
        record: &mut ExecutionRecord,
        events: &[HistoryEvent],
        from_memory: bool,
    ) -> Result<bool, ExecutorError> {
        match self.persist(before, record, events).await {
            Err(ExecutorError::Store(StoreError::VersionConflict { .. })) if from_memory => Ok(false),
            saved => saved.map(|()| true),
        }
    }

    /// Spawns on the driver's runtime once there is one, else on the caller's. The future is boxed:
    /// tokio allocates a task's cell cache-line aligned, which glibc serves through its slow
    /// aligned path, and an execution's drive is several kilobytes; a boxed future keeps that cell
    /// small (the drive's allocation was about a twelfth of a create request's CPU).
    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let future = Box::pin(future);
        match self.inner.runtime.get() {
            Some(runtime) => runtime.spawn(future),
            None => tokio::spawn(future),
        }
    }

    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        let invoker = self.inner.invoker.clone();
        let resource = request.resource.clone();
        // A separate task, so that a panicking invoker fails the task instead of the executor.
        match self.spawn(async move { invoker.invoke(request).await }).await {
            Ok(outcome) => outcome,
            Err(error) => Err(TaskFailure::new(
                error_names::TASK_FAILED,
                format!("the task invoker for {resource} did not complete: {error}"),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::InMemoryStore;

    /// Every task waits for its callback.
    struct Callbacks;

    #[async_trait::async_trait]
    impl TaskInvoker for Callbacks {
        async fn invoke(&self, _: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
            Ok(TaskOutcome::AwaitingCallback)
        }
    }

    #[tokio::test]
    async fn executions_waiting_for_their_callbacks_leave_no_lock_behind() {
        let definition = Definition::from_json(&json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}}, "End": true}}}))
        .unwrap();
        let machine = StateMachineArn::new("us-east-1", "123456789012", "locks").unwrap();
        let executor = Executor::new(definition, machine, Arc::new(Callbacks), Arc::new(InMemoryStore::new()));
        // When 50 executions start and each reaches its callback wait
        for n in 0..50 {
            executor.start_execution(&format!("e{n}"), json!({})).await.unwrap();
        }
        executor.run_until_idle().await.unwrap();
        let waiting = executor.list_executions(Some(ExecutionStatus::Running)).await.unwrap();
        assert_eq!(waiting.len(), 50);
        // Then the executor keeps no lock for any of them
        assert_eq!(lock(&executor.inner.locks).len(), 0);
    }

    /// An in-memory store whose timers cannot be read, counting the tries.
    #[derive(Default)]
    struct TimersUnreadable {
        inner: InMemoryStore,
        tries: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ExecutionStore for TimersUnreadable {
        async fn create_execution(
            &self,
            record: &ExecutionRecord,
            events: &[HistoryEvent],
        ) -> Result<CreateOutcome, crate::StoreError> {
            self.inner.create_execution(record, events).await
        }
        async fn load_execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, crate::StoreError> {
            self.inner.load_execution(arn).await
        }
        async fn save_execution(
            &self,
            record: &ExecutionRecord,
            expected_version: u64,
            events: &[HistoryEvent],
        ) -> Result<(), crate::StoreError> {
            self.inner.save_execution(record, expected_version, events).await
        }
        async fn load_history(&self, arn: &str) -> Result<Vec<HistoryEvent>, crate::StoreError> {
            self.inner.load_history(arn).await
        }
        async fn list_executions(
            &self,
            machine: &str,
            status: Option<ExecutionStatus>,
        ) -> Result<Vec<ExecutionRecord>, crate::StoreError> {
            self.inner.list_executions(machine, status).await
        }
        async fn find_by_task_token(&self, token: &str) -> Result<Option<String>, crate::StoreError> {
            self.inner.find_by_task_token(token).await
        }
        async fn wakeups_due_by(
            &self,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<Vec<(String, DateTime<Utc>)>, crate::StoreError> {
            self.tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(crate::StoreError::Backend("the disk is gone".into()))
        }
    }

    #[tokio::test]
    async fn a_driver_that_cannot_read_the_timers_tries_again_after_a_pause_not_in_a_loop() {
        let definition =
            Definition::from_json(&json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})).unwrap();
        let machine = StateMachineArn::new("us-east-1", "123456789012", "unreadable").unwrap();
        let store = Arc::new(TimersUnreadable::default());
        let executor = Executor::builder(definition, machine, Arc::new(Callbacks), store.clone())
            .options(ExecutorOptions { retry_after_error: Duration::from_millis(100), ..ExecutorOptions::default() })
            .build();
        // When the driver runs for half a second while every read of the timers fails
        let driver = executor.spawn_driver();
        tokio::time::sleep(Duration::from_millis(500)).await;
        driver.shutdown().await;
        // Then it tried about once per pause (100 ms), not thousands of times
        let tries = store.tries.load(std::sync::atomic::Ordering::Relaxed);
        assert!((1..=10).contains(&tries), "{tries} reads in 500 ms");
    }

    #[tokio::test]
    async fn timers_beyond_the_horizon_stay_in_the_store_until_they_come_near_and_still_fire_on_time() {
        let definition = Definition::from_json(&json!({"StartAt": "Later", "States": {
            "Later": {"Type": "Wait", "Seconds": 7200, "Next": "Soon"},
            "Soon": {"Type": "Wait", "Seconds": 60, "End": true}}}))
        .unwrap();
        let machine = StateMachineArn::new("us-east-1", "123456789012", "timers").unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let clock = Arc::new(crate::ManualClock::new(t0));
        let executor = Executor::builder(definition, machine, Arc::new(Callbacks), Arc::new(InMemoryStore::new()))
            .clock(clock.clone())
            .options(ExecutorOptions { wakeup_horizon: Duration::from_secs(600), ..ExecutorOptions::default() })
            .build();
        let timers = || lock(&executor.inner.wakeups).due.len();
        // Given 20 executions waiting two hours, with a 10-minute horizon
        for n in 0..20 {
            executor.start_execution(&format!("e{n}"), json!({})).await.unwrap();
        }
        executor.run_until_idle().await.unwrap();
        // Then memory holds none of their timers
        assert_eq!(timers(), 0);
        // When time comes within the horizon of them, then they are read from the store
        clock.advance(Duration::from_secs(7200 - 120));
        assert_eq!(executor.tick().await.unwrap(), 0, "nothing is due yet");
        assert_eq!(timers(), 20);
        // And when they are due, every one fires, and the next wait (within the horizon) is kept
        clock.advance(Duration::from_secs(120));
        executor.run_until_idle().await.unwrap();
        assert_eq!(timers(), 20);
        clock.advance(Duration::from_secs(60));
        executor.run_until_idle().await.unwrap();
        let succeeded = executor.list_executions(Some(ExecutionStatus::Succeeded)).await.unwrap();
        assert_eq!(succeeded.len(), 20);
        assert_eq!(timers(), 0);
    }
}
