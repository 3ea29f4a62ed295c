//! The default training recipe on real faces (UTKFace-64 from ../shared/data,
//! skipped with a message where absent): a small net at 32 px learns gender and
//! age, and neither run is flagged degenerate.

use crate::run::results;
use crate::support::{ablate_env as ablate, repo, stderr, stdout};

#[test]
fn the_default_recipe_learns_gender_and_age_on_real_faces() {
    let data = repo().join("../shared/data/utkface-64");
    if !data.is_dir() {
        eprintln!(
            "skipped: {} is absent (the real-data checks need ../shared/data)",
            data.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Only [train]'s size, length and threads are set: lr, optimiser, schedule,
    // BatchNorm, dropout and augmentation are the defaults under test.
    let text = format!(
        "[sweep]\nname = \"s\"\noutput = \"out\"\n[data.utk]\nkind = \"utkface\"\npath = \"{}\"\nmax_images = 3000\n\
         [train]\ninput_size = 32\nepochs = 10\nthreads = 2\n\
         [[study]]\nname = \"t\"\nfixed = {{ depth = \"vgg9\", width = 0.25, encoding = \"ldae\" }}\ngrid.tasks = [[\"gender\"], [\"age\"]]\n",
        data.display()
    );
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &["run", "s.toml", "--cpu-slots", "1"], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    for r in results(dir.path()) {
        let res = r.result.as_ref().unwrap();
        assert!(
            !r.degenerate,
            "{}: {}",
            r.labels["tasks"], res["degenerate"]
        );
        let t = &res["test"];
        if r.labels["tasks"] == "gender" {
            let (acc, major) = (
                t["gender"]["accuracy"].as_f64().unwrap(),
                t["gender"]["majority_rate"].as_f64().unwrap(),
            );
            assert!(
                acc > major + 0.1,
                "gender accuracy {acc} vs majority {major}"
            );
        } else {
            let (mae, base) = (
                t["age"]["expected"]["mae"].as_f64().unwrap(),
                t["age"]["baseline_mae"].as_f64().unwrap(),
            );
            assert!(
                mae < 0.95 * base,
                "age MAE {mae} vs the training mean's {base}"
            );
        }
    }
}
