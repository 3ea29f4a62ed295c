//! A trial's resumable state (`state.safetensors`, docs/worker-protocol.md,
//! "Resuming"): everything that decides how training goes on from a step
//! boundary, so that an attempt resumed from it ends exactly where an
//! uninterrupted one would (on CPU, at the same thread count).
//!
//! What it holds: every variable (weights and BatchNorm's running statistics),
//! the optimiser's moments, each random stream's position, the schedule's step,
//! the epoch and batch reached, the best epoch so far with its validation
//! evaluation, and the metrics lines written so far. One file, written through a
//! temporary file and a rename; its header's metadata says whose state it is
//! (trial id, trainer version, data and split digests) and carries a SHA-256 of
//! the tensors. A state that is truncated, corrupt, or another trial's or
//! trainer's is never loaded: [`load`] says why, and the attempt starts afresh.
//!
//! It must not know about attempts or the scheduler: the orchestrator decides
//! when a state is deleted.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::TrainError;
use crate::evaluate::Scored;
use crate::metrics::ClassMetrics;

/// The metadata key of the state's description.
const META: &str = "ablate.state";
/// Bumped when the layout changes: a state of another format is not loaded.
const FORMAT: u32 = 1;

/// Where training stands at a step boundary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs fully done, validation included.
    pub epochs_done: u32,
    /// Batches of epoch `epochs_done + 1` done (0 at an epoch boundary).
    pub batches_done: usize,
    /// Optimiser steps so far (the learning-rate schedule's position).
    pub step: usize,
    /// The shuffle stream before epoch `epochs_done + 1` drew its order.
    pub shuffle: u64,
    pub augment: u64,
    pub dropout: u64,
    /// The running epoch's loss so far (sum over images, images).
    pub loss_sum: f64,
    pub loss_n: usize,
    /// Seconds of training in the running epoch so far, and over the trial.
    pub epoch_seconds: f64,
    pub train_seconds: f64,
    pub seen: usize,
    pub elapsed_s: f64,
    pub best: Option<(u32, f64)>,
    pub best_val: Option<Scored>,
    pub best_gender: Option<(u32, ClassMetrics)>,
    /// metrics.jsonl as written so far.
    pub lines: String,
    pub optimizer_steps: u64,
    /// SHA-256 of checkpoint.safetensors and checkpoint-gender.safetensors
    /// (None: absent) when the state was written: the best weights `best`
    /// refers to.
    pub checkpoints: Vec<Option<String>>,
}

impl Progress {
    /// Where a trial with `seed` starts.
    pub fn fresh(seed: u64) -> Self {
        let at = |purpose| crate::rng::Rng::stream(seed, purpose).position();
        Progress {
            epochs_done: 0,
            batches_done: 0,
            step: 0,
            shuffle: at("shuffle"),
            augment: at("augment"),
            dropout: at("dropout"),
            loss_sum: 0.0,
            loss_n: 0,
            epoch_seconds: 0.0,
            train_seconds: 0.0,
            seen: 0,
            elapsed_s: 0.0,
            best: None,
            best_val: None,
            best_gender: None,
            lines: String::new(),
            optimizer_steps: 0,
            checkpoints: Vec::new(),
        }
    }
}

/// SHA-256 of each file's bytes, None for one that does not exist.
pub fn file_digests(paths: &[std::path::PathBuf]) -> Result<Vec<Option<String>>, TrainError> {
    paths
        .iter()
        .map(|p| match std::fs::read(p) {
            Ok(b) => Ok(Some(hex(&Sha256::digest(&b)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TrainError::Io {
                action: "read",
                path: p.clone(),
                source,
            }),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whose state it is: a state is loaded only into the trial that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub trial: ablate_protocol::TrialId,
    pub trainer_version: u32,
    pub data_digest: String,
    pub split_digest: String,
    /// SHA-256 of the pretraining checkpoint it started from: a state trained
    /// from other pretrained weights is another training.
    #[serde(default)]
    pub init_sha256: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    owner: Owner,
    /// Threads of the attempt that wrote it: on CPU a resume is exact only at
    /// the same count.
    threads: usize,
    /// SHA-256 over the tensors' names, shapes and bytes, in name order.
    tensors_sha256: String,
    progress: Progress,
}

/// A loaded state.
#[derive(Debug)]
pub struct State {
    pub progress: Progress,
    pub threads: usize,
    pub tensors: HashMap<String, Tensor>,
}

/// `named` in name order: (name, shape, little-endian bytes).
fn digest(named: &[(&str, &[usize], &[u8])]) -> String {
    let mut h = Sha256::new();
    for (name, shape, bytes) in named {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((shape.len() as u64).to_le_bytes());
        for d in shape.iter() {
            h.update((*d as u64).to_le_bytes());
        }
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    hex(&h.finalize())
}

/// Writes the state atomically: `tensors` (f32) and the progress.
pub fn save(
    path: &Path,
    owner: &Owner,
    threads: usize,
    progress: &Progress,
    tensors: &[(String, Tensor)],
) -> Result<(), TrainError> {
    let mut named = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values: Vec<f32> = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        named.push((name.clone(), t.dims().to_vec(), bytes));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = Meta {
        format: FORMAT,
        owner: owner.clone(),
        threads,
        tensors_sha256: digest(
            &named
                .iter()
                .map(|(n, s, b)| (n.as_str(), s.as_slice(), b.as_slice()))
                .collect::<Vec<_>>(),
        ),
        progress: progress.clone(),
    };
    let meta = serde_json::to_string(&meta)?;
    let views = named
        .iter()
        .map(|(n, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|source| TrainError::StateFile {
                    what: format!("state tensor {n}"),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = safetensors::serialize(views, Some(HashMap::from([(META.to_string(), meta)])))
        .map_err(|source| TrainError::StateFile {
            what: "cannot serialise the state".into(),
            source,
        })?;
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| TrainError::Io {
            action: "write the state",
            path: path.to_path_buf(),
            source,
        })
}

/// The state at `path` if there is one this trial may resume from: `Ok(None)`
/// when there is none, `Err(why)` when there is one that must not be loaded.
pub fn load(path: &Path, owner: &Owner, device: &Device) -> Result<Option<State>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| format!("not a readable safetensors file (truncated or corrupt?): {e}"))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| format!("not a readable safetensors file: {e}"))?;
    let meta = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META))
        .ok_or("it has no ablate state description (not written by ablate's worker)")?;
    let meta: Meta =
        serde_json::from_str(meta).map_err(|e| format!("its description does not parse: {e}"))?;
    if meta.format != FORMAT {
        return Err(format!(
            "it is of state format {}, this ablate reads {FORMAT}",
            meta.format
        ));
    }
    if meta.owner != *owner {
        let (a, b) = (&meta.owner, owner);
        let why = if a.trial != b.trial {
            format!("it belongs to trial {}, not {}", a.trial, b.trial)
        } else if a.trainer_version != b.trainer_version {
            format!(
                "it was written by trainer version {}, this is {}",
                a.trainer_version, b.trainer_version
            )
        } else if a.init_sha256 != b.init_sha256 {
            "the pretraining checkpoint it started from has changed since".into()
        } else {
            "the trial's data or split changed since it was written".into()
        };
        return Err(why);
    }
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let named: Vec<(&str, &[usize], &[u8])> = views
        .iter()
        .map(|(n, v)| (n.as_str(), v.shape(), v.data()))
        .collect();
    if digest(&named) != meta.tensors_sha256 {
        return Err("its tensors do not match their checksum (corrupt)".into());
    }
    let mut tensors = HashMap::new();
    for (name, view) in &views {
        if view.dtype() != Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, not f32", view.dtype()));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let t = Tensor::from_vec(values, view.shape(), device)
            .map_err(|e| format!("tensor {name}: {e}"))?;
        tensors.insert(name.clone(), t);
    }
    Ok(Some(State {
        progress: meta.progress,
        threads: meta.threads,
        tensors,
    }))
}

/// Sets every variable in `vars` from the state's `var/<name>` tensors; all must
/// be there with their shapes.
pub fn restore_vars(state: &State, vars: &[(String, Var)]) -> Result<(), String> {
    let mut found = Vec::with_capacity(vars.len());
    for (name, var) in vars {
        let key = format!("var/{name}");
        let t = state
            .tensors
            .get(&key)
            .ok_or_else(|| format!("it has no {key}: another network?"))?;
        if t.dims() != var.dims() {
            return Err(format!(
                "{key} is {:?}, the network's is {:?}",
                t.dims(),
                var.dims()
            ));
        }
        found.push((var, t, key));
    }
    for (var, t, key) in found {
        var.set(t).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(())
}
