#![allow(clippy::unwrap_used, clippy::float_cmp)]

use std::path::Path;

use ablate_protocol::{AttemptState, TrialState};
use ablate_store::{AttemptProvenance, ResultRow};

use super::*;
use crate::speed::{hours_at, shape};
use ablate_train::model::HeadSizes;

const SWEEP: &str = r#"
[sweep]
name = "s"
seeds = 2
[data.faces]
kind = "synthetic-faces"
identities = 20
images_per_identity = 2
[train]
epochs = 3
batch_size = 8
input_size = 32
[defaults]
data = "faces"
depth = "vgg7"
width = 0.125
tasks = ["gender"]
[[study]]
name = "depth"
grid = { depth = ["vgg7"] }
"#;

fn sweep() -> Sweep {
    ablate_spec::parse(SWEEP, Path::new("/nowhere/s.toml")).unwrap()
}

fn attempt(trial: &str, seconds: f64, host: i64) -> AttemptProvenance {
    AttemptProvenance {
        device: "cpu".into(),
        device_name: None,
        host: "h".into(),
        ablate_version: "0".into(),
        git_commit: None,
        git_dirty: None,
        state: AttemptState::Succeeded,
        seconds: Some(seconds),
        trial_id: trial.into(),
        peak_host_bytes: Some(host),
        peak_gpu_bytes: None,
    }
}

fn history(s: &Sweep, rows: &[ResultRow], attempts: &[AttemptProvenance]) -> History {
    let results = ablate_results::from_rows(s, rows.to_vec(), attempts.to_vec());
    History::from_results(s, &results)
}

fn row(trial: &str, images: [u64; 3]) -> ResultRow {
    ResultRow {
        id: trial.into(),
        kind: "study".into(),
        state: TrialState::Succeeded,
        labels: serde_json::json!({}),
        config: serde_json::json!({}),
        studies: vec!["depth".into()],
        result: Some(serde_json::json!({
            "images": {"train": images[0], "val": images[1], "test": images[2]}
        })),
        degenerate: false,
        epochs: Vec::new(),
    }
}

#[test]
fn hours_count_every_epoch_of_training_and_validation_and_one_test_pass() {
    // 3 epochs of 100 training images at 10/s, 3 x 20 validation and 30 test
    // images at 90/s: 30 s + 1 s.
    let h = hours_at(3, [100, 20, 30], 10.0, 90.0);
    assert!((h * 3600.0 - 31.0).abs() < 1e-9, "{h}");
}

#[test]
fn history_is_seconds_per_processed_image_over_a_shapes_trials() {
    let s = sweep();
    let [a, b] = [&s.trials[0], &s.trials[1]];
    assert_eq!(shape(a), shape(b), "two seeds, one shape");
    // 3 epochs x (10 + 5) + 5 = 50 images each; 40 s and 60 s in all.
    let rows = [
        row(a.id.as_str(), [10, 5, 5]),
        row(b.id.as_str(), [10, 5, 5]),
    ];
    let attempts = [
        attempt(a.id.as_str(), 40.0, 1000),
        attempt(b.id.as_str(), 60.0, 3000),
    ];
    let h = history(&s, &rows, &attempts);
    assert_eq!(
        h.get(&shape(a)),
        Some(&Speed::History {
            seconds_per_image: 1.0,
            host_bytes: Some(3000),
            gpu_bytes: None,
            trials: 2
        })
    );
    // A trial whose last attempt did not succeed says nothing of its speed.
    let mut failed = attempt(a.id.as_str(), 40.0, 1000);
    failed.state = AttemptState::Failed;
    let h = history(&s, &rows[..1], &[failed]);
    assert_eq!(h.get(&shape(a)), None);
}

#[test]
fn a_trial_is_priced_from_its_shapes_history_and_its_disk_from_its_weights() {
    let s = sweep();
    let t = &s.trials[0];
    let rows = [row(t.id.as_str(), [10, 5, 5])];
    let mut h = history(&s, &rows, &[attempt(t.id.as_str(), 100.0, 7)]);
    let p = h
        .price(t, [20, 10, 10], HeadSizes::default(), Sources::default())
        .unwrap();
    // 2 s per image (100 s / 50), 3 x 30 + 10 = 100 images.
    assert!((p.hours.unwrap() * 3600.0 - 200.0).abs() < 1e-9);
    assert_eq!(p.host_bytes, Some(7));
    assert_eq!(p.source, "1 earlier trial(s) of this shape");
    let mut none = History::default();
    let p = none
        .price(t, [1, 1, 1], HeadSizes::default(), Sources::default())
        .unwrap();
    assert_eq!((p.hours, p.host_bytes), (None, None));
    assert!(p.source.starts_with("unknown"), "{}", p.source);
    // SGD with momentum: weights and one moment in the state, one checkpoint.
    assert_eq!(disk(t, 10), (40, 80));
}

#[test]
fn a_gpu_table_prices_only_the_rows_it_measured() {
    let table: Table = serde_json::from_value(serde_json::json!({
        "gpu": "NVIDIA H200", "measured": "today", "rows": [{
            "depth": "vgg7", "width": 0.125, "size": 32, "batch": 8, "batch_norm": true,
            "train_images_per_s": 100.0, "forward_images_per_s": 400.0, "peak_gpu_mib": 2.0
        }]
    }))
    .unwrap();
    let text = SWEEP.replace("[train]\n", "[train]\ndevice = \"cuda\"\n");
    let s = ablate_spec::parse(&text, Path::new("/nowhere/s.toml")).unwrap();
    let t = &s.trials[0];
    let sources = Sources {
        calibrate: false,
        gpu: Some(&table),
    };
    let p = History::default()
        .price(t, [100, 40, 40], HeadSizes::default(), sources)
        .unwrap();
    // 3 x 100 / 100 + (3 x 40 + 40) / 400 = 3.4 s.
    assert!(
        (p.hours.unwrap() * 3600.0 - 3.4).abs() < 1e-9,
        "{:?}",
        p.hours
    );
    assert_eq!(p.gpu_bytes, Some(2 << 20));
    assert_eq!(p.source, "GPU table: NVIDIA H200 (today)");
    let other = SWEEP.replace("batch_size = 8", "batch_size = 16");
    let other = other.replace("[train]\n", "[train]\ndevice = \"cuda\"\n");
    let s = ablate_spec::parse(&other, Path::new("/nowhere/s.toml")).unwrap();
    let p = History::default()
        .price(&s.trials[0], [1, 1, 1], HeadSizes::default(), sources)
        .unwrap();
    assert_eq!(p.hours, None, "no row of batch 16: {}", p.source);
}

#[test]
fn errors_that_are_the_users_say_so() {
    let e = CostError::Undeclared {
        name: "utk".into(),
        gaps: vec!["identities".into(), "classes".into()],
    };
    assert!(e.is_invalid_input());
    assert_eq!(
        e.to_string(),
        "data `utk` is not on this machine, and [data.utk] expected does not say how many identities or classes it has; add `identities = N` and `classes = N` to it"
    );
    let e = gpu_table::find(&[], "h200", None).unwrap_err();
    assert!(e.is_invalid_input());
    assert!(e.to_string().contains("(it has none yet)"), "{e}");
}
