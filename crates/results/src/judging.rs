//! A sweep's results as the judge reads them: its training trials (a
//! pretraining trial is no arm), studies and face-recognition stages, handed to
//! `ablate-verdict` with the settings and claims to judge by. The report, the
//! status and (between adaptive rounds) the orchestrator judge through here, so
//! they judge alike.

use ablate_protocol::TrialState;
use ablate_spec::TrialKind;
use ablate_spec::claims::ClaimSpec;
use ablate_verdict::{Judgement, Settings};

use crate::{SweepResults, TrialRow};

impl TrialRow {
    /// This trial as judging sees it.
    pub fn verdict_trial(&self) -> ablate_verdict::Trial {
        ablate_verdict::Trial {
            id: self.id.clone(),
            studies: self.studies.iter().map(ToString::to_string).collect(),
            labels: self.labels.clone(),
            seed: self.seed,
            fold: self.fold,
            finished: self.succeeded(),
            pending: matches!(
                self.state,
                TrialState::Pending | TrialState::Running | TrialState::Interrupted
            ),
            metrics: (self.metrics.iter())
                .map(|(m, v)| (m.key().to_string(), *v))
                .collect(),
        }
    }
}

/// How to judge: the sweep's `[report]` settings and claims, and whether to
/// add advice on open claims (simulated: slower).
#[derive(Debug, Clone, Copy)]
pub struct Judge<'a> {
    pub settings: &'a Settings,
    pub claims: &'a [ClaimSpec],
    pub advise: bool,
}

impl SweepResults {
    /// Every claim judged over these results.
    pub fn judge(&self, how: Judge<'_>) -> Judgement {
        let studies: Vec<ablate_verdict::Study> = (self.studies.iter())
            .map(|s| ablate_verdict::Study {
                name: s.name.clone(),
                axes: s.axes.clone(),
            })
            .collect();
        let trials: Vec<ablate_verdict::Trial> = (self.trials.iter())
            .filter(|t| t.kind == TrialKind::Train)
            .map(TrialRow::verdict_trial)
            .collect();
        let face_stages = (self.stages.iter())
            .filter(|(_, task)| *task == "identity")
            .map(|(n, _)| n.clone())
            .collect();
        let input = ablate_verdict::Input {
            studies: &studies,
            trials: &trials,
            face_stages,
            claims: how.claims,
            settings: how.settings.clone(),
        };
        if how.advise {
            ablate_verdict::judge_advised(&input)
        } else {
            ablate_verdict::judge(&input)
        }
    }
}
