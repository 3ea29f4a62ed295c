//! Defaults that decide what a trial is, checked where they matter.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ablate_spec::types::{Encoding, Objective};

/// The classifiers' default age range holds any human age (UTKFace reaches 116),
/// so no dataset's labels fall outside it and `ablate plan` needs no data.
#[test]
fn the_default_age_range_covers_any_human_age() {
    let text = "[sweep]\nname = \"d\"\n[data.faces]\nkind = \"synthetic-faces\"\n\
                [[study]]\nname = \"e\"\nfixed = { tasks = [\"age\"], depth = \"vgg7\" }\ngrid.encoding = [\"classification\", \"ldae\"]\n";
    let sweep = ablate_spec::parse(text, Path::new("d.toml")).unwrap();
    assert_eq!(sweep.trials.len(), 2);
    for t in &sweep.trials {
        let Objective::Faces {
            age: Some(task), ..
        } = &t.config.objective
        else {
            panic!("an age trial");
        };
        let (lo, hi) = match task.encoding {
            Encoding::Classification { age_min, age_max }
            | Encoding::Ldae {
                age_min, age_max, ..
            } => (age_min, age_max),
            Encoding::Regression { .. } => panic!("a classifier"),
        };
        assert_eq!((lo, hi), (0, 120));
    }
}

/// Ids are what databases key results on: a change of what goes into them (a new
/// `TrialConfig` field, a new default) reruns every sweep. These two are pinned;
/// when a change is meant to alter them, bump `ID_VERSION` and update them here.
#[test]
fn trial_ids_are_stable() {
    let text = "[sweep]\nname = \"d\"\n[data.faces]\nkind = \"synthetic-faces\"\n\
                [data.ids]\nkind = \"synthetic-faces\"\nseed = 1\n\
                [pretrain.face]\ntask = \"identity\"\ndata = \"ids\"\n\
                [[study]]\nname = \"e\"\nfixed = { data = \"faces\", tasks = [\"gender\"], depth = \"vgg7\", pretrain = \"face\" }\ngrid.width = [0.25]\n";
    let sweep = ablate_spec::parse(text, Path::new("d.toml")).unwrap();
    let ids: Vec<&str> = sweep.trials.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "b612273dd4b36b5dfdb408d25f342c38a38855df4b0ef3fbba5425f96a4d0d27",
            "be1d80feea2d60b4e83fc3570152bd932544b562fe77e8a72964309f1d5a32bf",
        ]
    );
}
