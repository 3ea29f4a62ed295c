//! A short training run's losses, pinned: if this fails, training semantics
//! changed (data pipeline, initialisation, losses, optimiser). Bump
//! `BUILTIN_TRAINER_VERSION` (crates/protocol/src/lib.rs), so results trained before are known to be of
//! another trainer, then update `GOLDEN` to the values printed.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ablate_train::protocol::{Event, TrialInput};
use ablate_train::{TRAINER_VERSION, trainer};

const SWEEP: &str = "[sweep]\nname = \"gold\"\nseeds = [3]\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 24\nimages_per_identity = 4\n\
                     [train]\ninput_size = 32\nepochs = 2\nbatch_size = 16\nlr = 0.02\nthreads = 1\n\
                     [[study]]\nname = \"s\"\nfixed = { depth = \"vgg7\", width = 0.125, encoding = \"ldae\" }\ngrid.tasks = [[\"gender\", \"age\"]]\n";

/// (training loss, validation loss) of epochs 1 and 2, with TRAINER_VERSION 1.
const GOLDEN: [(f64, f64); 2] = [
    (5.99690416124132, 5.512578964233398),
    (5.660552289750841, 6.135016918182373),
];

/// Float rounding differs between instruction sets (AVX2, AVX-512) by far less;
/// a change of meaning moves these losses by far more.
const TOLERANCE: f64 = 1e-4;

#[test]
fn a_short_run_still_trains_as_trainer_version_says() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = ablate_spec::parse(SWEEP, Path::new("gold.toml")).unwrap();
    let t = &sweep.trials[0];
    let cache = ablate_data::cache_path(&dir.path().join("cache"), "faces", 32);
    let prepared =
        ablate_data::prepare(&t.config.data, dir.path(), 32, &cache, &|_, _| {}).unwrap();
    let input = TrialInput {
        id: t.id.clone(),
        config: t.config.clone(),
        exec: t.exec.clone(),
        data_digest: Some(prepared.content),
        cache,
        run_dir: dir.path().join("run"),
        init_checkpoint: None,
        heartbeat_s: 60.0,
        labels: t.labels.clone(),
    };
    let mut got = Vec::new();
    let result = trainer::run(
        &input,
        &mut |e| {
            if let Event::Epoch(r) = e {
                got.push((r.train_loss, r.val.loss));
            }
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(result.trainer_version, Some(TRAINER_VERSION));
    let close = |a: f64, b: f64| (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1e-12);
    let same = got.len() == GOLDEN.len()
        && got
            .iter()
            .zip(GOLDEN)
            .all(|(g, w)| close(g.0, w.0) && close(g.1, w.1));
    assert!(
        same,
        "training semantics changed (TRAINER_VERSION {TRAINER_VERSION}): losses {got:?}, pinned {GOLDEN:?}. \
         Bump BUILTIN_TRAINER_VERSION in crates/protocol/src/lib.rs (stored results become stale and rerun), then set GOLDEN to the new losses."
    );
}
