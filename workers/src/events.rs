//! Lambda event shapes built from embedded records, so the local runner hands the handlers exactly
//! what Lambda's event source mappings would: SQS events and DynamoDB stream events.

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamViewType};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use orders_core::adapters::dynamodb_item::{self, ItemError};
use orders_core::ports::{ChangeKind, OrderChange, ReceivedMessage};

/// Where events say they come from.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// AWS region.
    pub region: String,
    /// AWS account id.
    pub account_id: String,
}

impl EventSource {
    /// `arn:aws:sqs:{region}:{account}:{queue}`.
    pub fn queue_arn(&self, queue: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{queue}", self.region, self.account_id)
    }

    /// The orders table's stream ARN.
    pub fn stream_arn(&self, table: &str) -> String {
        format!("arn:aws:dynamodb:{}:{}:table/{table}/stream/embedded", self.region, self.account_id)
    }
}

/// An SQS event of received messages, as Lambda delivers it.
pub fn sqs_event(source: &EventSource, queue: &str, messages: &[ReceivedMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for message in messages {
        let mut record = SqsMessage::default();
        record.message_id = Some(message.message_id.clone());
        record.receipt_handle = Some(message.receipt_handle.clone());
        record.body = Some(message.body.clone());
        record.attributes = [
            ("ApproximateReceiveCount".to_owned(), message.receive_count.to_string()),
            ("SentTimestamp".to_owned(), message.sent_at.timestamp_millis().to_string()),
        ]
        .into();
        record.message_attributes = message
            .attributes
            .iter()
            .map(|(name, value)| {
                let mut attribute = SqsMessageAttribute::default();
                attribute.string_value = Some(value.clone());
                attribute.data_type = Some("String".to_owned());
                (name.clone(), attribute)
            })
            .collect();
        record.event_source = Some("aws:sqs".to_owned());
        record.event_source_arn = Some(source.queue_arn(queue));
        record.aws_region = Some(source.region.clone());
        event.records.push(record);
    }
    event
}

/// A DynamoDB stream event of order changes (NEW_AND_OLD_IMAGES), as Lambda delivers it.
pub fn stream_event(source: &EventSource, table: &str, changes: &[OrderChange]) -> Result<Event, ItemError> {
    let mut event = Event::default();
    for change in changes {
        let mut record = EventRecord::default();
        record.aws_region = source.region.clone();
        record.event_id = format!("{:032x}", change.sequence);
        record.event_name = event_name(change.kind).to_owned();
        record.event_source = Some("aws:dynamodb".to_owned());
        record.event_version = Some("1.1".to_owned());
        record.event_source_arn = Some(source.stream_arn(table));
        record.change.approximate_creation_date_time = change.at;
        record.change.sequence_number = Some(sequence_number(change.sequence));
        record.change.stream_view_type = Some(StreamViewType::NewAndOldImages);
        if let Some(new) = &change.new {
            record.change.new_image = dynamodb_item::to_item(new)?;
        }
        if let Some(old) = &change.old {
            record.change.old_image = dynamodb_item::to_item(old)?;
        }
        if let Some(image) = change.new.as_ref().or(change.old.as_ref()) {
            record.change.keys = dynamodb_item::order_key(&image.order.order_id.to_string());
        }
        event.records.push(record);
    }
    Ok(event)
}

/// DynamoDB Streams' event name for a change kind.
const fn event_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Insert => "INSERT",
        ChangeKind::Modify => "MODIFY",
        ChangeKind::Remove => "REMOVE",
    }
}

/// A feed position as a DynamoDB-style sequence number (decimal digits, fixed width).
pub fn sequence_number(sequence: u64) -> String {
    format!("{sequence:021}")
}

/// The feed position in a sequence number.
pub fn parse_sequence_number(text: &str) -> Option<u64> {
    text.parse().ok()
}
