//! A sweep's results as the judge reads them: its training trials (a
//! pretraining trial is no arm), studies and face-recognition stages, handed to
//! `ablate-verdict` with the settings and claims to judge by. The report, the
//! status and (between adaptive rounds) the orchestrator judge through here, so
//! they judge alike.

use ablate_protocol::TrialState;
use ablate_spec::AdaptiveSeeds;
use ablate_spec::TrialKind;
use ablate_spec::claims::ClaimSpec;
use ablate_verdict::{Judgement, Schedule, Sequential, Settings};

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
        self.with_input(how, |input| {
            if how.advise {
                ablate_verdict::judge_advised(input)
            } else {
                ablate_verdict::judge(input)
            }
        })
    }

    /// Every claim judged look by look, as a sweep with adaptive seeds is:
    /// each look on the first seeds of `seeds` only (see
    /// `ablate_verdict::judge_sequential`). With `how.advise`, open claims of
    /// the final judgement get advice on the seeds their last look had.
    pub fn judge_sequential(&self, how: Judge<'_>, seeds: &AdaptiveSeeds) -> Sequential {
        let list = seeds.seeds();
        let counts = seeds.counts();
        self.with_input(how, |input| {
            let schedule = Schedule {
                seeds: &list,
                counts: &counts,
            };
            let mut s = ablate_verdict::judge_sequential(input, schedule);
            if how.advise {
                let advice = ablate_verdict::advise(input, &s.judgement);
                for (v, a) in s.judgement.verdicts.iter_mut().zip(advice) {
                    v.advice = a;
                }
            }
            s
        })
    }

    fn with_input<R>(&self, how: Judge<'_>, f: impl FnOnce(&ablate_verdict::Input<'_>) -> R) -> R {
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
        f(&ablate_verdict::Input {
            studies: &studies,
            trials: &trials,
            face_stages,
            claims: how.claims,
            settings: how.settings.clone(),
        })
    }
}

/// A sweep judged as it runs: at once for fixed seeds, look by look for
/// adaptive ones.
#[derive(Debug, Clone)]
pub enum Judged {
    Fixed(Judgement),
    Adaptive(Sequential),
}

impl Judged {
    pub fn judgement(&self) -> &Judgement {
        match self {
            Judged::Fixed(j) => j,
            Judged::Adaptive(s) => &s.judgement,
        }
    }

    pub fn sequential(&self) -> Option<&Sequential> {
        match self {
            Judged::Fixed(_) => None,
            Judged::Adaptive(s) => Some(s),
        }
    }
}

impl SweepResults {
    /// The sweep's claims judged by its own `[report]` settings and seeds.
    pub fn judge_sweep(&self, sweep: &ablate_spec::Sweep, advise: bool) -> Judged {
        let settings = Settings::from_spec(&sweep.report);
        let how = Judge {
            settings: &settings,
            claims: &sweep.claims,
            advise,
        };
        match &sweep.adaptive {
            Some(seeds) => Judged::Adaptive(self.judge_sequential(how, seeds)),
            None => Judged::Fixed(self.judge(how)),
        }
    }
}
