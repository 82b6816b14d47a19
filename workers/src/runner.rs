//! The local runner: Lambda's event source mappings, played inside `orders serve`. Queue pollers
//! receive batches (up to 10), hand them to the handler as SQS events and delete what succeeded; the
//! stream poller reads the change feed in order, hands it over as DynamoDB stream events and moves
//! its position past what succeeded. Failed records come again: queue messages after their
//! visibility timeout (then the DLQ), change records at once, with growing pauses.

use std::sync::Arc;
use std::time::Duration;

use orders_core::ports::{ChangeFeed, MAX_BATCH, MessageQueue, QueueError, QueueName, ReceivedMessage};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::events::{EventSource, parse_sequence_number, sqs_event, stream_event};
use crate::stream::StreamHandler;
use orders_core::lambda::SqsHandler;

/// Pause when there is nothing to do.
const IDLE: Duration = Duration::from_millis(100);

/// Polls one queue and feeds its handler.
#[derive(Clone)]
#[allow(missing_docs)]
pub struct QueuePoller {
    pub queue: QueueName,
    /// The queue service.
    pub queues: Arc<dyn MessageQueue>,
    pub handler: Arc<dyn SqsHandler>,
    /// What events say about their source.
    pub source: EventSource,
}

impl QueuePoller {
    /// One receive-handle-delete round; returns how many messages were handed over.
    pub async fn poll_once(&self) -> Result<usize, QueueError> {
        let messages = self.queues.receive(self.queue, MAX_BATCH).await?;
        self.hand_over(messages).await
    }

    /// Hands received messages to the handler and deletes what succeeded.
    async fn hand_over(&self, messages: Vec<ReceivedMessage>) -> Result<usize, QueueError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let event = sqs_event(&self.source, self.queue.as_str(), &messages);
        let response = self.handler.handle(event).await;
        // Delete what succeeded in one batch, as Lambda does (one request to SQS, one write to the
        // embedded queues); a delete that fails leaves its messages to come back, which the
        // handlers are ready for.
        let done: Vec<String> = messages
            .iter()
            .filter(|message| !response.batch_item_failures.iter().any(|f| f.item_identifier == message.message_id))
            .map(|message| message.receipt_handle.clone())
            .collect();
        self.queues.delete_batch(self.queue, &done).await?;
        Ok(messages.len())
    }

    /// `concurrency` pollers of this queue, each polling until `shutdown` turns true: Lambda's
    /// event source mapping runs up to its maximum concurrency of batches at once in the same way.
    pub fn spawn_many(self, concurrency: usize, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..concurrency.max(1)).map(|_| self.clone().spawn(shutdown.clone())).collect()
    }

    /// Polls until `shutdown` turns true, pausing briefly after each empty receive.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.run(Duration::ZERO, shutdown))
    }

    /// Polls until `shutdown` turns true, each receive waiting up to `wait` (at most 20 s) for a
    /// message, as Lambda's event source mapping long-polls SQS: an idle queue then costs one
    /// request per `wait` instead of ten a second, and a message is handed over as soon as it comes.
    /// A waiting receive is given up at shutdown; the batch in hand is always finished.
    pub fn spawn_long_polling(self, wait: Duration, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.run(wait, shutdown))
    }

    async fn run(self, wait: Duration, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let received = if wait.is_zero() {
                // Not given up at shutdown: a short receive ends soon, and one dropped after it
                // took messages would hide them for the visibility timeout.
                self.queues.receive(self.queue, MAX_BATCH).await
            } else {
                tokio::select! {
                    received = self.queues.receive_waiting(self.queue, MAX_BATCH, wait) => received,
                    _ = shutdown.changed() => break,
                }
            };
            let handed_over = match received {
                Ok(messages) => self.hand_over(messages).await,
                Err(error) => Err(error),
            };
            let pause = match handed_over {
                // Also after an empty long poll: an endpoint that ignores the wait is not hammered.
                Ok(0) => IDLE,
                Ok(_) => Duration::ZERO,
                Err(error) => {
                    tracing::warn!(queue = %self.queue, %error, "polling failed");
                    Duration::from_secs(1)
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// Reads the change feed in order and feeds the stream handler.
#[derive(Clone)]
#[allow(missing_docs)]
pub struct StreamPoller {
    pub feed: Arc<dyn ChangeFeed>,
    pub handler: Arc<dyn StreamHandler>,
    /// The consumer name its position is kept under.
    pub consumer: String,
    /// The table name the records say they come from.
    pub table: String,
    /// What events say about their source.
    pub source: EventSource,
    /// Most records per round (a Lambda event source mapping's `BatchSize`).
    pub batch_size: usize,
}

/// The outcome of one stream round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRound {
    /// Nothing new.
    Idle,
    /// This many records were processed.
    Processed(usize),
    /// A record failed; the position stays before it.
    Failed,
}

impl StreamPoller {
    /// One read-handle-advance round.
    pub async fn poll_once(&self) -> Result<StreamRound, orders_core::ports::StoreError> {
        let position = self.feed.position(&self.consumer).await?;
        let changes = self.feed.changes_after(position, self.batch_size).await?;
        let Some(last) = changes.last().map(|c| c.sequence) else { return Ok(StreamRound::Idle) };
        let event = stream_event(&self.source, &self.table, &changes)
            .map_err(|e| orders_core::ports::StoreError::Internal(e.to_string()))?;
        let response = self.handler.handle(event).await;
        let first_failed = response
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.as_deref().and_then(parse_sequence_number))
            .min();
        match first_failed {
            None => {
                self.feed.save_position(&self.consumer, last).await?;
                Ok(StreamRound::Processed(changes.len()))
            }
            Some(failed) => {
                self.feed.save_position(&self.consumer, failed.saturating_sub(1).max(position)).await?;
                Ok(StreamRound::Failed)
            }
        }
    }

    /// Polls until `shutdown` turns true; after failures it pauses longer each time (up to 10 s).
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(drive_stream(self, IdleBackoff::fixed(IDLE), Arc::new(Notify::new()), shutdown))
    }
}

/// A stream reader the runner drives round by round.
#[async_trait::async_trait]
pub trait StreamRounds: Send {
    /// Reads and hands over what is new.
    async fn round(&mut self) -> Result<StreamRound, orders_core::ports::StoreError>;
}

#[async_trait::async_trait]
impl StreamRounds for StreamPoller {
    async fn round(&mut self) -> Result<StreamRound, orders_core::ports::StoreError> {
        self.poll_once().await
    }
}

/// The pauses between stream rounds that find nothing: `first`, doubling with each further empty
/// round up to `longest`, and back to `first` as soon as a round hands records over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleBackoff {
    /// The pause after the first empty round.
    pub first: Duration,
    /// The longest pause.
    pub longest: Duration,
}

impl IdleBackoff {
    /// The same pause after every empty round.
    pub const fn fixed(pause: Duration) -> Self {
        IdleBackoff { first: pause, longest: pause }
    }

    /// The pause after `idle_rounds` empty rounds in a row (1 or more).
    pub fn pause(&self, idle_rounds: u32) -> Duration {
        let doublings = idle_rounds.saturating_sub(1).min(16);
        self.first.saturating_mul(1 << doublings).min(self.longest).max(self.first)
    }
}

/// Runs stream rounds until `shutdown` turns true: at once after a productive round, after the
/// `idle` back-off while rounds find nothing, and after growing pauses (up to 10 s) while rounds
/// keep failing. A notification on `wake` (something was just written) ends an idle pause and
/// restarts the idle back-off from its first step.
pub async fn drive_stream(
    mut source: impl StreamRounds,
    idle: IdleBackoff,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pacing = Pacing::default();
    while !*shutdown.borrow() {
        let round = source.round().await;
        if let Err(error) = &round {
            tracing::warn!(%error, "reading the stream failed");
        }
        match pacing.after(&round, &idle) {
            Next::AtOnce => {}
            Next::Idle(pause) => tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = wake.notified() => pacing.woken(),
                _ = shutdown.changed() => {}
            },
            // Not ended by a wake-up: retrying a failing record is paced by its failures alone.
            Next::Retry(pause) => tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            },
        }
    }
}

/// When the next stream round comes.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    AtOnce,
    /// After this pause, or at once when woken.
    Idle(Duration),
    /// After this pause.
    Retry(Duration),
}

/// Counts the rounds that found nothing and the rounds that failed, in a row.
#[derive(Debug, Default)]
struct Pacing {
    failures: u32,
    idle_rounds: u32,
}

impl Pacing {
    fn after(&mut self, round: &Result<StreamRound, orders_core::ports::StoreError>, idle: &IdleBackoff) -> Next {
        match round {
            Ok(StreamRound::Processed(_)) => {
                *self = Pacing::default();
                Next::AtOnce
            }
            Ok(StreamRound::Idle) => {
                self.idle_rounds = self.idle_rounds.saturating_add(1);
                Next::Idle(idle.pause(self.idle_rounds))
            }
            Ok(StreamRound::Failed) | Err(_) => {
                self.idle_rounds = 0;
                self.failures = self.failures.saturating_add(1);
                Next::Retry(backoff(self.failures))
            }
        }
    }

    /// Something was written: the idle back-off starts again from its first step.
    fn woken(&mut self) {
        self.idle_rounds = 0;
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(7))).min(Duration::from_secs(10))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
    use orders_core::ports::{OutgoingMessage, StoreError};

    use super::*;

    const AWS_IDLE: IdleBackoff =
        IdleBackoff { first: Duration::from_millis(200), longest: Duration::from_millis(1600) };

    #[test]
    fn idle_pauses_double_from_the_first_to_the_longest() {
        // Given a back-off from 200 ms to 1.6 s
        // When rounds stay idle
        let pauses: Vec<u128> = (1..=6).map(|round| AWS_IDLE.pause(round).as_millis()).collect();
        // Then each pause doubles the one before, until the longest
        assert_eq!(pauses, [200, 400, 800, 1600, 1600, 1600]);
        assert_eq!(IdleBackoff::fixed(IDLE).pause(9), IDLE);
    }

    fn paces(pacing: &mut Pacing, rounds: impl IntoIterator<Item = StreamRound>) -> Vec<Next> {
        rounds.into_iter().map(|round| pacing.after(&Ok(round), &AWS_IDLE)).collect()
    }

    fn idle(millis: u64) -> Next {
        Next::Idle(Duration::from_millis(millis))
    }

    #[test]
    fn an_idle_stream_is_read_less_often_until_records_come() {
        // Given the runner's pacing of a stream idle for five rounds, then with records, then idle
        let mut pacing = Pacing::default();
        let rounds = std::iter::repeat_n(StreamRound::Idle, 5).chain([
            StreamRound::Processed(3),
            StreamRound::Idle,
            StreamRound::Idle,
        ]);
        // When the rounds come
        let next = paces(&mut pacing, rounds);
        // Then the idle pauses grow to the longest, the round after records comes at once, and the
        // back-off starts again from its first step
        assert_eq!(next, [idle(200), idle(400), idle(800), idle(1600), idle(1600), Next::AtOnce, idle(200), idle(400)]);
    }

    #[test]
    fn a_wake_up_restarts_the_idle_back_off_and_failures_are_paced_apart() {
        // Given a stream idle for three rounds
        let mut pacing = Pacing::default();
        paces(&mut pacing, std::iter::repeat_n(StreamRound::Idle, 3));
        // When something is written, then the back-off starts again from its first step
        pacing.woken();
        assert_eq!(paces(&mut pacing, [StreamRound::Idle]), [idle(200)]);
        // And when rounds fail, their retries wait longer each time, and the idle back-off after
        // them starts from its first step
        let next = paces(&mut pacing, [StreamRound::Failed, StreamRound::Failed, StreamRound::Idle]);
        assert_eq!(next, [Next::Retry(backoff(1)), Next::Retry(backoff(2)), idle(200)]);
        assert!(backoff(2) > backoff(1));
    }

    /// A stream that stays idle, counting its rounds.
    struct IdleStream(Arc<Mutex<usize>>);

    #[async_trait::async_trait]
    impl StreamRounds for IdleStream {
        async fn round(&mut self) -> Result<StreamRound, StoreError> {
            *self.0.lock().unwrap() += 1;
            Ok(StreamRound::Idle)
        }
    }

    #[tokio::test]
    async fn a_wake_up_ends_an_idle_pause_and_shutdown_ends_the_runner() {
        // Given the runner driving an idle stream with an hour's pause between rounds
        let rounds = Arc::new(Mutex::new(0));
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let hour = IdleBackoff::fixed(Duration::from_secs(3600));
        let running = tokio::spawn(drive_stream(IdleStream(rounds.clone()), hour, wake.clone(), stopped));
        let rounds_are = |want: usize| {
            let seen = *rounds.lock().unwrap();
            if seen == want { Ok(()) } else { Err(format!("{seen} rounds")) }
        };
        orders_testkit::eventually("the first round", async || rounds_are(1)).await;
        // When something is written, then the next round comes without waiting out the pause
        wake.notify_one();
        orders_testkit::eventually("the round after the wake-up", async || rounds_are(2)).await;
        // And when shut down during the pause, the runner ends
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(60), running).await.unwrap().unwrap();
    }

    /// A queue whose waiting receives hand over `ready` once, then wait for ever.
    #[derive(Default)]
    struct WaitingQueue {
        ready: Mutex<Option<Vec<ReceivedMessage>>>,
        waits: Mutex<Vec<Duration>>,
        deleted: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl MessageQueue for WaitingQueue {
        async fn send(&self, _: QueueName, _: OutgoingMessage) -> Result<String, QueueError> {
            Err(QueueError::Internal("not sent to in this test".into()))
        }
        async fn receive(&self, _: QueueName, _: usize) -> Result<Vec<ReceivedMessage>, QueueError> {
            Err(QueueError::Internal("a long-polling runner waits for messages".into()))
        }
        async fn receive_waiting(
            &self,
            _: QueueName,
            _: usize,
            wait: Duration,
        ) -> Result<Vec<ReceivedMessage>, QueueError> {
            self.waits.lock().unwrap().push(wait);
            let ready = self.ready.lock().unwrap().take();
            match ready {
                Some(messages) => Ok(messages),
                None => std::future::pending().await,
            }
        }
        async fn delete(&self, _: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
            self.deleted.lock().unwrap().push(receipt_handle.to_owned());
            Ok(())
        }
        async fn depth(&self, _: QueueName) -> Result<u64, QueueError> {
            Ok(0)
        }
        async fn in_flight(&self, _: QueueName) -> Result<u64, QueueError> {
            Ok(0)
        }
        async fn retry_after(&self, _: QueueName, _: &str, _: Duration) -> Result<(), QueueError> {
            Ok(())
        }
        async fn release(&self, _: QueueName, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
    }

    /// Succeeds with every batch, counting the messages.
    #[derive(Default)]
    struct Counting(Mutex<usize>);

    #[async_trait::async_trait]
    impl SqsHandler for Counting {
        async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
            *self.0.lock().unwrap() += event.records.len();
            SqsBatchResponse::default()
        }
    }

    #[tokio::test]
    async fn a_long_polling_poller_hands_messages_over_and_stops_at_once_while_it_waits() {
        // Given a long-polling poller of a queue holding one message
        let message = ReceivedMessage {
            message_id: "m-1".into(),
            receipt_handle: "r-1".into(),
            body: "{}".into(),
            attributes: Default::default(),
            receive_count: 1,
            sent_at: chrono::Utc::now(),
        };
        let queue = Arc::new(WaitingQueue { ready: Mutex::new(Some(vec![message])), ..WaitingQueue::default() });
        let handler = Arc::new(Counting::default());
        let poller = QueuePoller {
            queue: QueueName::Backup,
            queues: queue.clone(),
            handler: handler.clone(),
            source: EventSource { region: "us-east-1".into(), account_id: "123456789012".into() },
        };
        let (stop, stopped) = watch::channel(false);
        let running = poller.spawn_long_polling(Duration::from_secs(20), stopped);
        // When the message is handed over and the poller waits for the next one
        orders_testkit::eventually("the poller waiting again", async || {
            let waits = queue.waits.lock().unwrap().len();
            if waits == 2 { Ok(()) } else { Err(format!("{waits} receives")) }
        })
        .await;
        // Then the message was handled and deleted, every receive waited 20 s for messages
        assert_eq!(*handler.0.lock().unwrap(), 1);
        assert_eq!(*queue.deleted.lock().unwrap(), ["r-1"]);
        assert!(queue.waits.lock().unwrap().iter().all(|wait| *wait == Duration::from_secs(20)));
        // And when shut down, it stops without waiting for the receive in progress to end
        // (a poller stuck in its receive fails here instead of hanging)
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(60), running).await.unwrap().unwrap();
    }
}
