//! The peak private memory of this process: RssAnon (anonymous pages: heap,
//! tensors, stacks; not the memory-mapped pixel cache, which every worker on a
//! machine shares through the page cache), sampled every 50 ms by a thread of
//! its own, since the peak falls inside a training step (the backward pass's
//! activations and gradients) where nothing else could look. A peak shorter
//! than the interval can be missed. Linux only; elsewhere nothing is reported.

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
