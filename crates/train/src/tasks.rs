//! Which heads a trial trains, which labels it needs, and its weighted loss.

use candle_core::{Device, Result, Tensor};

use ablate_data::Sample;
use ablate_spec::types::Objective;

use crate::encoding::{AgeCoder, cross_entropy};
use crate::model::{HeadSizes, Outputs};

/// The heads of one trial, with loss weights.
#[derive(Debug, Clone)]
pub struct Heads {
    pub gender: Option<f64>,
    pub age: Option<(f64, AgeCoder)>,
    pub identity: bool,
    pub general: bool,
}

impl Heads {
    /// Heads for `objective`; `train_ages` feeds the regression normalisation.
    pub fn new(objective: &Objective, train_ages: &[f32]) -> Self {
        match objective {
            Objective::Faces { gender, age } => Heads {
                gender: *gender,
                age: age
                    .as_ref()
                    .map(|a| (a.weight, AgeCoder::new(&a.encoding, train_ages))),
                identity: false,
                general: false,
            },
            Objective::Identity => Heads {
                gender: None,
                age: None,
                identity: true,
                general: false,
            },
            Objective::General => Heads {
                gender: None,
                age: None,
                identity: false,
                general: true,
            },
        }
    }

    /// Whether a sample carries every label this objective trains on.
    pub fn usable(objective: &Objective, s: &Sample) -> bool {
        match objective {
            Objective::Faces { gender, age } => {
                (gender.is_none() || s.gender.is_some()) && (age.is_none() || s.age.is_some())
            }
            Objective::Identity => s.identity.is_some(),
            Objective::General => s.class.is_some(),
        }
    }

    /// What the objective needs, for error messages.
    pub fn needs(objective: &Objective) -> &'static str {
        match objective {
            Objective::Faces {
                gender: Some(_),
                age: Some(_),
            } => "gender and age labels",
            Objective::Faces {
                gender: Some(_), ..
            } => "gender labels",
            Objective::Faces { .. } => "age labels",
            Objective::Identity => "identities",
            Objective::General => "class labels",
        }
    }

    pub fn sizes(&self, identities: usize, classes: usize) -> HeadSizes {
        HeadSizes {
            gender: self.gender.map(|_| 2),
            age: self.age.as_ref().map(|(_, c)| c.outputs()),
            identity: self.identity.then_some(identities),
            general: self.general.then_some(classes),
        }
    }

    /// The weighted sum of the heads' losses on the batch `idx`.
    pub fn loss(
        &self,
        out: &Outputs,
        samples: &[Sample],
        idx: &[usize],
        device: &Device,
    ) -> Result<Tensor> {
        let mut parts: Vec<Tensor> = Vec::new();
        let classes = |f: &dyn Fn(&Sample) -> Option<u32>| -> Result<Tensor> {
            Tensor::from_vec(
                idx.iter()
                    .map(|i| f(&samples[*i]).unwrap_or(0))
                    .collect::<Vec<u32>>(),
                idx.len(),
                device,
            )
        };
        if let (Some(w), Some(logits)) = (self.gender, &out.gender) {
            let t = classes(&|s| s.gender.map(u32::from))?;
            parts.push((cross_entropy(logits, &t)? * w)?);
        }
        if let (Some((w, coder)), Some(output)) = (&self.age, &out.age) {
            let ages: Vec<f32> = idx.iter().map(|i| samples[*i].age.unwrap_or(0.0)).collect();
            let stds: Option<Vec<f32>> = idx.iter().map(|i| samples[*i].age_std).collect();
            let t = coder.targets(&ages, stds.as_deref(), device)?;
            parts.push((coder.loss(output, &t)? * *w)?);
        }
        if let (true, Some(logits)) = (self.identity, &out.identity) {
            parts.push(cross_entropy(logits, &classes(&|s| s.identity)?)?);
        }
        if let (true, Some(logits)) = (self.general, &out.general) {
            parts.push(cross_entropy(logits, &classes(&|s| s.class)?)?);
        }
        let mut total = parts
            .pop()
            .ok_or_else(|| candle_core::Error::Msg("a trial with no head".into()))?;
        for p in parts {
            total = (total + p)?;
        }
        Ok(total)
    }
}
