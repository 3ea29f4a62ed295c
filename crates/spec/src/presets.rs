//! Named VGG-style depth presets. Names count weight layers, as the VGG paper does
//! (conv layers + hidden FC layers + the output layer).

use crate::types::ModelSpec;

/// One depth preset before the width multiplier.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub convs: &'static [u32],
    pub channels: &'static [u32],
    pub fc: &'static [u32],
    pub about: &'static str,
}

const VGG_CHANNELS_4: &[u32] = &[64, 128, 256, 512];
const VGG_CHANNELS_5: &[u32] = &[64, 128, 256, 512, 512];
const VGG_FC: &[u32] = &[4096, 4096];

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "vgg7",
        convs: &[1, 1, 1, 1],
        channels: VGG_CHANNELS_4,
        fc: VGG_FC,
        about: "4 conv + 3 FC, the shallowest",
    },
    Preset {
        name: "vgg9",
        convs: &[1, 1, 2, 2],
        channels: VGG_CHANNELS_4,
        fc: VGG_FC,
        about: "6 conv + 3 FC",
    },
    Preset {
        name: "vgg11",
        convs: &[1, 1, 2, 2, 2],
        channels: VGG_CHANNELS_5,
        fc: VGG_FC,
        about: "8 conv + 3 FC (VGG configuration A)",
    },
    Preset {
        name: "vgg13",
        convs: &[2, 2, 2, 2, 2],
        channels: VGG_CHANNELS_5,
        fc: VGG_FC,
        about: "10 conv + 3 FC (VGG configuration B)",
    },
    Preset {
        name: "vgg16",
        convs: &[2, 2, 3, 3, 3],
        channels: VGG_CHANNELS_5,
        fc: VGG_FC,
        about: "13 conv + 3 FC (VGG configuration D, as in the paper)",
    },
    Preset {
        name: "vgg19",
        convs: &[2, 2, 4, 4, 4],
        channels: VGG_CHANNELS_5,
        fc: VGG_FC,
        about: "16 conv + 3 FC (VGG configuration E)",
    },
    Preset {
        name: "bench",
        convs: &[2, 2, 2, 2],
        channels: &[32, 64, 128, 256],
        fc: &[256],
        about: "the fixed benchmark net: 8 conv (32-64-128-256) + FC 256 + head",
    },
];

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Preset {
    /// The preset scaled by `width`; no layer narrower than 4 units.
    pub fn scaled(&self, width: f64, batch_norm: bool) -> ModelSpec {
        let scale = |c: &u32| ((f64::from(*c) * width).round() as u32).max(4);
        ModelSpec {
            convs: self.convs.to_vec(),
            channels: self.channels.iter().map(scale).collect(),
            fc: self.fc.iter().map(scale).collect(),
            batch_norm,
        }
    }

    /// Smallest input side that survives one 2x2 pool per stage.
    pub fn min_input(&self) -> u32 {
        1 << self.convs.len()
    }
}
