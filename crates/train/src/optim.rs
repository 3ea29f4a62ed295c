//! Optimisers and learning-rate schedules. Written here rather than taken from
//! candle-nn: its SGD has no momentum or weight decay, and both optimisers must skip
//! BatchNorm's running statistics, which are variables without gradients.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

use ablate_spec::types::{Optimizer, Schedule, TrainSpec};

/// A trainable variable and its optimiser state.
#[derive(Debug)]
struct Slot {
    var: Var,
    /// Decay applies to weights, not to biases or BatchNorm parameters (usual practice).
    decay: bool,
    m: Option<Tensor>,
    v: Option<Tensor>,
}

#[derive(Debug)]
pub struct Optim {
    kind: Optimizer,
    momentum: f64,
    weight_decay: f64,
    slots: Vec<Slot>,
    step: u64,
}

impl Optim {
    /// `vars`: (name, variable) of the whole model; running statistics are left out.
    pub fn new(spec: &TrainSpec, vars: Vec<(String, Var)>) -> Self {
        let slots = vars
            .into_iter()
            .filter(|(name, _)| !name.contains("running_"))
            .map(|(name, var)| Slot {
                decay: name.ends_with(".weight") && !name.contains(".bn."),
                var,
                m: None,
                v: None,
            })
            .collect();
        Optim {
            kind: spec.optimizer,
            momentum: spec.momentum,
            weight_decay: spec.weight_decay,
            slots,
            step: 0,
        }
    }

    /// The moments as `optim/m/<i>` and `optim/v/<i>` (slot order), for a
    /// resumable state, and the step count.
    pub fn state(&self) -> (Vec<(String, Tensor)>, u64) {
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(m) = &slot.m {
                out.push((format!("optim/m/{i}"), m.clone()));
            }
            if let Some(v) = &slot.v {
                out.push((format!("optim/v/{i}"), v.clone()));
            }
        }
        (out, self.step)
    }

    /// The moments and step count [`Optim::state`] gave; each moment must have
    /// its variable's shape.
    pub fn restore(
        &mut self,
        get: impl Fn(&str) -> Option<Tensor>,
        step: u64,
    ) -> std::result::Result<(), String> {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            for (key, dst) in [("m", &mut slot.m), ("v", &mut slot.v)] {
                let name = format!("optim/{key}/{i}");
                *dst = match get(&name) {
                    Some(t) if t.dims() == slot.var.dims() => Some(t),
                    Some(t) => {
                        return Err(format!(
                            "{name} is {:?}, its variable {:?}",
                            t.dims(),
                            slot.var.dims()
                        ));
                    }
                    None => None,
                };
            }
        }
        self.step = step;
        Ok(())
    }

    /// One update at learning rate `lr`. Variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let w = slot.var.as_tensor();
            match self.kind {
                Optimizer::Sgd if crate::cpu_ops::sgd_applies(&[w, g]) => {
                    let wd = if slot.decay { self.weight_decay } else { 0.0 };
                    let decay = slot.decay && self.weight_decay > 0.0;
                    let m = slot.m.as_ref().filter(|_| self.momentum > 0.0);
                    if let Some(fresh) = crate::cpu_ops::sgd_step(
                        w,
                        g,
                        m,
                        lr,
                        self.momentum,
                        if decay { wd } else { 0.0 },
                    )? {
                        slot.m = Some(fresh);
                    }
                }
                Optimizer::Sgd => {
                    // PyTorch's SGD: g += wd * w; v = mu * v + g; w -= lr * v.
                    let g = if slot.decay && self.weight_decay > 0.0 {
                        (g + (w * self.weight_decay)?)?
                    } else {
                        g.clone()
                    };
                    let v = match &slot.m {
                        Some(m) if self.momentum > 0.0 => ((m * self.momentum)? + &g)?,
                        _ => g,
                    };
                    slot.var.set(&(w - (&v * lr)?)?)?;
                    slot.m = Some(v);
                }
                Optimizer::Adamw => {
                    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
                    let m = match &slot.m {
                        Some(m) => ((m * b1)? + (g * (1.0 - b1))?)?,
                        None => (g * (1.0 - b1))?,
                    };
                    let v = match &slot.v {
                        Some(v) => ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?,
                        None => (g.sqr()? * (1.0 - b2))?,
                    };
                    let t = self.step as i32;
                    let m_hat = (&m / (1.0 - b1.powi(t)))?;
                    let v_hat = (&v / (1.0 - b2.powi(t)))?;
                    let decayed = if slot.decay && self.weight_decay > 0.0 {
                        (w * (1.0 - lr * self.weight_decay))?
                    } else {
                        w.clone()
                    };
                    let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
                    slot.var.set(&(decayed - (update * lr)?)?)?;
                    slot.m = Some(m);
                    slot.v = Some(v);
                }
            }
        }
        Ok(())
    }
}

/// Learning rate at `step` of `steps_per_epoch * epochs`: linear warm-up, then the schedule.
pub fn learning_rate(spec: &TrainSpec, step: usize, steps_per_epoch: usize) -> f64 {
    let per = steps_per_epoch.max(1) as f64;
    let epoch = step as f64 / per;
    let warm = f64::from(spec.warmup_epochs);
    if epoch < warm {
        return spec.lr * (step as f64 + 1.0) / (warm * per);
    }
    match &spec.schedule {
        Schedule::Constant => spec.lr,
        Schedule::Step { every, gamma } => {
            spec.lr * gamma.powi(((epoch - warm) / f64::from(*every)).floor() as i32)
        }
        Schedule::Cosine => {
            let total = (f64::from(spec.epochs) - warm).max(1e-9);
            let t = ((epoch - warm) / total).clamp(0.0, 1.0);
            spec.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}
