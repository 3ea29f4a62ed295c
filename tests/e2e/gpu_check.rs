//! `scripts/gpu-check.sh` in its dry run (`GPU_CHECK_CPU_ONLY=1`: CPU stand-ins for
//! every CUDA step, the same steps and files): what it leaves in `$OUT` must fit
//! what the GPU validation machine sends back (at most 8 files of 16 MiB, at most
//! 2 folders deep; the check keeps to 6), and the table is printed on stdout too.
//! A stand-in `nvidia-smi` feeds the memory monitor, so the per-step peak is read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{repo, stderr, stdout};

const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");
/// What the device tool brings back whole; the check's own limit is lower.
const MAX_FILES: usize = 6;
const MAX_DEPTH: usize = 2;
const MAX_BYTES: u64 = 16 << 20;

fn have_python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A stand-in for `nvidia-smi --query-gpu=timestamp,memory.used,... -lms 100`: a
/// sample every 0.1 s, in nvidia-smi's local-time format, until it is killed.
fn fake_smi(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("nvidia-smi");
    let body = "#!/bin/sh\nwhile :; do date '+%Y/%m/%d %H:%M:%S.%3N, 1234, 7'; sleep 0.1; done\n";
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs the dry run with `env`, `$OUT` and the work folder under `dir`.
fn dry_run(dir: &Path, env: &[(&str, &str)]) -> Output {
    let smi = fake_smi(dir);
    let path = format!(
        "{}:{}",
        smi.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .arg("scripts/gpu-check.sh")
        .current_dir(repo())
        .env("GPU_CHECK_CPU_ONLY", "1")
        .env("OUT", dir.join("out"))
        .env("GPU_CHECK_WORK", dir.join("work"))
        .env("ABLATE_CPU", ABLATE)
        // The machine's python3, whether or not it has torch (the PyTorch step may skip).
        .env("PYTHON", "python3")
        .env("PATH", path)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Every file under `root` with its depth in folders below it.
fn files(root: &Path, depth: usize, out: &mut Vec<(PathBuf, usize, u64)>) {
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files(&e.path(), depth + 1, out);
        } else {
            out.push((e.path(), depth, e.metadata().unwrap().len()));
        }
    }
}

/// The limits the GPU validation machine puts on what comes back.
fn assert_fits(out_dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    files(out_dir, 0, &mut all);
    assert!(
        all.len() <= MAX_FILES,
        "{} files under $OUT: {all:?}",
        all.len()
    );
    for (p, depth, len) in &all {
        assert!(
            *depth <= MAX_DEPTH,
            "{} is {depth} folders deep",
            p.display()
        );
        assert!(*len < MAX_BYTES, "{} has {len} bytes", p.display());
    }
    let mut names: Vec<String> = all
        .iter()
        .map(|(p, _, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn tar_list(archive: &Path) -> String {
    let o = Command::new("tar")
        .arg("tzf")
        .arg(archive)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn dry_run_fits_the_gpu_machine_and_prints_its_table() {
    if !have_python() {
        eprintln!("skipped: the GPU check needs python3, which this machine lacks");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dry_run(dir.path(), &[]);
    assert!(
        out.status.success(),
        "stderr:\n{}\nstdout:\n{}",
        stderr(&out),
        stdout(&out)
    );
    let out_dir = dir.path().join("out");
    assert_eq!(
        assert_fits(&out_dir),
        [
            "gpu-table.md",
            "gpu-throughput.json",
            "logs.tar.gz",
            "results.json"
        ]
    );
    let table = std::fs::read_to_string(out_dir.join("gpu-table.md")).unwrap();
    assert!(stdout(&out).contains(&table), "the table is not on stdout");
    assert!(table.contains("0 FAILED"), "{table}");
    for step in [
        "a3-start-1",
        "a4-start-2",
        "b1-steps-cpu",
        "b2-steps-gpu",
        "b3-compare-steps",
        "d1-sweep-gpu",
        "d2-sweep-cpu",
        "d3-check",
        "e1-trial-gpu",
        "e2-killed-gpu",
        "e3-check",
        "c1-bench-gpu",
    ] {
        assert!(
            table.contains(&format!("| {step} | ok |")),
            "{step} not ok:\n{table}"
        );
    }
    // (d): attempts on the CPU stand-in must not have recorded GPU memory.
    assert!(
        table.contains("none recorded a GPU peak"),
        "no memory check:\n{table}"
    );
    // (e): the killed trial's next attempt resumed from its state, to the same losses.
    assert!(
        table.contains("2 attempts; the last: resumed from state.safetensors"),
        "no resume:\n{table}"
    );
    // The stand-in nvidia-smi's samples are matched to the steps that ran while it did.
    assert!(
        table.contains("| 1234 |"),
        "no peak GPU memory read:\n{table}"
    );

    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    // (b): BatchNorm off and on, 10 steps each, the stand-in (candle's CPU kernels) against
    // the fast ones: a real rounding difference, inside the tolerance.
    let settings = r["steps_compare"]["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2);
    for s in settings {
        let rows = s["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 10, "{s}");
        assert!(rows.iter().all(|x| x["ok"] == true), "{s}");
    }
    assert!(
        settings
            .iter()
            .flat_map(|s| s["rows"].as_array().unwrap())
            .any(|x| x["rel"].as_f64().unwrap() > 0.0),
        "two kernel paths agreeing bit for bit on every step: the comparison reads one side twice"
    );
    // (d): 4 trials, at most 2 at once, every trial compared with its CPU twin.
    assert_eq!(r["sweep"]["succeeded"], 4, "{}", r["sweep"]);
    assert!(r["sweep"]["at_once"].as_u64().unwrap() <= 2);
    assert_eq!(r["sweep"]["trials"].as_array().unwrap().len(), 4);
    assert_eq!(
        r["bench"].as_array().unwrap().len(),
        2,
        "bench and vgg7 at 32 px"
    );

    // Binaries, trial folders and databases stay out of $OUT; logs come back in the archive.
    let listed = tar_list(&out_dir.join("logs.tar.gz"));
    for f in [
        "logs/b1-steps-cpu.log",
        "out/b3-compare-steps.json",
        "steps.tsv",
        "nvsmi.csv",
    ] {
        assert!(
            listed.contains(f),
            "{f} missing from logs.tar.gz:\n{listed}"
        );
    }
    assert!(!listed.contains(".safetensors"), "{listed}");
    assert!(!listed.contains(".png"), "{listed}");
    assert!(dir.path().join("work/run/d-gpu/d-mini/ablate.db").exists());
    prices_a_sweep(dir.path(), &out_dir.join("gpu-throughput.json"));
}

/// The check's throughput table is what `plan --estimate --gpu-model` reads: a
/// CUDA sweep of a measured shape gets its hours from it, one of another shape
/// none.
fn prices_a_sweep(dir: &Path, table: &Path) {
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(table).unwrap()).unwrap();
    let gpu = t["gpu"].as_str().unwrap();
    assert!(gpu.starts_with("CPU stand-in"), "{t}");
    let row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["depth"] == "vgg7")
        .unwrap_or_else(|| panic!("no vgg7 row: {t}"));
    assert_eq!(
        (row["size"].as_u64(), row["batch"].as_u64()),
        (Some(32), Some(4))
    );
    let sweep = "[sweep]\nname = \"g\"\noutput = \"g-out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 20\nimages_per_identity = 4\n\
                 [train]\ndevice = \"cuda\"\ninput_size = 32\nepochs = 2\nbatch_size = 4\nbatch_norm = false\n\
                 [[study]]\nname = \"w\"\nfixed = { depth = \"vgg7\", tasks = [\"gender\"] }\ngrid.width = [0.125, 0.25]\n";
    std::fs::write(dir.join("g.toml"), sweep).unwrap();
    let o = Command::new(ABLATE)
        .args([
            "plan",
            "--estimate",
            "--json",
            "--gpu-model",
            gpu,
            "--gpu-table",
        ])
        .arg(table)
        .arg("g.toml")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    let narrow = trials
        .iter()
        .map(|t| t["parameters"].as_u64().unwrap())
        .min();
    for tr in trials {
        let n = |i: usize| tr["images"][i].as_f64().unwrap();
        if tr["parameters"].as_u64() == narrow {
            // width 0.125: the measured row.
            let want = (2.0 * n(0) / row["train_images_per_s"].as_f64().unwrap()
                + (2.0 * n(1) + n(2)) / row["forward_images_per_s"].as_f64().unwrap())
                / 3600.0;
            let got = tr["hours"].as_f64().unwrap();
            assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}: {tr}");
            assert!(
                tr["source"]
                    .as_str()
                    .unwrap()
                    .starts_with("GPU table: CPU stand-in"),
                "{tr}"
            );
        } else {
            assert!(tr["hours"].is_null(), "width 0.25 was not measured: {tr}");
            assert!(
                tr["source"].as_str().unwrap().contains("has no row"),
                "{tr}"
            );
        }
    }
    // Merged into (a copy of) the built-in table, twice: one table for that GPU.
    let merged = dir.join("gpu-throughput.json");
    std::fs::copy(repo().join("docs/gpu-throughput.json"), &merged).unwrap();
    for _ in 0..2 {
        let o = Command::new("python3")
            .arg(repo().join("scripts/gpu_check.py"))
            .args(["merge".as_ref(), table.as_os_str(), merged.as_os_str()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_eq!(m["tables"].as_array().unwrap().len(), 1, "{m}");
    assert!(m["about"].is_string(), "the file's own note is kept: {m}");
    let o = Command::new(ABLATE)
        .args(["plan", "--estimate", "--gpu-model", gpu, "--gpu-table"])
        .arg(&merged)
        .arg("g.toml")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("GPU table: CPU stand-in"),
        "{}",
        stderr(&o)
    );
    // A GPU the table does not have is an error that says which it has.
    let o = Command::new(ABLATE)
        .args(["plan", "--estimate", "--gpu-model", "h200", "g.toml"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has no measurements of that GPU (it has none yet)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_failed_step_is_in_the_table_and_the_exit_code() {
    if !have_python() {
        eprintln!("skipped: the GPU check needs python3, which this machine lacks");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // An unknown preset makes step c fail; the steps before it still count.
    let out = dry_run(dir.path(), &[("GPU_CHECK_PRESETS", "vgg8")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out_dir = dir.path().join("out");
    assert_fits(&out_dir);
    let table = std::fs::read_to_string(out_dir.join("gpu-table.md")).unwrap();
    assert!(table.contains("1 FAILED"), "{table}");
    assert!(table.contains("| c1-bench-gpu | FAILED |"), "{table}");
    assert!(
        table.contains("unknown depth"),
        "the reason is in the table:\n{table}"
    );
    assert!(table.contains("| d3-check | ok |"), "{table}");
    assert!(stdout(&out).contains(&table));

    // $OUT inside the work folder's reach is refused before anything runs.
    let clash = dry_run(
        dir.path(),
        &[(
            "GPU_CHECK_WORK",
            dir.path().join("out/work").to_str().unwrap(),
        )],
    );
    assert_eq!(clash.status.code(), Some(2));
    assert!(stderr(&clash).contains("inside OUT"), "{}", stderr(&clash));
}
