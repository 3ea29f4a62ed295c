//! Trial and attempt states as the store writes and reads them, typed, and the
//! one retry rule a rerun uses.
#![allow(clippy::unwrap_used)]

use ablate_protocol::{AttemptState, FailureClass, TrialState};
use ablate_store::{AttemptEnd, AttemptStart, Progress, Store, SweepRecord, TrialRecord};

async fn store_with_one_trial(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("ablate.db")).await.unwrap();
    let trial = TrialRecord {
        id: "a".repeat(64).into(),
        kind: "train".into(),
        config: serde_json::json!({}),
        exec: serde_json::json!({}),
        labels: serde_json::json!({}),
        depends_on: Vec::new(),
        memberships: vec![("s".into(), 0)],
    };
    store
        .sync_sweep(
            &SweepRecord {
                name: "w",
                file: "w.toml",
                spec_text: "",
                spec_hash: "h",
                studies: &["s".into()],
            },
            &[trial],
        )
        .await
        .unwrap();
    store
}

async fn fail_once(store: &Store, class: FailureClass) {
    let id = "a".repeat(64);
    let attempt = store
        .start_attempt(&AttemptStart {
            trial_id: id.clone().into(),
            sweep: "w".into(),
            ..AttemptStart::default()
        })
        .await
        .unwrap();
    store
        .record_peak_memory(attempt, Some(300 << 20), None)
        .await
        .unwrap();
    // A peak never goes down, and each of the two is kept on its own.
    store
        .record_peak_memory(attempt, Some(100 << 20), Some(2 << 30))
        .await
        .unwrap();
    store
        .record_peak_memory(attempt, None, Some(1 << 30))
        .await
        .unwrap();
    let end = AttemptEnd {
        failure_class: Some(class),
        message: Some("gone".into()),
        ..AttemptEnd::new(AttemptState::Failed)
    };
    store
        .finish_attempt(attempt, &id, &end, TrialState::Failed)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rerun_retries_exactly_the_retryable_classes() {
    for class in [
        FailureClass::Preempted,
        FailureClass::NodeFailure,
        FailureClass::Lost,
        FailureClass::Scheduler,
        FailureClass::Killed,
        FailureClass::OutOfMemory,
        FailureClass::BadConfig,
        FailureClass::Timeout,
        FailureClass::Other("mine".into()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_one_trial(dir.path()).await;
        fail_once(&store, class.clone()).await;
        let retry = store.last_failure_retryable(&"a".repeat(64)).await.unwrap();
        assert_eq!(retry, class.retryable(), "{class}");
        let states = store.states("w").await.unwrap();
        assert_eq!(states, vec![("a".repeat(64), TrialState::Failed)]);
        let rows = store.attempts("w").await.unwrap();
        assert_eq!(rows[0].state, AttemptState::Failed);
        assert_eq!(rows[0].failure_class, Some(class));
        assert_eq!(rows[0].peak_host_bytes, Some(300 << 20));
        assert_eq!(rows[0].peak_gpu_bytes, Some(2 << 30));
        let status = store.status("w").await.unwrap();
        assert_eq!(status.failed[0].peak_host_bytes, Some(300 << 20));
        assert_eq!(status.failed[0].peak_gpu_bytes, Some(2 << 30));
        store.close().await;
    }
}

#[tokio::test]
async fn a_running_attempts_step_is_read_back_by_status_and_trial_detail() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_one_trial(dir.path()).await;
    let id = "a".repeat(64);
    let attempt = store
        .start_attempt(&AttemptStart {
            trial_id: id.clone().into(),
            sweep: "w".into(),
            ..AttemptStart::default()
        })
        .await
        .unwrap();
    let running = |s: &ablate_store::StatusReport| s.running[0].attempt.clone().unwrap();
    assert_eq!(running(&store.status("w").await.unwrap()).progress, None);
    for step in [5, 12] {
        let p = Progress {
            epoch: 3,
            step,
            steps: 40,
        };
        store.record_progress(attempt, &p).await.unwrap();
    }
    let a = running(&store.status("w").await.unwrap());
    let want = Some(Progress {
        epoch: 3,
        step: 12,
        steps: 40,
    });
    assert_eq!(a.progress, want, "the latest point");
    assert!(a.progress_at.is_some());
    let detail = store.trial_detail(&id).await.unwrap();
    assert_eq!(detail.attempts[0].progress, want);
}
