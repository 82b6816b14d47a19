//! The backends the end-to-end scenarios run on, each scenario once per backend
//! ([`on_every_backend!`]): the embedded default, and AWS on moto (its own moto per scenario). A
//! backend knows where its data lives and starts `orders serve` over it; the scenarios read it the
//! way an operator would.

use std::path::PathBuf;
use std::sync::Arc;

use orders_core::adapters::aws::{AwsClients, S3BackupStore, SqsQueues};
use orders_core::adapters::embedded::{DATABASE_FILE, Database, EmbeddedQueues, QueueSettings};
use orders_core::ports::{BackupKey, BackupStore, MessageQueue, QueueName};
use orders_testkit::eventually;
use serde_json::Value;

use crate::common::{AwsTarget, Launch, Server};
use crate::moto::Moto;

pub(crate) fn encoded(arn: &str) -> String {
    arn.replace(':', "%3A")
}

pub(crate) async fn wait_for_execution(server: &Server, arn: &str, status: &str) -> Value {
    server.wait_for(&format!("/executions/{}", encoded(arn)), |e| e["status"] == status).await
}

/// Where a backend keeps backups, read the way an operator would.
#[derive(Clone)]
pub(crate) enum Backups {
    /// The embedded default's folder.
    Folder(PathBuf),
    /// An S3 bucket on the emulator, read through the S3 adapter.
    Bucket(S3BackupStore),
}

impl Backups {
    pub(crate) async fn version(&self, order_id: &str, version: u64) -> Option<Value> {
        let key = BackupKey::Version { order_id: order_id.parse().unwrap(), version };
        let bytes = match self {
            Backups::Folder(root) => std::fs::read(root.join("backups").join(key.object_key())).ok(),
            Backups::Bucket(store) => store.get(&key).await.unwrap(),
        };
        bytes.map(|b| serde_json::from_slice(&b).unwrap())
    }

    /// Waits until exactly versions 1..=`versions` are backed up and returns them.
    pub(crate) async fn wait_for(&self, order_id: &str, versions: u64) -> Vec<Value> {
        eventually(format!("backups of {order_id}: {versions} versions"), async || {
            let mut found = Vec::new();
            for version in 1..=versions + 1 {
                match self.version(order_id, version).await {
                    Some(backup) => found.push(backup),
                    None => break,
                }
            }
            if found.len() as u64 == versions { Ok(found) } else { Err(format!("{} versions", found.len())) }
        })
        .await
    }
}

/// A backend to run the scenarios on: where data lives, and how to start servers over it.
pub(crate) struct Backend {
    data_dir: tempfile::TempDir,
    aws: Option<AwsTarget>,
    _moto: Option<Moto>,
}

impl Backend {
    pub(crate) async fn embedded() -> Backend {
        Backend { data_dir: tempfile::tempdir().unwrap(), aws: None, _moto: None }
    }

    pub(crate) async fn moto() -> Backend {
        let moto = Moto::start().await;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let aws = AwsTarget { endpoint: moto.endpoint(), prefix };
        Backend { data_dir: tempfile::tempdir().unwrap(), aws: Some(aws), _moto: Some(moto) }
    }

    /// A server on this backend (a message a killed server had received comes back after the
    /// visibility timeout: 1 s here).
    pub(crate) async fn start(&self) -> Server {
        self.start_with(Vec::new(), Vec::new()).await
    }

    /// A server on this backend with extra arguments and environment (a `--catalog` among the
    /// arguments replaces the demo catalog, on either backend).
    pub(crate) async fn start_with(&self, args: Vec<String>, env: Vec<(String, String)>) -> Server {
        let own_catalog = args.iter().any(|arg| arg == "--catalog");
        let mut all: Vec<String> = Vec::new();
        for (flag, default) in [("--visibility-timeout", "1"), ("--max-receive-count", "3")] {
            if !args.iter().any(|arg| arg == flag) {
                all.extend([flag.to_owned(), default.to_owned()]);
            }
        }
        all.extend(args);
        Server::launch(Launch {
            data_dir: Some(self.data_dir.path().to_owned()),
            args: all,
            aws: self.aws.clone(),
            aws_demo_catalog: !own_catalog,
            env,
            ..Launch::default()
        })
        .await
    }

    /// The backend's queues, as an operator's tool reaches them (beside a running server).
    pub(crate) async fn queues(&self) -> Arc<dyn MessageQueue> {
        match &self.aws {
            None => {
                let database = Database::open(&self.data_dir.path().join(DATABASE_FILE)).unwrap();
                let settings =
                    QueueSettings { visibility_timeout: std::time::Duration::from_secs(1), max_receive_count: 3 };
                Arc::new(EmbeddedQueues::new(database, [(QueueName::Fulfilment, settings)]))
            }
            Some(aws) => {
                let clients = AwsClients::for_emulator(&aws.endpoint, "us-east-1").await;
                let name = format!("{}-{}", aws.prefix, QueueName::Fulfilment.as_str());
                let url = clients.sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url.unwrap();
                Arc::new(SqsQueues::new(clients.sqs, [(QueueName::Fulfilment, url)].into()))
            }
        }
    }

    pub(crate) async fn backups(&self) -> Backups {
        match &self.aws {
            None => Backups::Folder(self.data_dir.path().to_owned()),
            Some(aws) => {
                let clients = AwsClients::for_emulator(&aws.endpoint, "us-east-1").await;
                Backups::Bucket(S3BackupStore::new(clients.s3, aws.bucket()))
            }
        }
    }

    pub(crate) fn is_embedded(&self) -> bool {
        self.aws.is_none()
    }
}

/// Instantiates each scenario once per backend.
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(crate::backends::Backend::embedded().await).await;
                }
            )*
        }
        mod aws_backend_on_moto {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(crate::backends::Backend::moto().await).await;
                }
            )*
        }
    };
}
