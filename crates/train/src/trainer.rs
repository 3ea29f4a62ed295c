//! One trial from start to finish: data and split, model and transfer, the epoch
//! loop with validation, best-epoch checkpointing, the test evaluation and result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use ablate_spec::types::{Device as DeviceKind, ExecSpec};

use crate::batch::{self, Jitter};
use crate::checkpoint;
use crate::error::TrainError;
use crate::evaluate::{self, degenerate, selection};
use crate::model::{Net, init_weights};
use crate::optim::{Optim, learning_rate};
use crate::protocol::{Counts, EpochReport, Event, FailureClass, RunDir, TrialInput, TrialResult};
use crate::resume;
use crate::rng::Rng;
use crate::tasks::Heads;

use crate::parts::load_data;
pub use crate::parts::{TrialSplit, trial_split};

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

/// Runs the trial, reporting through `emit`; files go to `input.run_dir`. A stop
/// asked with [`request_stop`] saves the state and ends it.
pub fn run(input: &TrialInput, emit: &mut dyn FnMut(&Event)) -> Result<TrialResult, TrainError> {
    run_until(input, emit, &STOP)
}

/// [`run`], stopped (state saved, `preempted`) at the first step boundary after
/// `stop` becomes true.
pub fn run_until(
    input: &TrialInput,
    emit: &mut dyn FnMut(&Event),
    stop: &AtomicBool,
) -> Result<TrialResult, TrainError> {
    let stop_requested = || stop.load(Ordering::SeqCst);
    let peak = crate::memory::Peak::start();
    let cfg = &input.config;
    let spec = &cfg.train;
    let device = device(&input.exec)?;
    let mut reported = (0u64, 0u64);
    // A `memory` event whenever a peak grew since the last one.
    let mut memory = |emit: &mut dyn FnMut(&Event)| {
        let (host, gpu) = (peak.host(), crate::memory::gpu_peak(&device));
        if host.unwrap_or(0) > reported.0 || gpu.unwrap_or(0) > reported.1 {
            reported = (host.unwrap_or(0), gpu.unwrap_or(0));
            emit(&Event::Memory {
                host_private_bytes: host,
                gpu_bytes: gpu,
            });
        }
    };
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
    let mut optim = Optim::new(spec, named.clone());
    // The pool every kernel (candle's, gemm's, cpu_ops') runs on: its size is the budget.
    let threads = rayon::current_num_threads();
    let images = Counts {
        train: data.train.len(),
        val: data.val.len(),
        test: data.test.len(),
    };
    let ckpt = input.run_dir.join(CHECKPOINT);
    let gender_ckpt = input.run_dir.join(RunDir::CHECKPOINT_GENDER);
    let mut saver = Saver {
        path: input.run_dir.join(RunDir::STATE),
        owner: resume::Owner {
            trial: input.id.to_string(),
            trainer_version: crate::TRAINER_VERSION,
            data_digest: data.content.clone(),
            split_digest: data.digest.clone(),
            init_sha256: match &input.init_checkpoint {
                Some(path) => resume::file_digests(std::slice::from_ref(path))?
                    .pop()
                    .flatten(),
                None => None,
            },
        },
        threads,
        every: input.exec.checkpoint_every(),
        last: Instant::now(),
        checkpoints: [ckpt.clone(), gender_ckpt.clone()],
    };
    let mut p = resume::Progress::fresh(cfg.seed);
    let resumed = match saver.resume(&device, &named, &mut optim) {
        Ok(None) => None,
        Ok(Some(state)) => {
            let (pr, steps) = (
                &state.progress,
                data.train.len().div_ceil(spec.batch_size as usize),
            );
            let at = match pr.batches_done {
                0 => format!("after epoch {} of {}", pr.epochs_done, spec.epochs),
                b => format!(
                    "in epoch {}, after batch {b} of {steps}",
                    pr.epochs_done + 1
                ),
            };
            let threads_note = if state.threads == threads {
                String::new()
            } else {
                format!(
                    " (written at {} threads, this attempt has {threads}: on CPU the result may differ in the last digits from an uninterrupted run)",
                    state.threads
                )
            };
            let note = format!("resumed from {} {at}{threads_note}", RunDir::STATE);
            p = state.progress;
            Some(note)
        }
        Err(why) => {
            // Whatever was set from a rejected state is set again from scratch.
            init_weights(&varmap, cfg.seed, &device)?;
            if let Some(path) = &input.init_checkpoint {
                checkpoint::load_trunk(&varmap, path, &device)?;
            }
            optim = Optim::new(spec, named.clone());
            Some(format!(
                "{} not used: {why}; this attempt starts from scratch",
                RunDir::STATE
            ))
        }
    };
    // Pending checkpoints the state did not count are from after it (an
    // attempt stopped between writing one and its state): never to be committed.
    for c in &saver.checkpoints {
        let pending = checkpoint::pending(c);
        if let Err(e) = std::fs::remove_file(&pending)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(TrainError::io(format!(
                "cannot remove {}: {e}",
                pending.display()
            )));
        }
    }
    if let Some(note) = &resumed {
        eprintln!("note: {note}");
    }
    emit(&Event::Started {
        trial: input.id.to_string(),
        device: device_name(&device),
        threads,
        images: images.clone(),
        parameters,
        epochs: spec.epochs,
        resume: resumed,
    });

    // The epochs an earlier attempt finished, written and reported again: this
    // attempt's files and its record (the orchestrator's, per attempt) hold the
    // whole curve even if it trains no further epoch.
    if !p.lines.is_empty() {
        write_atomic(&input.run_dir, METRICS, &p.lines)?;
    }
    for line in p.lines.lines() {
        if let Ok(report) = serde_json::from_str::<EpochReport>(line) {
            emit(&Event::Epoch(Box::new(report)));
        }
    }
    let batch_size = spec.batch_size as usize;
    let eval_batch = (batch_size * 2).clamp(1, 256);
    let steps_per_epoch = data.train.len().div_ceil(batch_size);
    let (mut shuffle, mut augment, mut drop) =
        (Rng::at(p.shuffle), Rng::at(p.augment), Rng::at(p.dropout));
    let started = Instant::now();
    let elapsed0 = p.elapsed_s;
    let elapsed = || elapsed0 + started.elapsed().as_secs_f64();
    // A multi-task trial reports each task at its own best validation epoch, as a
    // mono-task trial of that task is: age by MAE (the main checkpoint, which
    // dependants start from), gender by accuracy (its own checkpoint).
    let multi = heads.age.is_some() && heads.gender.is_some();
    let mut last_beat = Instant::now();
    let first = p.epochs_done + 1;
    for epoch in first..=spec.epochs {
        let shuffle_before = shuffle.position();
        let mut order = data.train.clone();
        shuffle.shuffle(&mut order);
        // Batches an earlier attempt already trained (a state saved mid-epoch).
        let skip = if epoch == first { p.batches_done } else { 0 };
        if skip == 0 {
            (p.loss_sum, p.loss_n, p.epoch_seconds) = (0.0, 0, 0.0);
        }
        let before = p.epoch_seconds;
        let epoch_start = Instant::now();
        let mut lr = match skip {
            0 => spec.lr,
            _ => learning_rate(spec, p.step.saturating_sub(1), steps_per_epoch),
        };
        for (b, chunk) in order.chunks(batch_size).enumerate().skip(skip) {
            // A batch of one has no batch statistics to normalise with.
            if chunk.len() < 2 && cfg.model.batch_norm {
                continue;
            }
            lr = learning_rate(spec, p.step, steps_per_epoch);
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
            p.loss_sum += f64::from(value) * chunk.len() as f64;
            p.loss_n += chunk.len();
            p.step += 1;
            let stop = stop_requested();
            if stop || saver.due() {
                p.batches_done = b + 1;
                (p.shuffle, p.augment, p.dropout) =
                    (shuffle_before, augment.position(), drop.position());
                p.epoch_seconds = before + epoch_start.elapsed().as_secs_f64();
                p.elapsed_s = elapsed();
                p.epochs_done = epoch - 1;
                saver.save(&p, &named, &optim, emit)?;
                if stop {
                    return Err(stopped(epoch, b + 1, steps_per_epoch));
                }
            }
            if last_beat.elapsed().as_secs_f64() >= input.heartbeat_s {
                last_beat = Instant::now();
                memory(emit);
                emit(&Event::Heartbeat {
                    epoch,
                    step: b + 1,
                    steps: steps_per_epoch,
                    loss: p.loss_sum / p.loss_n.max(1) as f64,
                    elapsed_s: elapsed(),
                });
            }
        }
        let epoch_train = before + epoch_start.elapsed().as_secs_f64();
        p.train_seconds += epoch_train;
        p.seen += p.loss_n;
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
        let improved = p
            .best
            .is_none_or(|(_, b)| if lower { score < b } else { score > b });
        if improved {
            p.best = Some((epoch, score));
            checkpoint::save_pending(&varmap, &ckpt)?;
            p.best_val = Some(val.clone());
        }
        if multi
            && let Some(g) = &val.eval.gender
            && p.best_gender
                .as_ref()
                .is_none_or(|(_, b)| g.accuracy > b.accuracy)
        {
            p.best_gender = Some((epoch, g.clone()));
            checkpoint::save_pending(&varmap, &gender_ckpt)?;
        }
        let report = EpochReport {
            epoch,
            train_loss: p.loss_sum / p.loss_n.max(1) as f64,
            lr,
            val: val.eval,
            val_score: score,
            images_per_s: p.loss_n as f64 / epoch_train.max(1e-9),
            elapsed_s: elapsed(),
        };
        p.lines.push_str(
            &serde_json::to_string(&report).map_err(|e| TrainError::internal(e.to_string()))?,
        );
        p.lines.push('\n');
        write_atomic(&input.run_dir, METRICS, &p.lines)?;
        memory(emit);
        emit(&Event::Epoch(Box::new(report)));
        last_beat = Instant::now();
        (p.epochs_done, p.batches_done) = (epoch, 0);
        (p.shuffle, p.augment, p.dropout) =
            (shuffle.position(), augment.position(), drop.position());
        p.elapsed_s = elapsed();
        saver.save(&p, &named, &optim, emit)?;
        if epoch < spec.epochs && stop_requested() {
            return Err(stopped(epoch + 1, 0, steps_per_epoch));
        }
    }
    let (best, mut best_val, best_gender) = (p.best, p.best_val, p.best_gender);
    let (train_time, seen) = (p.train_seconds, p.seen);
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
    memory(emit);
    write_atomic(&input.run_dir, RESULT, &json)?;
    Ok(result)
}

/// Set from a signal handler (`ablate worker` installs them): the trial saves
/// its state at the next step boundary and stops.
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks the running trial to save its resumable state and stop.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

fn stopped(epoch: u32, batch: usize, steps: usize) -> TrainError {
    TrainError {
        class: FailureClass::Preempted,
        message: format!(
            "stopped by a signal at epoch {epoch}, batch {batch} of {steps}; its state is saved in {}, and the next attempt resumes from it",
            RunDir::STATE
        ),
    }
}

/// Writes and reads the trial's resumable state (`resume`).
struct Saver {
    path: PathBuf,
    owner: resume::Owner,
    threads: usize,
    /// `[train] checkpoint_minutes`: None saves only after each epoch.
    every: Option<Duration>,
    last: Instant,
    /// The best-weights files the progress refers to.
    checkpoints: [PathBuf; 2],
}

impl Saver {
    fn due(&self) -> bool {
        self.every.is_some_and(|e| self.last.elapsed() >= e)
    }

    /// The state to resume from, restored into the variables and optimiser.
    /// `Err(why)`: there is one, but it must not be used (some of it may have
    /// been set already: the caller starts everything afresh).
    fn resume(
        &self,
        device: &Device,
        named: &[(String, Var)],
        optim: &mut Optim,
    ) -> Result<Option<resume::State>, String> {
        let Some(state) = resume::load(&self.path, &self.owner, device)? else {
            return Ok(None);
        };
        // A pending checkpoint the state already counts was written by an
        // attempt stopped before its commit: commit it now.
        let pending: Vec<PathBuf> = self
            .checkpoints
            .iter()
            .map(|c| checkpoint::pending(c))
            .collect();
        let staged = resume::file_digests(&pending).map_err(|e| e.message)?;
        for ((c, d), want) in self
            .checkpoints
            .iter()
            .zip(&staged)
            .zip(&state.progress.checkpoints)
        {
            if d.is_some() && d == want {
                checkpoint::commit(c).map_err(|e| e.message)?;
            }
        }
        let now = resume::file_digests(&self.checkpoints).map_err(|e| e.message)?;
        if now != state.progress.checkpoints {
            return Err(format!(
                "the best-weights checkpoint it counts is not the one on the disk ({CHECKPOINT} or its gender twin was changed or removed)"
            ));
        }
        resume::restore_vars(&state, named)?;
        optim.restore(
            |n| state.tensors.get(n).cloned(),
            state.progress.optimizer_steps,
        )?;
        Ok(Some(state))
    }

    fn save(
        &mut self,
        p: &resume::Progress,
        named: &[(String, Var)],
        optim: &Optim,
        emit: &mut dyn FnMut(&Event),
    ) -> Result<(), TrainError> {
        let (moments, steps) = optim.state();
        let mut p = p.clone();
        p.optimizer_steps = steps;
        // The best weights as they will be once pending checkpoints commit.
        let pending: Vec<PathBuf> = self
            .checkpoints
            .iter()
            .map(|c| checkpoint::pending(c))
            .collect();
        let staged = resume::file_digests(&pending)?;
        let now = resume::file_digests(&self.checkpoints)?;
        p.checkpoints = staged.into_iter().zip(now).map(|(s, n)| s.or(n)).collect();
        let mut tensors: Vec<(String, Tensor)> = named
            .iter()
            .map(|(n, v)| (format!("var/{n}"), v.as_tensor().clone()))
            .collect();
        tensors.extend(moments);
        resume::save(&self.path, &self.owner, self.threads, &p, &tensors)?;
        for c in &self.checkpoints {
            checkpoint::commit(c)?;
        }
        self.last = Instant::now();
        emit(&Event::State {
            epoch: p.epochs_done,
            batch: p.batches_done,
        });
        Ok(())
    }
}

fn selection_name(heads: &Heads) -> String {
    if heads.age.is_some() {
        "age_mae".into()
    } else {
        "accuracy".into()
    }
}
