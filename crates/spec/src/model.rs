//! The sweep's parts, below the code that parses and expands them: what
//! expansion produces (`Stage`, `Study`, `Trial`) and the parsed settings it
//! reads (`Globals`, `StageDef`). `sweep`, `expand`, `resolve` and `claims` all
//! use these; this module uses none of them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::axes::AxisValue;
use crate::train::{Draft, Setting};
use crate::types::{DatasetSpec, ExecSpec, Expected, TrialConfig};
use crate::value::Value;
use ablate_vocab::{Membership, TrialId};

/// A `[pretrain.NAME]` stage.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub task: String,
    pub data: String,
    /// Stage whose trained trunk this stage starts from.
    pub from: Option<String>,
    /// Its trials (one per model shape and seed that some study asks for).
    pub trials: Vec<String>,
    /// Study trials that wait on this stage.
    pub dependants: Vec<String>,
}

/// A `[[study]]` group.
#[derive(Debug, Clone, Serialize)]
pub struct Study {
    pub name: String,
    pub description: Option<String>,
    /// Axes the study varies (grid and zip), in declaration order, with their values.
    pub axes: Vec<(String, Vec<String>)>,
    /// Axes held fixed by the study or `[defaults]`.
    pub fixed: Vec<(String, String)>,
    pub combinations: usize,
    pub excluded: usize,
    /// Its trials, in run order; shared trials appear in every study that lists them.
    pub trials: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrialKind {
    Pretrain,
    Train,
}

impl TrialKind {
    /// What the database, exports and reports call it.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialKind::Pretrain => "pretrain",
            TrialKind::Train => "train",
        }
    }
}

/// One unit of work: a config (its identity) plus how to run it.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// SHA-256 of the canonical config; see `trial_id`.
    pub id: TrialId,
    pub kind: TrialKind,
    pub config: TrialConfig,
    pub exec: ExecSpec,
    /// Human-readable factor values (axis -> label), for plans and reports.
    pub labels: BTreeMap<String, String>,
    pub studies: Vec<String>,
    pub stages: Vec<String>,
    pub depends_on: Vec<TrialId>,
}

impl Trial {
    pub fn short_id(&self) -> &str {
        self.id.short()
    }

    /// What it belongs to: its studies, then the pretraining stages it is a
    /// trial of.
    pub fn memberships(&self) -> impl Iterator<Item = Membership> + '_ {
        let studies = self.studies.iter().cloned().map(Membership::Study);
        studies.chain(self.stages.iter().cloned().map(Membership::Pretrain))
    }
}

/// Settings shared by the whole sweep that expansion needs.
#[derive(Debug)]
pub(crate) struct Globals<'i> {
    pub max_trials: u64,
    pub seeds: Vec<u64>,
    pub datasets: BTreeMap<String, DatasetSpec>,
    pub expected: BTreeMap<String, Expected>,
    pub train: Draft,
    pub defaults: Vec<(String, AxisValue)>,
    pub stages: BTreeMap<String, StageDef>,
    pub studies: Vec<&'i Value<'i>>,
    /// `[[claim]]` sections, checked once the studies are expanded.
    pub claims: Vec<&'i Value<'i>>,
    pub dataset_names: Vec<String>,
    pub stage_names: Vec<String>,
}

/// A `[pretrain.NAME]` section as parsed, before expansion resolves its trials.
#[derive(Debug, Clone)]
pub(crate) struct StageDef {
    pub task: &'static str,
    pub data: String,
    pub from: Option<String>,
    pub from_span: std::ops::Range<usize>,
    pub overrides: Vec<Setting>,
    pub span: std::ops::Range<usize>,
}
