//! The sweep a command reads: its file and the command line's overrides
//! (`ablate run FILE train.epochs=1 sweep.seeds=1`), the same for `run`,
//! `plan`, `status`, `report` and `cancel`, so each sees the trials a run with
//! those overrides has.

use std::path::PathBuf;

use ablate_spec::Sweep;

#[derive(clap::Args, Debug, Clone)]
pub struct SweepArg {
    /// The sweep file, e.g. experiments/quick.toml.
    pub file: PathBuf,
    /// Overrides of the file's keys, Hydra style: KEY=VALUE, e.g. train.epochs=1
    /// sweep.seeds=1 study.NAME.grid.depth='["vgg7"]'. Checked as the file's own
    /// keys are; trial ids follow the resolved values.
    #[arg(value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl SweepArg {
    /// The sweep, and the text it was parsed from (the file's, overrides written in).
    pub fn load(&self) -> anyhow::Result<(Sweep, String)> {
        Ok(ablate_spec::load_with(&self.file, &self.overrides)?)
    }

    pub fn sweep(&self) -> anyhow::Result<Sweep> {
        Ok(self.load()?.0)
    }
}
