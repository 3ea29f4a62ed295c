//! Run-time choice of vector instructions for the element-wise kernels (Winograd
//! transforms, epilogues): the build targets baseline x86-64, whose 4-wide SSE2 is
//! all the compiler may use by default, while the CPUs these nets train on have
//! AVX2+FMA (8 lanes) or AVX-512 (16). `pulp` (already under `gemm`) compiles the
//! closure once per instruction set and picks the widest this CPU has, so one
//! binary stays correct everywhere and fast where it can be.
//!
//! The kernels are plain Rust loops written to auto-vectorize; for the wider
//! instructions to reach them, everything between `vectorized` and the loops must
//! inline into pulp's `#[target_feature]` function: the closure and the kernel
//! bodies it calls are `#[inline(always)]`.

/// `f()`, compiled for the widest vector instruction set this CPU supports.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}
