//! The second step: whether this attempt resumes an earlier one's state, the
//! `started` event, and the epochs an earlier attempt finished, reported again.

use crate::checkpoint;
use crate::error::TrainError;
use crate::model::init_weights;
use crate::optim::Optim;
use crate::protocol::{EpochReport, Event, RunDir};
use crate::resume::{self, Progress};

use super::prepare::Trial;
use super::{METRICS, Notice, device_name, write_atomic};

impl Trial<'_> {
    /// Where training starts: a usable state's progress (its variables and
    /// optimiser restored), or a fresh one (everything set again if a state was
    /// rejected). Says which in a notice and in `started`.
    pub(super) fn start(
        &mut self,
        emit: &mut dyn FnMut(&Event),
        notify: &mut dyn FnMut(&Notice),
    ) -> Result<Progress, TrainError> {
        let input = self.input;
        let (cfg, spec) = (&input.config, &input.config.train);
        let mut p = Progress::fresh(cfg.seed);
        let resumed = match self
            .saver
            .resume(&self.device, &self.named, &mut self.optim)
        {
            Ok(None) => None,
            Ok(Some(state)) => {
                let note = resumed_note(&state, self.threads, self.steps_per_epoch(), spec.epochs);
                p = state.progress;
                Some(note)
            }
            Err(why) => {
                // Whatever was set from a rejected state is set again from scratch.
                init_weights(&self.varmap, cfg.seed, &self.device)?;
                if let Some(path) = &input.init_checkpoint {
                    checkpoint::load_trunk(&self.varmap, path, &self.device)?;
                }
                self.optim = Optim::new(spec, self.named.clone());
                Some(format!(
                    "{} not used: {why}; this attempt starts from scratch",
                    RunDir::STATE
                ))
            }
        };
        self.saver.remove_uncounted()?;
        if let Some(note) = &resumed {
            notify(&Notice::Resume(note.clone()));
        }
        emit(&Event::Started {
            trial: input.id.clone(),
            device: device_name(&self.device),
            threads: self.threads,
            images: self.images(),
            parameters: self.parameters,
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
        Ok(p)
    }
}

/// Where a resumed attempt goes on from, and a word on the threads where they
/// differ from the state's.
fn resumed_note(state: &resume::State, threads: usize, steps: usize, epochs: u32) -> String {
    let pr = &state.progress;
    let at = match pr.batches_done {
        0 => format!("after epoch {} of {}", pr.epochs_done, epochs),
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
    format!("resumed from {} {at}{threads_note}", RunDir::STATE)
}
