//! Rounds of adaptive seeds: before each round the sweep's results are judged
//! look by look (`ablate_results::SweepResults::judge_sweep`), and the round
//! runs the trials of the seeds each study still needs. Nothing about rounds
//! is stored: the looks are recomputed from the results, so a run killed at
//! any moment resumes in the round it was in.

use std::collections::HashSet;

use ablate_spec::Sweep;
use ablate_store::Store;
use ablate_verdict::Sequential;

use crate::RunError;

/// Where an adaptive sweep stands before a round.
pub(crate) struct Round {
    pub sequential: Sequential,
}

impl Round {
    /// The sweep's results judged look by look; None for fixed seeds.
    pub async fn judge(store: &Store, sweep: &Sweep) -> Result<Option<Round>, RunError> {
        if sweep.adaptive.is_none() {
            return Ok(None);
        }
        let results = ablate_results::load(store, sweep).await?;
        match results.judge_sweep(sweep, false) {
            ablate_results::Judged::Adaptive(sequential) => Ok(Some(Round { sequential })),
            ablate_results::Judged::Fixed(_) => Ok(None),
        }
    }

    /// The trials this round covers: those of the seeds each study needs now,
    /// and what they wait on.
    pub fn work_set<'s>(
        &self,
        sweep: &'s Sweep,
        only: Option<&str>,
    ) -> Result<HashSet<&'s str>, Vec<&'s str>> {
        let seeds = &self.sequential.study_seeds;
        sweep.round_set(only, |s| seeds.get(s).copied().unwrap_or(0))
    }

    /// One line for the log: the look, the claims still open.
    pub fn line(&self) -> String {
        let s = &self.sequential;
        let open: Vec<&str> = (s.judgement.verdicts.iter().zip(&s.stops))
            .filter(|(_, stop)| stop.is_none())
            .map(|(v, _)| v.claim.as_str())
            .collect();
        let most = s.study_seeds.values().max().copied().unwrap_or(0);
        if s.done {
            format!(
                "adaptive seeds: every claim stopped after {} look(s)",
                s.looks_judged
            )
        } else {
            format!(
                "adaptive seeds: round {} of at most {} (up to {most} seeds per arm); open: {}",
                s.looks_judged + 1,
                s.looks,
                if open.is_empty() {
                    "none".into()
                } else {
                    open.join("; ")
                }
            )
        }
    }
}
