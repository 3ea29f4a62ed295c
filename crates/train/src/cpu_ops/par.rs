//! Splitting a batch over the thread budget, and recycled scratch memory.
//!
//! Work: a few contiguous groups of images per thread, each group running
//! single-threaded gemms. Images are independent in the forward pass and the input
//! gradient; the weight gradient sums per-group partials in a fixed order, so
//! results never depend on scheduling.
//!
//! Memory: a training step needs the same large scratch arrays every time (the
//! gradient at a convolution's raw output is up to 32 MiB at batch 64; the Winograd
//! chunks about 1 MiB per thread). Freshly allocated, glibc maps such sizes straight
//! from the kernel and unmaps them on free, so every step would pay a page fault
//! and a page clear per 4 KiB again (measured: a fifth of the step). `take` and
//! `give` recycle them through a small free list instead.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use rayon::prelude::*;

use super::gemm::threads;
use super::simd::vectorized;

/// Groups per thread. More than one lets rayon rebalance when a core is taken by
/// another process (trials share machines), at the price of a partial weight
/// gradient per group.
const SPLIT: usize = 2;

/// `work(first_image, images, dst_part, gemm_threads)` over groups of a batch of
/// `batch` images whose outputs fill `dst` in equal parts; results in image order.
/// A batch smaller than the budget runs as one group with multithreaded gemms.
pub(crate) fn map_images<T, F>(batch: usize, dst: &mut [f32], work: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, usize, &mut [f32], usize) -> Vec<T> + Sync,
{
    let nt = threads();
    if batch == 0 {
        return Vec::new();
    }
    let per = dst.len() / batch;
    if batch < nt || per == 0 {
        return work(0, batch, dst, nt);
    }
    let group = batch.div_ceil(nt * SPLIT);
    let parts: Vec<Vec<T>> = dst
        .par_chunks_mut(group * per)
        .enumerate()
        .map(|(gi, d)| work(gi * group, d.len() / per, d, 1))
        .collect();
    parts.into_iter().flatten().collect()
}

/// The sum of `work(first_image, images, gemm_threads)` (each `len` floats) over
/// groups of a batch.
pub(crate) fn sum_images<F>(batch: usize, len: usize, work: F) -> Vec<f32>
where
    F: Fn(usize, usize, usize) -> Vec<f32> + Sync,
{
    let nt = threads();
    if batch == 0 {
        return vec![0.0; len];
    }
    if batch < nt {
        return work(0, batch, nt);
    }
    let group = batch.div_ceil(nt * SPLIT);
    let parts: Vec<Vec<f32>> = (0..batch.div_ceil(group))
        .into_par_iter()
        .map(|gi| {
            let b0 = gi * group;
            work(b0, group.min(batch - b0), 1)
        })
        .collect();
    // Each element is summed over the parts in their fixed order, so splitting the
    // elements over threads leaves the result unchanged (and independent of
    // scheduling). The first part is the running total: 0 + p0 is p0 exactly.
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![0.0; len]);
    let rest: Vec<Vec<f32>> = parts.collect();
    let block = len.div_ceil(nt).max(4096);
    total.par_chunks_mut(block).enumerate().for_each(|(i, t)| {
        for p in &rest {
            let p = &p[i * block..i * block + t.len()];
            t.iter_mut().zip(p).for_each(|(t, v)| *t += v);
        }
    });
    total
}

/// `f(index, item)` over equal parts of `data` (`per` floats each), one
/// contiguous group of parts per thread.
pub(crate) fn for_parts<F>(data: &mut [f32], per: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    if per == 0 || data.is_empty() {
        return;
    }
    let parts = data.len() / per;
    let group = parts.div_ceil(threads()).max(1);
    data.par_chunks_mut(group * per)
        .enumerate()
        .for_each(|(gi, chunk)| {
            // One instruction-set dispatch per group of parts; `f` reaches the wide
            // instructions when the caller marks it `#[inline(always)]`.
            vectorized(
                #[inline(always)]
                || {
                    for (i, p) in chunk.chunks_exact_mut(per).enumerate() {
                        f(gi * group + i, p);
                    }
                },
            );
        });
}

/// `len` zeros for an output tensor the caller then overwrites, filled by the
/// thread budget: `vec![0.0; len]` memsets on the calling thread alone (from the
/// heap, where the malloc tunables keep large buffers), which for a net's
/// activations and their gradients was serial time with the other cores idle.
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    if len < 1 << 16 {
        return vec![0.0; len];
    }
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(0.0f32, len));
    v
}

/// Buffers kept for reuse; beyond this the smallest is dropped.
const KEEP: usize = 12;

static FREE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A recycled buffer of floats whose contents are unspecified (left over from an
/// earlier use): callers overwrite what they read. It derefs to exactly the length
/// asked for and goes back to the free list when dropped.
///
/// The vector underneath never shrinks: had it been truncated to a small layer's
/// size, handing it to a larger layer next would zero-fill the difference again
/// (measured: `memset` was 4.6% of a vgg19 width-0.25 step).
pub(crate) struct Scratch {
    buf: Vec<f32>,
    len: usize,
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.buf));
    }
}

/// A scratch buffer of `len` floats.
pub(crate) fn take(len: usize) -> Scratch {
    let found = FREE.lock().ok().and_then(|mut free| {
        // The smallest buffer that is large enough, so big ones stay available.
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)?;
        Some(free.swap_remove(best))
    });
    let mut buf = found.unwrap_or_default();
    if buf.len() < len {
        // Up to the capacity: the allocation is there anyway, and later larger
        // requests then find it initialized.
        buf.resize(buf.capacity().max(len), 0.0);
    }
    Scratch { buf, len }
}

fn give(buf: Vec<f32>) {
    if buf.capacity() == 0 {
        return;
    }
    if let Ok(mut free) = FREE.lock() {
        free.push(buf);
        if free.len() > KEEP
            && let Some((i, _)) = free.iter().enumerate().min_by_key(|(_, b)| b.capacity())
        {
            free.swap_remove(i);
        }
    }
}
