//! What a report is made from: the sweep's studies, every trial with its factor
//! labels, state and metrics, and where the work ran.

use std::collections::BTreeMap;

use ablate_protocol::TrialState;
use ablate_spec::Sweep;
use ablate_store::Store;
use serde::Serialize;

pub use ablate_spec::Metric;

/// The metrics a report can show, in its order.
pub const METRICS: [Metric; 7] = Metric::ALL;

#[derive(Debug, Clone, Serialize)]
pub struct StudyInfo {
    pub name: String,
    pub description: Option<String>,
    /// Axes the study varies, in order, with their values.
    pub axes: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub studies: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub seed: u64,
    pub fold: Option<u32>,
    /// Metric key -> value, for the metrics this trial has.
    pub metrics: BTreeMap<String, f64>,
    pub degenerate: Option<Vec<String>>,
    /// Validation score per epoch.
    pub curve: Vec<f64>,
    /// CS(θ), θ = 0..=10 (age models).
    pub cs: Option<Vec<f64>>,
    /// Training, validation and test images (finished trials).
    pub images: Option<[u64; 3]>,
}

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
    pub peak_host: Option<(i64, String, usize)>,
    /// The same for GPU memory.
    pub peak_gpu: Option<(i64, String, usize)>,
    /// Study -> compute hours of every attempt of its trials and of the
    /// pretraining trials they start from (a trial shared by studies counts in
    /// each; a claim costs its study's).
    pub study_hours: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub sweep: String,
    pub description: Option<String>,
    pub studies: Vec<StudyInfo>,
    /// Pretraining stage -> its task (`identity`, `general`).
    pub stages: BTreeMap<String, String>,
    pub trials: Vec<TrialRow>,
    pub provenance: Provenance,
    /// `[report]` settings: alpha, power, smallest effects of interest.
    pub settings: ablate_verdict::Settings,
    /// The sweep's `[[claim]]`s.
    pub claims: Vec<ablate_spec::claims::ClaimSpec>,
    /// Results kept although stale (`ablate run --keep-stale`): trial id and why.
    /// The report crate cannot judge staleness (it needs the caches); the caller
    /// fills this in.
    pub stale: Vec<(String, String)>,
    /// The datasets trained on, with what their data cannot show.
    pub data: Vec<crate::datasets::DataInfo>,
}

/// A trial that starts from a degenerate pretraining trial carries the flag, with
/// the reason: its trunk came from a run that learned nothing. Trials are in run
/// order (a pretraining trial before its dependants), so chains carry through.
fn inherit_degenerate(sweep: &Sweep, mut rows: Vec<TrialRow>) -> Vec<TrialRow> {
    let at: std::collections::HashMap<&str, usize> = (sweep.trials.iter().enumerate())
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    for (i, t) in sweep.trials.iter().enumerate() {
        let Some(&from) = t.config.init.as_deref().and_then(|d| at.get(d)) else {
            continue;
        };
        if rows[i].state != TrialState::Succeeded.as_str() {
            continue;
        }
        let Some(first) = rows[from]
            .degenerate
            .as_ref()
            .and_then(|e| e.first().cloned())
        else {
            continue;
        };
        let why = format!(
            "starts from pretraining trial {}, itself flagged degenerate ({first})",
            ablate_spec::short_id(&rows[from].id)
        );
        rows[i].degenerate.get_or_insert_with(Vec::new).push(why);
    }
    rows
}

/// Reads everything the report needs for `sweep` from `store`.
pub async fn load(store: &Store, sweep: &Sweep) -> Result<Input, ablate_store::StoreError> {
    // Trials come from the sweep file, so ones that never ran show as missing
    // (a partial sweep gives a partial report); results come from the store.
    let rows: std::collections::HashMap<String, ablate_store::ResultRow> = store
        .results(&sweep.name)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let trials = sweep
        .trials
        .iter()
        .map(|t| trial_row(t, rows.get(t.id.as_str())))
        .collect();
    let trials = inherit_degenerate(sweep, trials);
    let attempts = store.provenance(&sweep.name).await?;
    let p = provenance(sweep, &attempts);
    let studies = sweep
        .studies
        .iter()
        .map(|s| StudyInfo {
            name: s.name.clone(),
            description: s.description.clone(),
            axes: s.axes.clone(),
        })
        .collect();
    let images: Vec<Option<[u64; 3]>> = trials.iter().map(|t| t.images).collect();
    let data = crate::datasets::collect(sweep, &images);
    let stages = sweep
        .stages
        .iter()
        .map(|s| (s.name.clone(), s.task.clone()))
        .collect();
    Ok(Input {
        sweep: sweep.name.clone(),
        description: sweep.description.clone(),
        studies,
        stages,
        provenance: p,
        settings: ablate_verdict::Settings::from_spec(&sweep.report),
        claims: sweep.claims.clone(),
        stale: Vec::new(),
        data,
        trials,
    })
}

/// A trial of the sweep file with what the store holds of it.
fn trial_row(t: &ablate_spec::Trial, row: Option<&ablate_store::ResultRow>) -> TrialRow {
    let state = row.map_or_else(|| TrialState::Pending.to_string(), |r| r.state.to_string());
    let result = row
        .and_then(|r| r.result.clone())
        .unwrap_or(serde_json::Value::Null);
    let metrics = METRICS
        .iter()
        .filter_map(|m| {
            result
                .pointer(ablate_protocol::pointer(*m))
                .and_then(serde_json::Value::as_f64)
                .map(|v| (m.key().to_string(), v))
        })
        .collect();
    let degenerate = result
        .pointer("/degenerate/evidence")
        .and_then(|e| serde_json::from_value(e.clone()).ok());
    let curve = row
        .map(|r| {
            r.epochs
                .iter()
                .filter_map(|e| e.get("val_score").and_then(serde_json::Value::as_f64))
                .collect()
        })
        .unwrap_or_default();
    let cs = result
        .pointer("/test/age/expected/cs")
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    let images = ["train", "val", "test"].map(|p| {
        result
            .pointer(&format!("/images/{p}"))
            .and_then(serde_json::Value::as_u64)
    });
    let images = match images {
        [Some(a), Some(b), Some(c)] => Some([a, b, c]),
        _ => None,
    };
    let kind = match t.kind {
        ablate_spec::TrialKind::Train => "train",
        ablate_spec::TrialKind::Pretrain => "pretrain",
    };
    let studies = t.memberships().map(|m| m.to_string()).collect();
    TrialRow {
        id: t.id.to_string(),
        kind: kind.into(),
        state,
        studies,
        labels: t.labels.clone(),
        seed: t.config.seed,
        fold: t.config.fold,
        metrics,
        degenerate,
        curve,
        cs,
        images,
    }
}

/// Where the work ran: versions, commits, devices, hours and memory peaks
/// over every attempt, and each study's compute.
fn provenance(sweep: &Sweep, attempts: &[ablate_store::AttemptProvenance]) -> Provenance {
    let mut p = Provenance {
        spec_hash: sweep.spec_hash.clone(),
        overrides: sweep.overrides.clone(),
        ..Provenance::default()
    };
    for a in attempts {
        let device = a
            .device_name
            .clone()
            .unwrap_or_else(|| a.device.split(':').next().unwrap_or("cpu").to_string());
        for (list, v) in [
            (&mut p.versions, Some(a.ablate_version.clone())),
            (
                &mut p.commits,
                a.git_commit.as_ref().map(|c| {
                    format!(
                        "{}{}",
                        &c[..c.len().min(12)],
                        if a.git_dirty == Some(true) {
                            " (dirty)"
                        } else {
                            ""
                        }
                    )
                }),
            ),
            (&mut p.devices, Some(format!("{} on {}", device, a.host))),
        ] {
            if let Some(v) = v
                && !list.contains(&v)
            {
                list.push(v);
            }
        }
        *p.hours.entry(device).or_insert(0.0) += a.seconds.unwrap_or(0.0) / 3600.0;
        for (peak, v) in [
            (&mut p.peak_host, a.peak_host_bytes),
            (&mut p.peak_gpu, a.peak_gpu_bytes),
        ] {
            if let Some(v) = v {
                let n = peak.as_ref().map_or(0, |p| p.2) + 1;
                match peak {
                    Some((max, _, _)) if *max >= v => {}
                    _ => *peak = Some((v, a.trial_id.clone(), n)),
                }
                if let Some(p) = peak.as_mut() {
                    p.2 = n;
                }
            }
        }
    }
    let mut seconds: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for a in attempts {
        *seconds.entry(a.trial_id.as_str()).or_insert(0.0) += a.seconds.unwrap_or(0.0);
    }
    for study in &sweep.studies {
        let mut counted = std::collections::HashSet::new();
        let mut total = 0.0;
        for t in sweep
            .trials
            .iter()
            .filter(|t| t.studies.contains(&study.name))
        {
            for id in std::iter::once(t.id.as_str()).chain(t.config.init.as_deref()) {
                if counted.insert(id) {
                    total += seconds.get(id).copied().unwrap_or(0.0);
                }
            }
        }
        p.study_hours.insert(study.name.clone(), total / 3600.0);
    }
    p
}
