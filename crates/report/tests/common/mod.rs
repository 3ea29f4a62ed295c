//! A sweep of one's own claim on gender accuracy over two depths, with seeds
//! given per arm: the input the verdict and chart tests build on.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use ablate_protocol::TrialState;
use ablate_report::{Input, Metric, Provenance, StudyInfo, SweepResults, TrialRow};
use ablate_spec::{Membership, TrialKind};

const SWEEP: &str = r#"
[sweep]
name = "mine"
[data.faces]
kind = "synthetic-faces"
[[study]]
name = "depth"
fixed.tasks = ["gender"]
grid.depth = ["vgg7", "vgg9"]
[[claim]]
name = "the deeper net recognises gender better"
study = "depth"
metric = "gender_accuracy"
better = { depth = "vgg9" }
than = { depth = "vgg7" }
"#;

/// Gender accuracy per seed for vgg7 and vgg9; `flagged`: vgg7 seeds flagged degenerate.
pub fn input(vgg7: &[f64], vgg9: &[f64], flagged: &[usize], report: &str) -> Input {
    let sweep = ablate_spec::parse(&format!("{SWEEP}{report}"), Path::new("mine.toml")).unwrap();
    let mut trials = Vec::new();
    for (depth, values) in [("vgg7", vgg7), ("vgg9", vgg9)] {
        for (seed, v) in values.iter().enumerate() {
            let degenerate = (depth == "vgg7" && flagged.contains(&seed))
                .then(|| vec!["gender: every validation image gets one class".to_string()]);
            trials.push(TrialRow {
                id: format!("{depth}{seed:0<60}").into(),
                kind: TrialKind::Train,
                state: TrialState::Succeeded,
                studies: vec![Membership::Study("depth".into())],
                labels: [("depth", depth), ("tasks", "gender")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                seed: seed as u64,
                fold: None,
                metrics: [(Metric::GenderAccuracy, *v)].into_iter().collect(),
                degenerate,
                curve: Vec::new(),
                cs: None,
                images: None,
                result: None,
                attempts: Vec::new(),
            });
        }
    }
    let results = SweepResults {
        sweep: "mine".into(),
        description: None,
        studies: vec![StudyInfo {
            name: "depth".into(),
            description: None,
            axes: vec![("depth".into(), vec!["vgg7".into(), "vgg9".into()])],
        }],
        stages: BTreeMap::new(),
        trials,
        provenance: Provenance::default(),
    };
    Input {
        results,
        settings: ablate_verdict::Settings::from_spec(&sweep.report),
        claims: sweep.claims,
        stale: Vec::new(),
        adaptive: None,
        data: Vec::new(),
    }
}
