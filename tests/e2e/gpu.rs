//! `ablate run --gpus` on a machine without GPUs: a fake `nvidia-smi` first on PATH
//! lists GPUs, the fake worker records the `CUDA_VISIBLE_DEVICES` each trial saw, and
//! every way of getting no usable GPU is an error before anything starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{assert_invalid, stderr, stdout};

const FAKE: &str = env!("CARGO_BIN_EXE_ablate-fake-worker");
const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");

/// What a 2-GPU machine's `nvidia-smi -L` prints.
const TWO_GPUS: &str = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa1111-2222-3333-4444-555566667777)\n\
                        GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbbb1111-2222-3333-4444-555566667777)\n";

/// 4 trials (2 depths x 2 seeds) asking for a GPU; `fake` schedules the fake worker.
fn sweep(dir: &Path, fake: bool, device: &str) {
    let worker = if fake {
        format!("[worker]\ncommand = [\"{FAKE}\"]\n")
    } else {
        String::new()
    };
    let text = format!(
        "[sweep]\nname = \"g\"\nseeds = 2\noutput = \"out\"\n{worker}[data.faces]\nkind = \"synthetic-faces\"\nidentities = 20\n\
         [train]\nthreads = 1\ndevice = \"{device}\"\ninput_size = 32\nepochs = 1\n\
         [defaults]\ntasks = [\"gender\"]\n\
         [[study]]\nname = \"depth\"\ngrid.depth = [\"vgg7\", \"vgg9\"]\n"
    );
    std::fs::write(dir.join("g.toml"), text).unwrap();
}

/// A folder holding an executable `nvidia-smi` shell script with this body.
fn fake_smi(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("nvidia-smi");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// A fake `nvidia-smi` that answers `-L` with `listing`.
fn smi_listing(dir: &Path, listing: &str) -> PathBuf {
    fake_smi(
        dir,
        &format!("[ \"$1\" = \"-L\" ] || exit 9\ncat <<'EOF'\n{listing}EOF"),
    )
}

/// `PATH` with `first` in front of the test's own.
fn path_with(first: &Path) -> String {
    format!(
        "{}:{}",
        first.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `ablate ARGS` in `dir` with `CUDA_VISIBLE_DEVICES` unset unless `env` sets it.
fn ablate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(ABLATE)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CUDA_VISIBLE_DEVICES")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// (slot, trial, gpu) of each trial start in the fake worker's log.
fn starts(log: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("start "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[1].to_string(),
                f[2].to_string(),
                f[4].strip_prefix("gpu=").unwrap().to_string(),
            )
        })
        .collect()
}

/// (device, device name) of every attempt in the sweep's database.
fn attempts(dir: &Path) -> Vec<(String, Option<String>)> {
    let db = dir.join("out/ablate.db");
    if !db.exists() {
        return Vec::new();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = ablate_store::Store::open_read_only(&db).await.unwrap();
        let p = store.provenance("g").await.unwrap();
        store.close().await;
        p.into_iter().map(|a| (a.device, a.device_name)).collect()
    })
}

/// The run was refused as invalid input with `message`, and no trial started or was recorded.
fn assert_refused(dir: &Path, out: &Output, message: &str) {
    assert_invalid(out, message);
    let err = stderr(out);
    assert!(
        err.contains(message),
        "expected {message:?} in stderr:\n{err}"
    );
    assert!(
        !dir.join("fake.log").exists(),
        "a trial started: {}",
        std::fs::read_to_string(dir.join("fake.log")).unwrap_or_default()
    );
    assert!(!dir.join("out/trials").exists(), "a trial folder was made");
    assert!(attempts(dir).is_empty(), "attempts: {:?}", attempts(dir));
}

#[test]
fn gpus_all_uses_every_gpu_nvidia_smi_lists_and_pins_each_trial_to_one() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), true, "cuda");
    let bin = smi_listing(dir.path(), TWO_GPUS);
    let log = dir.path().join("fake.log");
    let out = ablate(
        dir.path(),
        &["run", "g.toml", "--gpus", "all"],
        &[
            ("PATH", &path_with(&bin)),
            ("FAKE_LOG", log.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("4 trials; 4 succeeded now"),
        "{}",
        stdout(&out)
    );
    let starts = starts(&log);
    assert_eq!(starts.len(), 4, "{starts:?}");
    for (slot, _, gpu) in &starts {
        assert!(gpu == "0" || gpu == "1", "one GPU per trial: {starts:?}");
        assert_eq!(slot, &format!("gpu{gpu}.0"), "{starts:?}");
    }
    assert!(
        starts.iter().any(|s| s.2 == "0") && starts.iter().any(|s| s.2 == "1"),
        "both GPUs were used: {starts:?}"
    );
    // Each attempt records its GPU and the name nvidia-smi gave it.
    let attempts = attempts(dir.path());
    assert_eq!(attempts.len(), 4);
    for (device, name) in &attempts {
        let want = match device.as_str() {
            "cuda:0" => "NVIDIA H100 80GB HBM3",
            "cuda:1" => "NVIDIA A100-SXM4-40GB",
            other => panic!("device {other}"),
        };
        assert_eq!(name.as_deref(), Some(want), "{attempts:?}");
    }
}

#[test]
fn cuda_visible_devices_limits_gpus_all_by_index_or_uuid() {
    for visible in [
        "1",
        " 1 ",
        "GPU-bbbb1111-2222-3333-4444-555566667777",
        "GPU-bbbb",
    ] {
        let dir = tempfile::tempdir().unwrap();
        sweep(dir.path(), true, "cuda");
        let bin = smi_listing(dir.path(), TWO_GPUS);
        let log = dir.path().join("fake.log");
        let out = ablate(
            dir.path(),
            &["run", "g.toml", "--gpus", "all", "--slots-per-gpu", "2"],
            &[
                ("PATH", &path_with(&bin)),
                ("FAKE_LOG", log.to_str().unwrap()),
                ("CUDA_VISIBLE_DEVICES", visible),
            ],
        );
        assert!(
            out.status.success(),
            "CUDA_VISIBLE_DEVICES={visible:?}: {}",
            stderr(&out)
        );
        let starts = starts(&log);
        assert_eq!(starts.len(), 4, "{starts:?}");
        assert!(
            starts
                .iter()
                .all(|(slot, _, gpu)| gpu == "1" && slot.starts_with("gpu1.")),
            "CUDA_VISIBLE_DEVICES={visible:?} leaves GPU 1 only: {starts:?}"
        );
        assert!(
            attempts(dir.path())
                .iter()
                .all(|a| a.1.as_deref() == Some("NVIDIA A100-SXM4-40GB"))
        );
    }
}

#[test]
fn no_usable_gpu_is_an_error_before_anything_runs() {
    /// (what, nvidia-smi: a listing or a script body or none, environment, message)
    type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        (
            "CUDA_VISIBLE_DEVICES hides all",
            Some(TWO_GPUS),
            &[("CUDA_VISIBLE_DEVICES", "")],
            "CUDA_VISIBLE_DEVICES=\"\" hides every GPU that nvidia-smi -L lists (GPU 0 NVIDIA H100 80GB HBM3, GPU 1 NVIDIA A100-SXM4-40GB)",
        ),
        (
            "CUDA_VISIBLE_DEVICES names no listed GPU",
            Some(TWO_GPUS),
            &[("CUDA_VISIBLE_DEVICES", "5")],
            "CUDA_VISIBLE_DEVICES=\"5\" hides every GPU",
        ),
        (
            "CUDA_VISIBLE_DEVICES names a MIG instance",
            Some(TWO_GPUS),
            &[("CUDA_VISIBLE_DEVICES", "MIG-cccc1111")],
            "names a MIG instance",
        ),
        (
            "nvidia-smi missing",
            None,
            &[],
            "--gpus all: cannot run nvidia-smi",
        ),
        (
            "nvidia-smi fails",
            Some(
                "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\nexit 9",
            ),
            &[],
            "`nvidia-smi -L` failed (exit status: 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        ),
        (
            "nvidia-smi lists nothing",
            Some("exit 0"),
            &[],
            "`nvidia-smi -L` lists no GPU",
        ),
    ];
    for (what, smi, env, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        sweep(dir.path(), true, "cuda");
        // With no nvidia-smi, PATH is an empty folder (the machine may have a real one).
        let bin = match smi {
            Some(TWO_GPUS) => smi_listing(dir.path(), TWO_GPUS),
            Some(body) => fake_smi(dir.path(), body),
            None => {
                let empty = dir.path().join("empty");
                std::fs::create_dir_all(&empty).unwrap();
                empty
            }
        };
        let path = if smi.is_some() {
            path_with(&bin)
        } else {
            bin.display().to_string()
        };
        let log = dir.path().join("fake.log");
        let mut env = env.to_vec();
        env.extend([("PATH", path.as_str()), ("FAKE_LOG", log.to_str().unwrap())]);
        let out = ablate(dir.path(), &["run", "g.toml", "--gpus", "all"], &env);
        assert_refused(dir.path(), &out, message);
        assert!(!stderr(&out).contains("panicked"), "{what}");
    }
}

/// Tests run the build without the `cuda` feature: its own workers cannot use a GPU.
#[cfg(not(feature = "cuda"))]
#[test]
fn a_cpu_only_build_refuses_gpu_work_naming_the_cuda_feature() {
    // device = "cuda" without --gpus, with --gpus 0, and with --gpus all (no nvidia-smi needed).
    for (device, args) in [
        ("cuda", &["run", "g.toml"][..]),
        ("cuda", &["run", "g.toml", "--gpus", "0"][..]),
        ("cuda", &["run", "g.toml", "--gpus", "all"][..]),
        ("cuda", &["run", "g.toml", "--only", "depth"][..]),
        ("cpu", &["run", "g.toml", "--gpus", "0"][..]),
        ("cpu", &["run", "g.toml", "--gpus", "all"][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        sweep(dir.path(), false, device);
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let out = ablate(dir.path(), args, &[("PATH", empty.to_str().unwrap())]);
        let err = stderr(&out);
        assert_refused(dir.path(), &out, "`cargo build --release --features cuda`");
        let what = if device == "cuda" {
            "4 trial(s) of this sweep ask for device = \"cuda\", but this ablate was built without CUDA"
        } else {
            "this ablate was built without CUDA, so its workers cannot use a GPU"
        };
        assert!(err.contains(what), "{device} {args:?}: {err}");
        assert!(
            !dir.path().join("out").exists(),
            "nothing is created: {args:?}"
        );
    }
}
