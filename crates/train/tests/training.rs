//! Training end to end on small synthetic data: learning, determinism,
//! checkpoints and transfer from a pretraining trial.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ablate_spec::{Sweep, Trial, TrialKind};
use ablate_train::protocol::{Event, TrialInput, TrialResult};
use ablate_train::trainer::Notice;
use ablate_train::{FailureClass, trainer};

const SWEEP: &str = r#"
[sweep]
name = "t"
seeds = [7]
[data.faces]
kind = "synthetic-faces"
identities = 120
images_per_identity = 8
[train]
input_size = 32
epochs = 8
batch_size = 32
lr = 0.01
crop = 2
threads = 2
[pretrain.face]
task = "identity"
data = "faces"
epochs = 5
lr = 0.02
[[study]]
name = "s"
fixed = { depth = "vgg7", width = 0.25, encoding = "ldae" }
grid.tasks = [["gender", "age"]]
grid.pretrain = ["none", "face"]
"#;

fn sweep(text: &str) -> Sweep {
    ablate_spec::parse(text, Path::new("t.toml")).unwrap()
}

/// Prepares the trial's cache and returns its input file contents.
fn input(sweep: &Sweep, trial: &Trial, dir: &Path, init: Option<PathBuf>) -> TrialInput {
    let name = sweep.dataset_of(&trial.config).unwrap().0;
    let size = trial.config.train.input_size;
    let cache = ablate_data::cache_path(&dir.join("cache"), name, size);
    let prepared = ablate_data::prepare(&trial.config.data, dir, size, &cache, &|_, _| {}).unwrap();
    TrialInput {
        id: trial.id.clone(),
        config: trial.config.clone(),
        exec: trial.exec.clone(),
        data_digest: Some(prepared.content),
        cache,
        run_dir: dir.join("runs").join(&trial.id[..12]),
        init_checkpoint: init,
        heartbeat_s: 60.0,
        labels: trial.labels.clone(),
    }
}

fn run(input: &TrialInput) -> (TrialResult, Vec<Event>) {
    let (mut events, mut notices) = (Vec::new(), Vec::new());
    let result = trainer::run(input, &mut |e| events.push(e.clone()), &mut |n| {
        notices.push(n.clone());
    })
    .unwrap();
    // A fresh run's notices are its result's warnings, for `ablate worker` to print.
    let warnings: Vec<Notice> = result
        .warnings
        .iter()
        .cloned()
        .map(Notice::Warning)
        .collect();
    assert_eq!(notices, warnings);
    (result, events)
}

#[test]
fn learns_gender_and_age_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(SWEEP);
    let trial = s
        .trials
        .iter()
        .find(|t| t.kind == TrialKind::Train && t.config.init.is_none())
        .unwrap();
    let inp = input(&s, trial, dir.path(), None);
    let (result, events) = run(&inp);
    let gender = result.test.gender.as_ref().unwrap();
    let age = result.test.age.as_ref().unwrap();
    assert!(
        gender.accuracy > 0.7,
        "gender accuracy {} should be well above chance",
        gender.accuracy
    );
    assert!(
        age.expected.mae < 0.8 * age.baseline_mae,
        "age MAE {} should beat predicting the mean ({})",
        age.expected.mae,
        age.baseline_mae
    );
    assert!(age.argmax.is_some(), "LDAE reports both read-outs");
    assert!(result.degenerate.is_none(), "{:?}", result.degenerate);
    assert!(matches!(events.first(), Some(Event::Started { .. })));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Epoch(_)))
            .count(),
        8
    );
    for f in [trainer::CHECKPOINT, trainer::RESULT, trainer::METRICS] {
        assert!(inp.run_dir.join(f).is_file(), "{f} written");
    }
    assert_eq!(
        std::fs::read_to_string(inp.run_dir.join(trainer::METRICS))
            .unwrap()
            .lines()
            .count(),
        8
    );
    let on_disk: TrialResult =
        serde_json::from_str(&std::fs::read_to_string(inp.run_dir.join(trainer::RESULT)).unwrap())
            .unwrap();
    assert_eq!(on_disk, result);
}

#[test]
fn same_seed_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let small = SWEEP
        .replace("identities = 120", "identities = 40")
        .replace("epochs = 8", "epochs = 2");
    let s = sweep(&small);
    let trial = s
        .trials
        .iter()
        .find(|t| t.kind == TrialKind::Train && t.config.init.is_none())
        .unwrap();
    let first = input(&s, trial, dir.path(), None);
    let again = TrialInput {
        run_dir: dir.path().join("again"),
        ..first.clone()
    };
    let (a, _) = run(&first);
    let (b, _) = run(&again);
    assert_eq!(a.test, b.test);
    assert_eq!(
        (a.best_epoch, a.best_val_score),
        (b.best_epoch, b.best_val_score)
    );
    let other = sweep(&small.replace("seeds = [7]", "seeds = [8]"));
    let t2 = other
        .trials
        .iter()
        .find(|t| t.kind == TrialKind::Train && t.config.init.is_none())
        .unwrap();
    let (c, _) = run(&input(&other, t2, dir.path(), None));
    assert_ne!(a.test, c.test, "another seed gives other numbers");
}

#[test]
fn fine_tune_starts_from_the_pretrained_trunk() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(SWEEP);
    let pre = s
        .trials
        .iter()
        .find(|t| t.kind == TrialKind::Pretrain)
        .unwrap();
    let pre_in = input(&s, pre, dir.path(), None);
    let (pre_result, _) = run(&pre_in);
    let id = pre_result.test.identity.as_ref().unwrap();
    assert!(
        id.accuracy > 5.0 / 80.0,
        "identity top-1 {} well above chance (1/80)",
        id.accuracy
    );
    let ckpt = pre_in.run_dir.join(trainer::CHECKPOINT);

    // Loading copies every trunk tensor exactly and leaves the heads alone.
    let ft = s
        .trials
        .iter()
        .find(|t| t.config.init.as_deref() == Some(pre.id.as_str()))
        .unwrap();
    let device = candle_core::Device::Cpu;
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &device);
    let heads = ablate_train::model::HeadSizes {
        gender: Some(2),
        age: Some(101),
        ..Default::default()
    };
    let _net = ablate_train::model::Net::new(&ft.config.model, 32, heads, 0.5, &vb).unwrap();
    ablate_train::model::init_weights(&varmap, 1, &device).unwrap();
    let copied = ablate_train::checkpoint::load_trunk(&varmap, &ckpt, &device).unwrap();
    let saved = candle_core::safetensors::load(&ckpt, &device).unwrap();
    let vars = varmap.data().lock().unwrap();
    assert_eq!(
        copied,
        vars.keys().filter(|k| k.starts_with("trunk.")).count()
    );
    for (name, var) in vars.iter() {
        let same = saved.get(name).is_some_and(|t| {
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                == var.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        });
        assert_eq!(same, name.starts_with("trunk."), "{name}");
    }
    drop(vars);

    let ft_in = input(&s, ft, dir.path(), Some(ckpt.clone()));
    let (ft_result, _) = run(&ft_in);
    assert!(ft_result.test.gender.is_some() && ft_result.test.age.is_some());

    // A trunk of another width does not fit, and the message says why.
    let wider = sweep(&SWEEP.replace("width = 0.25", "width = 0.5"));
    let other = wider
        .trials
        .iter()
        .find(|t| t.config.init.is_some())
        .unwrap();
    let bad = input(&wider, other, dir.path(), Some(ckpt));
    let err = trainer::run(&bad, &mut |_| {}, &mut |_| {}).unwrap_err();
    assert_eq!(err.class(), FailureClass::BadConfig);
    let message = err.to_string();
    assert!(
        message.contains("shape") && message.contains("same depth, width"),
        "{message}"
    );
}

#[test]
fn missing_pretraining_checkpoint_and_cuda_requests_are_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(SWEEP);
    let ft = s.trials.iter().find(|t| t.config.init.is_some()).unwrap();
    let err = trainer::run(&input(&s, ft, dir.path(), None), &mut |_| {}, &mut |_| {}).unwrap_err();
    assert!(
        err.class() == FailureClass::BadConfig && err.to_string().contains("no init_checkpoint"),
        "{err:?}"
    );
    if !cfg!(feature = "cuda") {
        let s = sweep(&SWEEP.replace("threads = 2", "threads = 2\ndevice = \"cuda\""));
        let t = s
            .trials
            .iter()
            .find(|t| t.config.init.is_none() && t.kind == TrialKind::Train)
            .unwrap();
        let err =
            trainer::run(&input(&s, t, dir.path(), None), &mut |_| {}, &mut |_| {}).unwrap_err();
        assert!(
            err.class() == FailureClass::BadConfig
                && err.to_string().contains("built without CUDA"),
            "{err:?}"
        );
    }
}

/// Ages outside the encoding's range are clipped, and the result says how many;
/// the default range (0-120) holds any human age, so it clips none.
#[test]
fn ages_outside_a_set_range_are_clipped_with_a_warning() {
    let text = |encoding: &str| {
        format!(
            "[sweep]\nname = \"c\"\nseeds = [0]\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 24\nimages_per_identity = 4\n\
             [train]\ninput_size = 32\nepochs = 1\nbatch_size = 32\nthreads = 1\n\
             [[study]]\nname = \"s\"\nfixed = {{ depth = \"vgg7\", width = 0.125, tasks = [\"age\"] }}\ngrid.encoding = [{encoding}]\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let narrow = sweep(&text(
        "{ kind = \"classification\", age_min = 20, age_max = 40 }",
    ));
    let (result, _) = run(&input(&narrow, &narrow.trials[0], dir.path(), None));
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    assert!(
        result.warnings[0].contains("outside the encoding's range 20-40"),
        "{:?}",
        result.warnings
    );
    let wide = sweep(&text("\"ldae\""));
    let (result, _) = run(&input(&wide, &wide.trials[0], dir.path(), None));
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);
}

/// The degenerate-run check reads the selected epoch's validation evaluation, not
/// the test set: its evidence quotes the validation accuracy (here 1 epoch at a
/// learning rate too small to learn anything, so the run is flagged).
#[test]
fn degenerate_runs_are_judged_on_validation_never_on_test() {
    let text = "[sweep]\nname = \"g\"\nseeds = [0]\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 24\nimages_per_identity = 4\n\
                [train]\ninput_size = 32\nepochs = 1\nbatch_size = 32\nthreads = 1\n\
                [[study]]\nname = \"s\"\nfixed = { depth = \"vgg7\", width = 0.125, tasks = [\"gender\"] }\ngrid.lr = [0.000001]\n";
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(text);
    let inp = input(&s, &s.trials[0], dir.path(), None);
    let (result, events) = run(&inp);
    let Some(Event::Epoch(best)) = events
        .iter()
        .find(|e| matches!(e, Event::Epoch(r) if r.epoch == result.best_epoch))
    else {
        panic!("no report of the best epoch");
    };
    let val = best.val.gender.as_ref().unwrap();
    let test = result.test.gender.as_ref().unwrap();
    assert!(
        (val.accuracy - test.accuracy).abs() > 0.01,
        "this setup needs validation and test to differ (val {}, test {})",
        val.accuracy,
        test.accuracy
    );
    let evidence = result.degenerate.expect("flagged").evidence;
    let quoted = format!("accuracy {:.3}", val.accuracy);
    assert!(
        evidence.iter().any(|e| e.contains(&quoted)),
        "evidence {evidence:?} should quote the validation accuracy ({quoted})"
    );
}

/// A multi-task trial reports each task at its own best validation epoch, as its
/// mono-task counterpart is: age at the lowest validation MAE, gender at the
/// highest validation accuracy (first of equals).
#[test]
fn a_multi_task_trial_reports_each_task_at_its_own_best_epoch() {
    // A constant learning rate: the first k epochs of a longer run are a k-epoch run.
    let text = |epochs: u32| {
        format!(
            "[sweep]\nname = \"m\"\nseeds = [1]\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 40\nimages_per_identity = 4\n\
             [train]\ninput_size = 32\nepochs = {epochs}\nbatch_size = 32\nlr = 0.02\nschedule = \"constant\"\nthreads = 2\n\
             [[study]]\nname = \"s\"\nfixed = {{ depth = \"vgg7\", width = 0.25, encoding = \"ldae\" }}\ngrid.tasks = [[\"gender\", \"age\"]]\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&text(6));
    let inp = input(&s, &s.trials[0], dir.path(), None);
    let (result, events) = run(&inp);
    let epochs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(r) => Some(r.as_ref().clone()),
            _ => None,
        })
        .collect();
    let first_best = |key: &dyn Fn(&ablate_train::protocol::EpochReport) -> f64| {
        let best = epochs.iter().map(key).fold(f64::NEG_INFINITY, f64::max);
        epochs.iter().find(|r| key(r) == best).unwrap().epoch
    };
    let gender = first_best(&|r| r.val.gender.as_ref().unwrap().accuracy);
    let age = first_best(&|r| -r.val.age.as_ref().unwrap().expected.mae);
    assert_eq!(
        result.task_epochs.get("gender"),
        Some(&gender),
        "{:?}",
        result.task_epochs
    );
    assert_eq!(result.task_epochs.get("age"), Some(&age));
    assert_eq!(result.best_epoch, age, "the main checkpoint is age's");
    assert!(inp.run_dir.join("checkpoint-gender.safetensors").exists());
    assert_ne!(
        gender, age,
        "this setup must pick different epochs to test anything"
    );
    // Gender's test metrics are those of the weights after its best epoch: a run
    // stopped there (same seed, same first epochs) reports the same.
    let short = sweep(&text(gender));
    let (at_gender, _) = run(&input(&short, &short.trials[0], dir.path(), None));
    assert_eq!(at_gender.task_epochs.get("gender"), Some(&gender));
    assert_eq!(at_gender.test.gender, result.test.gender);
}
