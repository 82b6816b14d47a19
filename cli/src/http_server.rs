//! The HTTP server of `orders serve`: its own accept loop around hyper's HTTP/1 connections, with
//! the limits a server open to slow or hostile clients needs (`axum::serve` has none of them, so
//! 1,100 connections that each sent half a request held every file descriptor forever):
//!
//! - **Header-read timeout**: a request head (request line and headers) must arrive within it,
//!   counted from the connection's start, or from the first byte of the next request on a
//!   keep-alive connection. Else the connection is closed without an answer.
//! - **Body-read timeout**: the whole request body must arrive within it, counted from the end of
//!   the head; reading a body past it is answered `408` (JSON) and the connection is closed.
//! - **Idle timeout**: a connection waiting for its next request, or whose response the client does
//!   not read, is closed once no byte has moved for this long.
//! - **Connection cap**: at most `max_connections` connections are served at once. One more is
//!   answered `503 {"message":"Server is busy"}` with `Retry-After: 1` and closed, and a
//!   `shedding load` warning (at most one a second) says how many are open.
//! - **Accept errors** (out of file descriptors: `EMFILE`) are logged and retried with a backoff
//!   instead of spinning.
//! - **JSON errors only**: hyper answers unparsable requests itself (`400`, `414` URI too long, `431`
//!   headers too large) with an empty body and offers no hook; [`ServerIo`] replaces those answers,
//!   byte for byte where hyper writes them, by the seed's JSON body with the same status.
//!
//! Graceful shutdown: when `shutdown` resolves the listener closes, every connection is asked to
//! finish its request in flight and close, and [`serve`] returns once all have. Each request carries
//! `ConnectInfo<SocketAddr>` as with `axum::serve`.
//!
//! hyper's own `header_read_timeout` is not used: its timer starts as soon as a keep-alive
//! connection goes idle, so it cannot tell "slow head" (seconds) from "idle between requests"
//! (a minute); [`Activity`] times both.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use orders_core::adapters::embedded::end_expired_read_leases;
use orders_ingest::http::{BodyReadTimeout, REQUEST_ID_HEADER, new_request_id};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: u32,
    /// Time for a request head to arrive.
    pub header_read_timeout: Duration,
    /// Time for a request body to arrive, from the end of its head.
    pub body_read_timeout: Duration,
    /// Time without a byte moving on a connection with no request in progress.
    pub idle_timeout: Duration,
}

/// Connections over the cap being answered 503 at once; beyond that they are closed unanswered.
/// Each is held up to [`BUSY_ANSWER_TIME`] so that its client can read the answer (a slow client
/// must not hold a slot long: then real clients over the cap would get no answer at all).
const MAX_BUSY_ANSWERS: usize = 128;
const BUSY_ANSWER_TIME: Duration = Duration::from_millis(500);
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(20);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
const WARNING_INTERVAL: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then finishes the requests
/// in flight and returns.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let connections = Arc::new(Semaphore::new(limits.max_connections as usize));
    let busy_answers = Arc::new(Semaphore::new(MAX_BUSY_ANSWERS));
    let (stop, stopping) = watch::channel(false);
    let mut shedding_warning = Throttled::default();
    let mut accept_warning = Throttled::default();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF_MIN;
                accepted
            }
            // The client gave up before it was accepted: nothing wrong with the server.
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                if let Some(suppressed) = accept_warning.ready() {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, suppressed, "cannot accept connections; backing off");
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(ending_expired_read_leases(serve_connection(
                    stream,
                    peer,
                    app.clone(),
                    limits,
                    stopping.clone(),
                    permit,
                )));
            }
            Err(_) => {
                let open = limits.max_connections as usize - connections.available_permits();
                if let Some(suppressed) = shedding_warning.ready() {
                    tracing::warn!(
                        open_connections = open,
                        max_connections = limits.max_connections,
                        refused_since_last_warning = suppressed,
                        "shedding load: connection limit reached, answering 503 Server is busy"
                    );
                }
                if let Ok(permit) = busy_answers.clone().try_acquire_owned() {
                    tokio::spawn(answer_busy(stream, permit));
                }
            }
        }
    }
    drop(listener);
    tracing::info!(
        open_connections = limits.max_connections as usize - connections.available_permits(),
        "stopped accepting connections; finishing requests in flight"
    );
    let _ = stop.send(true);
    // Every connection holds one permit until it is closed.
    let _all_closed = connections.acquire_many(limits.max_connections).await;
}

/// `task`, ending the worker's read leases that are past their time after each of its polls: a
/// worker busy with requests that do not read would otherwise neither read again nor park, the
/// two other moments a lease ends (docs/ARCHITECTURE.md, "Read leases").
async fn ending_expired_read_leases<F: Future>(task: F) -> F::Output {
    let mut task = std::pin::pin!(task);
    std::future::poll_fn(|cx| {
        let polled = task.as_mut().poll(cx);
        end_expired_read_leases();
        polled
    })
    .await
}

/// Errors of `accept` that concern one connection only (its client gave up), not the server.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Lets a warning through at most once per [`WARNING_INTERVAL`], counting the ones held back.
#[derive(Default)]
struct Throttled {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    /// `Some(held back since the last one)` when a warning may be logged now.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < WARNING_INTERVAL) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Answers a connection over the cap `503 Server is busy` and closes it.
async fn answer_busy(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let (response, _) = json_error("503 Service Unavailable", "Server is busy", "retry-after: 1\r\n");
    let _ = tokio::time::timeout(BUSY_ANSWER_TIME, async {
        stream.write_all(&response).await?;
        stream.shutdown().await?;
        // Drain what the client sends until it closes: closing a socket with unread data resets the
        // connection, and the client could lose the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// A whole HTTP/1.1 response with the seed's JSON error body and a fresh request id (also returned);
/// `extra_headers` are complete header lines.
fn json_error(status_line: &str, message: &str, extra_headers: &str) -> (Vec<u8>, HeaderValue) {
    let body = serde_json::json!({ "message": message }).to_string();
    let request_id = new_request_id();
    let response = format!(
        "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\
         {REQUEST_ID_HEADER}: {}\r\n{extra_headers}\r\n{body}",
        body.len(),
        request_id.to_str().unwrap_or_default(),
    );
    (response.into_bytes(), request_id)
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(ServerIo { stream, peer, activity: activity.clone(), replacement: None });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            activity.request_started();
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            let body = Body::new(DeadlineBody::new(body, limits.body_read_timeout));
            let (app, activity) = (app.clone(), activity.clone());
            async move {
                let response = app.oneshot(Request::from_parts(parts, body)).await;
                activity.response_ready();
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Timed by `Activity` instead (see the module doc).
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut asked_to_stop = false;
    let mut timer = Box::pin(tokio::time::sleep(limits.idle_timeout));
    loop {
        tokio::select! {
            // In this order: every change of the connection's phase happens while the connection is
            // polled, so the timeouts, polled right after it, see each change without a wake-up.
            biased;
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = stopping.changed(), if !asked_to_stop => {
                asked_to_stop = true;
                connection.as_mut().graceful_shutdown();
            }
            reason = std::future::poll_fn(|cx| activity.poll_expired(&limits, timer.as_mut(), cx)) => {
                tracing::debug!(%peer, reason, "closing the connection");
                return;
            }
        }
    }
}

/// Where a connection is in its request cycle, for the header-read and idle timeouts.
struct Activity {
    state: Mutex<ActivityState>,
}

struct ActivityState {
    phase: Phase,
    last_io: Instant,
}

#[derive(Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head since then.
    Head(Instant),
    /// A request is being handled (its body is bounded by [`DeadlineBody`]).
    Request,
    /// The last response is ready since then; waiting for the next request.
    Idle(Instant),
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Activity { state: Mutex::new(ActivityState { phase: Phase::Head(now), last_io: now }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_phase(&self, phase: Phase) {
        self.state().phase = phase;
    }

    fn read(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let now = Instant::now();
        let mut state = self.state();
        state.last_io = now;
        if let Phase::Idle(_) = state.phase {
            // The first byte of the next request: its head is now on the clock.
            state.phase = Phase::Head(now);
        }
    }

    fn wrote(&self, bytes: usize) {
        if bytes > 0 {
            self.state().last_io = Instant::now();
        }
    }

    fn request_started(&self) {
        self.set_phase(Phase::Request);
    }

    fn response_ready(&self) {
        self.set_phase(Phase::Idle(Instant::now()));
    }

    /// Ready, naming the timeout, once the connection has overrun one. `timer` is armed no later
    /// than the current deadline; a deadline that moves later (every request moves it) leaves it
    /// armed, and when it fires early it is armed again: a timer entry is set once per deadline
    /// that comes nearer, not at every request. During a request, which has no deadline, the timer
    /// looks again after an idle timeout: the idle deadline after it is never earlier.
    fn poll_expired(
        &self,
        limits: &Limits,
        mut timer: Pin<&mut tokio::time::Sleep>,
        cx: &mut Context<'_>,
    ) -> Poll<&'static str> {
        loop {
            let now = Instant::now();
            let at = {
                let state = self.state();
                match state.phase {
                    Phase::Head(since) => Some((since + limits.header_read_timeout, "header read timeout")),
                    Phase::Idle(since) => Some((since.max(state.last_io) + limits.idle_timeout, "idle timeout")),
                    Phase::Request => None,
                }
            };
            let next_look = match at {
                Some((at, reason)) if at <= now => return Poll::Ready(reason),
                Some((at, _)) => at,
                None => now + limits.idle_timeout,
            };
            if next_look < timer.deadline() || timer.is_elapsed() {
                timer.as_mut().reset(next_look);
            }
            ready!(timer.as_mut().poll(cx));
        }
    }
}

/// A request body that fails with [`BodyReadTimeout`] once its deadline has passed (the API answers
/// that 408).
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        DeadlineBody { inner, deadline: Instant::now() + timeout, timer: None }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if Instant::now() >= this.deadline {
            return Poll::Ready(Some(Err(Box::new(BodyReadTimeout))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyReadTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A served TCP stream: tells [`Activity`] when bytes move, and turns hyper's automatic error
/// answers (empty bodies) into JSON ones.
///
/// It reports `is_write_vectored() == false`, so hyper flattens every write: a response head is
/// then always at the start of the buffer hyper passes. hyper's own answer to a request it cannot
/// parse is a head alone, with only `content-length: 0` and possibly `date` and `connection` (every
/// response of the API also carries `x-request-id`, and a JSON body). When such a head with status
/// 400, 414 or 431 is written, a complete JSON response with the same status is written instead
/// (what the socket does not take at once goes out before anything else, flush and shutdown
/// included) and hyper is told its bytes were written.
struct ServerIo {
    stream: TcpStream,
    peer: SocketAddr,
    activity: Arc<Activity>,
    /// A replacement response and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl ServerIo {
    fn poll_write_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let Some((bytes, written)) = self.replacement.as_mut() else { return Poll::Ready(Ok(())) };
            if *written >= bytes.len() {
                self.replacement = None;
                continue;
            }
            let now = ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]))?;
            if now == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += now;
            self.activity.wrote(now);
        }
    }
}

impl AsyncRead for ServerIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut self.stream).poll_read(cx, buf));
        if result.is_ok() {
            self.activity.read(buf.filled().len() - before);
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_write_replacement(cx))?;
        if let Some((status, message)) = automatic_error(buf) {
            let (response, request_id) = json_error(status, message, "");
            tracing::info!(
                peer = %this.peer,
                status = status.get(..3).unwrap_or_default(),
                request_id = request_id.to_str().unwrap_or_default(),
                "refused a request that is not valid HTTP"
            );
            this.replacement = Some((response, 0));
            // Start now; what is left goes out before any later write, flush or shutdown.
            if let Poll::Ready(Err(error)) = this.poll_write_replacement(cx) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        let written = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        this.activity.wrote(written);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_replacement(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_replacement(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// If `written` is exactly one of hyper's automatic answers to an unparsable request, its status
/// line (without `HTTP/1.x `) and the message of the JSON answer that replaces it.
fn automatic_error(written: &[u8]) -> Option<(&str, &'static str)> {
    let head = std::str::from_utf8(written).ok()?.strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.")?.get(2..)?;
    let message = match status.get(..4)? {
        "400 " => "Request is not valid HTTP",
        "414 " => "URI too long",
        "431 " => "Request headers too large",
        _ => return None,
    };
    let mut empty = false;
    for line in lines {
        let line = line.to_ascii_lowercase();
        if line == "content-length: 0" {
            empty = true;
        } else if !(line.starts_with("date: ") || line.starts_with("connection: ")) {
            return None;
        }
    }
    empty.then_some((status, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_parse_error_answers_are_replaced() {
        let date = "date: Tue, 02 Dec 2025 17:00:00 GMT";
        let replaced =
            |head: String| automatic_error(head.as_bytes()).map(|(status, message)| (status.to_owned(), message));
        assert_eq!(
            replaced(format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n{date}\r\n\r\n")),
            Some(("400 Bad Request".into(), "Request is not valid HTTP"))
        );
        assert_eq!(
            replaced(format!("HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\n\r\n")),
            Some(("414 URI Too Long".into(), "URI too long"))
        );
        assert_eq!(
            replaced("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n".into()),
            Some(("431 Request Header Fields Too Large".into(), "Request headers too large"))
        );
        for kept in [
            // The API's own errors: JSON, with a request id.
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 13\r\n{date}\r\n\r\n"
            ),
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: abc\r\n{date}\r\n\r\n"),
            // Another status, a head followed by a body, a head without content-length.
            format!("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n{date}\r\n\r\n"),
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n{date}\r\n\r\n{{}}"),
            format!("HTTP/1.1 400 Bad Request\r\n{date}\r\n\r\n"),
            "{\"message\":\"HTTP/1.1 400 \"}".into(),
        ] {
            assert_eq!(replaced(kept.clone()), None, "{kept}");
        }
    }

    #[test]
    fn warnings_are_throttled_and_count_what_they_held_back() {
        let mut warning = Throttled::default();
        assert_eq!(warning.ready(), Some(0));
        assert_eq!(warning.ready(), None);
        assert_eq!(warning.ready(), None);
        warning.last = warning.last.map(|last| last - WARNING_INTERVAL);
        assert_eq!(warning.ready(), Some(2));
    }
}
