//! Property tests of expansion and identity: ids depend on content only, counts
//! follow the grid algebra, and no input whatsoever makes the parser panic.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use proptest::prelude::*;

const DEPTHS: &[&str] = &["vgg7", "vgg9", "vgg11", "bench"];
const WIDTHS: &[(f64, &str)] = &[(0.25, "0.25"), (0.5, "5e-1"), (1.0, "1")];
const ENCODINGS: &[&str] = &[
    "\"classification\"",
    "{ kind = \"regression\", loss = \"l1\" }",
    "{ kind = \"regression\" }",
    "{ kind = \"ldae\", sigma = 3.0 }",
];

/// A random but valid study: which values each axis takes, and excluded (depth, width) pairs.
#[derive(Debug, Clone)]
struct Grid {
    depths: Vec<usize>,
    widths: Vec<usize>,
    encodings: Vec<usize>,
    excludes: Vec<(usize, usize)>,
    seeds: u64,
}

fn subset(n: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=n)
}

fn grid() -> impl Strategy<Value = Grid> {
    (
        subset(DEPTHS.len()),
        subset(WIDTHS.len()),
        subset(ENCODINGS.len()),
        1u64..4,
    )
        .prop_flat_map(|(depths, widths, encodings, seeds)| {
            let pairs: Vec<(usize, usize)> = depths
                .iter()
                .flat_map(|d| widths.iter().map(move |w| (*d, *w)))
                .collect();
            let max = pairs.len() - 1; // never exclude everything
            proptest::sample::subsequence(pairs, 0..=max).prop_map(move |excludes| Grid {
                depths: depths.clone(),
                widths: widths.clone(),
                encodings: encodings.clone(),
                excludes,
                seeds,
            })
        })
}

/// Renders the grid as TOML; `variant` picks one of several equivalent spellings.
fn render(g: &Grid, variant: u8, study_name: &str) -> String {
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let depths = list(
        g.depths
            .iter()
            .map(|i| format!("\"{}\"", DEPTHS[*i]))
            .collect(),
    );
    let widths = list(
        g.widths
            .iter()
            .map(|i| {
                if variant.is_multiple_of(2) {
                    WIDTHS[*i].0.to_string()
                } else {
                    WIDTHS[*i].1.to_string()
                }
            })
            .collect(),
    );
    let encodings = list(
        g.encodings
            .iter()
            .map(|i| ENCODINGS[*i].to_string())
            .collect(),
    );
    let excludes = list(
        g.excludes
            .iter()
            .map(|(d, w)| format!("{{ width = {}, depth = \"{}\" }}", WIDTHS[*w].0, DEPTHS[*d]))
            .collect(),
    );
    let sweep = format!("[sweep]\nname = \"p\"\nseeds = {}\n", g.seeds);
    let data = "[data.faces]\nkind = \"synthetic-faces\"\nidentities = 10\n";
    let train = if variant.is_multiple_of(2) {
        "[train]\nepochs = 2\nlr = 0.01\ninput_size = 32\n".to_string()
    } else {
        "[train]\n# reordered, other spellings\ninput_size = 0x20\nlr = 1e-2\n\n   epochs = 2   # two\n".to_string()
    };
    let study = if variant.is_multiple_of(3) {
        format!(
            "[[study]]\nname = \"{study_name}\"\nfixed = {{ tasks = [\"age\"] }}\ngrid = {{ depth = {depths}, width = {widths}, encoding = {encodings} }}\nexclude = {excludes}\n"
        )
    } else {
        format!(
            "[[study]]\nexclude = {excludes}\nname = \"{study_name}\"\n[study.grid]\nencoding = {encodings}\nwidth = {widths}\ndepth = {depths}\n[study.fixed]\ntasks = [ \"age\" ]\n"
        )
    };
    match variant % 4 {
        0 => format!("{sweep}\n{data}\n{train}\n{study}"),
        1 => format!("{train}\n{study}\n{data}\n{sweep}"),
        2 => format!("{data}\n{sweep}\n{study}\n{train}"),
        _ => format!("# comment\n\n{sweep}{data}{train}{study}\n\n"),
    }
}

fn ids(text: &str) -> Vec<String> {
    let sweep = ablate_spec::parse(text, Path::new("prop.toml"))
        .unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    sweep.trials.iter().map(|t| t.id.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Key order, section order, number spelling, comments, whitespace and the
    /// study's name do not change any trial id.
    #[test]
    fn ids_ignore_formatting(g in grid(), a in 0u8..12, b in 0u8..12) {
        let first: HashSet<String> = ids(&render(&g, a, "one")).into_iter().collect();
        let second: HashSet<String> = ids(&render(&g, b, "other-name")).into_iter().collect();
        prop_assert_eq!(first, second);
    }

    /// Trials = (product of axis sizes - excluded combinations) x seeds.
    #[test]
    fn count_is_grid_algebra(g in grid()) {
        let combos = g.depths.len() * g.widths.len() * g.encodings.len();
        let excluded = g.excludes.len() * g.encodings.len();
        let expected = (combos - excluded) * g.seeds as usize;
        let got = ids(&render(&g, 0, "s"));
        prop_assert_eq!(got.len(), expected);
        prop_assert_eq!(got.iter().collect::<HashSet<_>>().len(), expected, "ids are unique");
    }

    /// The same grid listed by two studies is one set of trials, listed in both.
    #[test]
    fn studies_share_identical_trials(g in grid()) {
        let one = render(&g, 0, "first");
        let study = one.split("[[study]]").nth(1).unwrap().replace("\"first\"", "\"second\"");
        let two = format!("{one}\n[[study]]{study}");
        let sweep = ablate_spec::parse(&two, Path::new("two.toml")).unwrap();
        let alone = ids(&one);
        prop_assert_eq!(sweep.trials.len(), alone.len());
        for t in &sweep.trials {
            prop_assert_eq!(&t.studies, &vec!["first".to_string(), "second".to_string()]);
        }
    }

    /// Arbitrary text never panics: it parses or gives diagnostics.
    #[test]
    fn arbitrary_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = ablate_spec::parse(&text, Path::new("fuzz.toml")) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    /// Valid files with random edits (deleted, inserted, duplicated or swapped spans) never panic.
    #[test]
    fn mutated_files_never_panic(file in 0usize..3, edits in proptest::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<prop::sample::Index>(), "[ -~\n]{0,12}"), 1..6)) {
        let names = ["quick", "paper", "utkface"];
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments").join(format!("{}.toml", names[file]));
        let mut text: Vec<char> = std::fs::read_to_string(&path).unwrap().chars().collect();
        for (op, i, j, insert) in edits {
            if text.is_empty() { break; }
            let (a, b) = { let (x, y) = (i.index(text.len()), j.index(text.len())); (x.min(y), x.max(y)) };
            match op {
                0 => { text.drain(a..b); }
                1 => { text.splice(a..a, insert.chars()); }
                2 => { let dup: Vec<char> = text[a..b].to_vec(); text.splice(b..b, dup); }
                _ => { text[a..b].reverse(); }
            }
        }
        let text: String = text.into_iter().collect();
        let _ = ablate_spec::parse(&text, Path::new("mutated.toml"));
    }
}

#[test]
fn deep_nesting_and_huge_numbers_are_errors_not_crashes() {
    let deep = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(ablate_spec::parse(&deep, Path::new("deep.toml")).is_err());
    let deep_tables = format!("x = {}1{}", "{ a = ".repeat(50_000), " }".repeat(50_000));
    assert!(ablate_spec::parse(&deep_tables, Path::new("deep.toml")).is_err());
    let huge = "[sweep]\nname = \"h\"\nseeds = 99999999999999999999999999\n";
    let err = ablate_spec::parse(huge, Path::new("huge.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("huge.toml:3:"), "{err}");
}

#[test]
fn pretraining_trials_are_shared_and_ordered_first() {
    let text = r#"
[sweep]
name = "pt"
seeds = [3, 4]
[data.faces]
kind = "synthetic-faces"
[pretrain.face]
task = "identity"
data = "faces"
[[study]]
name = "a"
fixed = { depth = "vgg7", pretrain = "face", encoding = "ldae" }
grid.tasks = [["gender"], ["age"]]
[[study]]
name = "b"
fixed = { depth = "vgg7", pretrain = "face", tasks = ["gender"] }
grid.lr = [0.01, 0.1]
"#;
    let sweep = ablate_spec::parse(text, Path::new("pt.toml")).unwrap();
    let pre: Vec<_> = sweep
        .trials
        .iter()
        .filter(|t| t.kind == ablate_spec::TrialKind::Pretrain)
        .collect();
    assert_eq!(
        pre.len(),
        2,
        "one pretraining trial per seed, shared by both studies"
    );
    let first_train = sweep
        .trials
        .iter()
        .position(|t| t.kind == ablate_spec::TrialKind::Train)
        .unwrap();
    assert_eq!(first_train, 2, "pretraining trials come first");
    // a: 2 task values x 2 seeds; b: 2 lrs x 2 seeds, of which lr 0.01 + gender is a's gender trial.
    assert_eq!(sweep.trials.len(), 2 + 4 + 2);
    for t in &sweep.trials[first_train..] {
        assert_eq!(t.depends_on.len(), 1);
        let dep = sweep.trial(&t.depends_on[0]).unwrap();
        assert_eq!(
            dep.config.seed, t.config.seed,
            "a fine-tune waits on the pretraining trial of its own seed"
        );
        assert_eq!(dep.config.model, t.config.model);
        assert_eq!(t.config.init.as_deref(), Some(dep.id.as_str()));
    }
    let labels: BTreeMap<_, _> = sweep
        .trials
        .iter()
        .map(|t| (t.id.clone(), t.studies.clone()))
        .collect();
    assert!(
        labels
            .values()
            .any(|s| s == &vec!["a".to_string(), "b".to_string()])
    );
}

#[test]
fn exec_settings_do_not_change_ids() {
    let base = "[sweep]\nname = \"e\"\n[data.f]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"s\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n";
    let other = base.replace(
        "[data.f]",
        "[train]\nthreads = 8\ndevice = \"cuda\"\ncheckpoint_minutes = 0.5\n[data.f]",
    );
    assert_eq!(ids(base), ids(&other));
    let sweep = ablate_spec::parse(&other, Path::new("e.toml")).unwrap();
    assert_eq!(sweep.trials[0].exec.checkpoint_ms, Some(30_000));
    // How to run is never an axis: it would make trials of one identity.
    let axis = base.replace(
        "grid.depth = [\"vgg7\"]",
        "grid.checkpoint_minutes = [1, 2]",
    );
    let err = ablate_spec::parse(&axis, Path::new("e.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("checkpoint_minutes"), "{err}");
    let zero = base.replace("[data.f]", "[train]\ncheckpoint_minutes = 0\n[data.f]");
    let err = ablate_spec::parse(&zero, Path::new("e.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("minutes between resumable states"), "{err}");
    let changed = base.replace("[data.f]", "[train]\nepochs = 3\n[data.f]");
    assert_ne!(ids(base), ids(&changed));
}

#[test]
fn precision_is_part_of_a_cuda_trials_id_and_refused_on_the_cpu() {
    let base = "[sweep]\nname = \"e\"\n[data.f]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"s\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n";
    let with = |train: &str| base.replace("[data.f]", &format!("[train]\n{train}\n[data.f]"));
    let cuda = with("device = \"cuda\"");
    // fp32 is what a trial always computed in: saying so changes no id.
    assert_eq!(
        ids(&cuda),
        ids(&with("device = \"cuda\"\nprecision = \"fp32\""))
    );
    assert_eq!(ids(base), ids(&with("precision = \"fp32\"")));
    let tf32 = with("device = \"cuda\"\nprecision = \"tf32\"");
    assert_ne!(ids(&cuda), ids(&tf32), "TF32 products give other numbers");
    let sweep = ablate_spec::parse(&tf32, Path::new("e.toml")).unwrap();
    let p = sweep.trials[0].config.train.precision;
    assert_eq!(p, ablate_spec::types::Precision::Tf32);
    // As an axis, for a CUDA sweep: two trials.
    let axis = cuda.replace(
        "grid.depth = [\"vgg7\"]",
        "fixed.depth = \"vgg7\"\ngrid.precision = [\"fp32\", \"tf32\"]",
    );
    assert_eq!(ids(&axis).len(), 2);
    for bad in [
        with("precision = \"tf32\""),
        axis.replace("device = \"cuda\"", "device = \"cpu\""),
    ] {
        let err = ablate_spec::parse(&bad, Path::new("e.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("precision = \"tf32\" is for CUDA trials"),
            "{err}"
        );
        assert!(err.contains("e.toml"), "names the file: {err}");
    }
    let err = ablate_spec::parse(&with("precision = \"fp16\""), Path::new("e.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fp32") && err.contains("tf32"),
        "says what is valid: {err}"
    );
}
