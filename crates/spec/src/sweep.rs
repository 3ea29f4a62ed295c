//! The resolved sweep and the top-level sections of a sweep file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::axes::{self, Names};
use crate::claims::ClaimSpec;
use crate::error::{Ctx, choices_help};
use crate::expand;
use crate::model::{Globals, Stage, StageDef, Study, Trial};
use crate::report::ReportSpec;
use crate::slurm::SlurmSpec;
use crate::train::{self, Draft};
use crate::types::{DatasetSpec, Expected};
use crate::value::{self, Table, Value, join};
use crate::{data, names};

/// A validated sweep file with every trial expanded, in run order.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    pub name: String,
    pub description: Option<String>,
    /// The sweep file as given.
    pub file: PathBuf,
    /// Where runs and the database go: `[sweep] output`, relative to the file's folder.
    pub output: PathBuf,
    /// Where the report goes: `<[sweep] reports>/<name>`, relative to the file's
    /// folder (default `reports/<name>` beside the file), whatever the working folder.
    pub report_dir: PathBuf,
    /// Every seed the sweep may run, in order.
    pub seeds: Vec<u64>,
    /// `seeds = { min, max, step }`: judged after each round, more seeds only
    /// where a claim is still open. None: every seed runs.
    pub adaptive: Option<crate::AdaptiveSeeds>,
    /// SHA-256 of the file's bytes.
    pub spec_hash: String,
    pub datasets: BTreeMap<String, DatasetSpec>,
    /// `[data.NAME] expected`, by dataset name: sizes for `plan --estimate`
    /// while the data is not on this machine.
    pub expected: BTreeMap<String, Expected>,
    pub stages: Vec<Stage>,
    pub studies: Vec<Study>,
    /// Pretraining trials first (each after the ones it starts from), then study trials.
    pub trials: Vec<Trial>,
    /// `[worker] command`: a program to run each trial instead of `ablate worker`
    /// (the trial file's path is appended to it).
    pub worker: Option<Vec<String>>,
    /// `[worker] version`: the trainer version that worker reports now; results it
    /// reported with another version are stale. None: versions are not compared.
    pub worker_version: Option<String>,
    /// `[slurm]`: submission settings for `--backend slurm`.
    pub slurm: SlurmSpec,
    /// `[report]`: alpha, power and smallest effects of interest for the verdicts.
    pub report: ReportSpec,
    /// `[[claim]]`: the user's own claims, judged with the paper's.
    pub claims: Vec<ClaimSpec>,
    /// Command-line overrides applied to the file (`ablate run FILE key=value`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

const TOP_KEYS: &[&str] = &[
    "sweep", "data", "train", "defaults", "pretrain", "study", "worker", "slurm", "report", "claim",
];
const SWEEP_KEYS: &[&str] = &[
    "name",
    "description",
    "seeds",
    "output",
    "reports",
    "max_trials",
];
const STAGE_KEYS: &[&str] = &["task", "data", "from", "description"];

/// Header of `[sweep]`: name, description, output, seeds, max_trials.
pub(crate) struct Header {
    pub worker: Option<(Vec<String>, Option<String>)>,
    pub slurm: SlurmSpec,
    pub report: ReportSpec,
    pub name: String,
    pub description: Option<String>,
    pub output: String,
    /// `[sweep] reports`: the folder reports go into (one per sweep name).
    pub reports: String,
    pub seeds: crate::seeds::Seeds,
    pub max_trials: u64,
}

pub(crate) fn parse_header(
    ctx: &mut Ctx<'_>,
    root: &Table<'_>,
    whole: std::ops::Range<usize>,
) -> Option<Header> {
    value::known_keys(ctx, "", root, TOP_KEYS);
    let Some(sv) = value::get(root, "sweep") else {
        ctx.error(
            whole,
            "sweep",
            "missing [sweep] section",
            Some(
                "start the file with [sweep] and name = \"my-study\"; see experiments/quick.toml"
                    .into(),
            ),
        );
        return None;
    };
    let t = value::table(ctx, "sweep", sv)?;
    value::known_keys(ctx, "sweep", t, SWEEP_KEYS);
    let name = match value::get(t, "name") {
        Some(n) => names::check(ctx, "sweep.name", n)?,
        None => {
            ctx.error(
                sv.span(),
                "sweep.name",
                "missing key `name`",
                Some("add name = \"my-study\" (letters, digits, -, _ and .)".into()),
            );
            return None;
        }
    };
    let description = match value::get(t, "description") {
        Some(d) => Some(value::string(ctx, "sweep.description", d)?.to_string()),
        None => None,
    };
    let folder = |ctx: &mut Ctx<'_>, key: &str, example: &str| -> Option<Option<String>> {
        let Some(o) = value::get(t, key) else {
            return Some(None);
        };
        let s = value::string(ctx, &format!("sweep.{key}"), o)?;
        if s.trim().is_empty() {
            ctx.error(
                o.span(),
                &format!("sweep.{key}"),
                "must not be empty",
                Some(format!("for example {key} = \"{example}\"")),
            );
            return None;
        }
        Some(Some(s.to_string()))
    };
    let output = folder(ctx, "output", "../runs/my-study")?.unwrap_or(format!("runs/{name}"));
    let reports = folder(ctx, "reports", "../reports")?.unwrap_or("reports".into());
    let seeds = match value::get(t, "seeds") {
        Some(s) => crate::seeds::parse(ctx, s)?,
        None => crate::seeds::Seeds::default(),
    };
    let max_trials = match value::get(t, "max_trials") {
        Some(m) => value::integer(ctx, "sweep.max_trials", m, 1..=1_000_000)?.unsigned_abs(),
        None => 10_000,
    };
    let worker = match value::get(root, "worker") {
        Some(w) => Some(parse_worker(ctx, w)?),
        None => None,
    };
    let slurm = match value::get(root, "slurm") {
        Some(v) => crate::slurm::parse(ctx, v)?,
        None => SlurmSpec::default(),
    };
    let report = match value::get(root, "report") {
        Some(v) => crate::report::parse(ctx, v)?,
        None => ReportSpec::default(),
    };
    Some(Header {
        worker,
        slurm,
        report,
        name,
        description,
        output,
        reports,
        seeds,
        max_trials,
    })
}

fn parse_worker(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<(Vec<String>, Option<String>)> {
    let t = value::table(ctx, "worker", v)?;
    value::known_keys(ctx, "worker", t, &["command", "version"]);
    let version = match value::get(t, "version") {
        Some(x) => {
            let s = value::string(ctx, "worker.version", x)?.trim().to_string();
            if s.is_empty() {
                ctx.error(
                    x.span(),
                    "worker.version",
                    "must not be empty",
                    Some("the version your worker reports as `trainer_version`, e.g. \"2\"".into()),
                );
                return None;
            }
            Some(s)
        }
        None => None,
    };
    let Some(cv) = value::get(t, "command") else {
        ctx.error(v.span(), "worker", "missing key `command`", Some("for example command = [\"python3\", \"train.py\"]; the trial file's path is appended".into()));
        return None;
    };
    let items = value::array(ctx, "worker.command", cv)?;
    let mut argv = Vec::new();
    for item in items.iter() {
        argv.push(value::string(ctx, "worker.command", item)?.to_string());
    }
    if argv.first().is_none_or(|p| p.trim().is_empty()) {
        ctx.error(
            cv.span(),
            "worker.command",
            "the command is empty",
            Some("name a program first, e.g. [\"python3\", \"train.py\"]".into()),
        );
        return None;
    }
    Some((argv, version))
}

pub(crate) fn parse_globals<'i>(
    ctx: &mut Ctx<'_>,
    root: &'i Table<'i>,
    header: &Header,
) -> Option<Globals<'i>> {
    let (mut datasets, mut expected) = (BTreeMap::new(), BTreeMap::new());
    // Sections that failed (and were reported): naming one elsewhere is no
    // second error.
    let mut failed = Vec::new();
    if let Some(dv) = value::get(root, "data")
        && let Some(t) = value::table(ctx, "data", dv)
    {
        for (k, v) in t.iter() {
            let section = join("data", k.get_ref());
            if names::check_str(ctx, &section, k.get_ref(), k.span()).is_some()
                && let Some(spec) = data::parse(ctx, &section, v)
            {
                datasets.insert(k.get_ref().to_string(), spec);
                if let Some(Some(e)) = data::parse_expected(ctx, &section, v) {
                    expected.insert(k.get_ref().to_string(), e);
                }
            } else {
                failed.push(k.get_ref().to_string());
            }
        }
    }
    let dataset_names: Vec<String> = datasets.keys().cloned().collect();

    let mut train = Draft::default();
    if let Some(tv) = value::get(root, "train")
        && let Some(t) = value::table(ctx, "train", tv)
    {
        value::known_keys(ctx, "train", t, train::TRAIN_KEYS);
        for (k, v) in t.iter() {
            if let Some(s) = train::parse(ctx, &join("train", k.get_ref()), k.get_ref(), v) {
                train.apply(&s);
            }
        }
        if let Err(msg) = train.finish() {
            ctx.error(tv.span(), "train", msg, None);
        }
    }

    let stages = parse_stages(ctx, root, &dataset_names, &failed);
    let stage_names: Vec<String> = stages.keys().cloned().collect();
    let names = Names {
        datasets: &dataset_names,
        stages: &stage_names,
    };

    let mut defaults = Vec::new();
    if let Some(dv) = value::get(root, "defaults")
        && let Some(t) = value::table(ctx, "defaults", dv)
    {
        let axes = axes::all_axes();
        value::known_keys(ctx, "defaults", t, &axes);
        for (k, v) in t.iter() {
            if axes.contains(&k.get_ref().as_ref())
                && let Some(a) =
                    axes::parse(ctx, &join("defaults", k.get_ref()), k.get_ref(), v, &names)
            {
                defaults.push((k.get_ref().to_string(), a));
            }
        }
    }

    let mut studies = Vec::new();
    match value::get(root, "study") {
        Some(sv) => match sv.get_ref().as_array() {
            Some(items) if !items.is_empty() => studies.extend(items.iter()),
            _ => ctx.error(
                sv.span(),
                "study",
                "expected one or more [[study]] sections",
                Some(
                    "add [[study]] with name = \"...\" and a grid; see experiments/quick.toml"
                        .into(),
                ),
            ),
        },
        None => ctx.error(
            0..0,
            "study",
            "the sweep has no [[study]]",
            Some("add [[study]] with name, fixed and grid; see experiments/quick.toml".into()),
        ),
    }
    let claims: Vec<&Value<'_>> = match value::get(root, "claim") {
        Some(cv) => match cv.get_ref().as_array() {
            Some(items) => items.iter().collect(),
            None => {
                ctx.error(
                    cv.span(),
                    "claim",
                    "expected [[claim]] sections",
                    Some("write each claim as its own [[claim]] table".into()),
                );
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    Some(Globals {
        claims,
        max_trials: header.max_trials,
        seeds: header.seeds.list.clone(),
        datasets,
        expected,
        train,
        defaults,
        stages,
        studies,
        dataset_names,
        stage_names,
    })
}

fn parse_stages(
    ctx: &mut Ctx<'_>,
    root: &Table<'_>,
    datasets: &[String],
    failed: &[String],
) -> BTreeMap<String, StageDef> {
    let mut stages = BTreeMap::new();
    let Some(pv) = value::get(root, "pretrain") else {
        return stages;
    };
    let Some(t) = value::table(ctx, "pretrain", pv) else {
        return stages;
    };
    let mut allowed: Vec<&str> = STAGE_KEYS.to_vec();
    allowed.extend(
        train::TRAIN_KEYS
            .iter()
            .filter(|k| !["input_size", "batch_norm"].contains(k)),
    );
    for (k, v) in t.iter() {
        let section = join("pretrain", k.get_ref());
        if names::check_str(ctx, &section, k.get_ref(), k.span()).is_none() {
            continue;
        }
        let Some(st) = value::table(ctx, &section, v) else {
            continue;
        };
        for fixed_by_user in ["input_size", "batch_norm"] {
            if let Some((key, _)) = st.get_key_value(fixed_by_user) {
                ctx.error(key.span(), &join(&section, fixed_by_user), format!("a pretraining stage cannot set `{fixed_by_user}`"), Some("the trunk must match the trials that start from it, so it follows their value".into()));
            }
        }
        if !value::known_keys(ctx, &section, st, &allowed) {
            continue;
        }
        let task = match value::get(st, "task") {
            Some(tv) => value::choice(ctx, &join(&section, "task"), tv, &["identity", "general"]),
            None => {
                ctx.error(
                    v.span(),
                    &section,
                    "missing key `task`",
                    Some("add task = \"identity\" (face recognition) or task = \"general\"".into()),
                );
                None
            }
        };
        let data = match value::get(st, "data") {
            Some(dv) => value::string(ctx, &join(&section, "data"), dv).and_then(|d| {
                if datasets.iter().any(|n| n == d) {
                    Some(d.to_string())
                } else if failed.iter().any(|n| n == d) {
                    None
                } else {
                    let valid: Vec<&str> = datasets.iter().map(String::as_str).collect();
                    ctx.error(
                        dv.span(),
                        &join(&section, "data"),
                        format!("\"{d}\" is not defined by any [data.NAME] section"),
                        Some(if valid.is_empty() {
                            "add a [data.NAME] section".into()
                        } else {
                            choices_help(d, &valid)
                        }),
                    );
                    None
                }
            }),
            None => {
                ctx.error(
                    v.span(),
                    &section,
                    "missing key `data`",
                    Some("name the dataset to pretrain on, e.g. data = \"faces\"".into()),
                );
                None
            }
        };
        let from = match value::get(st, "from") {
            Some(fv) => {
                value::string(ctx, &join(&section, "from"), fv).map(|f| Some(f.to_string()))
            }
            None => Some(None),
        };
        let mut overrides = Vec::new();
        for (key, val) in st.iter() {
            if let Some(s) = train::parse(ctx, &join(&section, key.get_ref()), key.get_ref(), val) {
                overrides.push(s);
            }
        }
        let from_span = value::get(st, "from").map_or(k.span(), |f| f.span());
        if let (Some(task), Some(data), Some(from)) = (task, data, from) {
            stages.insert(
                k.get_ref().to_string(),
                StageDef {
                    task,
                    data,
                    from,
                    from_span,
                    overrides,
                    span: k.span(),
                },
            );
        }
    }
    check_stage_graph(ctx, &stages);
    stages
}

/// `from` must name a stage, and following `from` must never come back to the start.
fn check_stage_graph(ctx: &mut Ctx<'_>, stages: &BTreeMap<String, StageDef>) {
    let names: Vec<&str> = stages.keys().map(String::as_str).collect();
    for (name, def) in stages {
        let Some(first) = &def.from else { continue };
        if !stages.contains_key(first) {
            ctx.error(
                def.from_span.clone(),
                &format!("pretrain.{name}.from"),
                format!("\"{first}\" is not a pretraining stage"),
                Some(choices_help(first, &names)),
            );
            continue;
        }
        let mut path = vec![name.as_str()];
        let mut cur = first.as_str();
        while let Some(next) = stages.get(cur) {
            if cur == name {
                path.push(cur);
                ctx.error(
                    def.from_span.clone(),
                    &format!("pretrain.{name}.from"),
                    format!("pretraining stages form a cycle: {}", path.join(" -> ")),
                    Some(
                        "a stage cannot start, directly or not, from itself; remove one `from`"
                            .into(),
                    ),
                );
                break;
            }
            if path.contains(&cur) {
                break; // a cycle not through `name`: reported when its own members are visited
            }
            path.push(cur);
            match &next.from {
                Some(n) => cur = n,
                None => break,
            }
        }
    }
}

/// Expands the studies; kept here so `lib.rs` stays a thin front door.
pub(crate) fn build(
    ctx: &mut Ctx<'_>,
    header: Header,
    globals: &Globals<'_>,
    file: PathBuf,
    (output, report_dir): (PathBuf, PathBuf),
    spec_hash: String,
) -> Option<Sweep> {
    let out = expand::expand(ctx, globals)?;
    let claims = crate::claims::parse(ctx, &globals.claims, &out.studies)?;
    if let (Some(_), Some(span)) = (header.seeds.adaptive, &header.seeds.span)
        && header.report.paper_claims == Some(false)
        && claims.is_empty()
    {
        ctx.error(
            span.clone(),
            "sweep.seeds",
            "adaptive seeds with nothing to judge: [report] paper_claims = false and no [[claim]]",
            Some(
                "add a [[claim]] for the rounds to settle, or give a fixed count, e.g. seeds = 5"
                    .into(),
            ),
        );
        return None;
    }
    Some(Sweep {
        claims,
        name: header.name,
        description: header.description,
        file,
        output,
        report_dir,
        seeds: header.seeds.list,
        adaptive: header.seeds.adaptive,
        spec_hash,
        datasets: globals.datasets.clone(),
        expected: globals.expected.clone(),
        stages: out.stages,
        studies: out.studies,
        trials: out.trials,
        worker_version: header.worker.as_ref().and_then(|w| w.1.clone()),
        worker: header.worker.map(|w| w.0),
        slurm: header.slurm,
        report: header.report,
        overrides: Vec::new(),
    })
}
