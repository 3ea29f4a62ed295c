//! The `ablate` binary: the command line over the workspace's crates.
//!
//! It owns argument parsing, exit codes and what is printed; it must not hold
//! logic a library could test on its own (sweep semantics live in `ablate-spec`,
//! datasets in `ablate-data`). Only this crate uses `anyhow`.

mod bench;
mod bench_train;
mod data;
mod flags;
mod init;
mod list;
mod plan;
mod progress;
mod rt;
mod run;
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
    Plan {
        #[command(flatten)]
        sweep: sweep_arg::SweepArg,
        /// Print the plan as JSON (each trial with its full id and resolved config).
        #[arg(long, conflicts_with = "check")]
        json: bool,
        /// Only validate the file; print a one-line summary.
        #[arg(long)]
        check: bool,
        /// What it will cost: per trial, per study and in all, the images
        /// processed, host memory, disk and compute hours (reads the data
        /// folders; hours and memory from earlier trials of the same shape in the
        /// database, or from --calibrate).
        #[arg(long, conflicts_with = "check")]
        estimate: bool,
        /// With --estimate: time a few training steps of each trial shape on
        /// this machine where the database has none of that shape.
        #[arg(long, requires = "estimate")]
        calibrate: bool,
        /// With --estimate: price the CUDA trials with the throughput measured
        /// on this GPU model (e.g. h200), from the built-in table of GPU checks
        /// (docs/gpu-throughput.json) or --gpu-table.
        #[arg(long, requires = "estimate")]
        gpu_model: Option<String>,
        /// With --gpu-model: a table file in docs/gpu-throughput.json's format
        /// (scripts/gpu-check.sh writes one) instead of the built-in one.
        #[arg(long, requires = "gpu_model")]
        gpu_table: Option<PathBuf>,
        /// With --estimate: the database (default: <sweep output>/ablate.db).
        #[arg(long, requires = "estimate")]
        db: Option<PathBuf>,
    },
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
    Inspect {
        /// A dataset folder (csv: manifest) with --kind, or a sweep file followed by a dataset name.
        target: PathBuf,
        /// The dataset's name in the sweep file.
        name: Option<String>,
        /// Dataset kind of a folder given directly: utkface, lfw, fgnet, csv.
        #[arg(long)]
        kind: Option<String>,
        /// lfw: leave out people with fewer images.
        #[arg(long, default_value_t = 1)]
        min_images: u32,
        #[arg(long)]
        json: bool,
        /// Exit non-zero (2) if any file was skipped.
        #[arg(long)]
        strict: bool,
    },
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
    Train {
        /// Depth preset(s), comma-separated; `bench` is the fixed benchmark net
        /// (8 conv 32-64-128-256, FC 256, 10 classes). Lists of presets, sizes and
        /// BatchNorm settings run one after the other in this one process.
        #[arg(long, default_value = "bench", value_delimiter = ',')]
        depth: Vec<String>,
        #[arg(long, default_value_t = 1.0)]
        width: f64,
        /// Batch size: one for every --size, or one per --size in the same order.
        #[arg(long, default_value = "64", value_delimiter = ',')]
        batch: Vec<usize>,
        /// Input side in pixels, comma-separated for several.
        #[arg(long, default_value = "64", value_delimiter = ',')]
        size: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Untimed steps before the timed ones (their total time is reported as warmup_ms).
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// BatchNorm after each conv and hidden FC layer (off in the benchmark net):
        /// `--batch-norm` (on), or `--batch-norm=off,on` for both.
        #[arg(
            long,
            value_name = "off,on",
            num_args = 0..=1,
            require_equals = true,
            default_value = "off",
            default_missing_value = "on",
            value_delimiter = ',',
            value_parser = on_off
        )]
        batch_norm: Vec<bool>,
        /// cpu or cuda.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// CPU kernels: fast (ablate's cpu_ops), candle (candle's own, the
        /// reference), or both, one after the other (--json then prints an array).
        #[arg(long, default_value = "both")]
        ops: String,
        /// Instead of training steps, time each conv and pool kernel on both paths (best of --steps runs).
        #[arg(long)]
        per_op: bool,
        /// One pretty JSON report (an array when there are several).
        #[arg(long)]
        json: bool,
        /// One compact JSON line per measurement, printed as each finishes; a
        /// configuration that fails prints a line with its `error` and the rest go on.
        #[arg(long, conflicts_with = "json")]
        jsonl: bool,
        /// Start no step after this many seconds from the process's start; what
        /// is left is reported as not run (exit 1). 0 (nothing starts) to 604800.
        #[arg(long, value_parser = flags::budget_seconds::<604_800>)]
        max_seconds: Option<f64>,
    },
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
        Command::Plan {
            sweep,
            estimate: true,
            calibrate,
            gpu_model,
            gpu_table,
            db,
            json,
            ..
        } => {
            let gpu = gpu_model.as_deref().map(|name| plan::GpuModel {
                name,
                table: gpu_table.as_deref(),
            });
            plan::estimate(&sweep.sweep()?, calibrate, gpu, db.as_deref(), json).and(done)
        }
        Command::Plan {
            sweep, json, check, ..
        } => plan::run(&sweep.sweep()?, json, check).and(done),
        Command::Data(DataCommand::Inspect {
            target,
            name,
            kind,
            min_images,
            json,
            strict,
        }) => {
            let (spec, base) = match (kind, name) {
                (Some(kind), None) => (
                    ablate_data::inspect::spec_of_kind(&kind, &target, min_images)?,
                    PathBuf::new(),
                ),
                (None, Some(name)) => data::spec_from_sweep(&target, &name)?,
                (Some(_), Some(_)) => anyhow::bail!(InvalidInput(
                    "give either --kind KIND PATH or SWEEP.toml NAME, not both".into()
                )),
                (None, None) => anyhow::bail!(InvalidInput(format!(
                    "which dataset? use `ablate data inspect --kind KIND PATH` or `ablate data inspect SWEEP.toml NAME` (kinds: {})",
                    ablate_data::inspect::KINDS.join(", ")
                ))),
            };
            let strict = strict || spec.strict;
            data::inspect(&spec, &base, json, strict).and(done)
        }
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
        Command::Bench(BenchCommand::Train {
            depth,
            width,
            batch,
            size,
            steps,
            warmup,
            threads,
            batch_norm,
            device,
            ops,
            per_op,
            json,
            jsonl,
            max_seconds,
        }) => {
            if let Some(code) = threads::ensure(threads)? {
                return Ok(code);
            }
            let grid = ablate_train::bench_grid::Grid {
                depth,
                width,
                batch,
                size,
                steps,
                warmup,
                batch_norm,
                ops: ablate_train::bench_grid::ops_of(&ops)?,
            };
            bench_train::run(&bench_train::Args {
                grid,
                device,
                per_op,
                json,
                jsonl,
                max_seconds,
            })
            .and(done)
        }
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
        Command::Cancel { sweep, db } => slurm::cancel(&sweep.sweep()?, db.as_deref()),
        Command::Init { file, example } => init::init(&file, &example).and(done),
        Command::List { dir, json } => list::list(&dir, json).and(done),
    }
}

/// `--batch-norm` values: on/off (or true/false).
fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        other => Err(format!(
            "{other:?}: expected on or off (or off,on for both)"
        )),
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
