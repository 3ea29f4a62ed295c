//! Checkpoints as safetensors: atomic saves, and trunk transfer from a pretraining
//! trial with a clear error when the shapes do not match.

use std::path::Path;

use candle_core::Device;
use candle_nn::VarMap;

use crate::error::TrainError;

/// Saves every variable (weights and BatchNorm statistics) to `path` via a temporary file.
pub fn save(varmap: &VarMap, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("safetensors.tmp");
    varmap
        .save(&tmp)
        .map_err(|e| TrainError::io(format!("cannot write checkpoint {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| TrainError::io(format!("cannot move checkpoint to {}: {e}", path.display())))
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
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TrainError::io(format!(
            "cannot move checkpoint {} to {}: {e}",
            from.display(),
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Loads every variable of `varmap` from `path` (names and shapes must match).
pub fn load_all(varmap: &mut VarMap, path: &Path) -> Result<(), TrainError> {
    varmap
        .load(path)
        .map_err(|e| TrainError::io(format!("cannot read checkpoint {}: {e}", path.display())))
}

/// Copies `trunk.*` from the checkpoint at `path` into `varmap`; heads stay as initialised.
/// Returns how many tensors were copied.
pub fn load_trunk(varmap: &VarMap, path: &Path, device: &Device) -> Result<usize, TrainError> {
    let saved = candle_core::safetensors::load(path, device).map_err(|e| {
        TrainError::io(format!(
            "cannot read pretraining checkpoint {}: {e}",
            path.display()
        ))
    })?;
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::internal("variable map lock poisoned"))?;
    let mut names: Vec<&String> = vars.keys().filter(|n| n.starts_with("trunk.")).collect();
    names.sort();
    let hint =
        "the pretraining trial must have the same depth, width, BatchNorm setting and input size";
    for name in &names {
        let var = &vars[*name];
        let Some(t) = saved.get(*name) else {
            return Err(TrainError::bad_config(format!(
                "pretraining checkpoint {} has no `{name}`: {hint}",
                path.display()
            )));
        };
        if t.dims() != var.dims() {
            return Err(TrainError::bad_config(format!(
                "pretraining checkpoint {} has `{name}` of shape {:?}, this trial needs {:?}: {hint}",
                path.display(),
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
        return Err(TrainError::bad_config(format!(
            "pretraining checkpoint {} has `{k}`, which this trial's network lacks: {hint}",
            path.display()
        )));
    }
    for name in &names {
        vars[*name].set(&saved[*name])?;
    }
    Ok(names.len())
}
