//! Counting the AWS requests the SDK clients send, by service and operation, for the AWS cost
//! benchmark (`docs/benchmarks/aws-cost.md`) and the tests that guard its figures.
//!
//! [`AwsClients::counted`](super::AwsClients::counted) returns copies of the clients with a
//! [`RequestCounter`] installed as an SDK interceptor. Nothing else installs one: the clients
//! that Lambda functions and `orders serve` build count nothing.
//!
//! The counter counts HTTP attempts, in `read_before_transmit`, so a retried call counts once for
//! each attempt, as AWS bills it. The operation name comes from the request itself, because the SDK
//! crates do not re-export the operation metadata they keep in the config bag:
//! - the JSON protocols (DynamoDB, DynamoDB Streams, SQS, Step Functions) name the operation in
//!   the `X-Amz-Target` header (`DynamoDB_20120810.GetItem`);
//! - S3's REST protocol names its object operations in the `x-id` query parameter
//!   (`?x-id=PutObject`). ListObjectsV2 has `list-type=2`. The few S3 operations with neither, such
//!   as bucket-level calls, are counted by HTTP method (`HEAD (REST)`).
//!
//! [`item_size`] gives the size DynamoDB bills an item by, to turn writes into write request units.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;

/// Requests counted by service and operation, shared by every client it is installed in (clones
/// share the counts).
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl RequestCounter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counts so far: (service, operation) → requests.
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// All requests counted so far.
    pub fn total(&self) -> u64 {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).values().sum()
    }

    /// Forgets the counts.
    pub fn reset(&self) {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    fn record(&self, service: &str, operation: String) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((service.to_owned(), operation)).or_default() += 1;
    }

    /// The interceptor counting one client's requests under `service`.
    pub(crate) fn interceptor(&self, service: &'static str) -> CountingInterceptor {
        CountingInterceptor { service, counter: self.clone() }
    }
}

/// The SDK interceptor behind [`RequestCounter`].
#[derive(Debug)]
pub(crate) struct CountingInterceptor {
    service: &'static str,
    counter: RequestCounter,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let operation = operation_name(request.headers().get("x-amz-target"), request.method(), request.uri());
        self.counter.record(self.service, operation);
        Ok(())
    }
}

/// The operation a request calls, read from the request (see the module documentation).
fn operation_name(target: Option<&str>, method: &str, uri: &str) -> String {
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let query = uri.split_once('?').map(|(_, query)| query).unwrap_or_default();
    for pair in query.split('&') {
        if let Some(operation) = pair.strip_prefix("x-id=") {
            return operation.to_owned();
        }
        if pair == "list-type=2" {
            return "ListObjectsV2".to_owned();
        }
    }
    format!("{method} (REST)")
}

/// An item's size as DynamoDB counts it for capacity (attribute names plus values): strings and
/// binaries by length, numbers about one byte per two significant digits plus one, booleans and
/// nulls one byte, lists and maps 3 bytes plus one per element (plus the keys of a map). Writes
/// cost one write request unit per started KB of this, reads one read request unit per started 4 KB.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(text) => text.len() as u64,
        AttributeValue::B(bytes) => bytes.as_ref().len() as u64,
        AttributeValue::N(number) => {
            let digits = number.trim_start_matches(['-', '0']).replace('.', "");
            (digits.trim_end_matches('0').len() as u64).div_ceil(2) + 1
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum::<u64>(),
        AttributeValue::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| value_size(&AttributeValue::N(n.clone()))).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len() as u64).sum(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_from_the_target_header_or_the_rest_query() {
        assert_eq!(operation_name(Some("DynamoDB_20120810.TransactWriteItems"), "POST", "/"), "TransactWriteItems");
        assert_eq!(operation_name(Some("AmazonSQS.SendMessage"), "POST", "/"), "SendMessage");
        assert_eq!(operation_name(Some("AWSStepFunctions.SendTaskSuccess"), "POST", "/"), "SendTaskSuccess");
        assert_eq!(operation_name(None, "PUT", "http://h/b/orders/1/v1.json?x-id=PutObject"), "PutObject");
        assert_eq!(operation_name(None, "GET", "http://h/b?list-type=2&prefix=orders%2F"), "ListObjectsV2");
        assert_eq!(operation_name(None, "HEAD", "http://h/b"), "HEAD (REST)");
    }

    #[test]
    fn item_sizes_follow_dynamodb_rules() {
        let item = HashMap::from([
            ("order_id".to_owned(), AttributeValue::S("0123456789".into())),
            ("version".to_owned(), AttributeValue::N("4".into())),
            ("total_cents".to_owned(), AttributeValue::N("15075".into())),
            (
                "items".to_owned(),
                AttributeValue::L(vec![AttributeValue::M(HashMap::from([(
                    "q".to_owned(),
                    AttributeValue::N("2".into()),
                )]))]),
            ),
        ]);
        // 8+10, 7+2, 11+4 (5 digits: 3+1), 5+(3+1+(3+1+1+2))
        assert_eq!(item_size(&item), 18 + 9 + 15 + 16);
    }

    #[test]
    fn clones_share_the_counts() {
        let counter = RequestCounter::new();
        let clone = counter.clone();
        clone.record("SQS", "SendMessage".into());
        clone.record("SQS", "SendMessage".into());
        counter.record("S3", "PutObject".into());
        assert_eq!(counter.total(), 3);
        assert_eq!(counter.snapshot()[&("SQS".to_owned(), "SendMessage".to_owned())], 2);
        counter.reset();
        assert_eq!(clone.total(), 0);
    }
}
