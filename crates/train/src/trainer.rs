//! One trial from start to finish: data and split, model and transfer, the epoch
//! loop with validation, best-epoch checkpointing, the test evaluation and result.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Var};
use candle_nn::{VarBuilder, VarMap};

use ablate_data::Cache;
use ablate_spec::types::{Device as DeviceKind, ExecSpec};

use crate::batch::{self, Jitter};
use crate::checkpoint;
use crate::error::TrainError;
use crate::evaluate::{self, degenerate, selection};
use crate::metrics::ClassMetrics;
use crate::model::{Net, init_weights};
use crate::optim::{Optim, learning_rate};
use crate::protocol::{Counts, EpochReport, Event, FailureClass, RunDir, TrialInput, TrialResult};
use crate::rng::Rng;
use crate::tasks::Heads;

pub const CHECKPOINT: &str = RunDir::CHECKPOINT;
pub const RESULT: &str = RunDir::RESULT;
pub const METRICS: &str = RunDir::METRICS;

/// The device a trial asks for; CUDA ordinal 0 (the scheduler pins a GPU with CUDA_VISIBLE_DEVICES).
pub fn device(exec: &ExecSpec) -> Result<Device, TrainError> {
    match exec.device {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda if !cfg!(feature = "cuda") => Err(TrainError::bad_config(
            "this trial asks for device = \"cuda\", but this ablate was built without CUDA; build it with `cargo build --release --features cuda` (see README) or set device = \"cpu\"",
        )),
        DeviceKind::Cuda => Device::new_cuda(0)
            .map_err(|e| TrainError::bad_config(format!("no usable CUDA device: {e}"))),
    }
}

pub fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal".into(),
    }
}

/// Writes `text` to `dir/name` through a temporary file and a rename.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> Result<(), TrainError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, dir.join(name)))
        .map_err(|e| TrainError::io(format!("cannot write {}: {e}", dir.join(name).display())))
}

struct Data {
    cache: Cache,
    train: Vec<usize>,
    val: Vec<usize>,
    test: Vec<usize>,
    digest: String,
    content: String,
}

fn load_data(input: &TrialInput) -> Result<Data, TrainError> {
    let cfg = &input.config;
    let cache = Cache::load(&input.cache)?;
    if cache.size() != cfg.train.input_size {
        return Err(TrainError::bad_config(format!(
            "cache {} holds {}px images, the trial needs {}px",
            input.cache.display(),
            cache.size(),
            cfg.train.input_size
        )));
    }
    let content = cache.content_digest();
    if let Some(want) = input.data_digest.as_deref().filter(|w| *w != content) {
        return Err(TrainError::bad_config(format!(
            "cache {} holds data with content digest {content}, but the trial file expects {want}: \
             the data changed after the orchestrator prepared it; run `ablate run` again to rebuild \
             the cache and rerun the trials it decides",
            input.cache.display()
        )));
    }
    let parts = ablate_data::trial_parts(&cache.samples, cfg)?;
    let keep = |idx: Vec<usize>| -> Vec<usize> {
        idx.into_iter()
            .filter(|i| Heads::usable(&cfg.objective, &cache.samples[*i]))
            .collect()
    };
    let (train, val, test) = (
        keep(parts.train.clone()),
        keep(parts.val.clone()),
        keep(parts.test.clone()),
    );
    for (name, part) in [("training", &train), ("validation", &val), ("test", &test)] {
        if part.is_empty() {
            return Err(TrainError::bad_config(format!(
                "no {name} image has the {} this trial needs ({} images in the cache)",
                Heads::needs(&cfg.objective),
                cache.len()
            )));
        }
    }
    Ok(Data {
        cache,
        train,
        val,
        test,
        digest: parts.digest(),
        content,
    })
}

/// What else to change when the loss diverges, given what is already on.
fn divergence_advice(batch_norm: bool, warmup_epochs: u32) -> &'static str {
    match (batch_norm, warmup_epochs) {
        (false, _) => " or turn on batch_norm",
        (true, 0) => {
            " or warm it up (warmup_epochs = 1); L2 regression, whose gradient grows with the error, often needs a lower lr than the other encodings (zip.lr)"
        }
        (true, _) => "; BatchNorm and warm-up are already on",
    }
}

/// The images a trial trains, validates and tests on, as cache positions, after
/// the same checks and the same filtering by task the trainer applies.
#[derive(Debug)]
pub struct TrialSplit {
    pub cache: Cache,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// A trial's parts exactly as [`run`] would use them: `ablate data split` exports
/// them so another framework can train on the same images.
pub fn trial_split(input: &TrialInput) -> Result<TrialSplit, TrainError> {
    let d = load_data(input)?;
    Ok(TrialSplit {
        cache: d.cache,
        train: d.train,
        val: d.val,
        test: d.test,
    })
}

/// Runs the trial, reporting through `emit`; files go to `input.run_dir`.
pub fn run(input: &TrialInput, emit: &mut dyn FnMut(&Event)) -> Result<TrialResult, TrainError> {
    let cfg = &input.config;
    let spec = &cfg.train;
    let device = device(&input.exec)?;
    std::fs::create_dir_all(&input.run_dir)
        .map_err(|e| TrainError::io(format!("cannot create {}: {e}", input.run_dir.display())))?;
    let data = load_data(input)?;
    let samples = &data.cache.samples;
    let train_ages: Vec<f32> = data.train.iter().filter_map(|i| samples[*i].age).collect();
    let mean_age = if train_ages.is_empty() {
        0.0
    } else {
        train_ages.iter().sum::<f32>() / train_ages.len() as f32
    };
    let heads = Heads::new(&cfg.objective, &train_ages);
    let sizes = heads.sizes(
        data.cache.meta.identities.len(),
        data.cache.meta.classes.len(),
    );

    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let side = spec.input_size as usize;
    let net = Net::new(&cfg.model, side, sizes, spec.dropout as f32, &vb)
        .map_err(|e| TrainError::bad_config(format!("cannot build the network: {e}")))?;
    init_weights(&varmap, cfg.seed, &device)?;
    match (&input.init_checkpoint, &cfg.init) {
        (Some(path), _) => {
            checkpoint::load_trunk(&varmap, path, &device)?;
        }
        (None, Some(id)) => {
            return Err(TrainError::bad_config(format!(
                "this trial starts from pretraining trial {id}, but no init_checkpoint was given"
            )));
        }
        (None, None) => {}
    }
    let named: Vec<(String, Var)> = {
        let vars = varmap
            .data()
            .lock()
            .map_err(|_| TrainError::internal("variable map lock poisoned"))?;
        let mut v: Vec<(String, Var)> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let parameters = named
        .iter()
        .filter(|(n, _)| !n.contains("running_"))
        .map(|(_, v)| v.elem_count())
        .sum();
    let mut optim = Optim::new(spec, named);
    // The pool every kernel (candle's, gemm's, cpu_ops') runs on: its size is the budget.
    let threads = rayon::current_num_threads();
    let images = Counts {
        train: data.train.len(),
        val: data.val.len(),
        test: data.test.len(),
    };
    emit(&Event::Started {
        trial: input.id.to_string(),
        device: device_name(&device),
        threads,
        images: images.clone(),
        parameters,
        epochs: spec.epochs,
    });

    let batch_size = spec.batch_size as usize;
    let eval_batch = (batch_size * 2).clamp(1, 256);
    let steps_per_epoch = data.train.len().div_ceil(batch_size);
    let (mut shuffle, mut augment, mut drop) = (
        Rng::stream(cfg.seed, "shuffle"),
        Rng::stream(cfg.seed, "augment"),
        Rng::stream(cfg.seed, "dropout"),
    );
    let started = Instant::now();
    let (mut train_time, mut seen) = (0.0f64, 0usize);
    let mut best: Option<(u32, f64)> = None;
    // The selected epoch's validation evaluation: what the degenerate check reads.
    let mut best_val: Option<evaluate::Scored> = None;
    // A multi-task trial reports each task at its own best validation epoch, as a
    // mono-task trial of that task is: age by MAE (the main checkpoint, which
    // dependants start from), gender by accuracy (its own checkpoint).
    let multi = heads.age.is_some() && heads.gender.is_some();
    let gender_ckpt = input.run_dir.join(RunDir::CHECKPOINT_GENDER);
    let mut best_gender: Option<(u32, ClassMetrics)> = None;
    let mut lines = String::new();
    let mut step = 0usize;
    let mut last_beat = Instant::now();
    let ckpt = input.run_dir.join(CHECKPOINT);
    for epoch in 1..=spec.epochs {
        let mut order = data.train.clone();
        shuffle.shuffle(&mut order);
        let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
        let epoch_start = Instant::now();
        let mut lr = spec.lr;
        for (b, chunk) in order.chunks(batch_size).enumerate() {
            // A batch of one has no batch statistics to normalise with.
            if chunk.len() < 2 && cfg.model.batch_norm {
                continue;
            }
            lr = learning_rate(spec, step, steps_per_epoch);
            let jitters: Vec<Jitter> = chunk
                .iter()
                .map(|_| Jitter::draw(&mut augment, spec.flip, spec.crop))
                .collect();
            let imgs: Vec<&[u8]> = chunk.iter().map(|i| data.cache.image(*i)).collect();
            let x = batch::images(&imgs, side, Some(&jitters), &device)?;
            let out = net.forward(&x, true, &mut drop)?;
            let loss = heads.loss(&out, samples, chunk, &device)?;
            let value = loss.to_scalar::<f32>()?;
            if !value.is_finite() {
                return Err(TrainError {
                    class: FailureClass::NanLoss,
                    message: format!(
                        "the loss became {value} at epoch {epoch}, step {b}; lower the learning rate (lr = {lr:.3e}){}",
                        divergence_advice(cfg.model.batch_norm, spec.warmup_epochs)
                    ),
                });
            }
            let grads = loss.backward()?;
            optim.step(&grads, lr)?;
            loss_sum += f64::from(value) * chunk.len() as f64;
            loss_n += chunk.len();
            step += 1;
            if last_beat.elapsed().as_secs_f64() >= input.heartbeat_s {
                last_beat = Instant::now();
                emit(&Event::Heartbeat {
                    epoch,
                    step: b + 1,
                    steps: steps_per_epoch,
                    loss: loss_sum / loss_n.max(1) as f64,
                    elapsed_s: started.elapsed().as_secs_f64(),
                });
            }
        }
        let epoch_train = epoch_start.elapsed().as_secs_f64();
        train_time += epoch_train;
        seen += loss_n;
        let val = evaluate::evaluate(
            &net,
            &heads,
            &data.cache,
            &data.val,
            eval_batch,
            mean_age,
            &device,
        )?;
        let (_, score, lower) = selection(&val.eval);
        let improved = best.is_none_or(|(_, b)| if lower { score < b } else { score > b });
        if improved {
            best = Some((epoch, score));
            checkpoint::save(&varmap, &ckpt)?;
            best_val = Some(val.clone());
        }
        if multi
            && let Some(g) = &val.eval.gender
            && best_gender
                .as_ref()
                .is_none_or(|(_, b)| g.accuracy > b.accuracy)
        {
            best_gender = Some((epoch, g.clone()));
            checkpoint::save(&varmap, &gender_ckpt)?;
        }
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / loss_n.max(1) as f64,
            lr,
            val: val.eval,
            val_score: score,
            images_per_s: loss_n as f64 / epoch_train.max(1e-9),
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        lines.push_str(
            &serde_json::to_string(&report).map_err(|e| TrainError::internal(e.to_string()))?,
        );
        lines.push('\n');
        write_atomic(&input.run_dir, METRICS, &lines)?;
        emit(&Event::Epoch(Box::new(report)));
        last_beat = Instant::now();
    }
    let (best_epoch, best_score) = best.ok_or_else(|| TrainError::internal("no epoch ran"))?;
    if best_epoch != spec.epochs {
        checkpoint::load_all(&mut varmap, &ckpt)?;
    }
    // The test set, read once per reported number (a multi-task trial's gender at
    // its own epoch is the second read).
    let on_test = || {
        evaluate::evaluate(
            &net,
            &heads,
            &data.cache,
            &data.test,
            eval_batch,
            mean_age,
            &device,
        )
    };
    let mut test = on_test()?;
    let mut task_epochs = BTreeMap::new();
    if let Some((gender_epoch, gender_val)) = best_gender {
        task_epochs.insert("age".to_string(), best_epoch);
        task_epochs.insert("gender".to_string(), gender_epoch);
        if let Some(v) = best_val.as_mut() {
            v.eval.gender = Some(gender_val);
        }
        if gender_epoch != best_epoch {
            checkpoint::load_all(&mut varmap, &gender_ckpt)?;
            test.eval.gender = on_test()?.eval.gender;
        }
    }
    let used: Vec<usize> = [&data.train, &data.val, &data.test]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    let warnings = evaluate::clipped_ages(&cfg.objective, &data.cache.samples, &used)
        .into_iter()
        .collect();
    let result = TrialResult {
        trial: input.id.to_string(),
        degenerate: best_val.as_ref().and_then(degenerate),
        test: test.eval,
        best_epoch,
        epochs: spec.epochs,
        selection: selection_name(&heads),
        best_val_score: best_score,
        images,
        split_digest: data.digest,
        data_digest: Some(data.content),
        parameters,
        train_seconds: train_time,
        images_per_s: seen as f64 / train_time.max(1e-9),
        device: device_name(&device),
        threads,
        warnings,
        trainer_version: Some(crate::TRAINER_VERSION),
        task_epochs,
    };
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    let json =
        serde_json::to_string_pretty(&result).map_err(|e| TrainError::internal(e.to_string()))?;
    write_atomic(&input.run_dir, RESULT, &json)?;
    Ok(result)
}

fn selection_name(heads: &Heads) -> String {
    if heads.age.is_some() {
        "age_mae".into()
    } else {
        "accuracy".into()
    }
}
