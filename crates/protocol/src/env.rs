//! The environment a worker starts with.

/// Variables the orchestrator sets for each worker.
#[derive(Debug)]
pub struct Env;

impl Env {
    /// The trial's thread budget (`exec.threads`): sizes rayon's pool, so every
    /// CPU kernel of the trial.
    pub const THREADS: &'static str = "RAYON_NUM_THREADS";
    /// The slot's name (`cpu0`, `gpu1.0`, `slurm3`), for logs.
    pub const SLOT: &'static str = "ABLATE_SLOT";
    /// The trial's full id.
    pub const TRIAL_ID: &'static str = "ABLATE_TRIAL_ID";
    /// The one GPU of a GPU slot (its index), empty for a CPU slot; left to the batch
    /// scheduler under Slurm.
    pub const CUDA_VISIBLE_DEVICES: &'static str = "CUDA_VISIBLE_DEVICES";
    /// glibc's allocator settings: [`MALLOC_TUNABLES`] unless the user set their own.
    pub const GLIBC_TUNABLES: &'static str = "GLIBC_TUNABLES";
    /// `0` for a CUDA trial at `precision = "fp32"`: cuBLAS and cuDNN then use no
    /// TF32 tensor-core arithmetic for fp32 data anywhere in the process (cuDNN's
    /// default math would on Ampere and later GPUs), as PyTorch's
    /// `allow_tf32 = False` flags do for its own calls.
    pub const TF32_OVERRIDE: &'static str = "NVIDIA_TF32_OVERRIDE";
}

/// The GLIBC_TUNABLES a training process runs under (unless the user set their
/// own). glibc hands every buffer above its dynamic mmap threshold back to the
/// kernel on free, so each step would page-fault its activations and gradients in
/// again, zero-filled; keeping them on the heap measured 142-159 images/s against
/// 127-140 for `ablate bench train` (bench net, 2 threads).
pub const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296";
