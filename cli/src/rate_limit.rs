//! The per-client request rate limit of `orders serve`: a token bucket per client IP address
//! (`governor`), checked before anything else, so a flood is refused before it costs a key check or
//! a storage call. Over the limit: `429 {"message":"Too many requests"}` with `Retry-After`. On AWS,
//! API Gateway's stage and usage-plan throttling play this part.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Requests per second allowed to each client address, with a burst of twice that.
pub struct ClientRateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl ClientRateLimit {
    /// `per_second` requests a second per client address, bursts up to twice that.
    pub fn per_second(per_second: NonZeroU32) -> Arc<Self> {
        let quota =
            Quota::per_second(per_second).allow_burst(per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1)));
        Arc::new(ClientRateLimit { limiter: RateLimiter::keyed(quota), clock: DefaultClock::default() })
    }

    /// Forgets clients whose buckets are full again (run now and then: memory stays bounded by the
    /// clients of the last second or two).
    pub fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Forgets idle clients every `every`, for as long as the limit is in use.
    pub fn spawn_cleanup(self: &Arc<Self>, every: Duration) {
        let limit = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(limit) = limit.upgrade() else { return };
                limit.forget_idle_clients();
            }
        });
    }
}

/// Middleware: lets the request through, or answers 429 with the seconds to wait.
pub async fn limit(
    State(limit): State<Arc<ClientRateLimit>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match limit.limiter.check_key(&peer.ip()) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(limit.clock.now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::warn!(client = %peer.ip(), retry_after_s = seconds.max(1), "rate limit reached");
            let mut response =
                (StatusCode::TOO_MANY_REQUESTS, Json(serde_json::json!({"message": "Too many requests"})))
                    .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}
