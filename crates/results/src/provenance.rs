//! Where a sweep's work ran: versions, commits, devices, hours and memory peaks
//! over every attempt, and each study's compute.

use std::collections::{BTreeMap, HashMap, HashSet};

use ablate_spec::{Sweep, TrialId};
use ablate_store::AttemptProvenance;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Provenance {
    pub spec_hash: String,
    /// Command-line overrides the sweep was read with (`ablate run FILE k=v`).
    pub overrides: Vec<String>,
    pub versions: Vec<String>,
    pub commits: Vec<String>,
    pub devices: Vec<String>,
    /// Device kind (cpu, or the GPU model) -> compute hours of finished attempts.
    pub hours: BTreeMap<String, f64>,
    /// The largest peak private host memory an attempt reported (bytes), its
    /// trial, and how many attempts reported one.
    pub peak_host: Option<(i64, TrialId, usize)>,
    /// The same for GPU memory.
    pub peak_gpu: Option<(i64, TrialId, usize)>,
    /// Study -> compute hours of every attempt of its trials and of the
    /// pretraining trials they start from (a trial shared by studies counts in
    /// each; a claim costs its study's).
    pub study_hours: BTreeMap<String, f64>,
}

fn push_new(list: &mut Vec<String>, v: String) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// The largest of `v` and the peak so far, counting the attempts that reported one.
fn raise(peak: &mut Option<(i64, TrialId, usize)>, v: Option<i64>, trial: &str) {
    let Some(v) = v else { return };
    let n = peak.as_ref().map_or(0, |p| p.2) + 1;
    match peak {
        Some((max, _, _)) if *max >= v => {}
        _ => *peak = Some((v, TrialId::from(trial), n)),
    }
    if let Some(p) = peak.as_mut() {
        p.2 = n;
    }
}

pub(crate) fn collect(sweep: &Sweep, attempts: &[AttemptProvenance]) -> Provenance {
    let mut p = Provenance {
        spec_hash: sweep.spec_hash.clone(),
        overrides: sweep.overrides.clone(),
        ..Provenance::default()
    };
    for a in attempts {
        let device = (a.device_name.clone())
            .unwrap_or_else(|| a.device.split(':').next().unwrap_or("cpu").to_string());
        push_new(&mut p.versions, a.ablate_version.clone());
        if let Some(c) = &a.git_commit {
            let dirty = if a.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            };
            push_new(&mut p.commits, format!("{}{dirty}", &c[..c.len().min(12)]));
        }
        push_new(&mut p.devices, format!("{} on {}", device, a.host));
        *p.hours.entry(device).or_insert(0.0) += a.seconds.unwrap_or(0.0) / 3600.0;
        raise(&mut p.peak_host, a.peak_host_bytes, &a.trial_id);
        raise(&mut p.peak_gpu, a.peak_gpu_bytes, &a.trial_id);
    }
    p.study_hours = study_hours(sweep, attempts);
    p
}

fn study_hours(sweep: &Sweep, attempts: &[AttemptProvenance]) -> BTreeMap<String, f64> {
    let mut seconds: HashMap<&str, f64> = HashMap::new();
    for a in attempts {
        *seconds.entry(a.trial_id.as_str()).or_insert(0.0) += a.seconds.unwrap_or(0.0);
    }
    let mut hours = BTreeMap::new();
    for study in &sweep.studies {
        let mut counted = HashSet::new();
        let mut total = 0.0;
        for t in (sweep.trials.iter()).filter(|t| t.studies.contains(&study.name)) {
            for id in std::iter::once(t.id.as_str()).chain(t.config.init.as_deref()) {
                if counted.insert(id) {
                    total += seconds.get(id).copied().unwrap_or(0.0);
                }
            }
        }
        hours.insert(study.name.clone(), total / 3600.0);
    }
    hours
}
