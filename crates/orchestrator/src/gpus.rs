//! `--gpus`: which GPUs a run's slots pin, read as CUDA reads them. `all` is
//! what `nvidia-smi -L` lists, limited by `CUDA_VISIBLE_DEVICES` exactly as
//! CUDA limits it; a list of indices is taken as given.

use crate::RunError;

/// The GPUs to make slots of, by index with their names (empty when not
/// known), and warnings for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpus {
    pub gpus: Vec<(u32, String)>,
    pub warnings: Vec<String>,
}

/// One GPU as `nvidia-smi -L` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGpu {
    /// nvidia-smi's index (PCI bus order), what `CUDA_VISIBLE_DEVICES` pins in the workers.
    pub index: u32,
    pub name: String,
    /// `GPU-…`; empty when the line had none.
    pub uuid: String,
}

/// The `GPU N: NAME (UUID: GPU-…)` lines of `nvidia-smi -L` (MIG lines under them are skipped).
pub fn parse_nvidia_smi(text: &str) -> Vec<ListedGpu> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_end().strip_prefix("GPU ")?;
            let (idx, rest) = rest.split_once(':')?;
            let (name, uuid) = match rest.split_once("(UUID:") {
                Some((name, u)) => (name, u.trim().trim_end_matches(')').trim()),
                None => (rest, ""),
            };
            Some(ListedGpu {
                index: idx.trim().parse().ok()?,
                name: name.trim().to_string(),
                uuid: uuid.to_string(),
            })
        })
        .collect()
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

/// The listed GPUs that `CUDA_VISIBLE_DEVICES` (`visible`) leaves visible, in its order, as CUDA
/// reads it: comma-separated indices or (prefixes of) `GPU-` UUIDs, spaces allowed; the first
/// entry that names no GPU ends the list (with a warning), so `""` or `-1` hides every GPU.
/// Returns the GPUs and the warnings to print.
pub fn select_visible(
    listed: &[ListedGpu],
    visible: Option<&str>,
) -> Result<(Vec<ListedGpu>, Vec<String>), RunError> {
    let all = || {
        listed
            .iter()
            .map(|g| format!("GPU {} {}", g.index, g.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if listed.is_empty() {
        return Err(RunError::Invalid(
            "--gpus all: `nvidia-smi -L` lists no GPU; check the NVIDIA driver, or list GPUs with --gpus 0,1".into(),
        ));
    }
    let Some(visible) = visible else {
        return Ok((listed.to_vec(), Vec::new()));
    };
    let mut chosen: Vec<ListedGpu> = Vec::new();
    let mut warnings = Vec::new();
    for entry in visible.split(',').map(str::trim) {
        if starts_with_ci(entry, "MIG-") {
            return Err(RunError::Invalid(format!(
                "--gpus all: CUDA_VISIBLE_DEVICES={visible:?} names a MIG instance ({entry}); ablate pins whole GPUs only: unset CUDA_VISIBLE_DEVICES or list GPU indices"
            )));
        }
        let found: Vec<&ListedGpu> = if entry.len() > 4 && starts_with_ci(entry, "GPU-") {
            listed
                .iter()
                .filter(|g| starts_with_ci(&g.uuid, entry))
                .collect()
        } else {
            entry
                .parse::<u32>()
                .ok()
                .and_then(|i| listed.iter().find(|g| g.index == i))
                .into_iter()
                .collect()
        };
        let [gpu] = found.as_slice() else {
            // CUDA's rule: the devices before the first invalid entry are the visible ones.
            if !(entry.is_empty() && visible.trim().is_empty()) {
                let why = if found.len() > 1 {
                    "matches several GPUs"
                } else {
                    "names none of the GPUs nvidia-smi lists"
                };
                warnings.push(format!(
                    "CUDA_VISIBLE_DEVICES={visible:?}: {entry:?} {why} ({}); like CUDA, ablate ignores it and every entry after it",
                    all()
                ));
            }
            break;
        };
        if !chosen.iter().any(|g| g.index == gpu.index) {
            chosen.push((*gpu).clone());
        }
    }
    if chosen.is_empty() {
        return Err(RunError::Invalid(format!(
            "--gpus all: CUDA_VISIBLE_DEVICES={visible:?} hides every GPU that nvidia-smi -L lists ({}); unset it, set it to indices or GPU-… UUIDs of these GPUs, or list GPUs with --gpus 0,1",
            all()
        )));
    }
    Ok((chosen, warnings))
}

/// GPUs from `nvidia-smi -L`, limited to CUDA_VISIBLE_DEVICES when it is set,
/// with the warnings to print.
fn detect() -> Result<Gpus, RunError> {
    let out = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .map_err(|e| {
            RunError::Invalid(format!(
                "--gpus all: cannot run nvidia-smi ({e}); is the NVIDIA driver installed and nvidia-smi on PATH? Or list GPUs with --gpus 0,1"
            ))
        })?;
    if !out.status.success() {
        // nvidia-smi prints its reason ("couldn't communicate with the NVIDIA driver") on stdout.
        let said = [&out.stderr, &out.stdout]
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(RunError::Invalid(format!(
            "--gpus all: `nvidia-smi -L` failed ({}): {}; check the NVIDIA driver, or list GPUs with --gpus 0,1",
            out.status,
            if said.is_empty() { "no output" } else { &said }
        )));
    }
    let listed = parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout));
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    let (gpus, warnings) = select_visible(&listed, visible.as_deref())?;
    Ok(Gpus {
        gpus: gpus.into_iter().map(|g| (g.index, g.name)).collect(),
        warnings,
    })
}

/// The GPUs `--gpus` names: `all` (nvidia-smi, as CUDA_VISIBLE_DEVICES leaves
/// them), or a list of indices (their names unknown: empty).
pub fn parse(spec: &str) -> Result<Gpus, RunError> {
    if spec.trim().eq_ignore_ascii_case("all") {
        return detect();
    }
    let mut gpus: Vec<(u32, String)> = Vec::new();
    for g in spec.split(',') {
        let Ok(i) = g.trim().parse::<u32>() else {
            return Err(RunError::Invalid(format!(
                "--gpus {spec:?}: expected `all` or a list of indices such as 0,1,3"
            )));
        };
        if gpus.iter().any(|(j, _)| *j == i) {
            return Err(RunError::Invalid(format!(
                "--gpus {spec:?}: GPU {i} is listed twice; to run several trials on one GPU use --slots-per-gpu"
            )));
        }
        gpus.push((i, String::new()));
    }
    Ok(Gpus {
        gpus,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LISTING: &str = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa1111-2222-3333-4444-555566667777)\n\
        GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbbb1111-2222-3333-4444-555566667777)\n\
          MIG 1g.5gb      Device  0: (UUID: MIG-cccc1111-2222-3333-4444-555566667777)\n\
        GPU 2: NVIDIA L4 (UUID: GPU-abab1111-2222-3333-4444-555566667777)\n";

    fn pick(visible: Option<&str>) -> Result<Vec<u32>, String> {
        let listed = parse_nvidia_smi(LISTING);
        select_visible(&listed, visible)
            .map(|(g, _)| g.iter().map(|g| g.index).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn nvidia_smi_lines_give_index_name_and_uuid() {
        let l = parse_nvidia_smi(LISTING);
        assert_eq!(l.len(), 3, "the MIG line is not a GPU: {l:?}");
        assert_eq!(l[0].index, 0);
        assert_eq!(l[0].name, "NVIDIA H100 80GB HBM3");
        assert_eq!(l[1].uuid, "GPU-bbbb1111-2222-3333-4444-555566667777");
        assert_eq!(parse_nvidia_smi("GPU 3: Tesla T4\n")[0].name, "Tesla T4");
        assert!(parse_nvidia_smi("No devices were found\n").is_empty());
    }

    #[test]
    fn cuda_visible_devices_is_read_as_cuda_reads_it() {
        assert_eq!(pick(None), Ok(vec![0, 1, 2]));
        assert_eq!(pick(Some("1")), Ok(vec![1]));
        assert_eq!(pick(Some(" 2 , 0 ")), Ok(vec![2, 0]), "order and spaces");
        assert_eq!(pick(Some("1,1")), Ok(vec![1]), "duplicates");
        assert_eq!(
            pick(Some("GPU-bbbb1111-2222-3333-4444-555566667777")),
            Ok(vec![1])
        );
        assert_eq!(pick(Some("gpu-bbbb")), Ok(vec![1]), "a UUID prefix");
        assert_eq!(pick(Some("GPU-abab,0")), Ok(vec![2, 0]));
        // The first entry that names no GPU (or is ambiguous) ends the list.
        assert_eq!(pick(Some("0,7,1")), Ok(vec![0]));
        assert_eq!(
            pick(Some("1,GPU-a,2")),
            Ok(vec![1]),
            "GPU-a matches two GPUs"
        );
        for hides in ["", " ", "-1", "7", "GPU-ffff", "x"] {
            let e = pick(Some(hides)).unwrap_err();
            assert!(e.contains("hides every GPU"), "{hides:?}: {e}");
            assert!(e.contains("GPU 1 NVIDIA A100-SXM4-40GB"), "{e}");
        }
        let e = pick(Some("MIG-cccc1111-2222-3333-4444-555566667777")).unwrap_err();
        assert!(e.contains("MIG"), "{e}");
        let (_, w) = select_visible(&parse_nvidia_smi(LISTING), Some("0,7")).unwrap();
        assert!(w[0].contains("\"7\" names none"), "{w:?}");
        assert!(
            select_visible(&[], None)
                .unwrap_err()
                .to_string()
                .contains("lists no GPU")
        );
    }

    #[test]
    fn explicit_gpu_lists() {
        let ids = |s: &str| parse(s).map(|g| g.gpus.iter().map(|g| g.0).collect::<Vec<_>>());
        assert_eq!(ids("0, 2").unwrap(), vec![0, 2]);
        for bad in ["", "0,,1", "a", "-1", "0,0"] {
            let e = ids(bad).unwrap_err().to_string();
            assert!(e.starts_with("--gpus"), "{bad:?}: {e}");
        }
        assert!(
            ids("1,1")
                .unwrap_err()
                .to_string()
                .contains("--slots-per-gpu")
        );
    }
}
