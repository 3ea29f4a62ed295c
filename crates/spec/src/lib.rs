//! `ablate-spec` owns the sweep file: parsing TOML into typed, validated settings,
//! expanding studies into trials, and each trial's identity (a hash of its resolved
//! config and seed).
//!
//! It must not know about tokio, SQL, candle, the file system beyond reading the one
//! sweep file, or how trials are run: it is pure data in, data out, so `ablate plan`
//! can show exactly what will run before anything runs.
//!
//! Every input is data the user wrote, so nothing here panics on it: each problem
//! becomes a [`Diagnostic`] with file, line, column, key and what would be valid.

mod axes;
pub mod claims;
mod data;
mod error;
mod expand;
mod gender;
mod hash;
mod model;
pub mod names;
mod overrides;
pub mod presets;
pub mod report;
mod resolve;
mod seeds;
pub mod slurm;
pub mod starter;
mod sweep;
mod train;
pub mod types;
mod value;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use ablate_vocab::{BackendKind, Membership, Metric, TrialId, short_id};
pub use axes::EncodingLabel;
pub use error::{Diagnostic, SpecError};
pub use hash::{canonical_json, sha256_hex, trial_id};
pub use model::{Stage, Study, Trial, TrialKind};
pub use seeds::AdaptiveSeeds;
pub use sweep::Sweep;

use error::Ctx;

/// Reads, validates and expands a sweep file.
pub fn load(path: &Path) -> Result<Sweep, SpecError> {
    load_with(path, &[]).map(|(sweep, _)| sweep)
}

/// Validates and expands sweep text; `file` names it in messages and anchors
/// relative paths (`[sweep] output`, dataset paths) at its folder.
pub fn parse(text: &str, file: &Path) -> Result<Sweep, SpecError> {
    parse_labelled(text, file, &file.display().to_string())
}

/// Reads a sweep file with command-line overrides (`train.epochs=1`) written
/// into it, checked as the file's own keys are. Returns the sweep and the text
/// it was parsed from (the file's, with a first line naming the overrides), the
/// text a run records.
pub fn load_with(path: &Path, overrides: &[String]) -> Result<(Sweep, String), SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| SpecError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.valid_up_to(),
    })?;
    if overrides.is_empty() {
        return Ok((parse(text, path)?, text.to_string()));
    }
    let effective = overrides::apply(text, overrides).map_err(|b| SpecError::Override {
        arg: b.arg,
        why: b.why,
    })?;
    let label = format!("{} (with {})", path.display(), overrides.join(" "));
    let mut sweep = parse_labelled(&effective, path, &label)?;
    sweep.overrides = overrides.to_vec();
    Ok((sweep, effective))
}

/// The overrides a sweep text was made with (its first line), if any.
pub fn overrides_in(text: &str) -> Option<&str> {
    text.lines()
        .next()?
        .strip_prefix(overrides::MARK)
        .map(str::trim)
}

fn parse_labelled(text: &str, file: &Path, label: &str) -> Result<Sweep, SpecError> {
    let invalid = |ctx: Ctx<'_>| SpecError::Invalid {
        file: label.to_string(),
        diagnostics: ctx.diagnostics,
    };
    let mut ctx = Ctx::new(text);
    let root = match toml::de::DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.error(
                span,
                "",
                syntax_message(e.message()),
                Some(
                    "see https://toml.io for TOML syntax, and experiments/quick.toml for a sweep"
                        .into(),
                ),
            );
            return Err(invalid(ctx));
        }
    };
    let whole = root.span();
    let root = root.into_inner();
    let header = sweep::parse_header(&mut ctx, &root, whole);
    let globals = header
        .as_ref()
        .and_then(|h| sweep::parse_globals(&mut ctx, &root, h));
    let (Some(header), Some(globals)) = (header, globals) else {
        return Err(invalid(ctx));
    };
    if ctx.has_errors() {
        return Err(invalid(ctx));
    }
    let base = file.parent().unwrap_or(Path::new(""));
    let output = normalize(&base.join(&header.output));
    let report_dir = normalize(&base.join(&header.reports).join(&header.name));
    let spec_hash = sha256_hex(text.as_bytes());
    match sweep::build(
        &mut ctx,
        header,
        &globals,
        file.to_path_buf(),
        (output, report_dir),
        spec_hash,
    ) {
        Some(sweep) if !ctx.has_errors() => Ok(sweep),
        _ => Err(invalid(ctx)),
    }
}

/// Drops `.` and folds `dir/..` without touching the file system, so plans show `runs/quick`, not `experiments/../runs/quick`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn syntax_message(message: &str) -> String {
    let m = message.trim();
    if m.is_empty() {
        "invalid TOML".to_string()
    } else {
        format!("invalid TOML: {m}")
    }
}

impl Sweep {
    /// Resolves a path written in the sweep file (relative to the file's folder).
    pub fn resolve_path(&self, written: &str) -> PathBuf {
        normalize(&self.file.parent().unwrap_or(Path::new("")).join(written))
    }

    pub fn trial(&self, id: &str) -> Option<&Trial> {
        self.trials.iter().find(|t| t.id == id)
    }

    /// The `[data.NAME]` section whose images `config` trains on. Matched on what
    /// decides the images, not the split: a stage confined to a study's training
    /// part splits the same images its own way.
    pub fn dataset_of(
        &self,
        config: &types::TrialConfig,
    ) -> Option<(&String, &types::DatasetSpec)> {
        self.datasets
            .iter()
            .find(|(_, d)| d.same_images(&config.data))
    }

    /// Every group a trial can belong to, in run order: the pretraining stages,
    /// then the studies as the file declares them.
    pub fn memberships(&self) -> Vec<Membership> {
        let stages = self
            .stages
            .iter()
            .map(|s| Membership::Pretrain(s.name.clone()));
        let studies = self
            .studies
            .iter()
            .map(|s| Membership::Study(s.name.clone()));
        stages.chain(studies).collect()
    }

    /// The ids of the trials a run of study `only` covers (every study's:
    /// `None`): its trials and every trial they wait on, transitively. `Err`
    /// holds the sweep's study names when `only` names none of them.
    pub fn work_set(&self, only: Option<&str>) -> Result<HashSet<&str>, Vec<&str>> {
        self.work_set_where(only, |_| true)
    }

    /// The work set of one round of adaptive seeds: of the study trials a
    /// run of `only` covers, those among the first `n` seeds of the sweep,
    /// `n` the most any of the trial's studies needs (`seeds_of`), and every
    /// trial they wait on.
    pub fn round_set(
        &self,
        only: Option<&str>,
        seeds_of: impl Fn(&str) -> usize,
    ) -> Result<HashSet<&str>, Vec<&str>> {
        self.work_set_where(only, |t| {
            let n = t.studies.iter().map(|s| seeds_of(s)).max().unwrap_or(0);
            (self.seeds.iter().take(n)).any(|s| *s == t.config.seed)
        })
    }

    /// An adaptive sweep cut to its first round (`min` seeds per arm), for
    /// the least it may run; None for fixed seeds.
    pub fn first_round(&self) -> Option<Sweep> {
        let min = self.adaptive?.min;
        let ids: HashSet<String> = (self.round_set(None, |_| min).ok()?)
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut cut = self.clone();
        cut.trials.retain(|t| ids.contains(t.id.as_str()));
        Some(cut)
    }

    fn work_set_where(
        &self,
        only: Option<&str>,
        keep: impl Fn(&Trial) -> bool,
    ) -> Result<HashSet<&str>, Vec<&str>> {
        if let Some(s) = only
            && !self.studies.iter().any(|x| x.name == s)
        {
            return Err(self.studies.iter().map(|x| x.name.as_str()).collect());
        }
        let mut wanted: HashSet<&str> = self
            .trials
            .iter()
            .filter(|t| only.is_none_or(|s| t.studies.iter().any(|x| x == s)))
            .filter(|t| keep(t))
            .map(|t| t.id.as_str())
            .collect();
        // Trials come in run order, each after what it waits on: one pass
        // backwards closes the set.
        for t in self.trials.iter().rev() {
            if wanted.contains(t.id.as_str()) {
                wanted.extend(t.depends_on.iter().map(TrialId::as_str));
            }
        }
        Ok(wanted)
    }
}
