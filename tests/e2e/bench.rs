//! `ablate bench train`: both kernel paths by default, JSON for scripts, the
//! per-op mode on a preset's layer shapes, and clear errors for bad options.
//! Tiny nets (width 0.125, 32x32, batch 4) keep each run well under a second.

use crate::support::{ablate, assert_invalid, stderr, stdout};

const TINY: &[&str] = &[
    "bench", "train", "--depth", "vgg7", "--width", "0.125", "--size", "32", "--batch", "4",
    "--steps", "1",
];

fn tiny(extra: &[&str]) -> std::process::Output {
    let args: Vec<&str> = TINY.iter().chain(extra).copied().collect();
    ablate(&args)
}

#[test]
fn bench_train_times_both_paths_and_compares_them() {
    let out = tiny(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("fast ops:"), "{text}");
    assert!(text.contains("candle ops:"), "{text}");
    assert!(text.contains("x candle's ops"), "{text}");
}

#[test]
fn bench_train_json_is_one_report_per_path() {
    let out = tiny(&["--ops", "fast", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["ops"], "fast");
    assert_eq!(r["depth"], "vgg7");
    assert_eq!(r["channels"], serde_json::json!([8, 16, 32, 64]));
    assert!(r["images_per_s"].as_f64().unwrap() > 0.0, "{r}");

    let out = tiny(&["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let ops: Vec<&str> = all.iter().map(|r| r["ops"].as_str().unwrap()).collect();
    assert_eq!(ops, ["fast", "candle"]);
}

#[test]
fn per_op_times_each_layer_shape_of_the_preset() {
    let out = tiny(&["--per-op", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = r["timings"].as_array().unwrap();
    let shapes: Vec<&str> = rows.iter().map(|t| t["shape"].as_str().unwrap()).collect();
    // vgg7 at width 0.125: one conv per stage, 8-16-32-64 channels, 32 px halving.
    for s in [
        "4x3->8x32x32",
        "4x8->16x16x16",
        "4x16->32x8x8",
        "4x32->64x4x4",
    ] {
        assert!(shapes.contains(&s), "{s} missing from {shapes:?}");
    }
    let first_input_grad = rows
        .iter()
        .find(|t| t["op"] == "conv2d input grad" && t["shape"] == "4x3->8x32x32")
        .unwrap();
    assert_eq!(
        first_input_grad["in_step"], false,
        "the data needs no gradient"
    );
    assert!(rows.iter().all(|t| t["fast_ms"].as_f64().unwrap() > 0.0));
}

#[test]
fn bench_train_states_its_precision_and_keeps_tf32_to_cuda() {
    let out = tiny(&["--ops", "fast", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["precision"], "fp32", "{r}");
    let out = tiny(&["--precision", "tf32"]);
    assert_invalid(&out, "--precision tf32 on the CPU");
    assert!(
        stderr(&out).contains("--precision tf32 is for CUDA"),
        "{}",
        stderr(&out)
    );
    assert_invalid(&tiny(&["--precision", "fp16"]), "--precision fp16");
}

#[test]
fn bench_train_rejects_bad_options_with_the_valid_ones() {
    let out = tiny(&["--ops", "fastest"]);
    assert_invalid(&out, "--ops fastest");
    assert!(
        stderr(&out).contains("expected fast, candle or both"),
        "{}",
        stderr(&out)
    );

    let out = ablate(&["bench", "train", "--depth", "vgg8", "--steps", "1"]);
    assert_invalid(&out, "--depth vgg8");
    assert!(stderr(&out).contains("expected one of"), "{}", stderr(&out));

    let out = ablate(&[
        "bench", "train", "--per-op", "--depth", "vgg19", "--size", "16",
    ]);
    assert_invalid(&out, "--per-op at 16 px");
    assert!(stderr(&out).contains("too small"), "{}", stderr(&out));
}

/// Lists run in one process, sizes outermost, then presets, then BatchNorm, a
/// flushed JSON line each: what the GPU check reads, so the CUDA context and the
/// PTX JIT are paid once.
#[test]
fn bench_train_runs_lists_in_one_process_a_line_each() {
    let out = ablate(&[
        "bench",
        "train",
        "--depth",
        "vgg7,bench",
        "--width",
        "0.125",
        "--size",
        "32,48",
        "--batch",
        "4,2",
        "--steps",
        "1",
        "--batch-norm=off,on",
        "--ops",
        "fast",
        "--jsonl",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, u64, u64, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["depth"].as_str().unwrap().to_string(),
                r["size"].as_u64().unwrap(),
                r["batch"].as_u64().unwrap(),
                r["batch_norm"].as_bool().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64, bool)> = [
        ("vgg7", 32, 4, false),
        ("vgg7", 32, 4, true),
        ("bench", 32, 4, false),
        ("bench", 32, 4, true),
        ("vgg7", 48, 2, false),
        ("vgg7", 48, 2, true),
        ("bench", 48, 2, false),
        ("bench", 48, 2, true),
    ]
    .iter()
    .map(|&(d, s, b, bn)| (d.to_string(), s, b, bn))
    .collect();
    assert_eq!(got, want);
    for r in &rows {
        // One warm-up step and one timed step, each with its loss.
        let losses = r["losses"].as_array().unwrap();
        assert_eq!(losses.len(), 2, "{r}");
        assert!(losses.iter().all(|l| l.as_f64().unwrap().is_finite()));
        assert!(r["started_unix_ms"].as_u64() <= r["ended_unix_ms"].as_u64());
        assert!(r["device_init_ms"].as_f64().is_some(), "{r}");
        assert!(r["warmup_ms"].as_f64().unwrap() > 0.0, "{r}");
    }
    // BatchNorm changes the net (its losses differ from the same net without it).
    assert_ne!(rows[0]["losses"], rows[1]["losses"]);
}

/// The GPU check compares per-step losses across devices: that needs every
/// seed drawn on the host, so the same run twice gives the same losses, and the
/// CPU's two kernel paths agree to rounding before the first update.
#[test]
fn bench_train_losses_are_repeatable_and_agree_across_kernel_paths() {
    let args = [
        "bench",
        "train",
        "--depth",
        "bench",
        "--width",
        "0.25",
        "--size",
        "32",
        "--batch",
        "8",
        "--steps",
        "3",
        "--batch-norm=off,on",
        "--jsonl",
    ];
    let run = || -> Vec<serde_json::Value> {
        let out = ablate(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.len(), 4, "fast and candle, BatchNorm off and on");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["losses"], y["losses"], "{} {}", x["ops"], x["batch_norm"]);
    }
    for pair in a.chunks(2) {
        assert_eq!(
            (pair[0]["ops"].as_str(), pair[1]["ops"].as_str()),
            (Some("fast"), Some("candle"))
        );
        let (f, c) = (
            pair[0]["losses"][0].as_f64().unwrap(),
            pair[1]["losses"][0].as_f64().unwrap(),
        );
        assert!(
            (f - c).abs() <= 1e-4 * f.abs().max(c.abs()),
            "step 1: fast {f}, candle {c}"
        );
    }
}

#[test]
fn bench_train_lists_report_each_failure_and_go_on() {
    // --max-seconds 0: nothing starts; each configuration says so on its line, exit 1 (not 2:
    // the options were valid) and no panic.
    let list = |extra: &[&str]| {
        let base = ["bench", "train", "--width", "0.125", "--steps", "1"];
        ablate(&base.iter().chain(extra).copied().collect::<Vec<_>>())
    };
    let out = list(&[
        "--depth",
        "vgg7,bench",
        "--size",
        "32",
        "--batch",
        "4",
        "--ops",
        "fast",
        "--jsonl",
        "--max-seconds",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 of 2 benchmark configurations failed"),
        "{}",
        stderr(&out)
    );
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("--max-seconds 0 reached"),
            "{r}"
        );
    }

    let out = list(&["--size", "32,48", "--batch", "4,2,1"]);
    assert_invalid(&out, "3 batch sizes for 2 sizes");
    assert!(stderr(&out).contains("one per --size"), "{}", stderr(&out));

    let out = tiny(&["--batch-norm=maybe"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected on or off"),
        "{}",
        stderr(&out)
    );

    let out = list(&["--depth", "vgg7,vgg8"]);
    assert_invalid(&out, "--depth vgg7,vgg8");
    assert!(stderr(&out).contains("\"vgg8\""), "{}", stderr(&out));
}
