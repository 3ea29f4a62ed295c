//! Checkpoints as safetensors: atomic saves, and trunk transfer from a pretraining
//! trial with a clear error when the shapes do not match.

use std::path::Path;

use candle_core::Device;
use candle_nn::VarMap;

use crate::error::TrainError;

/// Saves every variable (weights and BatchNorm statistics) to `path` via a temporary file.
pub fn save(varmap: &VarMap, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("safetensors.tmp");
    varmap.save(&tmp).map_err(|source| TrainError::Checkpoint {
        action: "write",
        path: tmp.clone(),
        source: Box::new(source),
    })?;
    std::fs::rename(&tmp, path).map_err(|source| TrainError::Io {
        action: "move checkpoint to",
        path: path.to_path_buf(),
        source,
    })
}

/// Where [`save_pending`] writes: the checkpoint before its commit.
pub fn pending(path: &Path) -> std::path::PathBuf {
    path.with_extension("safetensors.pending")
}

/// Saves like [`save`], but to [`pending`]`(path)`: [`commit`] moves it into
/// place. A trial writes its resumable state between the two, so a state never
/// refers to best weights the disk does not hold (or the other way round): an
/// attempt stopped between them finds the pending file and commits it.
pub fn save_pending(varmap: &VarMap, path: &Path) -> Result<(), TrainError> {
    save(varmap, &pending(path))
}

/// Moves a pending checkpoint of `path` into place, if there is one.
pub fn commit(path: &Path) -> Result<(), TrainError> {
    let from = pending(path);
    match std::fs::rename(&from, path) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
            Err(TrainError::MoveCheckpoint {
                from,
                to: path.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Loads every variable of `varmap` from `path` (names and shapes must match).
pub fn load_all(varmap: &mut VarMap, path: &Path) -> Result<(), TrainError> {
    varmap.load(path).map_err(|source| TrainError::Checkpoint {
        action: "read",
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Copies `trunk.*` from the checkpoint at `path` into `varmap`; heads stay as initialised.
/// Returns how many tensors were copied.
pub fn load_trunk(varmap: &VarMap, path: &Path, device: &Device) -> Result<usize, TrainError> {
    let saved =
        candle_core::safetensors::load(path, device).map_err(|source| TrainError::Checkpoint {
            action: "read pretraining",
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::Internal("variable map lock poisoned"))?;
    let mut names: Vec<&String> = vars.keys().filter(|n| n.starts_with("trunk.")).collect();
    names.sort();
    let mismatch = |what: String| TrainError::TrunkMismatch {
        path: path.to_path_buf(),
        what,
    };
    for name in &names {
        let var = &vars[*name];
        let Some(t) = saved.get(*name) else {
            return Err(mismatch(format!("no `{name}`")));
        };
        if t.dims() != var.dims() {
            return Err(mismatch(format!(
                "`{name}` of shape {:?}, this trial needs {:?}",
                t.dims(),
                var.dims()
            )));
        }
    }
    let extra = saved
        .keys()
        .filter(|k| k.starts_with("trunk.") && !vars.contains_key(*k))
        .min();
    if let Some(k) = extra {
        return Err(mismatch(format!("`{k}`, which this trial's network lacks")));
    }
    for name in &names {
        vars[*name].set(&saved[*name])?;
    }
    Ok(names.len())
}
