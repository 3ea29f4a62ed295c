//! The third step, once per epoch: its batches (resumable at any step
//! boundary), then validation, the best weights, the metrics line and the state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::batch::{self, Jitter};
use crate::checkpoint;
use crate::error::TrainError;
use crate::evaluate::selection;
use crate::optim::learning_rate;
use crate::protocol::{EpochReport, Event};

use super::prepare::Trial;
use super::{METRICS, Running, write_atomic};

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

impl Trial<'_> {
    /// Epoch `epoch`, its first `skip` batches already trained by an earlier
    /// attempt. A stop asked through `stop` saves the state and ends the trial.
    pub(super) fn epoch(
        &mut self,
        r: &mut Running,
        epoch: u32,
        skip: usize,
        stop: &AtomicBool,
        emit: &mut dyn FnMut(&Event),
    ) -> Result<(), TrainError> {
        let (lr, epoch_train) = self.train(r, epoch, skip, stop, emit)?;
        self.validate(r, epoch, lr, epoch_train, emit)?;
        if epoch < self.input.config.train.epochs && stop.load(Ordering::SeqCst) {
            return Err(TrainError::Stopped {
                epoch: epoch + 1,
                batch: 0,
                steps: self.steps_per_epoch(),
            });
        }
        Ok(())
    }

    /// The epoch's batches from `skip` on, saving the state when it is due or a
    /// stop is asked: (the last learning rate, the epoch's training seconds).
    fn train(
        &mut self,
        r: &mut Running,
        epoch: u32,
        skip: usize,
        stop: &AtomicBool,
        emit: &mut dyn FnMut(&Event),
    ) -> Result<(f64, f64), TrainError> {
        let input = self.input;
        let (cfg, spec) = (&input.config, &input.config.train);
        let steps_per_epoch = self.steps_per_epoch();
        let shuffle_before = r.shuffle.position();
        let mut order = self.data.train.clone();
        r.shuffle.shuffle(&mut order);
        if skip == 0 {
            (r.p.loss_sum, r.p.loss_n, r.p.epoch_seconds) = (0.0, 0, 0.0);
        }
        let before = r.p.epoch_seconds;
        let epoch_start = Instant::now();
        let mut lr = match skip {
            0 => spec.lr,
            _ => learning_rate(spec, r.p.step.saturating_sub(1), steps_per_epoch),
        };
        for (b, chunk) in order.chunks(self.batch_size()).enumerate().skip(skip) {
            // A batch of one has no batch statistics to normalise with.
            if chunk.len() < 2 && cfg.model.batch_norm {
                continue;
            }
            lr = learning_rate(spec, r.p.step, steps_per_epoch);
            let value = self.step(r, chunk, lr, epoch, b)?;
            r.p.loss_sum += f64::from(value) * chunk.len() as f64;
            r.p.loss_n += chunk.len();
            r.p.step += 1;
            let stop = stop.load(Ordering::SeqCst);
            if stop || self.saver.due() {
                r.p.batches_done = b + 1;
                (r.p.shuffle, r.p.augment, r.p.dropout) =
                    (shuffle_before, r.augment.position(), r.drop.position());
                r.p.epoch_seconds = before + epoch_start.elapsed().as_secs_f64();
                r.p.elapsed_s = r.elapsed();
                r.p.epochs_done = epoch - 1;
                self.saver.save(&r.p, &self.named, &self.optim, emit)?;
                if stop {
                    return Err(TrainError::Stopped {
                        epoch,
                        batch: b + 1,
                        steps: steps_per_epoch,
                    });
                }
            }
            if r.last_beat.elapsed().as_secs_f64() >= input.heartbeat_s {
                r.last_beat = Instant::now();
                self.memory.report(&self.device, emit);
                emit(&Event::Heartbeat {
                    epoch,
                    step: b + 1,
                    steps: steps_per_epoch,
                    loss: r.p.loss_sum / r.p.loss_n.max(1) as f64,
                    elapsed_s: r.elapsed(),
                });
            }
        }
        Ok((lr, before + epoch_start.elapsed().as_secs_f64()))
    }

    /// One optimiser step on the images `chunk` (batch `b` of `epoch`): the loss.
    fn step(
        &mut self,
        r: &mut Running,
        chunk: &[usize],
        lr: f64,
        epoch: u32,
        b: usize,
    ) -> Result<f32, TrainError> {
        let input = self.input;
        let (cfg, spec) = (&input.config, &input.config.train);
        let jitters: Vec<Jitter> = chunk
            .iter()
            .map(|_| Jitter::draw(&mut r.augment, spec.flip, spec.crop))
            .collect();
        let imgs: Vec<&[u8]> = chunk.iter().map(|i| self.data.cache.image(*i)).collect();
        let side = spec.input_size as usize;
        let x = batch::images(&imgs, side, Some(&jitters), &self.device)?;
        let out = self.net.forward(&x, true, &mut r.drop)?;
        let samples = &self.data.cache.samples;
        let loss = self.heads.loss(&out, samples, chunk, &self.device)?;
        let value = loss.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(TrainError::Diverged {
                value,
                epoch,
                step: b,
                lr,
                advice: divergence_advice(cfg.model.batch_norm, spec.warmup_epochs),
            });
        }
        let grads = loss.backward()?;
        self.optim.step(&grads, lr)?;
        Ok(value)
    }

    /// The end of epoch `epoch`: validation, the best weights (pending until the
    /// state counts them), the metrics line and event, and the state.
    fn validate(
        &mut self,
        r: &mut Running,
        epoch: u32,
        lr: f64,
        epoch_train: f64,
        emit: &mut dyn FnMut(&Event),
    ) -> Result<(), TrainError> {
        r.p.train_seconds += epoch_train;
        r.p.seen += r.p.loss_n;
        let val = self.evaluate(&self.data.val)?;
        let (_, score, lower) = selection(&val.eval);
        let improved =
            r.p.best
                .is_none_or(|(_, b)| if lower { score < b } else { score > b });
        if improved {
            r.p.best = Some((epoch, score));
            checkpoint::save_pending(&self.varmap, &self.ckpt)?;
            r.p.best_val = Some(val.clone());
        }
        // A multi-task trial reports each task at its own best validation epoch, as a
        // mono-task trial of that task is: age by MAE (the main checkpoint, which
        // dependants start from), gender by accuracy (its own checkpoint).
        let multi = self.heads.age.is_some() && self.heads.gender.is_some();
        if multi
            && let Some(g) = &val.eval.gender
            && r.p
                .best_gender
                .as_ref()
                .is_none_or(|(_, b)| g.accuracy > b.accuracy)
        {
            r.p.best_gender = Some((epoch, g.clone()));
            checkpoint::save_pending(&self.varmap, &self.gender_ckpt)?;
        }
        let report = EpochReport {
            epoch,
            train_loss: r.p.loss_sum / r.p.loss_n.max(1) as f64,
            lr,
            val: val.eval,
            val_score: score,
            images_per_s: r.p.loss_n as f64 / epoch_train.max(1e-9),
            elapsed_s: r.elapsed(),
        };
        r.p.lines.push_str(&serde_json::to_string(&report)?);
        r.p.lines.push('\n');
        write_atomic(&self.input.run_dir, METRICS, &r.p.lines)?;
        self.memory.report(&self.device, emit);
        emit(&Event::Epoch(Box::new(report)));
        r.last_beat = Instant::now();
        (r.p.epochs_done, r.p.batches_done) = (epoch, 0);
        (r.p.shuffle, r.p.augment, r.p.dropout) = (
            r.shuffle.position(),
            r.augment.position(),
            r.drop.position(),
        );
        r.p.elapsed_s = r.elapsed();
        self.saver.save(&r.p, &self.named, &self.optim, emit)
    }
}
