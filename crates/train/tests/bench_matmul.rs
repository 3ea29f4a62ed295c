//! A benchmark, not a test (ignored): candle's CPU matmul on the FC-layer shapes of
//! the VGG presets at 64x64 input and batch 64 (forward, and the weight-gradient
//! product), to compare with PyTorch's (`python3 scripts/bench_pytorch.py --matmul`):
//!
//!     RAYON_NUM_THREADS=2 cargo test --release -p ablate-train --test bench_matmul -- --ignored --nocapture
#![allow(clippy::unwrap_used)]

use candle_core::{Device, Tensor};

#[test]
#[ignore = "a benchmark: prints ms and GFLOP/s per shape"]
fn fc_matmul_shapes() {
    for (m, k, n) in [
        (64, 2048, 4096),
        (64, 4096, 4096),
        (4096, 64, 2048),
        (2048, 64, 4096),
    ] {
        let a = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
        let b = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu).unwrap();
        for _ in 0..2 {
            a.matmul(&b).unwrap();
        }
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            a.matmul(&b).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let gflops = 2.0 * (m * k * n) as f64 / best / 1e9;
        println!(
            "candle {m}x{k}x{n}: {:.2} ms, {gflops:.0} GFLOP/s",
            best * 1e3
        );
    }
}
