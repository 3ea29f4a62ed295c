//! Pretraining on a study's own dataset through the real worker: each stage trial
//! learns from the training part of the fold it feeds, and nothing else.

use crate::run::results;
use crate::support::{ablate_env as ablate, stderr, stdout};

fn images(r: &ablate_store::ResultRow) -> [u64; 3] {
    let v = &r.result.as_ref().unwrap()["images"];
    ["train", "val", "test"].map(|k| v[k].as_u64().unwrap())
}

#[test]
fn a_stage_on_a_folded_dataset_learns_only_its_folds_training_people() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n\
        [data.faces]\nkind = \"synthetic-faces\"\nidentities = 18\nimages_per_identity = 4\nsplit = { folds = 3, val = 0.2 }\n\
        [train]\ninput_size = 32\nepochs = 1\nbatch_size = 16\nthreads = 1\n\
        [pretrain.face]\ntask = \"identity\"\ndata = \"faces\"\n\
        [[study]]\nname = \"p\"\nfixed = { depth = \"vgg7\", width = 0.125, tasks = [\"gender\"] }\ngrid.pretrain = [\"face\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &["run", "s.toml", "--cpu-slots", "2"], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let rows = results(dir.path());
    assert_eq!(rows.len(), 6, "3 folds: 3 stage trials, 3 study trials");
    let mut checked = 0;
    for r in rows.iter().filter(|r| r.labels["stage"].is_null()) {
        assert_eq!(r.state, "succeeded", "{}", r.id);
        let init = r.config["init"].as_str().unwrap();
        let stage = rows.iter().find(|s| s.id == init).unwrap();
        assert_eq!(stage.state, "succeeded");
        assert_eq!(
            stage.labels["fold"],
            r.config["fold"].to_string(),
            "one stage per fold"
        );
        let [train, ..] = images(r);
        assert_eq!(
            images(stage).iter().sum::<u64>(),
            train,
            "stage of {}",
            r.id
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}
