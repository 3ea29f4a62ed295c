//! Pretraining never sees a consumer's held-out data: for every trial of a sweep
//! that starts from pretraining, no image or person of its validation or test part
//! is in any part of a stage (up its whole chain) trained on the same dataset.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use ablate_data::{Sample, scan_dataset, trial_parts};
use ablate_spec::types::TrialConfig;
use ablate_spec::{Sweep, TrialKind};

const SWEEP: &str = r#"
[sweep]
name = "leaks"
seeds = 2

[data.faces]
kind = "synthetic-faces"
identities = 40
images_per_identity = 5
split = { train = 0.6, val = 0.2, test = 0.2, seed = 3 }

[data.folded]
kind = "synthetic-faces"
identities = 30
images_per_identity = 4
seed = 7
split = { folds = 3, val = 0.2, seed = 1 }

[data.others]
kind = "synthetic-faces"
identities = 30
images_per_identity = 4
seed = 9

[data.objects]
kind = "synthetic-objects"
classes = 4
images_per_class = 10

[train]
input_size = 32
epochs = 1

[defaults]
depth = "vgg7"
width = 0.125
tasks = ["age"]
encoding = "ldae"

[pretrain.general]
task = "general"
data = "objects"

[pretrain.face]
task = "identity"
data = "faces"
from = "general"

[pretrain.face_folded]
task = "identity"
data = "folded"

[pretrain.face_others]
task = "identity"
data = "others"

[[study]]
name = "own"
fixed.data = "faces"
grid.pretrain = ["none", "face"]

[[study]]
name = "folds"
fixed.data = "folded"
grid.pretrain = ["none", "face_folded"]

[[study]]
name = "separate"
fixed.data = "faces"
grid.pretrain = ["face_others"]
"#;

fn sweep() -> Sweep {
    ablate_spec::parse(SWEEP, Path::new("/tmp/leaks.toml")).unwrap()
}

fn samples(cfg: &TrialConfig) -> Vec<Sample> {
    scan_dataset(&cfg.data, Path::new("/tmp")).unwrap().samples
}

/// Indices and people of a trial's parts.
fn seen(s: &[Sample], idx: &[usize]) -> (BTreeSet<usize>, BTreeSet<u32>) {
    let people = idx.iter().filter_map(|i| s[*i].identity).collect();
    (idx.iter().copied().collect(), people)
}

#[test]
fn no_stage_sees_a_consumers_validation_or_test_people() {
    let sweep = sweep();
    let mut checked = 0;
    for t in sweep.trials.iter().filter(|t| t.kind == TrialKind::Train) {
        let s = samples(&t.config);
        let mine = trial_parts(&s, &t.config).unwrap();
        let held: Vec<usize> = mine.val.iter().chain(&mine.test).copied().collect();
        let (held_idx, held_people) = seen(&s, &held);
        let mut init = t.config.init.clone();
        while let Some(id) = init {
            let stage = sweep.trial(&id).unwrap();
            init = stage.config.init.clone();
            if stage.config.data.source != t.config.data.source {
                continue;
            }
            let p = trial_parts(&s, &stage.config).unwrap();
            let all: Vec<usize> = p
                .train
                .iter()
                .chain(&p.val)
                .chain(&p.test)
                .copied()
                .collect();
            let (idx, people) = seen(&s, &all);
            assert!(
                idx.is_disjoint(&held_idx) && people.is_disjoint(&held_people),
                "stage {} ({:?}) sees {} held-out images and {} held-out people of trial {}",
                stage.id,
                stage.stages,
                idx.intersection(&held_idx).count(),
                people.intersection(&held_people).count(),
                t.id
            );
            assert!(!p.train.is_empty() && !p.val.is_empty(), "stage has data");
            // Identity classification needs every trained person in validation too.
            let train_people = seen(&s, &p.train).1;
            assert!(seen(&s, &p.val).1.is_subset(&train_people));
            checked += 1;
        }
    }
    // own: 2 seeds; folds: 2 seeds x 3 folds.
    assert_eq!(checked, 2 + 6, "every same-dataset stage was checked");
}

#[test]
fn a_stage_on_a_folded_study_dataset_runs_once_per_fold_and_seed() {
    let sweep = sweep();
    let stage = sweep
        .stages
        .iter()
        .find(|s| s.name == "face_folded")
        .unwrap();
    assert_eq!(stage.trials.len(), 3 * 2);
    let folds: BTreeSet<Option<u32>> = stage
        .trials
        .iter()
        .map(|id| {
            sweep
                .trial(id)
                .unwrap()
                .config
                .within
                .as_ref()
                .unwrap()
                .fold
        })
        .collect();
    assert_eq!(folds, [Some(0), Some(1), Some(2)].into_iter().collect());
}

#[test]
fn a_stage_on_another_dataset_is_unchanged() {
    let sweep = sweep();
    for name in ["face_others", "general"] {
        let stage = sweep.stages.iter().find(|s| s.name == name).unwrap();
        assert_eq!(stage.trials.len(), 2, "{name}: one per seed");
        for id in &stage.trials {
            let cfg = &sweep.trial(id).unwrap().config;
            assert!(cfg.within.is_none(), "{name} trains on all of its data");
            let s = samples(cfg);
            let p = trial_parts(&s, cfg).unwrap();
            assert_eq!(p.train.len() + p.val.len() + p.test.len(), s.len());
        }
    }
}
