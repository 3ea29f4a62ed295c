//! `plan --estimate --gpu-model NAME`: throughput measured on a GPU model, from
//! the tables the GPU check writes (`scripts/gpu-check.sh` leaves
//! `$OUT/gpu-throughput.json`; `scripts/gpu_check.py merge` adds it to
//! docs/gpu-throughput.json, which this binary embeds). Rows are measurements of
//! one net, input size and batch each, never extrapolated: a trial whose shape has
//! no row gets no hours from a table.

use std::path::Path;

use ablate_spec::Trial;
use serde::Deserialize;

use crate::CostError;

/// docs/gpu-throughput.json as this binary was built.
const BUILT_IN: &str = include_str!("../../../docs/gpu-throughput.json");

/// docs/gpu-throughput.json (every GPU measured), or one check's own
/// gpu-throughput.json (one GPU).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum File {
    Tables { tables: Vec<Table> },
    One(Table),
}

/// One GPU model's measurements.
#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    /// As `nvidia-smi` names it, e.g. "NVIDIA H200".
    pub gpu: String,
    /// When, with what, by which command.
    pub measured: String,
    pub rows: Vec<Row>,
}

/// `ablate bench train` of one preset on the GPU.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub depth: String,
    pub width: f64,
    pub size: u32,
    pub batch: u32,
    pub batch_norm: bool,
    pub train_images_per_s: f64,
    pub forward_images_per_s: f64,
    /// The most `nvidia-smi` showed in use while it ran (CUDA context included).
    pub peak_gpu_mib: Option<f64>,
}

/// A model name compared loosely: case, punctuation and a leading vendor name do
/// not matter ("NVIDIA H200", "h200" and "nvidia-h200" are one model).
pub fn key(name: &str) -> String {
    let words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let skip = usize::from(words.len() > 1 && words[0] == "nvidia");
    words[skip..].join("-")
}

/// The tables of `file`, or the built-in ones.
pub fn load(file: Option<&Path>) -> Result<Vec<Table>, CostError> {
    let (text, what) = match file {
        Some(f) => (
            std::fs::read_to_string(f).map_err(|source| CostError::Read {
                path: f.to_path_buf(),
                source,
            })?,
            f.display().to_string(),
        ),
        None => (
            BUILT_IN.to_string(),
            "docs/gpu-throughput.json (built in)".into(),
        ),
    };
    let parsed: File =
        serde_json::from_str(&text).map_err(|source| CostError::NotATable { what, source })?;
    Ok(match parsed {
        File::Tables { tables } => tables,
        File::One(t) => vec![t],
    })
}

/// The table of GPU model `name`, or an error naming the models there are.
pub fn find<'a>(
    tables: &'a [Table],
    name: &str,
    file: Option<&Path>,
) -> Result<&'a Table, CostError> {
    if let Some(t) = tables.iter().find(|t| key(&t.gpu) == key(name)) {
        return Ok(t);
    }
    Err(CostError::UnknownGpu {
        name: name.to_string(),
        source_name: file.map_or("the built-in table".to_string(), |f| {
            f.display().to_string()
        }),
        known: tables.iter().map(|t| t.gpu.clone()).collect(),
    })
}

impl Table {
    /// The row measured with `t`'s net, input size and batch.
    pub fn row_for(&self, t: &Trial) -> Option<&Row> {
        let c = &t.config;
        self.rows.iter().find(|r| {
            r.size == c.train.input_size
                && r.batch == c.train.batch_size
                && ablate_spec::presets::find(&r.depth)
                    .is_some_and(|p| p.scaled(r.width, r.batch_norm) == c.model)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_match_loosely() {
        for n in ["NVIDIA H200", "h200", "nvidia-h200", "Nvidia_H200"] {
            assert_eq!(key(n), "h200", "{n}");
        }
        assert_eq!(key("NVIDIA GeForce RTX 4090"), "geforce-rtx-4090");
        assert_ne!(key("H100 SXM"), key("H100 PCIe"));
    }

    #[test]
    fn the_built_in_table_parses() {
        load(None).expect("docs/gpu-throughput.json is a table file");
    }
}
