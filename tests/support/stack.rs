//! The deployed stack in moto, for the tests that prove it before anyone deploys it:
//! `infra/template.yaml` itself (no copy) transformed by the pinned aws-sam-translator
//! (`tools/sam/transform.py`, as `sam deploy` sends it after `sam build`) and created by moto's
//! CloudFormation with the parameters a user gives (`tools/moto/deploy_stack.py`, which says each
//! moto gap it works around). IAM is enforced once the stack stands: every call is signed by an
//! identity and checked against its policies; each function's role can be assumed to act as it.

// Each including test uses part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use orders_core::adapters::aws::AwsClients;
use serde_json::Value;

use crate::moto::Moto;

/// The stack's name: every resource is named `shop-…`.
pub const STACK: &str = "shop";
/// The API key parameter the stack is deployed with.
pub const API_KEY_PARAMETER: &str = "stack-test-key-0123456789abcdef";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("infra/template.yaml").is_file())
        .unwrap()
        .to_owned()
}

/// Runs a tool of the repository's pinned Python venvs; panics with its output when it fails.
fn run(python: &str, script: &str, args: &[&str], moto: &Moto) -> String {
    let interpreter = repo().join(python);
    assert!(interpreter.is_file(), "{} is missing: run scripts/test's install steps", interpreter.display());
    let output = Command::new(interpreter)
        .arg(repo().join(script))
        .args(args)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("ORDERS_MOTO_WORKFLOW_CREDENTIALS", moto.workflow_credentials_file())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// The stack as moto's CloudFormation created it, IAM enforced.
pub struct Stack {
    pub moto: Moto,
    /// What tools/moto/deploy_stack.py reports: physical ids, what was left out, the event source
    /// mappings and the functions' configurations as deployed, each function's role, and the
    /// administrator's keys.
    pub deployed: Value,
    /// The plain CloudFormation the template became (API Gateway included).
    pub transformed: Value,
    dir: tempfile::TempDir,
}

impl Stack {
    pub async fn deploy() -> Stack {
        let moto = Moto::start().await;
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template.json");
        let transformed = dir.path().join("transformed.json");
        std::fs::write(&template, crate::template::as_json().to_string()).unwrap();
        let definition = repo().join("statemachine/order-processing.asl.json");
        run(
            ".tools/sam/bin/python",
            "tools/sam/transform.py",
            &[path(&template), path(&definition), "shop-artifacts", path(&transformed)],
            &moto,
        );
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(API_KEY_PARAMETER));
        let deployed = run(
            ".venv/bin/python",
            "tools/moto/deploy_stack.py",
            &[
                &moto.endpoint(),
                STACK,
                path(&transformed),
                "shop-artifacts",
                &format!("ApiKeyValue={API_KEY_PARAMETER}"),
                &format!("ApiKeySha256={digest}"),
            ],
            &moto,
        );
        let transformed = serde_json::from_str(&std::fs::read_to_string(&transformed).unwrap()).unwrap();
        Stack { moto, deployed: serde_json::from_str(&deployed).unwrap(), transformed, dir }
    }

    /// Every port of the stack, as an operator (the administrator) reaches it, its resources found
    /// by name.
    pub async fn admin_ports(&self) -> orders_core::wiring::Ports {
        let clients = self.admin().await;
        let mut resources = orders_core::adapters::aws::AwsResources::named(STACK, "123456789012", "us-east-1");
        orders_core::adapters::aws::setup::discover(&clients, &mut resources).await.unwrap();
        orders_core::wiring::wire_aws(clients, resources).ports
    }

    /// The administrator's access key: `(id, secret)`.
    pub fn admin_keys(&self) -> (String, String) {
        let admin = &self.deployed["admin"];
        (admin["access_key_id"].as_str().unwrap().to_owned(), admin["secret_access_key"].as_str().unwrap().to_owned())
    }

    /// Clients signing as the administrator.
    pub async fn admin(&self) -> AwsClients {
        let (id, secret) = self.admin_keys();
        AwsClients::for_emulator_as(&self.moto.endpoint(), "us-east-1", &id, &secret, None).await
    }

    /// The temporary credentials of `function`'s role (its logical id, e.g. `BackupFunction`),
    /// assumed by the administrator: `(key id, secret, session token)`.
    pub fn role_credentials(&self, function: &str) -> (String, String, String) {
        let credentials = &self.deployed["role_credentials"][function];
        let field =
            |name: &str| credentials[name].as_str().unwrap_or_else(|| panic!("no role for {function}")).to_owned();
        (field("access_key_id"), field("secret_access_key"), field("session_token"))
    }

    /// The environment of the stack's function `logical_id` as Lambda gives it: its variables as
    /// deployed (`GetFunctionConfiguration`), the endpoint, and its own role's credentials.
    pub fn function_env(&self, logical_id: &str) -> Vec<(String, String)> {
        let configuration = &self.deployed["functions"][logical_id];
        let mut env: Vec<(String, String)> = configuration["Environment"]["Variables"]
            .as_object()
            .unwrap_or_else(|| panic!("no function {logical_id} in the stack"))
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
            .collect();
        let (key_id, secret, token) = self.role_credentials(logical_id);
        env.extend([
            ("AWS_ENDPOINT_URL".to_owned(), self.moto.endpoint()),
            ("AWS_ACCESS_KEY_ID".to_owned(), key_id),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), secret),
            ("AWS_SESSION_TOKEN".to_owned(), token),
            ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), configuration["FunctionName"].as_str().unwrap().to_owned()),
        ]);
        env
    }

    /// Puts `document` as the inline policy `policy` of `function`'s role (its logical id), as the
    /// administrator.
    pub fn put_role_policy(&self, function: &str, policy: &str, document: &Value) {
        let role =
            self.deployed["policies"][function]["role"].as_str().unwrap_or_else(|| panic!("no role for {function}"));
        let (id, secret) = self.admin_keys();
        let document = document.to_string();
        let args = [self.moto.endpoint(), id, secret, role.to_owned(), policy.to_owned(), document];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(".venv/bin/python", "tools/moto/put_role_policy.py", &args, &self.moto);
    }

    /// The inline policy `policy` of `function`'s role, as deployed.
    pub fn role_policy(&self, function: &str, policy: &str) -> Value {
        self.deployed["policies"][function]["inline"][policy].clone()
    }

    /// What each role was granted beside what it did so far (`tools/moto/least_privilege.py`, over
    /// moto's authorization log), with the grants `docs/benchmarks/iam.md` explains.
    pub fn least_privilege(&self) -> Value {
        let report = self.dir.path().join("deployed.json");
        std::fs::write(&report, self.deployed.to_string()).unwrap();
        let log = self.moto.authorization_log();
        let documented = repo().join("docs/benchmarks/iam.md");
        let output = run(
            ".venv/bin/python",
            "tools/moto/least_privilege.py",
            &[path(&report), path(&log), path(&documented)],
            &self.moto,
        );
        serde_json::from_str(&output).unwrap()
    }

    /// Clients acting as `function`'s role.
    pub async fn as_role(&self, function: &str) -> AwsClients {
        let (id, secret, token) = self.role_credentials(function);
        AwsClients::for_emulator_as(&self.moto.endpoint(), "us-east-1", &id, &secret, Some(&token)).await
    }

    /// The names of every table, queue, bucket and state machine on the endpoint.
    pub async fn inventory(&self) -> BTreeSet<String> {
        let clients = self.admin().await;
        let mut names = BTreeSet::new();
        let tables = clients.dynamodb.list_tables().send().await.unwrap();
        names.extend(tables.table_names().iter().map(|t| format!("table {t}")));
        let queues = clients.sqs.list_queues().send().await.unwrap();
        names.extend(queues.queue_urls().iter().map(|q| format!("queue {}", q.rsplit('/').next().unwrap())));
        let buckets = clients.s3.list_buckets().send().await.unwrap();
        names.extend(buckets.buckets().iter().map(|b| format!("bucket {}", b.name().unwrap())));
        let machines = clients.sfn.list_state_machines().send().await.unwrap();
        names.extend(machines.state_machines().iter().map(|m| format!("state machine {}", m.name())));
        names
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}
