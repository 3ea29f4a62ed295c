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
