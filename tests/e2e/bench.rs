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
