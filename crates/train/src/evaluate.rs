//! Evaluation of a part of the data in eval mode, and the checks that flag a
//! collapsed (degenerate) run.

use candle_core::{Device, Result};

use ablate_data::{Cache, Sample};
use ablate_spec::types::{Encoding, Objective};

use crate::batch;
use crate::metrics::{age_metrics, argmax, class_metrics, constant_mae};
use crate::model::Net;
use crate::protocol::{AgeEvaluation, Degenerate, Evaluation};
use crate::rng::Rng;
use crate::tasks::Heads;

/// An evaluation plus the share of trunk output units that never fired.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Scored {
    pub eval: Evaluation,
    pub dead_fraction: f64,
    /// Per hidden FC layer: its width and the share of its units that never
    /// activate on the evaluated images.
    pub dead_hidden: Vec<(usize, f64)>,
    /// BatchNorm before the hidden FC layers' ReLUs (it keeps them alive).
    pub fc_batch_norm: bool,
}

pub fn evaluate(
    net: &Net,
    heads: &Heads,
    cache: &Cache,
    idx: &[usize],
    batch_size: usize,
    train_mean_age: f32,
    device: &Device,
) -> Result<Scored> {
    let side = cache.size() as usize;
    let samples = &cache.samples;
    let (mut gender_p, mut gender_t) = (Vec::new(), Vec::new());
    let (mut age_exp, mut age_arg, mut age_t, mut age_std) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut id_p, mut id_t, mut cls_p, mut cls_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut loss_sum = 0.0;
    let mut alive: Vec<bool> = Vec::new();
    let mut alive_hidden: Vec<Vec<bool>> = Vec::new();
    // Eval mode uses no randomness; the generator is only a required argument.
    let mut rng = Rng::new(0);
    for chunk in idx.chunks(batch_size.max(1)) {
        let imgs: Vec<&[u8]> = chunk.iter().map(|i| cache.image(*i)).collect();
        let x = batch::images(&imgs, side, None, device)?;
        let out = net.forward(&x, false, &mut rng)?;
        loss_sum += f64::from(
            heads
                .loss(&out, samples, chunk, device)?
                .to_scalar::<f32>()?,
        ) * chunk.len() as f64;
        let fired = out.features.gt(0f32)?.max(0)?.to_vec1::<u8>()?;
        if alive.is_empty() {
            alive = vec![false; fired.len()];
        }
        for (a, f) in alive.iter_mut().zip(fired) {
            *a |= f > 0;
        }
        for (l, h) in out.hidden.iter().enumerate() {
            let fired = h.gt(0f32)?.max(0)?.to_vec1::<u8>()?;
            if alive_hidden.len() <= l {
                alive_hidden.push(vec![false; fired.len()]);
            }
            for (a, f) in alive_hidden[l].iter_mut().zip(fired) {
                *a |= f > 0;
            }
        }
        if let Some(logits) = &out.gender {
            gender_p.extend(argmax(logits)?);
            gender_t.extend(
                chunk
                    .iter()
                    .map(|i| u32::from(samples[*i].gender.unwrap_or(0))),
            );
        }
        if let (Some((_, coder)), Some(output)) = (&heads.age, &out.age) {
            let d = coder.decode(output)?;
            age_exp.extend(d.expected);
            if let Some(a) = d.argmax {
                age_arg.extend(a);
            }
            age_t.extend(chunk.iter().map(|i| samples[*i].age.unwrap_or(0.0)));
            age_std.extend(chunk.iter().map(|i| samples[*i].age_std));
        }
        if let Some(logits) = &out.identity {
            id_p.extend(argmax(logits)?);
            id_t.extend(chunk.iter().map(|i| samples[*i].identity.unwrap_or(0)));
        }
        if let Some(logits) = &out.general {
            cls_p.extend(argmax(logits)?);
            cls_t.extend(chunk.iter().map(|i| samples[*i].class.unwrap_or(0)));
        }
    }
    let stds: Option<Vec<f32>> = age_std.iter().copied().collect();
    let age = heads.age.as_ref().map(|_| AgeEvaluation {
        expected: age_metrics(&age_exp, &age_t, stds.as_deref()),
        argmax: (!age_arg.is_empty()).then(|| age_metrics(&age_arg, &age_t, stds.as_deref())),
        baseline_mae: constant_mae(train_mean_age, &age_t),
    });
    let dead = if alive.is_empty() {
        0.0
    } else {
        alive.iter().filter(|a| !**a).count() as f64 / alive.len() as f64
    };
    Ok(Scored {
        eval: Evaluation {
            gender: heads.gender.map(|_| class_metrics(&gender_p, &gender_t)),
            age,
            identity: heads.identity.then(|| class_metrics(&id_p, &id_t)),
            general: heads.general.then(|| class_metrics(&cls_p, &cls_t)),
            loss: loss_sum / idx.len().max(1) as f64,
        },
        dead_fraction: dead,
        dead_hidden: alive_hidden
            .iter()
            .map(|a| {
                let dead = a.iter().filter(|x| !**x).count();
                (a.len(), dead as f64 / a.len().max(1) as f64)
            })
            .collect(),
        fc_batch_norm: net.fc_batch_norm(),
    })
}

/// The validation score that picks the best epoch, and whether lower is better.
pub fn selection(eval: &Evaluation) -> (&'static str, f64, bool) {
    if let Some(age) = &eval.age {
        return (
            ablate_protocol::Metric::AgeMae.key(),
            age.expected.mae,
            true,
        );
    }
    let acc = eval
        .gender
        .as_ref()
        .or(eval.identity.as_ref())
        .or(eval.general.as_ref())
        .map_or(0.0, |m| m.accuracy);
    ("accuracy", acc, false)
}

/// Evidence that a run collapsed: constant predictions, no better than the majority
/// class or the training mean, or a trunk whose units never fire. Judged on the
/// validation images at the selected epoch, never the test set: which runs count
/// must not depend on the numbers they are reported with.
pub fn degenerate(s: &Scored) -> Option<Degenerate> {
    let mut evidence = Vec::new();
    for (name, m) in [
        ("gender", &s.eval.gender),
        ("identity", &s.eval.identity),
        ("general", &s.eval.general),
    ] {
        let Some(m) = m else { continue };
        if m.n == 0 {
            continue;
        }
        if m.distinct_predictions <= 1 {
            evidence.push(format!(
                "{name}: every validation image gets the same class"
            ));
        } else if m.accuracy <= m.majority_rate + 0.01 {
            evidence.push(format!("{name}: accuracy {:.3} is no better than always guessing the majority class ({:.3})", m.accuracy, m.majority_rate));
        }
    }
    if let Some(age) = &s.eval.age
        && age.expected.n > 0
    {
        if age.expected.prediction_std < 1.0 {
            evidence.push(format!(
                "age: predictions collapsed to {:.1} +- {:.2} years",
                age.expected.prediction_mean, age.expected.prediction_std
            ));
        }
        if age.expected.mae >= 0.98 * age.baseline_mae {
            evidence.push(format!(
                "age: MAE {:.2} is no better than predicting the training mean ({:.2})",
                age.expected.mae, age.baseline_mae
            ));
        }
    }
    // Hidden FC layers whose ReLUs died (a high learning rate without BatchNorm
    // before them pushes every unit negative for good).
    let fix = if s.fc_batch_norm {
        "lower `lr` (or raise `warmup_epochs`)"
    } else {
        "lower `lr`, or set `batch_norm = true`, which normalises before each ReLU"
    };
    let dead_layers: Vec<String> = s
        .dead_hidden
        .iter()
        .enumerate()
        .filter(|(_, (_, d))| *d > 0.95)
        .map(|(i, (w, d))| {
            format!(
                "hidden FC layer {} ({w} units): {:.0}% never activate",
                i + 1,
                100.0 * d
            )
        })
        .collect();
    if !dead_layers.is_empty() {
        evidence.push(format!(
            "dead ReLUs on the validation images: {}; {fix}",
            dead_layers.join(", ")
        ));
    } else if s.dead_fraction > 0.95 {
        evidence.push(format!(
            "{:.0}% of the trunk's output units never activate on the validation images; {fix}",
            100.0 * s.dead_fraction
        ));
    }
    (!evidence.is_empty()).then_some(Degenerate { evidence })
}

/// How many of the trial's images have an age outside the encoding's range (they
/// train and score as the nearest end of it), said so the user can widen the range.
pub fn clipped_ages(objective: &Objective, samples: &[Sample], used: &[usize]) -> Option<String> {
    let Objective::Faces {
        age: Some(task), ..
    } = objective
    else {
        return None;
    };
    let (lo, hi) = match task.encoding {
        Encoding::Classification { age_min, age_max }
        | Encoding::Ldae {
            age_min, age_max, ..
        } => (age_min as f32, age_max as f32),
        Encoding::Regression { .. } => return None,
    };
    let (mut below, mut above) = (0usize, 0usize);
    for &i in used {
        match samples[i].age {
            Some(a) if a < lo => below += 1,
            Some(a) if a > hi => above += 1,
            _ => {}
        }
    }
    (below + above > 0).then(|| {
        format!(
            "{} of {} images have an age outside the encoding's range {lo}-{hi} ({below} below, {above} above) and were clipped to it; widen age_min/age_max to keep them apart",
            below + above,
            used.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{age_metrics, class_metrics};

    fn scored(gender_pred: &[u32], ages: &[f32], dead: f64) -> Scored {
        let truth_g = [0, 1, 0, 1, 1, 0];
        let truth_a = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
        Scored {
            eval: Evaluation {
                gender: Some(class_metrics(gender_pred, &truth_g)),
                age: Some(AgeEvaluation {
                    expected: age_metrics(ages, &truth_a, None),
                    argmax: None,
                    baseline_mae: constant_mae(35.0, &truth_a),
                }),
                identity: None,
                general: None,
                loss: 0.0,
            },
            dead_fraction: dead,
            dead_hidden: vec![(8, dead)],
            fc_batch_norm: false,
        }
    }

    #[test]
    fn healthy_runs_are_not_flagged() {
        assert!(
            degenerate(&scored(
                &[0, 1, 0, 1, 1, 1],
                &[12.0, 18.0, 33.0, 41.0, 47.0, 58.0],
                0.1
            ))
            .is_none()
        );
    }

    #[test]
    fn collapsed_runs_are_flagged_with_evidence() {
        let d = degenerate(&scored(&[1, 1, 1, 1, 1, 1], &[35.0; 6], 0.99))
            .expect("a collapsed run is flagged");
        let text = d.evidence.join("\n");
        assert!(
            text.contains("gender: every validation image gets the same class"),
            "{text}"
        );
        assert!(text.contains("age: predictions collapsed"), "{text}");
        assert!(
            text.contains("no better than predicting the training mean"),
            "{text}"
        );
        assert!(
            text.contains("dead ReLUs on the validation images: hidden FC layer 1 (8 units): 99% never activate; lower `lr`, or set `batch_norm = true`"),
            "{text}"
        );
    }

    /// Each hidden layer is checked, not only the last; with BatchNorm already on,
    /// the advice is the learning rate.
    #[test]
    fn a_dead_first_hidden_layer_is_named_with_what_to_change() {
        let mut s = scored(
            &[0, 1, 0, 1, 1, 1],
            &[12.0, 18.0, 33.0, 41.0, 47.0, 58.0],
            0.0,
        );
        s.dead_hidden = vec![(64, 1.0), (32, 0.1)];
        s.fc_batch_norm = true;
        let text = degenerate(&s).expect("flagged").evidence.join("\n");
        assert!(text.contains("hidden FC layer 1 (64 units): 100% never activate; lower `lr` (or raise `warmup_epochs`)"), "{text}");
        assert!(!text.contains("layer 2"), "{text}");
    }
}
