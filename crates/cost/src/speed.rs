//! Throughput by trial shape: from earlier trials in the database, from a
//! calibration on this machine, or from a GPU model's measured row.

use std::collections::HashMap;

use ablate_results::SweepResults;
use ablate_spec::types::Device;
use ablate_spec::{Sweep, Trial};
use ablate_store::Store;
use ablate_train::model::HeadSizes;

use crate::{CostError, Sources};

/// Throughput of a shape: seconds per processed image (all included) or
/// training and forward images/s, and peak private memory.
#[derive(Debug, Clone, PartialEq)]
pub enum Speed {
    History {
        seconds_per_image: f64,
        host_bytes: Option<u64>,
        /// The largest tensor peak on a GPU its trials recorded.
        gpu_bytes: Option<u64>,
        trials: usize,
    },
    Calibrated {
        train_ips: f64,
        forward_ips: f64,
        host_bytes: Option<u64>,
    },
}

/// Speeds by trial shape ([`shape`]).
#[derive(Debug, Clone, Default)]
pub struct History(HashMap<String, Speed>);

/// What one trial's hours and memory came out as, and from where.
pub(crate) struct Priced {
    pub hours: Option<f64>,
    pub host_bytes: Option<u64>,
    pub gpu_bytes: Option<u64>,
    pub source: String,
}

/// A trial's shape: what its speed and memory depend on.
pub fn shape(t: &Trial) -> String {
    let c = &t.config;
    format!(
        "{}|{}|{}|{:?}|{}",
        serde_json::to_string(&c.model).unwrap_or_default(),
        c.train.input_size,
        c.train.batch_size,
        t.exec.device,
        t.exec.threads
    )
}

/// Hours for `epochs` of training and validation and one test pass at the given
/// training and forward speeds (images/s).
pub(crate) fn hours_at(epochs: u64, images: [usize; 3], train_ips: f64, forward_ips: f64) -> f64 {
    let forward = epochs * images[1] as u64 + images[2] as u64;
    (epochs as f64 * images[0] as f64 / train_ips + forward as f64 / forward_ips) / 3600.0
}

impl History {
    /// The succeeded trials of `sweep` in its database.
    pub async fn load(store: &Store, sweep: &Sweep) -> Result<History, CostError> {
        let results = ablate_results::load(store, sweep).await?;
        Ok(History::from_results(sweep, &results))
    }

    /// Per shape, from succeeded trials: wall seconds per processed image, the
    /// largest peak private memory and GPU tensor peak.
    pub fn from_results(sweep: &Sweep, results: &SweepResults) -> History {
        let by_id: HashMap<&str, &Trial> =
            sweep.trials.iter().map(|t| (t.id.as_str(), t)).collect();
        // Per shape: seconds, images processed, [host, GPU] peaks, trials.
        type Acc = (f64, u64, [Option<u64>; 2], usize);
        let mut acc: HashMap<String, Acc> = HashMap::new();
        for r in &results.trials {
            let (Some(t), Some(_), Some(a)) =
                (by_id.get(r.id.as_str()), &r.result, r.succeeded_attempt())
            else {
                continue;
            };
            let [train, val, test] = r.images.unwrap_or_default();
            let epochs = u64::from(t.config.train.epochs);
            let processed = epochs * (train + val) + test;
            let Some(seconds) = a.seconds.filter(|_| processed > 0) else {
                continue;
            };
            let e = acc.entry(shape(t)).or_insert((0.0, 0, [None, None], 0));
            e.0 += seconds;
            e.1 += processed;
            let bytes = |b: Option<i64>| b.and_then(|b| u64::try_from(b).ok());
            e.2[0] = e.2[0].max(bytes(a.peak_host_bytes));
            e.2[1] = e.2[1].max(bytes(a.peak_gpu_bytes));
            e.3 += 1;
        }
        History(
            acc.into_iter()
                .map(|(k, (s, n, [host, gpu], trials))| {
                    let speed = Speed::History {
                        seconds_per_image: s / n as f64,
                        host_bytes: host,
                        gpu_bytes: gpu,
                        trials,
                    };
                    (k, speed)
                })
                .collect(),
        )
    }

    /// The speed recorded for `shape`.
    pub fn get(&self, shape: &str) -> Option<&Speed> {
        self.0.get(shape)
    }

    /// Hours and memory of trial `t` with `images` and `heads`. Calibrates its
    /// shape first when asked and nothing else gives its memory.
    pub(crate) fn price(
        &mut self,
        t: &Trial,
        images: [usize; 3],
        heads: HeadSizes,
        sources: Sources<'_>,
    ) -> Result<Priced, CostError> {
        let key = shape(t);
        // An asked-for GPU model's measurements price the CUDA trials, whatever
        // the database holds (it may come from another GPU), and they are never
        // calibrated on this machine instead.
        let cuda = t.exec.device == Device::Cuda;
        if let Some(table) = sources.gpu.filter(|_| cuda) {
            return Ok(from_table(table, t, images));
        }
        // Calibrated where the database has no trial of this shape, or one
        // that recorded no memory.
        let known = matches!(
            self.0.get(&key),
            Some(Speed::History {
                host_bytes: Some(_),
                ..
            }) | Some(Speed::Calibrated { .. })
        );
        if sources.calibrate && !known {
            let c = calibrated(t, heads)?;
            self.merge(key.clone(), c);
        }
        let epochs = u64::from(t.config.train.epochs);
        Ok(match self.0.get(&key) {
            Some(Speed::History {
                seconds_per_image,
                host_bytes,
                gpu_bytes,
                trials,
            }) => {
                let processed = epochs * (images[0] + images[1]) as u64 + images[2] as u64;
                Priced {
                    hours: Some(processed as f64 * seconds_per_image / 3600.0),
                    host_bytes: *host_bytes,
                    gpu_bytes: *gpu_bytes,
                    source: format!("{trials} earlier trial(s) of this shape"),
                }
            }
            Some(Speed::Calibrated {
                train_ips,
                forward_ips,
                host_bytes,
            }) => Priced {
                hours: Some(hours_at(epochs, images, *train_ips, *forward_ips)),
                host_bytes: *host_bytes,
                gpu_bytes: None,
                source: "calibrated on this machine".to_string(),
            },
            None => Priced {
                hours: None,
                host_bytes: None,
                gpu_bytes: None,
                source: "unknown: --calibrate, or run some trials of this shape".into(),
            },
        })
    }

    /// Adds a calibration: a history's time stays, its missing memory is the
    /// calibration's.
    fn merge(&mut self, key: String, calibrated: Speed) {
        let merged = match (self.0.remove(&key), calibrated) {
            (
                Some(Speed::History {
                    seconds_per_image,
                    gpu_bytes,
                    trials,
                    ..
                }),
                Speed::Calibrated { host_bytes, .. },
            ) => Speed::History {
                seconds_per_image,
                host_bytes,
                gpu_bytes,
                trials,
            },
            (_, c) => c,
        };
        self.0.insert(key, merged);
    }
}

/// A CUDA trial priced from a GPU model's table: its row's speeds, or open.
fn from_table(table: &crate::Table, t: &Trial, images: [usize; 3]) -> Priced {
    match table.row_for(t) {
        Some(r) => Priced {
            hours: Some(hours_at(
                u64::from(t.config.train.epochs),
                images,
                r.train_images_per_s,
                r.forward_images_per_s,
            )),
            host_bytes: None,
            gpu_bytes: r.peak_gpu_mib.map(|m| (m * 1048576.0) as u64),
            source: format!("GPU table: {} ({})", table.gpu, table.measured),
        },
        None => Priced {
            hours: None,
            host_bytes: None,
            gpu_bytes: None,
            source: format!(
                "unknown: the {} table has no row of this net, input size and batch",
                table.gpu
            ),
        },
    }
}

/// A few training steps of the trial's network on random data, on this
/// machine, in the kernels' own thread pool.
fn calibrated(t: &Trial, heads: HeadSizes) -> Result<Speed, CostError> {
    let o = ablate_train::bench::BenchOptions {
        depth: "trial".into(),
        width: 1.0,
        batch: t.config.train.batch_size as usize,
        size: t.config.train.input_size as usize,
        steps: 3,
        warmup: 1,
        batch_norm: t.config.model.batch_norm,
        device: ablate_train::trainer::device(&t.exec)?,
        ops: ablate_train::model::Ops::Fast,
        deadline: None,
        precision: t.config.train.precision,
    };
    let peak = ablate_train::memory::Peak::start();
    let model = t.config.model.clone();
    let r = ablate_train::pool::install(|| ablate_train::bench::run_model(&o, &model, heads))??;
    Ok(Speed::Calibrated {
        train_ips: r.images_per_s,
        forward_ips: 1e3 * r.batch as f64 / r.forward_ms.max(1e-9),
        host_bytes: peak.host(),
    })
}
