//! Writes and reads the trial's resumable state (`resume`), keeping it and the
//! best-weights checkpoints it counts in step.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor, Var};

use crate::checkpoint;
use crate::error::TrainError;
use crate::optim::Optim;
use crate::parts::Data;
use crate::protocol::{Event, RunDir, TrialInput};
use crate::resume;

use super::CHECKPOINT;

/// Writes and reads the trial's resumable state (`resume`).
pub(super) struct Saver {
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
    pub(super) fn new(
        input: &TrialInput,
        data: &Data,
        threads: usize,
        checkpoints: [PathBuf; 2],
    ) -> Result<Self, TrainError> {
        Ok(Saver {
            path: input.run_dir.join(RunDir::STATE),
            owner: resume::Owner {
                trial: input.id.clone(),
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
            checkpoints,
        })
    }

    pub(super) fn due(&self) -> bool {
        self.every.is_some_and(|e| self.last.elapsed() >= e)
    }

    /// The state to resume from, restored into the variables and optimiser.
    /// `Err(why)`: there is one, but it must not be used (some of it may have
    /// been set already: the caller starts everything afresh).
    pub(super) fn resume(
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
        let staged = resume::file_digests(&pending).map_err(|e| e.to_string())?;
        for ((c, d), want) in self
            .checkpoints
            .iter()
            .zip(&staged)
            .zip(&state.progress.checkpoints)
        {
            if d.is_some() && d == want {
                checkpoint::commit(c).map_err(|e| e.to_string())?;
            }
        }
        let now = resume::file_digests(&self.checkpoints).map_err(|e| e.to_string())?;
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

    /// Removes the pending checkpoints [`Saver::resume`] left.
    pub(super) fn remove_uncounted(&self) -> Result<(), TrainError> {
        // Pending checkpoints the state did not count are from after it (an
        // attempt stopped between writing one and its state): never to be committed.
        for c in &self.checkpoints {
            let pending = checkpoint::pending(c);
            if let Err(source) = std::fs::remove_file(&pending)
                && source.kind() != std::io::ErrorKind::NotFound
            {
                return Err(TrainError::Io {
                    action: "remove",
                    path: pending,
                    source,
                });
            }
        }
        Ok(())
    }

    pub(super) fn save(
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
