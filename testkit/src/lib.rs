//! Test-only: owns the one way the workspace's tests wait for something asynchronous (a backup
//! written, a workflow step taken, a message dead-lettered, a server up): check, and if it is not
//! there yet, sleep a little and check again, until a deadline; then give up with a panic that names
//! what was awaited and what the last check saw.
//!
//! ```no_run
//! # async fn example(depth: impl AsyncFn() -> u64) {
//! use orders_testkit::eventually;
//!
//! // A bool: done when it holds.
//! eventually("the DLQ fills", async || depth().await == 2).await;
//! // An Option: done with the value inside.
//! let full = eventually("a full DLQ", async || Some(depth().await).filter(|n| *n == 2)).await;
//! // A Result: done with Ok's value; an Err says why not (shown when the wait gives up).
//! eventually("the DLQ fills", async || match depth().await {
//!     2 => Ok(()),
//!     n => Err(format!("{n} messages")),
//! })
//! .await;
//! # }
//! ```
//!
//! Checks are async closures (`async || …`; a closure returning a future, `|| async { … }`, works
//! too), so a check may borrow what the test holds, mutably too. A check that panics fails the test
//! at once (a check can refuse an impossible state instead of waiting it out). A check that never
//! returns is not cut off: each check is expected to be quick.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

/// How long a test waits for something asynchronous before calling it lost. Generous: CI runs the
/// tests two at a time on 2 cores, beside heavy tests (the 10,000-order crash test); a passing run
/// stops waiting as soon as the thing is there.
pub const EVENTUALLY: Duration = Duration::from_secs(60);

/// The pause between two checks of [`eventually`] and [`eventually_within`].
pub const BETWEEN_CHECKS: Duration = Duration::from_millis(50);

/// What one check says: done, with a value, or not yet (optionally why: shown when the wait gives
/// up).
pub trait Check {
    /// What the wait returns once the check passes.
    type Value;

    /// `Ok(value)` when done; `Err(reason)` when not yet.
    fn into_outcome(self) -> Result<Self::Value, Option<String>>;
}

/// Done when `true`.
impl Check for bool {
    type Value = ();

    fn into_outcome(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

/// Done with the value when `Some`.
impl<T> Check for Option<T> {
    type Value = T;

    fn into_outcome(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

/// Done with the value when `Ok`; an `Err` is why not yet.
impl<T, E: Display> Check for Result<T, E> {
    type Value = T;

    fn into_outcome(self) -> Result<T, Option<String>> {
        self.map_err(|reason| Some(reason.to_string()))
    }
}

/// Runs `check` until it passes and returns its value: for [`EVENTUALLY`] at most, every
/// [`BETWEEN_CHECKS`].
///
/// # Panics
///
/// `gave up waiting after {timeout:?}: {what}; last: {reason}` when the check has not passed by
/// the deadline (without the `; last: …` when the last check gave no reason).
pub async fn eventually<C: Check>(what: impl Display, check: impl AsyncFnMut() -> C) -> C::Value {
    eventually_every(EVENTUALLY, BETWEEN_CHECKS, what, check).await
}

/// As [`eventually`], with a budget of its own: a wait whose bound is part of what the test
/// means (a start-up timeout), or one that is longer than [`EVENTUALLY`] on purpose.
///
/// # Panics
///
/// As [`eventually`], after `timeout`.
pub async fn eventually_within<C: Check>(
    timeout: Duration,
    what: impl Display,
    check: impl AsyncFnMut() -> C,
) -> C::Value {
    eventually_every(timeout, BETWEEN_CHECKS, what, check).await
}

/// The wait every other one goes through: checks, and until the check passes, sleeps `interval`
/// and checks again. Only for a check whose cadence matters: one that is costly in itself (a
/// command reading 10,000 backups), or one whose rounds are measured.
///
/// The last check always runs at or after the deadline (the last sleep is cut short to end
/// there), so something that is there by the deadline is found.
///
/// # Panics
///
/// As [`eventually`], after `timeout`.
pub async fn eventually_every<C: Check>(
    timeout: Duration,
    interval: Duration,
    what: impl Display,
    mut check: impl AsyncFnMut() -> C,
) -> C::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let reason = match check().await.into_outcome() {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        let now = Instant::now();
        if now >= deadline {
            match reason {
                Some(reason) => panic!("gave up waiting after {timeout:?}: {what}; last: {reason}"),
                None => panic!("gave up waiting after {timeout:?}: {what}"),
            }
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// The panic message of `wait`, run to its end.
    async fn panic_of<T: std::fmt::Debug + Send + 'static>(wait: impl Future<Output = T> + Send + 'static) -> String {
        let error = tokio::spawn(wait).await.expect_err("the wait gives up");
        let payload = error.into_panic();
        match payload.downcast::<String>() {
            Ok(message) => *message,
            Err(payload) => (*payload.downcast::<&str>().unwrap()).to_owned(),
        }
    }

    #[tokio::test]
    async fn a_check_that_passes_at_once_is_checked_once() {
        let mut calls = 0;
        let value = eventually("the answer", async || {
            calls += 1;
            Some(42)
        })
        .await;
        assert_eq!((value, calls), (42, 1));
    }

    #[tokio::test]
    async fn the_value_comes_back_as_soon_as_the_check_passes() {
        // Given a check that passes at its third call
        let mut calls = 0;
        let started = Instant::now();
        // When it is awaited
        let value = eventually("the third call", async || {
            calls += 1;
            if calls == 3 { Ok(calls * 10) } else { Err(format!("call {calls}")) }
        })
        .await;
        // Then its value comes back after two pauses, with no further call
        assert_eq!((value, calls), (30, 3));
        assert!(started.elapsed() >= 2 * BETWEEN_CHECKS, "{:?}", started.elapsed());
        assert!(started.elapsed() < EVENTUALLY / 2, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_bool_is_done_when_it_holds() {
        let mut calls = 0;
        eventually("the flag", async || {
            calls += 1;
            calls == 2
        })
        .await;
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    #[should_panic(expected = "gave up waiting after 200ms: the answer to be 42; last: still 41")]
    async fn a_check_that_never_passes_gives_up_naming_what_and_the_last_reason() {
        eventually_within(Duration::from_millis(200), "the answer to be 42", async || Err::<(), _>("still 41")).await;
    }

    #[tokio::test]
    async fn a_check_without_a_reason_gives_up_naming_what_only() {
        let message =
            panic_of(eventually_within(Duration::from_millis(200), format!("the {}", "flag"), async || false)).await;
        assert_eq!(message, "gave up waiting after 200ms: the flag");
        let message = panic_of(eventually_within(Duration::from_millis(100), "a value", async || None::<u8>)).await;
        assert_eq!(message, "gave up waiting after 100ms: a value");
    }

    #[tokio::test]
    async fn the_last_reason_is_the_one_shown() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let message = panic_of(eventually_within(Duration::from_millis(200), "a count", async move || {
            Err::<(), _>(format!("count {}", counted.fetch_add(1, Ordering::SeqCst) + 1))
        }))
        .await;
        assert_eq!(
            message,
            format!("gave up waiting after 200ms: a count; last: count {}", calls.load(Ordering::SeqCst))
        );
        assert!(calls.load(Ordering::SeqCst) >= 2, "checked again before giving up");
    }

    #[tokio::test]
    async fn the_last_check_runs_at_the_deadline_even_when_the_interval_is_longer() {
        // Given a 200 ms budget and checks 10 s apart
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let started = Instant::now();
        // When the check never passes
        let message =
            panic_of(eventually_every(Duration::from_millis(200), Duration::from_secs(10), "it", async move || {
                counted.fetch_add(1, Ordering::SeqCst);
                false
            }))
            .await;
        // Then it is checked at once and once more at the deadline, and the wait gives up there
        assert_eq!(message, "gave up waiting after 200ms: it");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_check_that_panics_fails_the_wait_at_once() {
        let started = Instant::now();
        let message =
            panic_of(eventually("no surprise", async || -> bool { panic!("more orders than expected") })).await;
        assert_eq!(message, "more orders than expected");
        assert!(started.elapsed() < EVENTUALLY / 2);
    }

    #[test]
    fn each_kind_of_check_says_done_or_not_yet() {
        assert_eq!(true.into_outcome(), Ok(()));
        assert_eq!(false.into_outcome(), Err(None));
        assert_eq!(Some(7).into_outcome(), Ok(7));
        assert_eq!(None::<u8>.into_outcome(), Err(None));
        assert_eq!(Ok::<_, String>(7).into_outcome(), Ok(7));
        assert_eq!(Err::<u8, _>(3.5).into_outcome(), Err(Some("3.5".to_owned())));
    }
}
