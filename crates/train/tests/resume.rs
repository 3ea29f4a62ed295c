//! Resuming inside a trial: an attempt stopped mid-epoch and resumed from its
//! state ends exactly where an uninterrupted one does (CPU, same threads), and a
//! state that is truncated, corrupt or another trial's is never loaded.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ablate_protocol::RunDir;
use ablate_spec::Sweep;
use ablate_train::protocol::{Event, TrialInput, TrialResult};
use ablate_train::trainer::Notice;
use ablate_train::{FailureClass, trainer};

const SWEEP: &str = r#"
[sweep]
name = "r"
seeds = [7, 8]
[data.faces]
kind = "synthetic-faces"
identities = 80
images_per_identity = 8
[train]
input_size = 32
epochs = 3
batch_size = 32
lr = 0.01
crop = 2
threads = 2
[[study]]
name = "s"
fixed = { depth = "vgg7", width = 0.25, encoding = "ldae" }
grid.tasks = [["gender", "age"]]
"#;

fn inputs(dir: &Path) -> Vec<TrialInput> {
    let s: Sweep = ablate_spec::parse(SWEEP, Path::new("r.toml")).unwrap();
    s.trials
        .iter()
        .map(|t| {
            let name = s.dataset_of(&t.config).unwrap().0;
            let size = t.config.train.input_size;
            let cache = ablate_data::cache_path(&dir.join("cache"), name, size);
            let content = match ablate_data::Cache::load(&cache) {
                Ok(c) => c.content_digest(),
                Err(_) => {
                    ablate_data::prepare(&t.config.data, dir, size, &cache, &|_, _| {})
                        .unwrap()
                        .content
                }
            };
            TrialInput {
                id: t.id.clone(),
                config: t.config.clone(),
                exec: t.exec.clone(),
                data_digest: Some(content),
                cache,
                run_dir: dir.join("plain").join(&t.id[..12]),
                init_checkpoint: None,
                heartbeat_s: 60.0,
                labels: t.labels.clone(),
            }
        })
        .collect()
}

/// The same trial writing into `name`, with a state after every step.
fn in_dir(input: &TrialInput, dir: &Path, name: &str) -> TrialInput {
    let mut i = input.clone();
    i.run_dir = dir.join(name);
    i.exec.checkpoint_ms = Some(1);
    i
}

/// Runs `input`, asking it to stop once it has written `stop_after` states.
fn run(
    input: &TrialInput,
    stop_after: Option<usize>,
) -> (Result<TrialResult, ablate_train::TrainError>, Vec<Event>) {
    let stop = AtomicBool::new(false);
    let (mut events, mut notices) = (Vec::new(), Vec::new());
    let mut states = 0;
    let r = trainer::run_until(
        input,
        &mut |e| {
            if matches!(e, Event::State { .. }) {
                states += 1;
                if Some(states) == stop_after {
                    stop.store(true, Ordering::SeqCst);
                }
            }
            events.push(e.clone());
        },
        &mut |n| notices.push(n.clone()),
        &stop,
    );
    // The person running it is told on stderr what `started` says.
    let told: Vec<Notice> = resume_note(&events)
        .into_iter()
        .map(Notice::Resume)
        .collect();
    assert_eq!(notices, told);
    (r, events)
}

fn resume_note(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::Started { resume, .. } => resume.clone(),
        _ => None,
    })
}

/// metrics.jsonl without its timings, which differ between runs.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(RunDir::METRICS))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("elapsed_s");
            v.as_object_mut().unwrap().remove("images_per_s");
            v
        })
        .collect()
}

fn assert_same(a: &TrialResult, b: &TrialResult, da: &Path, db: &Path) {
    assert_eq!(a.test, b.test, "test metrics");
    assert_eq!(a.best_epoch, b.best_epoch);
    assert_eq!(a.task_epochs, b.task_epochs);
    assert_eq!(a.best_val_score, b.best_val_score);
    assert_eq!(
        metrics(da),
        metrics(db),
        "every epoch's loss and validation"
    );
    for f in [RunDir::CHECKPOINT, RunDir::CHECKPOINT_GENDER] {
        assert_eq!(
            std::fs::read(da.join(f)).unwrap(),
            std::fs::read(db.join(f)).unwrap(),
            "{f}: the same best weights"
        );
    }
}

#[test]
fn a_trial_stopped_twice_mid_epoch_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let all = inputs(dir.path());
    let plain = &all[0];
    let (whole, _) = run(plain, None);
    let whole = whole.unwrap();

    let inp = in_dir(plain, dir.path(), "stopped");
    // Stopped in epoch 1 (after 5 of its 14 steps), then again in epoch 3.
    let (first, events) = run(&inp, Some(5));
    let err = first.unwrap_err();
    assert_eq!(err.class(), FailureClass::Preempted, "{err}");
    assert!(err.to_string().contains("epoch 1, batch 6"), "{err}");
    assert!(
        resume_note(&events).is_none(),
        "nothing to resume the first time"
    );
    assert!(inp.run_dir.join(RunDir::STATE).is_file());

    let (second, events) = run(&inp, Some(25));
    assert_eq!(second.unwrap_err().class(), FailureClass::Preempted);
    let note = resume_note(&events).unwrap();
    assert!(
        note.contains("resumed from state.safetensors in epoch 1, after batch 6"),
        "{note}"
    );

    let (third, events) = run(&inp, None);
    let note = resume_note(&events).unwrap();
    assert!(note.contains("in epoch 3"), "{note}");
    let epochs: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(r) => Some(r.epoch),
            _ => None,
        })
        .collect();
    // Epochs 1 and 2 come from the state, reported again; only 3 is trained.
    assert_eq!(
        epochs,
        [1, 2, 3],
        "the whole curve, for the attempt's record"
    );
    let trained = events
        .iter()
        .filter(|e| matches!(e, Event::State { .. }))
        .count();
    assert!(
        trained <= 13,
        "only epoch 3 trained: {trained} states written"
    );
    assert_same(&whole, &third.unwrap(), &plain.run_dir, &inp.run_dir);
}

#[test]
fn a_truncated_corrupt_or_foreign_state_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let all = inputs(dir.path());
    let (plain, other) = (&all[0], &all[1]);
    let (whole, _) = run(plain, None);
    let whole = whole.unwrap();
    // A valid state of this trial (epoch 2) and one of the other seed's.
    let src = in_dir(plain, dir.path(), "source");
    assert!(run(&src, Some(20)).0.is_err());
    let good = std::fs::read(src.run_dir.join(RunDir::STATE)).unwrap();
    let theirs = in_dir(other, dir.path(), "theirs");
    assert!(run(&theirs, Some(3)).0.is_err());
    let foreign = std::fs::read(theirs.run_dir.join(RunDir::STATE)).unwrap();

    let mut flipped = good.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x40;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "truncated or corrupt",
        ),
        ("flipped", flipped, "do not match their checksum"),
        ("foreign", foreign, "belongs to trial"),
        ("garbage", b"not a state".to_vec(), "truncated or corrupt"),
    ];
    for (name, bytes, why) in cases {
        let inp = in_dir(plain, dir.path(), name);
        std::fs::create_dir_all(&inp.run_dir).unwrap();
        std::fs::write(inp.run_dir.join(RunDir::STATE), bytes).unwrap();
        let (r, events) = run(&inp, None);
        let note = resume_note(&events).unwrap();
        assert!(
            note.contains("state.safetensors not used") && note.contains(why),
            "{name}: {note}"
        );
        assert!(note.contains("starts from scratch"), "{name}: {note}");
        assert_same(&whole, &r.unwrap(), &plain.run_dir, &inp.run_dir);
    }
}

/// A kill between writing the best weights and the state that counts them, or
/// between the state and moving the weights into place, loses nothing: the
/// weights are written as pending, the state counts them, then they are moved.
#[test]
fn a_stop_between_the_best_weights_and_the_state_resumes_either_way() {
    let dir = tempfile::tempdir().unwrap();
    let all = inputs(dir.path());
    let plain = &all[0];
    let whole = run(plain, None).0.unwrap();
    let mut inp = in_dir(plain, dir.path(), "epochs");
    inp.exec.checkpoint_ms = None;
    let files = [RunDir::STATE, RunDir::CHECKPOINT, RunDir::CHECKPOINT_GENDER];
    let read = |i: &TrialInput| files.map(|f| std::fs::read(i.run_dir.join(f)).unwrap());
    // States after epoch 1, then after epoch 2, with the weights of each.
    assert!(run(&inp, Some(1)).0.is_err());
    let first = read(&inp);
    assert!(run(&inp, Some(1)).0.is_err());
    let second = read(&inp);
    let pending = |f: &str| format!("{f}.pending");
    for (case, state, at) in [
        // Stopped after the state counted epoch 2's weights, before they moved.
        ("before-commit", &second[0], "after epoch 2"),
        // Stopped after epoch 2's weights were written, before its state.
        ("before-state", &first[0], "after epoch 1"),
    ] {
        let i = in_dir(plain, dir.path(), case);
        std::fs::create_dir_all(&i.run_dir).unwrap();
        std::fs::write(i.run_dir.join(RunDir::STATE), state).unwrap();
        for (k, f) in files.iter().enumerate().skip(1) {
            std::fs::write(i.run_dir.join(f), &first[k]).unwrap();
            std::fs::write(i.run_dir.join(pending(f)), &second[k]).unwrap();
        }
        let (r, events) = run(&i, None);
        let note = resume_note(&events).unwrap();
        assert!(
            note.contains(&format!("resumed from state.safetensors {at}")),
            "{case}: {note}"
        );
        assert_same(&whole, &r.unwrap(), &plain.run_dir, &i.run_dir);
        for f in &files[1..] {
            assert!(
                !i.run_dir.join(pending(f)).exists(),
                "{case}: {f} pending left"
            );
        }
    }
}

/// A state is another training's when the pretrained weights it started from
/// changed (the pretraining trial was rerun): never loaded.
#[test]
fn a_state_from_other_pretrained_weights_is_not_loaded() {
    use ablate_train::resume::{self, Owner, Progress};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(RunDir::STATE);
    let owner = |init: &str| Owner {
        trial: "t".into(),
        trainer_version: ablate_train::TRAINER_VERSION,
        data_digest: "d".into(),
        split_digest: "s".into(),
        init_sha256: Some(init.into()),
    };
    let dev = candle_core::Device::Cpu;
    let w = candle_core::Tensor::new(&[1f32, 2.0, 3.0], &dev).unwrap();
    resume::save(
        &path,
        &owner("a"),
        1,
        &Progress::fresh(0),
        &[("var/w".into(), w)],
    )
    .unwrap();
    assert!(resume::load(&path, &owner("a"), &dev).unwrap().is_some());
    let why = resume::load(&path, &owner("b"), &dev).unwrap_err();
    assert!(why.contains("pretraining checkpoint"), "{why}");
}
