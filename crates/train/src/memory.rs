//! The peak private memory of this process: RssAnon (anonymous pages: heap,
//! tensors, stacks; not the memory-mapped pixel cache, which every worker on a
//! machine shares through the page cache), sampled every 50 ms by a thread of
//! its own, since the peak falls inside a training step (the backward pass's
//! activations and gradients) where nothing else could look. A peak shorter
//! than the interval can be missed. Linux only; elsewhere nothing is reported.
//!
//! On a GPU, the peak of the device memory this process's tensors held at once:
//! the high-water mark the CUDA driver keeps for the device's memory pool
//! (`CU_MEMPOOL_ATTR_USED_MEM_HIGH`). Every candle allocation comes from that
//! pool (cudarc allocates with `cuMemAllocAsync` wherever the device has memory
//! pools), so the mark is exact, not sampled, and counts this process only, even
//! with several workers on one GPU. Like PyTorch's `max_memory_allocated` it
//! leaves out the CUDA context and the libraries' workspaces, a few hundred MiB
//! more that nvidia-smi shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(50);

/// `RssAnon` of this process in bytes, from /proc/self/status.
pub fn rss_anon() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The peak so far, while the sampler runs (it stops when this is dropped).
#[derive(Debug)]
pub struct Peak {
    host: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Peak {
    pub fn start() -> Peak {
        let host = Arc::new(AtomicU64::new(rss_anon().unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (host.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("ablate-memory".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Some(now) = rss_anon() {
                        h.fetch_max(now, Ordering::Relaxed);
                    }
                    std::thread::sleep(EVERY);
                }
            });
        // Without the thread the peak is the samples taken when asked.
        drop(spawned);
        Peak { host, stop }
    }

    /// Peak private host memory in bytes (None where it cannot be read).
    pub fn host(&self) -> Option<u64> {
        let now = rss_anon()?;
        Some(self.host.fetch_max(now, Ordering::Relaxed).max(now))
    }
}

/// This process's peak tensor memory on `device` in bytes, since it started or
/// since [`reset_gpu_peak`]: None on the CPU, and on a GPU without memory pools.
pub fn gpu_peak(device: &candle_core::Device) -> Option<u64> {
    match device {
        #[cfg(feature = "cuda")]
        candle_core::Device::Cuda(d) => cuda::used_high(d, false),
        _ => None,
    }
}

/// Starts [`gpu_peak`] again from the memory held now (a benchmark measures
/// several nets in one process).
pub fn reset_gpu_peak(device: &candle_core::Device) {
    match device {
        #[cfg(feature = "cuda")]
        candle_core::Device::Cuda(d) => {
            cuda::used_high(d, true);
        }
        _ => {}
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::cudarc::driver::{result, sys};

    /// The pool's high-water mark of used bytes; `reset` sets it to what is used now.
    pub(super) fn used_high(d: &candle_core::CudaDevice, reset: bool) -> Option<u64> {
        let stream = d.cuda_stream();
        let ctx = stream.context();
        if !ctx.has_async_alloc() {
            return None;
        }
        ctx.bind_to_thread().ok()?;
        let attr = sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH;
        let mut high: u64 = 0;
        #[allow(unsafe_code)]
        // SAFETY: `ctx.cu_device()` is a device cudarc got from cuDeviceGet, whose
        // current pool is valid while its context lives (`ctx` holds it); the
        // attribute's value is a cuuint64_t, which `high` is, and the driver only
        // writes it (get) or reads it (set, where 0 asks for a reset) during the call.
        unsafe {
            let pool = result::device::get_mem_pool(ctx.cu_device()).ok()?;
            let value = (&raw mut high).cast::<core::ffi::c_void>();
            if reset {
                result::mem_pool::set_attribute(pool, attr, value).ok()?;
            }
            result::mem_pool::get_attribute(pool, attr, value).ok()?;
        }
        Some(high)
    }
}

impl Drop for Peak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_peak_keeps_a_large_allocation_after_it_is_freed() {
        let Some(before) = rss_anon() else {
            eprintln!("skipped: no /proc/self/status");
            return;
        };
        let peak = Peak::start();
        let big: Vec<u8> = vec![1; 256 << 20];
        std::hint::black_box(&big);
        let during = peak.host().unwrap();
        drop(big);
        std::thread::sleep(EVERY * 2);
        let after = peak.host().unwrap();
        assert!(during >= before + (200 << 20), "{before} -> {during}");
        assert!(
            after >= during,
            "a peak never goes down: {during} -> {after}"
        );
        assert!(
            rss_anon().unwrap() < during,
            "the memory itself was given back"
        );
    }
}
