//! A database written before result provenance (migrations 0001-0003) opens,
//! migrates, and keeps its results: their trainer version read from the stored
//! JSON, no data digest (unknown, so never taken for stale).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ablate_store::{RecordedResult, Store};
use sqlx::sqlite::SqliteConnectOptions;

const TRIAL: &str = "ab";

async fn old_database(path: &Path) {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "0001_init.sql",
        "0002_study_order.sql",
        "0003_slurm_jobs.sql",
    ] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../migrations")
            .join(name);
        std::fs::copy(src, dir.path().join(name)).unwrap();
    }
    // As `Store::open` always made them: in WAL mode.
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO sweeps (name, file, spec_text, spec_hash, updated_at) VALUES ('w', 'w.toml', '', 'h', 't')",
        "INSERT INTO trials (id, kind, config, exec, labels, state, created_at, updated_at) VALUES ('ab', 'train', '{}', '{}', '{}', 'succeeded', 't', 't')",
        "INSERT INTO memberships (sweep, study, trial_id, position) VALUES ('w', 's', 'ab', 0)",
        "INSERT INTO attempts (trial_id, sweep, state, started_at, slot, device, threads, host, orchestrator_pid, ablate_version) VALUES ('ab', 'w', 'succeeded', 't', 'cpu0', 'cpu', 1, 'h', 1, '0.1.0')",
        "INSERT INTO results (trial_id, attempt_id, result, degenerate, recorded_at) VALUES ('ab', 1, '{\"trainer_version\": 1, \"test\": {}}', 0, 't')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn results_from_before_provenance_survive_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ablate.db");
    old_database(&path).await;
    // A reader before any new writer opened it: columns missing, still answers.
    let reader = Store::open_read_only(&path).await.unwrap();
    let want = vec![RecordedResult {
        trial: TRIAL.into(),
        attempt: 1,
        init_attempt: None,
        data_digest: None,
        trainer_version: Some("1".into()),
    }];
    assert_eq!(reader.recorded_results("w").await.unwrap(), want);
    // Nor has it the attempts' peak memory (0005): read as unknown.
    let attempts = reader.attempts("w").await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].peak_host_bytes, None);
    let provenance = reader.provenance("w").await.unwrap();
    assert_eq!(provenance[0].peak_host_bytes, None);
    reader.status("w").await.unwrap();
    // Nor their progress within an epoch (0006).
    let detail = reader.trial_detail(TRIAL).await.unwrap();
    assert_eq!(detail.attempts[0].progress, None);
    reader.close().await;

    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.recorded_results("w").await.unwrap(), want);
    assert_eq!(store.results("w").await.unwrap().len(), 1);
    // Setting it aside keeps it.
    store.mark_stale(TRIAL, "a test").await.unwrap();
    assert!(store.recorded_results("w").await.unwrap().is_empty());
    let kept = store.superseded(TRIAL).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, "a test");
    assert!(kept[0].result.contains("\"trainer_version\": 1"));
    store.close().await;
}
