//! The `ablate` binary: the command line over the workspace's crates.
//!
//! It owns argument parsing, exit codes and what is printed; it must not hold
//! logic a library could test on its own (sweep semantics live in `ablate-spec`).
//! Only this crate uses `anyhow`.

mod plan;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
mod exit {
    /// The sweep file (or another input) is invalid; nothing was run.
    pub const INVALID_INPUT: u8 = 2;
    /// Anything else went wrong.
    pub const FAILURE: u8 = 1;
}

#[derive(Parser, Debug)]
#[command(
    name = "ablate",
    version,
    about = "Run ML ablation studies end to end: sweep TOML in, trials, results and report out."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show which trials a sweep file declares, in run order, without running anything.
    Plan {
        /// The sweep file, e.g. experiments/quick.toml.
        file: PathBuf,
        /// Print the plan as JSON (each trial with its full id and resolved config).
        #[arg(long, conflicts_with = "check")]
        json: bool,
        /// Only validate the file; print a one-line summary.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan { file, json, check } => plan::run(&file, json, check),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(spec) = err.downcast_ref::<ablate_spec::SpecError>() {
                eprintln!("error: {spec}");
                return ExitCode::from(exit::INVALID_INPUT);
            }
            eprintln!("error: {err:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}
