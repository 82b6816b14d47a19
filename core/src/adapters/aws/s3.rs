//! Backups in S3: `PutObject` with `If-None-Match: *`, so an object is written once and a repeated
//! job changes nothing (S3 answers 412 when the key exists).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use super::errors::{code, describe, is_transient};
use crate::domain::OrderId;
use crate::ports::{BackupError, BackupKey, BackupStore, BackupWrite};

/// The backup bucket.
#[derive(Clone, Debug)]
pub struct S3BackupStore {
    client: Client,
    bucket: String,
    /// Keys per `ListObjectsV2` page; `None` is S3's own (1,000).
    listing_page_size: Option<i32>,
}

impl S3BackupStore {
    /// Backups in `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3BackupStore { client, bucket: bucket.into(), listing_page_size: None }
    }

    /// Lists at most `keys` keys per request (tests use it to cross pages with a few objects).
    pub fn listing_page_size(mut self, keys: i32) -> Self {
        self.listing_page_size = Some(keys);
        self
    }
}

fn sdk_error<E, R>(error: aws_sdk_s3::error::SdkError<E, R>) -> BackupError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if is_transient(&error) {
        BackupError::Unavailable(describe(&error))
    } else {
        BackupError::Internal(describe(&error))
    }
}

#[async_trait]
impl BackupStore for S3BackupStore {
    async fn put_if_absent(&self, key: &BackupKey, body: &[u8]) -> Result<BackupWrite, BackupError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.object_key())
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(BackupWrite::Written),
            Err(error)
                if matches!(code(&error).as_deref(), Some("PreconditionFailed" | "ConditionalRequestConflict")) =>
            {
                Ok(BackupWrite::AlreadyPresent)
            }
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn order_ids(&self) -> Result<Vec<OrderId>, BackupError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("orders/")
            .delimiter("/")
            .set_max_keys(self.listing_page_size)
            .into_paginator()
            .send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            ids.extend(page.map_err(sdk_error)?.common_prefixes().iter().filter_map(|p| {
                p.prefix().and_then(|p| p.trim_start_matches("orders/").trim_end_matches('/').parse::<OrderId>().ok())
            }));
        }
        ids.sort();
        Ok(ids)
    }

    async fn keys(&self, order_id: OrderId) -> Result<Vec<BackupKey>, BackupError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("orders/{order_id}/"))
            .set_max_keys(self.listing_page_size)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            keys.extend(page.map_err(sdk_error)?.contents().iter().filter_map(|o| o.key().and_then(BackupKey::parse)));
        }
        Ok(keys)
    }

    async fn get(&self, key: &BackupKey) -> Result<Option<Vec<u8>>, BackupError> {
        match self.client.get_object().bucket(&self.bucket).key(key.object_key()).send().await {
            Ok(output) => {
                let bytes = output.body.collect().await.map_err(|e| BackupError::Unavailable(e.to_string()))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(error) => Err(sdk_error(error)),
        }
    }
}
