//! The differential test of the `statemachine` crate against Step Functions in moto: the same
//! generated definitions and inputs run on our engine and on moto's port of LocalStack's ASL
//! interpreter, and their outcomes (status, output as JSON, error and cause) must agree, except
//! for the differences listed in `known_differences.json` with the AWS documentation that says
//! which side is wrong. A listed difference that no longer occurs fails the test too, and so does a
//! count of definitions our engine refuses at load other than the one checked in.
//!
//! `cargo test -p orders --test workflow_differential -- --nocapture` prints the summary.
//! `DIFFERENTIAL_CASE=case-0042` runs that one case and prints its definition, input and outcomes
//! (the expectations are not checked then). The generator is in `generator.rs`, the two runners
//! and the normalisation in `engines.rs`, the expectations' format in `known.rs`.

#![allow(clippy::unwrap_used, missing_docs)]

mod engines;
mod generator;
mod known;
#[path = "../support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use futures::{StreamExt, stream};
use orders_core::adapters::aws::AwsClients;
use serde_json::json;
use statemachine::Definition;

use engines::{Outcome, same_json};
use generator::Case;

/// The generator's seed: changing it changes every case, so the expectations must be redone.
const SEED: u64 = 0x5EED_D1FF;
/// How many definitions are generated.
const CASES: usize = 600;
/// How many requests are in flight to moto at once while creating and starting.
const MOTO_CONCURRENCY: usize = 8;

/// One case run on both sides.
struct Compared {
    case: Case,
    ours: Outcome,
    moto: Outcome,
}

impl Compared {
    /// The aspects in which the outcomes differ, in a fixed order.
    fn differs_in(&self) -> Vec<&'static str> {
        let (ours, moto) = (&self.ours, &self.moto);
        let output_differs = match (&ours.output, &moto.output) {
            (Some(a), Some(b)) => !same_json(a, b),
            (a, b) => a.is_some() != b.is_some(),
        };
        [
            ("status", ours.status != moto.status),
            ("output", output_differs),
            ("error", ours.error != moto.error),
            ("cause", ours.cause != moto.cause),
        ]
        .into_iter()
        .filter_map(|(aspect, differs)| differs.then_some(aspect))
        .collect()
    }

    fn describe(&self, differs_in: &[&str]) -> String {
        format!(
            "{} (differs in {}; features {:?})\n  definition: {}\n  input:      {}\n  ours:       {}\n  moto:       {}",
            self.case.name,
            differs_in.join(", "),
            self.case.features,
            self.case.definition,
            self.case.input,
            self.ours.to_json(),
            self.moto.to_json(),
        )
    }
}

/// A refusal's kind and message without the expression it quotes or the list of what is supported,
/// so that one unsupported feature is one reason however it is used.
fn refusal_reason(error: &statemachine::LoadError) -> String {
    let message = error.message.split(" (in \"").next().unwrap_or_default();
    let message = message.split("; supported:").next().unwrap_or_default();
    format!("{:?}: {message}", error.kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_definitions_end_the_same_on_our_engine_and_on_moto_except_the_known_differences() {
    let began = Instant::now();
    let only = std::env::var("DIFFERENTIAL_CASE").ok();
    let expectations = known::load();

    // Given a few hundred generated definitions, some of which our engine refuses at load
    let cases: Vec<Case> = generator::cases(SEED, CASES)
        .into_iter()
        .filter(|case| only.as_ref().is_none_or(|name| *name == case.name))
        .collect();
    assert!(!cases.is_empty(), "no case is named {only:?}: names run from case-0000 to case-{:04}", CASES - 1);
    let mut refused_at_load: BTreeMap<String, usize> = BTreeMap::new();
    let mut loaded = Vec::new();
    for case in cases.iter().cloned() {
        match Definition::from_json(&case.definition) {
            Ok(definition) => loaded.push((case, definition)),
            Err(error) => *refused_at_load.entry(refusal_reason(&error)).or_default() += 1,
        }
    }

    // When each loaded one runs on moto (all created and started first, then collected) and on ours
    let moto = moto::Moto::start().await;
    let sfn = AwsClients::for_emulator(&moto.endpoint(), engines::REGION).await.sfn;
    let sfn = &sfn;
    let created: Vec<(&Case, Result<String, String>)> = stream::iter(&loaded)
        .map(|(case, _)| async move { (case, engines::create_on_moto(sfn, case).await) })
        .buffered(MOTO_CONCURRENCY)
        .collect()
        .await;
    let started: Vec<(&Case, Result<String, String>)> = stream::iter(created)
        .map(|(case, machine)| async move {
            let execution = match machine {
                Ok(machine_arn) => Ok(engines::start_on_moto(sfn, &machine_arn, case).await),
                Err(refusal) => Err(refusal),
            };
            (case, execution)
        })
        .buffered(MOTO_CONCURRENCY)
        .collect()
        .await;
    let mut ours = Vec::new();
    for (case, definition) in loaded.iter().cloned() {
        ours.push(engines::run_ours(&case, definition).await);
    }
    let mut compared = Vec::new();
    for ((case, execution), ours) in started.into_iter().zip(ours) {
        let moto = match execution {
            Ok(execution_arn) => engines::moto_outcome(sfn, &execution_arn).await,
            // moto refusing a definition our engine runs is a difference like any other.
            Err(refusal) => Outcome {
                status: "REFUSED_BY_CREATE_STATE_MACHINE".to_owned(),
                output: None,
                error: None,
                cause: Some(refusal),
            },
        };
        compared.push(Compared { case: case.clone(), ours, moto });
    }

    // Then every difference is a known one, and every known one still occurs
    let mut matches_per_known = vec![0usize; expectations.differences.len()];
    let mut unknown = Vec::new();
    let mut agreeing = 0;
    let mut differing_by_aspects: BTreeMap<String, usize> = BTreeMap::new();
    for run in &compared {
        let differs_in = run.differs_in();
        if differs_in.is_empty() {
            agreeing += 1;
            continue;
        }
        *differing_by_aspects.entry(differs_in.join("+")).or_default() += 1;
        match expectations
            .differences
            .iter()
            .position(|known| known.matches(&run.case, &differs_in, &run.ours, &run.moto))
        {
            Some(index) => matches_per_known[index] += 1,
            None => unknown.push(run.describe(&differs_in)),
        }
    }

    // Every differing case, known or not, for whoever looks into them.
    let report: Vec<serde_json::Value> = compared
        .iter()
        .filter(|run| !run.differs_in().is_empty())
        .map(|run| {
            json!({"case": run.case.name, "differs_in": run.differs_in(), "features": run.case.features,
                "definition": run.case.definition, "input": run.case.input, "ours": run.ours.to_json(), "moto": run.moto.to_json()})
        })
        .collect();
    let report_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("workflow_differential.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report).unwrap()).unwrap();

    let mut summary = String::new();
    writeln!(summary, "differential test, seed {SEED:#x}: {} definitions generated", cases.len()).unwrap();
    writeln!(summary, "  refused at load by our engine: {}", refused_at_load.values().sum::<usize>()).unwrap();
    for (reason, count) in &refused_at_load {
        writeln!(summary, "    {count:4}  {reason}").unwrap();
    }
    writeln!(
        summary,
        "  run on both: {}; agreeing: {agreeing}; differing: {}",
        compared.len(),
        compared.len() - agreeing
    )
    .unwrap();
    for (aspects, count) in &differing_by_aspects {
        writeln!(summary, "    {count:4}  differ in {aspects}").unwrap();
    }
    writeln!(summary, "  known differences (cases each explains):").unwrap();
    for (known, count) in expectations.differences.iter().zip(&matches_per_known) {
        writeln!(summary, "    {count:4}  {} ({:?} wrong: {})", known.id, known.wrong, known.docs.url).unwrap();
        writeln!(summary, "          {}", known.summary).unwrap();
        writeln!(summary, "          docs: {}", known.docs.says).unwrap();
    }
    writeln!(summary, "  unknown differences: {}", unknown.len()).unwrap();
    writeln!(summary, "  every differing case: {}", report_path.display()).unwrap();
    writeln!(summary, "  took {:.1?}", began.elapsed()).unwrap();
    eprintln!("{summary}");

    if only.is_some() {
        for run in &compared {
            eprintln!("{}", run.describe(&run.differs_in()));
        }
        for reason in refused_at_load.keys() {
            eprintln!("refused at load: {reason}");
        }
    }
    assert!(
        unknown.is_empty(),
        "{} difference(s) not in {}: fix the side that is wrong, or list the difference with the documentation that says so \
         (rerun one with DIFFERENTIAL_CASE=<name>):\n{}",
        unknown.len(),
        known::PATH,
        unknown.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
    if only.is_none() {
        let stale: Vec<&str> = expectations
            .differences
            .iter()
            .zip(&matches_per_known)
            .filter(|(_, count)| **count == 0)
            .map(|(known, _)| known.id.as_str())
            .collect();
        assert!(stale.is_empty(), "known differences that no longer occur, to remove from {}: {stale:?}", known::PATH);
        assert_eq!(
            json!(refused_at_load),
            json!(expectations.refused_at_load),
            "the definitions refused at load by reason (left) are not the checked-in expectation (right) in {}: more refusals \
             is a regression; fewer means the engine loads more, so update the expectation (and look at what the newly run \
             cases show)",
            known::PATH
        );
    }
}
