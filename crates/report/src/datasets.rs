//! The report's "Data" section: each dataset the sweep trains on, what trains on
//! it, its parts' sizes, and what the data cannot show. Results on the built-in
//! synthetic faces are about generated faces, and a set that names no person
//! cannot keep one person out of two parts or out of a pretraining set.

use std::fmt::Write;

use ablate_spec::types::{Objective, Source};
use ablate_spec::{Sweep, TrialKind};
use serde::Serialize;

use crate::format::esc;

#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    pub name: String,
    pub kind: String,
    /// Studies and pretraining stages that train on it.
    pub used_by: Vec<String>,
    /// Training, validation and test images of one finished trial on it (a study
    /// trial's where there is one: a stage may use only a study's training part).
    pub images: Option<[u64; 3]>,
    pub synthetic: bool,
    /// Whether its images name the person shown.
    pub identities: bool,
    /// Whether face-recognition stages train on it.
    pub recognition: bool,
    /// Whether study trials (not only stages) train on it.
    pub studied: bool,
}

fn names_people(source: &Source) -> bool {
    match source {
        Source::SyntheticFaces { .. } | Source::Lfw { .. } | Source::Fgnet { .. } => true,
        Source::Csv { columns, .. } => columns.identity.is_some(),
        Source::Utkface { .. } | Source::SyntheticObjects { .. } => false,
    }
}

/// `images` are the finished trials' image counts, one per `sweep.trials`, in
/// the same order.
pub fn collect(sweep: &Sweep, images: &[Option<[u64; 3]>]) -> Vec<DataInfo> {
    let mut out: Vec<DataInfo> = Vec::new();
    for (t, images) in sweep.trials.iter().zip(images) {
        let Some((name, spec)) = sweep.dataset_of(&t.config) else {
            continue;
        };
        let at = out.iter().position(|d| &d.name == name).unwrap_or_else(|| {
            out.push(DataInfo {
                name: name.clone(),
                kind: spec.source.kind().into(),
                used_by: Vec::new(),
                images: None,
                synthetic: matches!(
                    spec.source,
                    Source::SyntheticFaces { .. } | Source::SyntheticObjects { .. }
                ),
                identities: names_people(&spec.source),
                recognition: false,
                studied: false,
            });
            out.len() - 1
        });
        let d = &mut out[at];
        let users = (t.studies.iter().map(|s| format!("study {s}")))
            .chain(t.stages.iter().map(|s| format!("pretraining {s}")));
        for u in users {
            if !d.used_by.contains(&u) {
                d.used_by.push(u);
            }
        }
        let study_trial = t.kind == TrialKind::Train;
        if images.is_some() && (d.images.is_none() || (study_trial && !d.studied)) {
            d.images = *images;
        }
        d.recognition |= t.config.objective == Objective::Identity;
        d.studied |= study_trial;
    }
    out
}

/// A line above the verdicts when the studies train on generated faces, so the
/// verdict table is never read as a finding about real faces.
pub fn banner(data: &[DataInfo]) -> String {
    let synthetic: Vec<String> = (data.iter())
        .filter(|d| d.studied && d.synthetic)
        .map(|d| format!("`{}`", esc(&d.name)))
        .collect();
    if synthetic.is_empty() {
        return String::new();
    }
    format!(
        "> **On synthetic faces.** The studies train on ablate's built-in generated faces ({}): the verdicts below show what the method finds on them, not facts about real faces (see Data).\n\n",
        synthetic.join(", ")
    )
}

pub fn markdown(data: &[DataInfo]) -> String {
    let mut out = String::new();
    if data.is_empty() {
        return out;
    }
    let _ = writeln!(out, "## Data\n");
    let _ = writeln!(
        out,
        "| dataset | kind | trained on by | train / val / test images |\n|---|---|---|---|"
    );
    for d in data {
        let images = d
            .images
            .map_or("-".to_string(), |[a, b, c]| format!("{a} / {b} / {c}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {images} |",
            esc(&d.name),
            esc(&d.kind),
            esc(&d.used_by.join(", "))
        );
    }
    out.push('\n');
    for d in data.iter().filter(|d| d.studied && d.synthetic) {
        let _ = writeln!(
            out,
            "- **Synthetic data.** `{}` is ablate's built-in generator ({}): people drawn by a program, with age and gender cues made to be learnable. The verdicts say what these nets learn on these generated faces; they are a demonstration of the method, not evidence about real faces.",
            esc(&d.name),
            esc(&d.kind)
        );
    }
    let recognition: Vec<&DataInfo> = data.iter().filter(|d| d.recognition).collect();
    for d in data
        .iter()
        .filter(|d| d.studied && !d.identities && !d.synthetic)
    {
        let others: Vec<String> = (recognition.iter())
            .filter(|r| r.name != d.name)
            .map(|r| format!("`{}`", esc(&r.name)))
            .collect();
        let pretrain = if others.is_empty() {
            String::new()
        } else {
            format!(
                ", and in {} that face-recognition pretraining trains on",
                others.join(", ")
            )
        };
        let _ = writeln!(
            out,
            "- **No person identities.** `{}` ({}) names no person, so it is split by image: the same person may appear in its training and test parts{pretrain}.",
            esc(&d.name),
            esc(&d.kind)
        );
    }
    out.push('\n');
    out
}
