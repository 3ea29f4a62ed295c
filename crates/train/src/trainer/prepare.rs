//! The first step: the trial's data, network (with a transferred trunk),
//! optimiser and state saver.

use std::path::PathBuf;

use candle_core::{DType, Device, Var};
use candle_nn::{VarBuilder, VarMap};

use crate::checkpoint;
use crate::error::TrainError;
use crate::evaluate::{self, Scored};
use crate::model::{Net, init_weights};
use crate::optim::Optim;
use crate::parts::{Data, load_data};
use crate::protocol::{Counts, RunDir, TrialInput};
use crate::tasks::Heads;

use super::saver::Saver;
use super::{CHECKPOINT, Memory};

/// A trial's fixed parts, from [`Trial::prepare`] to [`Trial::finish`], and
/// what training changes in place (the variables, the optimiser, the saver).
pub(super) struct Trial<'a> {
    pub(super) input: &'a TrialInput,
    pub(super) memory: Memory,
    pub(super) device: Device,
    pub(super) data: Data,
    pub(super) mean_age: f32,
    pub(super) heads: Heads,
    pub(super) varmap: VarMap,
    pub(super) net: Net,
    /// Every variable, in name order.
    pub(super) named: Vec<(String, Var)>,
    pub(super) parameters: usize,
    pub(super) optim: Optim,
    pub(super) threads: usize,
    pub(super) saver: Saver,
    /// The best weights by the selection score, and (multi-task) by gender accuracy.
    pub(super) ckpt: PathBuf,
    pub(super) gender_ckpt: PathBuf,
}

impl<'a> Trial<'a> {
    pub(super) fn prepare(input: &'a TrialInput) -> Result<Self, TrainError> {
        let memory = Memory::start();
        let cfg = &input.config;
        let spec = &cfg.train;
        let device = super::device(&input.exec)?;
        super::set_precision(&device, spec.precision);
        std::fs::create_dir_all(&input.run_dir).map_err(|source| TrainError::Io {
            action: "create",
            path: input.run_dir.clone(),
            source,
        })?;
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

        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let side = spec.input_size as usize;
        let net = Net::new(&cfg.model, side, sizes, spec.dropout as f32, &vb)
            .map_err(TrainError::Network)?;
        init_weights(&varmap, cfg.seed, &device)?;
        match (&input.init_checkpoint, &cfg.init) {
            (Some(path), _) => {
                checkpoint::load_trunk(&varmap, path, &device)?;
            }
            (None, Some(id)) => {
                return Err(TrainError::NoInitCheckpoint {
                    pretraining: id.clone(),
                });
            }
            (None, None) => {}
        }
        let named: Vec<(String, Var)> = {
            let vars = varmap
                .data()
                .lock()
                .map_err(|_| TrainError::Internal("variable map lock poisoned"))?;
            let mut v: Vec<(String, Var)> =
                vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let parameters = named
            .iter()
            .filter(|(n, _)| !n.contains("running_"))
            .map(|(_, v)| v.elem_count())
            .sum();
        let optim = Optim::new(spec, named.clone());
        // The pool every kernel (candle's, gemm's, cpu_ops') runs on: its size is the budget.
        let threads = rayon::current_num_threads();
        let ckpt = input.run_dir.join(CHECKPOINT);
        let gender_ckpt = input.run_dir.join(RunDir::CHECKPOINT_GENDER);
        let saver = Saver::new(input, &data, threads, [ckpt.clone(), gender_ckpt.clone()])?;
        Ok(Trial {
            input,
            memory,
            device,
            data,
            mean_age,
            heads,
            varmap,
            net,
            named,
            parameters,
            optim,
            threads,
            saver,
            ckpt,
            gender_ckpt,
        })
    }

    pub(super) fn images(&self) -> Counts {
        Counts {
            train: self.data.train.len(),
            val: self.data.val.len(),
            test: self.data.test.len(),
        }
    }

    pub(super) fn batch_size(&self) -> usize {
        self.input.config.train.batch_size as usize
    }

    pub(super) fn steps_per_epoch(&self) -> usize {
        self.data.train.len().div_ceil(self.batch_size())
    }

    /// The network on `idx` (validation or test images), in evaluation mode.
    pub(super) fn evaluate(&self, idx: &[usize]) -> Result<Scored, TrainError> {
        let eval_batch = (self.batch_size() * 2).clamp(1, 256);
        let scored = evaluate::evaluate(
            &self.net,
            &self.heads,
            &self.data.cache,
            idx,
            eval_batch,
            self.mean_age,
            &self.device,
        )?;
        Ok(scored)
    }
}
