//! End-to-end tests: they run the real `ablate` binary, as a user would, in
//! temporary directories or against the committed experiments/ files.
#![allow(clippy::unwrap_used)]

mod adaptive;
mod bad_input;
mod bench;
mod cdp;
mod csv_study;
mod data;
mod estimate;
mod flags_paths;
mod gpu;
mod gpu_check;
mod habits;
mod hostile_worker;
mod plan;
mod pretrain;
mod real;
mod report;
mod resume;
mod run;
mod serve;
mod slurm;
mod slurm_paths;
mod stale;
mod support;
mod verdicts;
mod worker;
