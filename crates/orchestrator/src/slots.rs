//! Slots: where one trial runs at a time. A GPU slot pins a trial to one GPU
//! (several slots per GPU pack small trials); a CPU slot gives it a thread budget.

use ablate_spec::types::Device;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    Cpu,
    Gpu(u32),
    /// A place in a batch scheduler's queue (`--max-queued`): any device fits; the
    /// scheduler picks the node and the GPU.
    Batch,
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub name: String,
    pub kind: SlotKind,
    pub busy: Option<String>,
}

impl Slot {
    pub fn fits(&self, device: Device) -> bool {
        matches!(
            (&self.kind, device),
            (SlotKind::Cpu, Device::Cpu) | (SlotKind::Gpu(_), Device::Cuda) | (SlotKind::Batch, _)
        )
    }

    pub fn device_label(&self) -> String {
        match self.kind {
            SlotKind::Cpu => "cpu".into(),
            SlotKind::Gpu(i) => format!("cuda:{i}"),
            SlotKind::Batch => "slurm".into(),
        }
    }
}

/// `gpus` x `per_gpu` GPU slots and `cpu` CPU slots.
pub fn build(gpus: &[u32], per_gpu: u32, cpu: u32) -> Vec<Slot> {
    let mut slots = Vec::new();
    for g in gpus {
        for k in 0..per_gpu.max(1) {
            slots.push(Slot {
                name: format!("gpu{g}.{k}"),
                kind: SlotKind::Gpu(*g),
                busy: None,
            });
        }
    }
    for c in 0..cpu {
        slots.push(Slot {
            name: format!("cpu{c}"),
            kind: SlotKind::Cpu,
            busy: None,
        });
    }
    slots
}

/// `n` places in a batch queue.
pub fn batch(n: usize) -> Vec<Slot> {
    (0..n)
        .map(|k| Slot {
            name: format!("slurm{k}"),
            kind: SlotKind::Batch,
            busy: None,
        })
        .collect()
}
