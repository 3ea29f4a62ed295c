//! A sweep's results read back from a real store: typed states, kinds,
//! memberships and metrics; trials that never ran; attempts and provenance; a
//! degenerate pretraining trial's flag carried to the trials it starts.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ablate_protocol::{AttemptState, Metric, TrialState};
use ablate_spec::{Membership, Sweep, TrialKind};
use ablate_store::{AttemptEnd, AttemptStart, Store, Success, SweepRecord, TrialRecord};

const SWEEP: &str = r#"
[sweep]
name = "r"
seeds = 1
[data.faces]
kind = "synthetic-faces"
[data.other]
kind = "synthetic-faces"
seed = 1
[defaults]
data = "faces"
pretrain = "none"
depth = "vgg7"
encoding = "ldae"
[pretrain.face]
task = "identity"
data = "other"
[[study]]
name = "pretraining"
fixed.tasks = ["age"]
grid.pretrain = ["none", "face"]
"#;

async fn store_of(dir: &Path, sweep: &Sweep) -> Store {
    let store = Store::open(&dir.join("ablate.db")).await.unwrap();
    let trials: Vec<TrialRecord> = (sweep.trials.iter().enumerate())
        .map(|(i, t)| TrialRecord {
            id: t.id.clone(),
            kind: t.kind.as_str().into(),
            config: serde_json::to_value(&t.config).unwrap(),
            exec: serde_json::json!({}),
            labels: serde_json::to_value(&t.labels).unwrap(),
            depends_on: t.config.init.iter().map(|i| i.to_string()).collect(),
            memberships: t.memberships().map(|m| (m.to_string(), i)).collect(),
        })
        .collect();
    let studies: Vec<String> = sweep.memberships().iter().map(|m| m.to_string()).collect();
    let record = SweepRecord {
        name: &sweep.name,
        file: "r.toml",
        spec_text: "",
        spec_hash: &sweep.spec_hash,
        studies: &studies,
    };
    store.sync_sweep(&record, &trials).await.unwrap();
    store
}

async fn succeed(store: &Store, trial: &str, result: serde_json::Value, seconds_host: &str) {
    let attempt = store
        .start_attempt(&AttemptStart {
            trial_id: trial.into(),
            sweep: "r".into(),
            device: "cpu".into(),
            host: seconds_host.into(),
            ablate_version: "0.1.0".into(),
            ..AttemptStart::default()
        })
        .await
        .unwrap();
    store
        .record_peak_memory(attempt, Some(5 << 20), None)
        .await
        .unwrap();
    let end = AttemptEnd::new(AttemptState::Succeeded);
    let result = result.to_string();
    let degenerate = result.contains("evidence");
    store
        .record_success(&Success {
            attempt,
            trial,
            result: &result,
            degenerate,
            artifacts: &[],
            end: &end,
            data_digest: None,
            trainer_version: None,
            init: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn results_come_back_typed_in_the_sweep_files_order() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = ablate_spec::parse(SWEEP, &dir.path().join("r.toml")).unwrap();
    let store = store_of(dir.path(), &sweep).await;
    let stage = (sweep.trials.iter())
        .find(|t| t.kind == TrialKind::Pretrain)
        .unwrap();
    let from_face = (sweep.trials.iter())
        .find(|t| t.config.init.is_some())
        .unwrap();
    let scratch = (sweep.trials.iter())
        .find(|t| t.kind == TrialKind::Train && t.config.init.is_none())
        .unwrap();
    succeed(
        &store,
        stage.id.as_str(),
        serde_json::json!({"trial": stage.id.as_str(),
            "degenerate": {"evidence": ["identity: one class for every image"]}}),
        "a",
    )
    .await;
    succeed(
        &store,
        from_face.id.as_str(),
        serde_json::json!({"trial": from_face.id.as_str(),
            "images": {"train": 60, "val": 20, "test": 20},
            "test": {"age": {"expected": {"mae": 7.5, "cs": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                0.7, 0.8, 0.9, 0.95, 1.0]}}}}),
        "b",
    )
    .await;

    let r = ablate_results::load(&store, &sweep).await.unwrap();
    assert_eq!(r.sweep, "r");
    let ids: Vec<&str> = r.trials.iter().map(|t| t.id.as_str()).collect();
    let want: Vec<&str> = sweep.trials.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, want, "every trial of the file, in its order");

    let face = r.trial(from_face.id.as_str()).unwrap();
    assert_eq!(face.state, TrialState::Succeeded);
    assert_eq!(face.kind, TrialKind::Train);
    assert!(face.in_study("pretraining"));
    assert_eq!(face.studies, vec![Membership::Study("pretraining".into())]);
    assert_eq!(face.metrics.get(&Metric::AgeMae), Some(&7.5));
    assert_eq!(face.metrics.get(&Metric::GenderAccuracy), None);
    assert_eq!(face.images, Some([60, 20, 20]));
    assert_eq!(face.cs.as_ref().map(Vec::len), Some(11));
    assert_eq!(face.attempts.len(), 1);
    assert_eq!(face.succeeded_attempt().unwrap().host, "b");
    assert!(face.result.as_ref().unwrap().value().get("test").is_some());
    let why = face.degenerate.as_ref().unwrap();
    assert_eq!(why.len(), 1);
    assert!(
        why[0].starts_with(&format!(
            "starts from pretraining trial {}",
            stage.id.short()
        )),
        "{why:?}"
    );

    let pre = r.trial(stage.id.as_str()).unwrap();
    assert_eq!(pre.kind, TrialKind::Pretrain);
    assert_eq!(pre.studies, vec![Membership::Pretrain("face".into())]);
    assert!(!pre.in_study("face"), "a stage is no study");

    let never = r.trial(scratch.id.as_str()).unwrap();
    assert_eq!(never.state, TrialState::Pending);
    assert!(never.metrics.is_empty() && never.result.is_none() && never.attempts.is_empty());
    assert_eq!(never.degenerate, None);

    let p = &r.provenance;
    assert_eq!(p.devices, vec!["cpu on a", "cpu on b"]);
    assert_eq!(p.versions, vec!["0.1.0"]);
    let (bytes, _, reported) = p.peak_host.as_ref().unwrap();
    assert_eq!((*bytes, *reported), (5 << 20, 2));
    assert_eq!(r.stages.get("face").map(String::as_str), Some("identity"));
}

#[tokio::test]
async fn rows_serialize_as_the_stored_words() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = ablate_spec::parse(SWEEP, &dir.path().join("r.toml")).unwrap();
    let store = store_of(dir.path(), &sweep).await;
    let r = ablate_results::load(&store, &sweep).await.unwrap();
    let json = serde_json::to_value(&r).unwrap();
    let first = &json["trials"][0];
    assert_eq!(first["kind"], "pretrain");
    assert_eq!(first["state"], "pending");
    assert_eq!(first["studies"][0], "pretrain:face");
    assert!(first.get("result").is_none() && first.get("attempts").is_none());
}
