//! The one door to the `gemm` crate: a bounds-checked, slice-based matrix product,
//! plus the thread budget every kernel in `cpu_ops` shares.
//!
//! `gemm::gemm` takes raw pointers and strides; this wrapper proves, before calling
//! it, that every element it will touch lies inside the slices it was given, so the
//! rest of the module stays free of `unsafe`.

use gemm::Parallelism;

/// Where an `rows x cols` matrix sits inside a slice: element `(i, j)` is at
/// `i * rs + j * cs`. `gemm` is fastest when the destination and the left operand
/// have `rs == 1` and the right operand has `cs == 1`, since that is how it packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Mat {
    /// Column-major with leading dimension `ld` (rows are unit stride).
    pub fn col_major(rows: usize, cols: usize, ld: usize) -> Self {
        Mat {
            rows,
            cols,
            rs: 1,
            cs: ld,
        }
    }

    /// Row-major with leading dimension `ld` (columns are unit stride).
    pub fn row_major(rows: usize, cols: usize, ld: usize) -> Self {
        Mat {
            rows,
            cols,
            rs: ld,
            cs: 1,
        }
    }

    /// One past the largest offset the matrix touches (0 when it is empty).
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// The thread budget of the trial (RAYON_NUM_THREADS, as candle reads it).
pub(crate) fn threads() -> usize {
    candle_core::utils::get_num_threads().max(1)
}

/// `dst = lhs * rhs`, or `dst += lhs * rhs` when `accumulate`. `threads > 1` lets
/// gemm split the product itself; callers that already run one product per thread
/// pass 1.
///
/// Panics if the shapes disagree or a matrix does not fit its slice: both are
/// programming errors in this module, never data-dependent.
pub(crate) fn sgemm(
    (dst, d): (&mut [f32], Mat),
    (lhs, l): (&[f32], Mat),
    (rhs, r): (&[f32], Mat),
    accumulate: bool,
    threads: usize,
) {
    assert!(
        d.rows == l.rows && d.cols == r.cols && l.cols == r.rows,
        "sgemm shapes: dst {d:?}, lhs {l:?}, rhs {r:?}"
    );
    assert!(
        d.extent() <= dst.len() && l.extent() <= lhs.len() && r.extent() <= rhs.len(),
        "sgemm operand out of bounds"
    );
    // Distinct destination elements must not share an offset, or gemm's writes race.
    assert!(
        d.rows <= 1 || d.cols <= 1 || d.cs >= d.rows * d.rs || d.rs >= d.cols * d.cs,
        "sgemm dst aliases itself"
    );
    if d.rows == 0 || d.cols == 0 {
        return;
    }
    if l.cols == 0 {
        if !accumulate {
            for i in 0..d.rows {
                for j in 0..d.cols {
                    dst[i * d.rs + j * d.cs] = 0.0;
                }
            }
        }
        return;
    }
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    raw_gemm((dst, d), (lhs, l), (rhs, r), accumulate, par);
}

#[allow(unsafe_code)]
fn raw_gemm(
    (dst, d): (&mut [f32], Mat),
    (lhs, l): (&[f32], Mat),
    (rhs, r): (&[f32], Mat),
    accumulate: bool,
    par: Parallelism,
) {
    let s = |x: usize| x as isize;
    // SAFETY: `sgemm` checked that the shapes agree and that, for each operand, the
    // largest offset `(rows-1)*rs + (cols-1)*cs` lies inside its slice; strides are
    // non-negative, so every element gemm reads or writes is in bounds (slice lengths
    // never exceed isize::MAX, so the casts are lossless). `dst` is a unique borrow,
    // so it cannot overlap `lhs` or `rhs`, and distinct destination elements have
    // distinct offsets (one stride spans the whole other dimension). gemm keeps no
    // pointer after it returns.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.as_mut_ptr(),
            s(d.cs),
            s(d.rs),
            accumulate,
            lhs.as_ptr(),
            s(l.cs),
            s(l.rs),
            rhs.as_ptr(),
            s(r.cs),
            s(r.rs),
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}
