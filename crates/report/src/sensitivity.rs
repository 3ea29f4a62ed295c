//! What leaving the flagged (degenerate) runs out would change: every finished run
//! counts in the report's means and verdicts, and this says where that choice
//! matters, so a reader can weigh it.

use crate::configs;
use crate::configs::{configs, metrics_of};
use crate::input::Input;
use ablate_verdict::stats::mean_sd;

/// One line per table ranking or verdict that differs once flagged runs are left out.
pub fn without_flagged(input: &Input) -> Vec<String> {
    let mut rest = input.clone();
    rest.results.trials.retain(|t| t.degenerate.is_none());
    let mut changes = Vec::new();
    for study in &input.results.studies {
        let axes: Vec<String> = study.axes.iter().map(|(a, _)| a.clone()).collect();
        let all = configs(input, &study.name, &axes);
        let kept = configs(&rest, &study.name, &axes);
        for m in metrics_of(&all) {
            let rank = |cs: &[configs::Config<'_>]| -> Vec<String> {
                let mut means: Vec<(f64, String)> = cs
                    .iter()
                    .map(|c| (mean_sd(&c.values(m)).0, key(&c.key)))
                    .filter(|(v, _)| v.is_finite())
                    .collect();
                means.sort_by(|a, b| {
                    let o = a.0.total_cmp(&b.0);
                    if m.lower_is_better() { o } else { o.reverse() }
                });
                means.into_iter().map(|(_, k)| k).collect()
            };
            let (with, without) = (rank(&all), rank(&kept));
            if with != without {
                changes.push(format!(
                    "study {}, {}: ranked {} with every run, {} without the flagged ones",
                    study.name,
                    m.label(),
                    with.join(" > "),
                    without.join(" > ")
                ));
            }
        }
    }
    for (a, b) in configs::judge(input)
        .verdicts
        .iter()
        .zip(configs::judge(&rest).verdicts)
    {
        if a.verdict != b.verdict {
            changes.push(format!(
                "the verdict on \"{}\": {} with every run, {} without the flagged ones",
                a.claim, a.verdict, b.verdict
            ));
        }
    }
    changes
}

fn key(k: &[(String, String)]) -> String {
    k.iter()
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join("/")
}
