//! What a run did (`Summary`), and its words for the terminal: what a dry run
//! would run, and the counts a run ends with.

use std::fmt::Write as _;
use std::path::Path;

use ablate_spec::{Sweep, TrialId};

use crate::stale::Stale;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub total: usize,
    pub already_done: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub blocked: usize,
    pub interrupted: usize,
    /// Batch jobs left queued or running in Slurm when this process stopped.
    pub in_slurm: usize,
    pub would_run: Vec<TrialId>,
    /// Results found stale; rerun unless `keep_stale`.
    pub stale: Vec<Stale>,
    pub stale_kept: bool,
    /// Adaptive seeds: the looks judged when the run ended, of how many at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub looks: Option<(usize, usize)>,
    /// The trials the run would cover at every seed (adaptive seeds' most).
    pub fixed_max: usize,
}

impl Summary {
    /// A dry run's text: how many trials would run and which, each with its
    /// factor labels and, when stale, why.
    pub fn dry_run_text(&self, sweep: &Sweep, db: &Path) -> String {
        let mut out = format!(
            "dry run: {} of {} trials would run ({} already succeeded); database {}\n",
            self.would_run.len(),
            self.total,
            self.already_done,
            db.display()
        );
        for id in &self.would_run {
            let labels = (sweep.trial(id))
                .map(|t| {
                    let kv: Vec<String> =
                        t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    kv.join(" ")
                })
                .unwrap_or_default();
            let why = (self.stale.iter().find(|s| s.trial == id.as_str()))
                .map(|s| format!("  (stale: {})", s.reason))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}  {labels}{why}", id.short());
        }
        if self.stale_kept {
            let _ = writeln!(
                out,
                "{} stale result(s) kept (--keep-stale); `ablate status` lists them",
                self.stale.len()
            );
        }
        out
    }

    /// The counts a run of `sweep` ended with, the stale results it reran or
    /// kept, and the Slurm jobs it left running.
    pub fn text(&self, sweep: &str, db: &Path) -> String {
        let mut out = format!(
            "sweep {sweep}: {} trials; {} succeeded now, {} had succeeded before, {} failed, {} blocked, {} interrupted; database {}\n",
            self.total,
            self.succeeded,
            self.already_done,
            self.failed,
            self.blocked,
            self.interrupted,
            db.display()
        );
        if !self.stale.is_empty() {
            let verb = if self.stale_kept {
                "kept (--keep-stale; `ablate status` lists them)"
            } else {
                "rerun (the old results are kept in the database's superseded_results)"
            };
            let _ = writeln!(out, "{} stale result(s) {verb}", self.stale.len());
        }
        if let Some((judged, most)) = self.looks {
            let _ = writeln!(
                out,
                "adaptive seeds: {judged} of at most {most} looks judged ({} trials of the sweep's {} at its most seeds)",
                self.total, self.fixed_max
            );
        }
        if self.in_slurm > 0 {
            let _ = writeln!(
                out,
                "{} trial(s) go on as Slurm jobs: `ablate status` shows them, `ablate run` again records them, `ablate cancel` cancels them",
                self.in_slurm
            );
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::Summary;
    use crate::stale::Stale;

    #[test]
    fn a_runs_text_says_what_became_of_stale_results_and_slurm_jobs() {
        let mut s = Summary {
            total: 4,
            succeeded: 2,
            already_done: 1,
            failed: 1,
            ..Summary::default()
        };
        let db = Path::new("out/ablate.db");
        assert_eq!(
            s.text("q", db),
            "sweep q: 4 trials; 2 succeeded now, 1 had succeeded before, 1 failed, 0 blocked, 0 interrupted; database out/ablate.db\n"
        );
        s.stale = vec![Stale {
            trial: "ab".repeat(32).into(),
            reason: "its data changed".into(),
            attempt: 1,
        }];
        s.in_slurm = 2;
        let text = s.text("q", db);
        assert!(
            text.contains("\n1 stale result(s) rerun (the old results"),
            "{text}"
        );
        assert!(text.ends_with("2 trial(s) go on as Slurm jobs: `ablate status` shows them, `ablate run` again records them, `ablate cancel` cancels them\n"));
        s.stale_kept = true;
        assert!(
            s.text("q", db)
                .contains("1 stale result(s) kept (--keep-stale;")
        );
    }
}
