//! The thread pool a trial's kernels run in.

pub use rayon::ThreadPoolBuildError as PoolError;

/// Runs `f` on a thread of a rayon pool of RAYON_NUM_THREADS threads. Called from
/// the main thread, every parallel kernel would hand its work to the pool and
/// sleep on a latch until it is done: two futex wake-ups per operation, thousands
/// per step (at one thread, 5% of a real trial's time went to futex and
/// sched_yield). Inside the pool the kernels run where they are called: the real
/// study's trial (vgg9 width 0.25, 48 px, 1 thread) trained 9% faster, 739 -> 805
/// images/s (means of 3 and 10 one-epoch runs of `ablate worker`).
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("ablate-{i}"))
        // candle's backward pass walks the graph recursively; keep the main
        // thread's headroom.
        .stack_size(16 << 20)
        .build()?;
    Ok(pool.install(f))
}
