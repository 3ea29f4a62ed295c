//! Stand-in sweeps with a known truth: the quick study's grid, each trial's
//! metrics a chosen mean for its labels plus seeded Gaussian noise.
#![allow(dead_code)]

use std::collections::BTreeMap;

use ablate_verdict::{Study, Trial};

/// SplitMix64 and Box-Muller: the same draws on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The truth: each metric's mean for a trial's labels.
pub type Truth = dyn Fn(&str, &BTreeMap<String, String>) -> f64;

/// The effects of a truth shaped like the paper's findings: LDAE's gain in age
/// MAE, age's gain per depth step (gender flat across depth), face
/// pretraining's gains, and multi-task's gains from scratch (none after face
/// pretraining).
#[derive(Clone, Copy)]
pub struct Effects {
    pub ldae: f64,
    pub depth: f64,
    pub face_age: f64,
    pub face_gender: f64,
    pub multi_age: f64,
    pub multi_gender: f64,
}

/// A truth shaped like the paper's findings, with the effects `e`.
pub fn paper_like(e: Effects) -> impl Fn(&str, &BTreeMap<String, String>) -> f64 {
    move |metric, l| {
        let g = |k: &str| l.get(k).map_or("", String::as_str);
        let depth = match g("depth") {
            "vgg7" => 0.0,
            "vgg9" => 1.0,
            _ => 2.0,
        };
        let face = g("pretrain") == "face";
        let multi_scratch = g("tasks") == "gender+age" && !face;
        let on = |yes: bool, v: f64| if yes { v } else { 0.0 };
        if metric == "age_mae" {
            10.0 - on(g("encoding").starts_with("ldae"), e.ldae)
                - e.depth * depth
                - on(face, e.face_age)
                - on(multi_scratch, e.multi_age)
        } else {
            0.80 + on(face, e.face_gender) + on(multi_scratch, e.multi_gender)
        }
    }
}

pub const AGE_SD: f64 = 0.4;
pub const GENDER_SD: f64 = 0.004;

pub fn studies() -> Vec<(Study, Vec<BTreeMap<String, String>>)> {
    let axes = |list: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(a, v)| (a.to_string(), v.iter().map(|x| x.to_string()).collect()))
            .collect()
    };
    let combos = |fixed: &[(&str, &str)], a: (&str, &[&str]), b: Option<(&str, &[&str])>| {
        let mut out = Vec::new();
        for x in a.1 {
            for y in b.map_or(vec![None], |b| b.1.iter().map(Some).collect()) {
                let mut l: BTreeMap<String, String> = fixed
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                l.insert(a.0.into(), x.to_string());
                if let (Some(b), Some(y)) = (b, y) {
                    l.insert(b.0.into(), y.to_string());
                }
                out.push(l);
            }
        }
        out
    };
    let base = [
        ("depth", "vgg9"),
        ("pretrain", "none"),
        ("tasks", "age"),
        ("encoding", "ldae-s2"),
    ];
    let drop = |k: &str| {
        base.iter()
            .filter(|(a, _)| *a != k)
            .copied()
            .collect::<Vec<_>>()
    };
    let enc = [
        "classification",
        "regression-l2",
        "regression-l1",
        "ldae-s2",
    ];
    let depths = ["vgg7", "vgg9", "vgg11"];
    let tasks2 = ["gender", "age"];
    let pre = ["none", "general", "face"];
    vec![
        (
            Study {
                name: "encoding".into(),
                axes: axes(&[("encoding", &enc)]),
            },
            combos(&drop("encoding"), ("encoding", &enc), None),
        ),
        (
            Study {
                name: "depth".into(),
                axes: axes(&[("depth", &depths), ("tasks", &tasks2)]),
            },
            combos(
                &drop("depth")[..0]
                    .iter()
                    .chain(&[("pretrain", "none")])
                    .copied()
                    .collect::<Vec<_>>(),
                ("depth", &depths),
                Some(("tasks", &tasks2)),
            ),
        ),
        (
            Study {
                name: "pretraining".into(),
                axes: axes(&[("pretrain", &pre), ("tasks", &tasks2)]),
            },
            combos(
                &[("depth", "vgg9")],
                ("pretrain", &pre),
                Some(("tasks", &tasks2)),
            ),
        ),
        (
            Study {
                name: "multitask".into(),
                axes: axes(&[
                    ("tasks", &["gender", "age", "gender+age"]),
                    ("pretrain", &["none", "face"]),
                ]),
            },
            combos(
                &[("depth", "vgg9")],
                ("tasks", &["gender", "age", "gender+age"]),
                Some(("pretrain", &["none", "face"])),
            ),
        ),
    ]
}

pub fn draw(truth: &Truth, seeds: u64, rng: &mut Rng) -> (Vec<Study>, Vec<Trial>) {
    let mut trials = Vec::new();
    let mut list = Vec::new();
    for (study, configs) in studies() {
        for labels in configs {
            for seed in 0..seeds {
                let mut metrics = BTreeMap::new();
                let tasks = labels["tasks"].clone();
                if tasks.contains("gender") {
                    metrics.insert(
                        "gender_accuracy".into(),
                        truth("gender_accuracy", &labels) + GENDER_SD * rng.normal(),
                    );
                }
                if tasks.contains("age") {
                    metrics.insert(
                        "age_mae".into(),
                        truth("age_mae", &labels) + AGE_SD * rng.normal(),
                    );
                }
                trials.push(Trial {
                    id: format!("{}-{}-{seed}", study.name, trials.len()).into(),
                    studies: vec![study.name.clone()],
                    labels: labels.clone(),
                    seed,
                    fold: None,
                    finished: true,
                    pending: false,
                    metrics,
                });
            }
        }
        list.push(study);
    }
    (list, trials)
}

/// Judges one drawn sweep with the default settings and the quick grid's face stage.
pub fn judge_draw(
    studies: &[Study],
    trials: &[Trial],
    claims: &[ablate_spec::claims::ClaimSpec],
) -> ablate_verdict::Judgement {
    ablate_verdict::judge(&ablate_verdict::Input {
        studies,
        trials,
        face_stages: vec!["face".into()],
        claims,
        settings: ablate_verdict::Settings::default(),
    })
}
