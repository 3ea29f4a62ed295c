//! The text of `ablate plan`: the sweep's datasets, stages and studies, then
//! every trial in run order with its factor labels, as terminal tables.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ablate_spec::types::{DatasetSpec, Source, Split};
use ablate_spec::{Membership, Sweep, TrialKind};

/// One line: the sweep's name, studies and trials by kind.
pub fn summary(sweep: &Sweep) -> String {
    let pre = sweep
        .trials
        .iter()
        .filter(|t| t.kind == TrialKind::Pretrain)
        .count();
    format!(
        "sweep \"{}\", {} studies, {} trials ({} pretraining, {} training)",
        sweep.name,
        sweep.studies.len(),
        sweep.trials.len(),
        pre,
        sweep.trials.len() - pre
    )
}

/// Labels shown as their own column (in this order) when any trial has them.
const COLUMNS: &[&str] = &["data", "depth", "width", "tasks", "encoding", "pretrain"];

pub fn render(sweep: &Sweep) -> String {
    let mut out = String::new();
    let short = |id: &str| ablate_spec::short_id(id).to_string();
    let _ = writeln!(
        out,
        "sweep {} ({}, sha256 {})",
        sweep.name,
        sweep.file.display(),
        &sweep.spec_hash[..12]
    );
    if let Some(d) = &sweep.description {
        let _ = writeln!(out, "  {d}");
    }
    let _ = writeln!(out, "output: {}", sweep.output.display());
    let seeds: Vec<String> = sweep.seeds.iter().map(u64::to_string).collect();
    let _ = writeln!(out, "seeds: {}", seeds.join(", "));
    if let Some(a) = &sweep.adaptive {
        let counts: Vec<String> = a.counts().iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "adaptive: claims judged after {} seeds per arm; more seeds only for trials an open claim reads",
            counts.join(", ")
        );
    }

    let _ = writeln!(out, "\ndatasets");
    let rows: Vec<Vec<String>> = sweep
        .datasets
        .iter()
        .map(|(name, d)| vec![name.clone(), d.source.kind().to_string(), describe(d)])
        .collect();
    out.push_str(&indent(&crate::text::table(
        &["name", "kind", "details"],
        &rows,
    )));

    if !sweep.stages.is_empty() {
        let _ = writeln!(out, "\npretraining stages");
        let rows: Vec<Vec<String>> = sweep
            .stages
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    format!("{} on {}", s.task, s.data),
                    s.from
                        .clone()
                        .map_or("-".into(), |f| format!("starts from {f}")),
                    s.trials.len().to_string(),
                    s.dependants.len().to_string(),
                ]
            })
            .collect();
        out.push_str(&indent(&crate::text::table(
            &["stage", "task", "init", "trials", "trials waiting on it"],
            &rows,
        )));
    }

    let _ = writeln!(out, "\nstudies");
    for study in &sweep.studies {
        let _ = writeln!(out, "  {}: {} trials", study.name, study.trials.len());
        if let Some(d) = &study.description {
            let _ = writeln!(out, "    {d}");
        }
        for (axis, values) in &study.axes {
            let _ = writeln!(out, "    varies {axis}: {}", values.join(", "));
        }
        let fixed: Vec<String> = study
            .fixed
            .iter()
            .map(|(a, v)| format!("{a}={v}"))
            .collect();
        if !fixed.is_empty() {
            let _ = writeln!(out, "    fixed: {}", fixed.join(" "));
        }
        let _ = writeln!(
            out,
            "    {} combinations{} x {} seeds{}",
            study.combinations,
            if study.excluded > 0 {
                format!(" - {} excluded", study.excluded)
            } else {
                String::new()
            },
            sweep.seeds.len(),
            fold_note(sweep, &study.trials),
        );
    }

    let pre = sweep
        .trials
        .iter()
        .filter(|t| t.kind == TrialKind::Pretrain)
        .count();
    let shared = sweep.trials.iter().filter(|t| t.studies.len() > 1).count();
    let _ = writeln!(
        out,
        "\ntotal: {} trials ({} pretraining, {} training; {} shared by several studies){}\n",
        sweep.trials.len(),
        pre,
        sweep.trials.len() - pre,
        shared,
        sweep.first_round().map_or(String::new(), |f| format!(
            "\nadaptive seeds: at least {} trials (the first round, {} seeds per arm), at most {} (every claim open to {} seeds)",
            f.trials.len(),
            sweep.adaptive.map_or(0, |a| a.min),
            sweep.trials.len(),
            sweep.adaptive.map_or(0, |a| a.max),
        ))
    );

    // Any other label (a varied [train] key such as lr) gets a column of its own too.
    let extra: BTreeSet<&str> = sweep
        .trials
        .iter()
        .flat_map(|t| t.labels.keys().map(String::as_str))
        .filter(|k| !COLUMNS.contains(k) && !["stage", "task", "input_size"].contains(k))
        .collect();
    let mut header: Vec<&str> = vec!["#", "id", "study"];
    header.extend(COLUMNS);
    header.extend(extra.iter().copied());
    let folds = sweep.trials.iter().any(|t| t.config.fold.is_some());
    header.push("seed");
    if folds {
        header.push("fold");
    }
    header.push("after");
    let rows: Vec<Vec<String>> = sweep
        .trials
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let owner = match t.kind {
                TrialKind::Pretrain => Membership::Pretrain(t.stages.join(",")).to_string(),
                TrialKind::Train => t.studies.join(","),
            };
            let mut row = vec![(i + 1).to_string(), short(&t.id), owner];
            for col in COLUMNS.iter().chain(extra.iter()) {
                let v = match (*col, t.kind) {
                    ("tasks", TrialKind::Pretrain) => t.labels.get("task").cloned(),
                    _ => t.labels.get(*col).cloned(),
                };
                row.push(v.unwrap_or_else(|| "-".into()));
            }
            row.push(t.config.seed.to_string());
            if folds {
                row.push(t.config.fold.map_or("-".into(), |f| f.to_string()));
            }
            row.push(if t.depends_on.is_empty() {
                "-".into()
            } else {
                t.depends_on
                    .iter()
                    .map(|d| short(d))
                    .collect::<Vec<_>>()
                    .join(",")
            });
            row
        })
        .collect();
    out.push_str(&crate::text::table(&header, &rows));
    out
}

fn fold_note(sweep: &Sweep, ids: &[String]) -> String {
    let folds: BTreeSet<u32> = ids
        .iter()
        .filter_map(|id| sweep.trial(id))
        .filter_map(|t| t.config.data.split.folds())
        .collect();
    match folds.iter().next() {
        Some(k) if folds.len() == 1 => format!(" x {k} folds"),
        Some(_) => " x folds".into(),
        None => String::new(),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

pub fn describe(d: &DatasetSpec) -> String {
    let mut parts = Vec::new();
    match &d.source {
        Source::SyntheticFaces {
            identities,
            images_per_identity,
            seed,
        } => parts.push(format!(
            "{identities} identities x {images_per_identity} images, seed {seed}"
        )),
        Source::SyntheticObjects {
            classes,
            images_per_class,
            seed,
        } => parts.push(format!(
            "{classes} classes x {images_per_class} images, seed {seed}"
        )),
        Source::Lfw { path, min_images } => {
            parts.push(path.clone());
            if *min_images > 1 {
                parts.push(format!("people with >= {min_images} images"));
            }
        }
        Source::Csv { path, columns, .. } => {
            parts.push(path.clone());
            let cols: Vec<&str> = [
                ("age", &columns.age),
                ("age_std", &columns.age_std),
                ("gender", &columns.gender),
                ("identity", &columns.identity),
                ("class", &columns.class),
            ]
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(n, _)| *n)
            .collect();
            parts.push(format!("labels: {}", cols.join(", ")));
            if let Some(g) = &columns.gender_values {
                parts.push(format!(
                    "gender codes: male {}, female {}",
                    g.male.join("/"),
                    g.female.join("/")
                ));
            }
        }
        Source::Utkface { path } | Source::Fgnet { path } => parts.push(path.clone()),
    }
    parts.push(match &d.split {
        Split::Fractions {
            train,
            val,
            test,
            seed,
        } => format!("split {train}/{val}/{test} (seed {seed})"),
        Split::Kfold { folds, val, seed } => format!("{folds}-fold, val {val} (seed {seed})"),
        Split::LeaveOnePersonOut {
            subjects,
            val,
            seed,
        } => format!("leave-one-person-out ({subjects} folds), val {val} (seed {seed})"),
    });
    if let Some(m) = d.max_images {
        parts.push(format!("at most {m} images"));
    }
    if d.strict {
        parts.push("strict".into());
    }
    parts.join("; ")
}
