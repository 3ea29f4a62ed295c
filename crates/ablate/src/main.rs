//! The `ablate` binary: the command line over the workspace's crates.
//!
//! It owns argument parsing, exit codes and what is printed; it must not hold
//! logic a library could test on its own (sweep semantics live in `ablate-spec`,
//! datasets in `ablate-data`). Only this crate uses `anyhow`.

mod bench;
mod bench_serve;
mod bench_train;
mod data;
mod flags;
mod init;
mod list;
mod plan;
mod progress;
mod rt;
mod run;
mod serve;
mod slurm;
mod status;
mod sweep_arg;
mod threads;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
mod exit {
    /// Invalid input (sweep file, dataset, command line); nothing was run.
    pub const INVALID_INPUT: u8 = 2;
    /// Anything else went wrong.
    pub const FAILURE: u8 = 1;
}

/// An error in what the user gave us (exit code 2), as opposed to a failure while working.
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

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
    Plan(plan::Args),
    /// Run a sweep: every trial not yet succeeded, pretraining first, one trial per slot.
    Run(Box<run::RunArgs>),
    /// Counts by state per study; running trials; failed and blocked ones with the reason.
    Status {
        #[command(flatten)]
        sweep: sweep_arg::SweepArg,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Watch a sweep in a browser as it runs: progress, failures, claims (reads
    /// its database read-only; prints the URL with its token).
    Serve(serve::Args),
    /// Write a commented starter sweep to FILE (default sweep.toml), to copy from.
    Init {
        #[arg(default_value = "sweep.toml")]
        file: PathBuf,
        /// quick (synthetic faces, minutes on a CPU), utkface, or csv (your own
        /// faces in a manifest).
        #[arg(long, default_value = "quick")]
        example: String,
    },
    /// The sweeps whose databases lie under DIR (default: this folder), with
    /// their trials by state.
    List {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a sweep: stop its orchestrator and scancel its Slurm jobs (a later `ablate run` resumes).
    Cancel {
        #[command(flatten)]
        sweep: sweep_arg::SweepArg,
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Write the sweep's report (report.md, results.csv, results.json); partial sweeps give partial reports.
    Report {
        #[command(flatten)]
        sweep: sweep_arg::SweepArg,
        #[arg(long)]
        db: Option<PathBuf>,
        /// Output folder (default: the sweep's `[sweep] reports` folder, or
        /// `reports` beside the sweep file, then the sweep's name).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Datasets: inspect, prepare caches, preview the synthetic sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run exactly one trial (the scheduler starts these; see docs/worker-protocol.md).
    Worker {
        /// The trial file: id, resolved config, cache and run directory.
        trial: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Count images, skipped files (with reasons), ages, genders and identities.
    ///
    /// `ablate data inspect --kind utkface DIR`, or `ablate data inspect SWEEP.toml NAME`.
    Inspect(data::InspectArgs),
    /// Build the pixel caches a sweep needs (one per dataset and input size), reusing up-to-date ones.
    Prepare {
        file: PathBuf,
        /// Only this dataset.
        #[arg(long)]
        only: Option<String>,
    },
    /// Write the images a trial trains, validates and tests on, as CSV.
    ///
    /// One row per usable image: `index` (its position in the trial's pixel cache),
    /// `part` (train, val or test), `path`, `age`, `gender`, `identity`. The same
    /// parts the worker uses, so another framework (scripts/torch_twin.py) can train
    /// on exactly these images.
    Split {
        /// A trial file, `<output>/trials/<id>/trial.json`.
        trial: PathBuf,
        /// Where to write the CSV (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a labelled montage of a built-in synthetic set.
    Preview {
        /// synthetic-faces or synthetic-objects.
        kind: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 48)]
        count: usize,
        #[arg(long, default_value_t = 64)]
        size: u32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Training throughput on random data: images/s, forward and backward+update time, peak memory.
    Train(bench_train::Args),
    /// `ablate serve` under load: many clients at once, latency percentiles per path.
    Serve(bench_serve::Args),
    /// Cache building (images/s, all cores) and loading (seconds) on a real dataset folder.
    Data {
        /// The dataset folder (required: there is no default dataset).
        #[arg(long)]
        path: PathBuf,
        #[arg(long, default_value = "utkface")]
        kind: String,
        #[arg(long, default_value_t = 64)]
        size: u32,
        #[arg(long)]
        json: bool,
    },
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = Ok(ExitCode::SUCCESS);
    match cli.command {
        Command::Plan(args) => plan::run(&args).and(done),
        Command::Data(DataCommand::Inspect(args)) => data::inspect(&args).and(done),
        Command::Data(DataCommand::Prepare { file, only }) => {
            data::prepare(&file, only.as_deref()).and(done)
        }
        Command::Data(DataCommand::Split { trial, out }) => {
            data::split(&trial, out.as_deref()).and(done)
        }
        Command::Data(DataCommand::Preview {
            kind,
            out,
            count,
            size,
            seed,
        }) => data::preview(&kind, &out, count, size, seed).and(done),
        Command::Bench(BenchCommand::Data {
            path,
            kind,
            size,
            json,
        }) => bench::data(&kind, &path, size, json).and(done),
        Command::Bench(BenchCommand::Serve(args)) => bench_serve::run(&args).and(done),
        Command::Bench(BenchCommand::Train(args)) => match threads::ensure(args.threads)? {
            Some(code) => Ok(code),
            None => bench_train::run(&args).and(done),
        },
        Command::Worker { trial } => worker::run(&trial),
        Command::Report { sweep, db, out } => {
            let dir = run::report(&sweep.sweep()?, db.as_deref(), out.as_deref())?;
            println!("wrote {}", dir.join("report.md").display());
            done
        }
        Command::Run(args) => run::run(*args),
        Command::Status { sweep, json, db } => {
            status::status(&sweep.sweep()?, db.as_deref(), json).and(done)
        }
        Command::Serve(args) => serve::serve(&args).and(done),
        Command::Cancel { sweep, db } => slurm::cancel(&sweep.sweep()?, db.as_deref()),
        Command::Init { file, example } => init::init(&file, &example).and(done),
        Command::List { dir, json } => list::list(&dir, json).and(done),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The one place an error becomes an exit code: 2 when any error in the chain says
/// it is about the user's input, else 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    let invalid = err.chain().any(|c| {
        c.downcast_ref::<InvalidInput>().is_some()
            || c.downcast_ref::<ablate_spec::SpecError>()
                .is_some_and(ablate_spec::SpecError::is_invalid_input)
            || c.downcast_ref::<ablate_data::DataError>()
                .is_some_and(ablate_data::DataError::is_invalid_input)
            || c.downcast_ref::<ablate_store::StoreError>()
                .is_some_and(ablate_store::StoreError::is_invalid_input)
            || c.downcast_ref::<ablate_orchestrator::RunError>()
                .is_some_and(ablate_orchestrator::RunError::is_invalid_input)
            || c.downcast_ref::<ablate_report::ReportError>()
                .is_some_and(ablate_report::ReportError::is_invalid_input)
            || c.downcast_ref::<ablate_cost::CostError>()
                .is_some_and(ablate_cost::CostError::is_invalid_input)
            || c.downcast_ref::<ablate_train::TrainError>()
                .is_some_and(ablate_train::TrainError::is_invalid_input)
    });
    if invalid {
        exit::INVALID_INPUT
    } else {
        exit::FAILURE
    }
}
