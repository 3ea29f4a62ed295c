//! The last step: the test set at the best epochs, and the result.

use std::collections::BTreeMap;

use crate::checkpoint;
use crate::error::TrainError;
use crate::evaluate::{self, Scored, degenerate};
use crate::metrics::ClassMetrics;
use crate::protocol::{Event, TrialResult};
use crate::resume::Progress;

use super::prepare::Trial;
use super::{Notice, RESULT, device_name, selection_name, write_atomic};

impl Trial<'_> {
    /// The result after the last epoch, written to `result.json`; its warnings
    /// go to `notify` as well.
    pub(super) fn finish(
        mut self,
        p: Progress,
        emit: &mut dyn FnMut(&Event),
        notify: &mut dyn FnMut(&Notice),
    ) -> Result<TrialResult, TrainError> {
        let input = self.input;
        let (cfg, spec) = (&input.config, &input.config.train);
        let (best, mut best_val, best_gender) = (p.best, p.best_val, p.best_gender);
        let (train_time, seen) = (p.train_seconds, p.seen);
        let (best_epoch, best_score) = best.ok_or(TrainError::Internal("no epoch ran"))?;
        let (test, task_epochs) = self.test(best_epoch, best_gender, &mut best_val)?;
        let data = &self.data;
        let used: Vec<usize> = [&data.train, &data.val, &data.test]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let warnings = evaluate::clipped_ages(&cfg.objective, &data.cache.samples, &used)
            .into_iter()
            .collect();
        let result = TrialResult {
            trial: input.id.clone(),
            degenerate: best_val.as_ref().and_then(degenerate),
            test: test.eval,
            best_epoch,
            epochs: spec.epochs,
            selection: selection_name(&self.heads),
            best_val_score: best_score,
            images: self.images(),
            split_digest: data.digest.clone(),
            data_digest: Some(data.content.clone()),
            parameters: self.parameters,
            train_seconds: train_time,
            images_per_s: seen as f64 / train_time.max(1e-9),
            device: device_name(&self.device),
            threads: self.threads,
            warnings,
            trainer_version: Some(crate::TRAINER_VERSION),
            task_epochs,
        };
        for w in &result.warnings {
            notify(&Notice::Warning(w.clone()));
        }
        let json = serde_json::to_string_pretty(&result)?;
        self.memory.report(&self.device, emit);
        write_atomic(&input.run_dir, RESULT, &json)?;
        Ok(result)
    }

    /// The test evaluation with the best weights, and (multi-task) each task's
    /// epoch, with gender read at its own best epoch (also into `best_val`).
    fn test(
        &mut self,
        best_epoch: u32,
        best_gender: Option<(u32, ClassMetrics)>,
        best_val: &mut Option<Scored>,
    ) -> Result<(Scored, BTreeMap<String, u32>), TrainError> {
        if best_epoch != self.input.config.train.epochs {
            checkpoint::load_all(&mut self.varmap, &self.ckpt)?;
        }
        // The test set, read once per reported number (a multi-task trial's gender at
        // its own epoch is the second read).
        let mut test = self.evaluate(&self.data.test)?;
        let mut task_epochs = BTreeMap::new();
        if let Some((gender_epoch, gender_val)) = best_gender {
            task_epochs.insert("age".to_string(), best_epoch);
            task_epochs.insert("gender".to_string(), gender_epoch);
            if let Some(v) = best_val.as_mut() {
                v.eval.gender = Some(gender_val);
            }
            if gender_epoch != best_epoch {
                checkpoint::load_all(&mut self.varmap, &self.gender_ckpt)?;
                test.eval.gender = self.evaluate(&self.data.test)?.eval.gender;
            }
        }
        Ok((test, task_epochs))
    }
}
