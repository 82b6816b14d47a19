//! The `stream` Lambda: the orders table's DynamoDB stream (NEW_AND_OLD_IMAGES). Backup jobs go to
//! the backup queue, listings are reconciled after the workflow's status writes, and workflows
//! waiting on a status are answered; a new order's execution is started if its create request could
//! not start it. Configuration: `functions::STREAM` (the tables, the backup queue, the state machine).

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use orders_core::adapters::aws::{
    AwsClients, DynamoDbStore, FunctionConfig, SqsQueues, StepFunctionsCallbacks, StepFunctionsEngine, functions,
};
use orders_workers::stream::{StreamHandler, StreamProcessor};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_core::lambda::init_logging();
    let resources = FunctionConfig::from_env(&functions::STREAM)?.resources();
    let clients = AwsClients::for_lambda().await;
    let orders = Arc::new(DynamoDbStore::new(clients.dynamodb.clone(), &resources));
    let queues = Arc::new(SqsQueues::new(clients.sqs.clone(), resources.queue_urls.clone()));
    let callbacks = Arc::new(StepFunctionsCallbacks::new(clients.sfn.clone()));
    let workflow = Arc::new(StepFunctionsEngine::new(clients.sfn.clone(), resources.state_machine_arn.clone()));
    let processor = StreamProcessor::new(orders, queues, callbacks, workflow);
    let processor = Arc::new(processor);
    orders_core::lambda::run_handler(move |event: Event| {
        let processor = processor.clone();
        async move { processor.handle(event).await }
    })
    .await
}
