//! The fulfilment webhook's settings inside a Lambda function: its URL from the function's
//! environment, its signing secret from Secrets Manager (read once, at start), so the secret is in
//! neither the template nor the function's configuration.

use super::AwsClients;
use super::env::{FULFILMENT_WEBHOOK_SECRET_ARN, FULFILMENT_WEBHOOK_URL};
use super::errors::describe;
use super::functions::FunctionConfig;
use crate::adapters::webhook::{WebhookConfig, WebhookConfigError};

/// Why the webhook's settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSettingsError {
    /// A URL without the secret's ARN.
    #[error("{FULFILMENT_WEBHOOK_URL} is set but {FULFILMENT_WEBHOOK_SECRET_ARN} is not")]
    NoSecret,
    /// Secrets Manager refused or failed.
    #[error("cannot read the fulfilment webhook's secret: {0}")]
    Read(String),
    /// The URL or the secret cannot be used.
    #[error(transparent)]
    Invalid(#[from] WebhookConfigError),
}

/// The webhook `config` names, its secret read from Secrets Manager; `None` without a URL.
pub async fn fulfilment_webhook(
    clients: &AwsClients,
    config: &FunctionConfig,
) -> Result<Option<WebhookConfig>, WebhookSettingsError> {
    let Some(url) = config.optional(FULFILMENT_WEBHOOK_URL) else { return Ok(None) };
    let arn = config.optional(FULFILMENT_WEBHOOK_SECRET_ARN).ok_or(WebhookSettingsError::NoSecret)?;
    let output = clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| WebhookSettingsError::Read(describe(&error)))?;
    let secret = output.secret_string().ok_or_else(|| WebhookSettingsError::Read("the secret holds no text".into()))?;
    Ok(Some(WebhookConfig::new(url, secret.trim())?))
}
