//! `ablate plan --estimate`: what a sweep will cost before it runs, per trial,
//! per study and in all: images processed, host memory, disk (caches,
//! checkpoints, resumable states) and compute hours. Unlike plain `plan` it reads
//! the data folders (a scan: file names and labels, no image decoded).
//!
//! Hours and memory come from a throughput whose source each row states: trials
//! of the same shape (network, input size, batch, device, threads) that already
//! ran in the sweep's database (their wall time per processed image, their peak
//! private memory), or `--calibrate`: a few training steps of the trial's own
//! network on this machine (its training and forward speed, and its peak private
//! memory). With neither, hours and memory are left open, never guessed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ablate_spec::{Sweep, Trial};
use ablate_train::model::HeadSizes;
use ablate_train::tasks::Heads;
use anyhow::Result;
use serde::Serialize;

/// What one trial costs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cost {
    pub(crate) trial: String,
    pub(crate) study: String,
    /// Training, validation and test images.
    pub(crate) images: [usize; 3],
    /// Images through the network: every epoch's training and validation, and
    /// the test set once.
    pub(crate) processed: u64,
    pub(crate) parameters: usize,
    /// Disk of its checkpoints and its resumable state, in bytes.
    pub(crate) checkpoint_bytes: u64,
    pub(crate) state_bytes: u64,
    pub(crate) host_bytes: Option<u64>,
    /// Peak GPU memory, from a GPU table's row.
    pub(crate) gpu_bytes: Option<u64>,
    pub(crate) hours: Option<f64>,
    /// Where hours and memory come from.
    pub(crate) source: String,
}

/// A dataset estimated from `[data.NAME] expected`: its size, and whether its
/// labels include ages (the stand-in spreads them over 0-100).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Declared {
    #[serde(flatten)]
    pub(crate) size: ablate_spec::types::Expected,
    pub(crate) ages_assumed: bool,
}

/// A trial's shape: what its speed and memory depend on.
fn shape(t: &Trial) -> String {
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

/// Throughput of a shape: seconds per processed image (all included) or
/// training and forward images/s, and peak private memory.
#[derive(Debug, Clone)]
enum Speed {
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

/// `--gpu-model NAME` with the table file it is looked up in (None: built in).
#[derive(Debug, Clone, Copy)]
pub struct GpuModel<'a> {
    pub name: &'a str,
    pub table: Option<&'a Path>,
}

pub fn run(
    sweep: &Sweep,
    calibrate: bool,
    gpu: Option<GpuModel<'_>>,
    db: Option<&Path>,
    json: bool,
) -> Result<()> {
    let tables = match gpu {
        Some(g) => crate::gpu_table::load(g.table)?,
        None => Vec::new(),
    };
    let table = match gpu {
        Some(g) => Some(crate::gpu_table::find(&tables, g.name, g.table)?),
        None => None,
    };
    let base = sweep.file.parent().unwrap_or(Path::new("")).to_path_buf();
    let output = std::path::absolute(&sweep.output)?;
    let mut scans: HashMap<String, ablate_data::Scan> = HashMap::new();
    let mut caches: BTreeMap<String, ablate_data::CacheNeed> = BTreeMap::new();
    let mut history = history(sweep, db)?;
    // Datasets not on this machine, estimated from their declared size.
    let mut declared: BTreeMap<String, Declared> = BTreeMap::new();
    let mut splits: HashMap<String, ablate_data::Parts> = HashMap::new();
    let mut costs = Vec::new();
    for t in &sweep.trials {
        let Some((name, spec)) = sweep.dataset_of(&t.config) else {
            continue;
        };
        if !scans.contains_key(name) {
            let scan = match (
                ablate_data::missing(&spec.source, &base),
                sweep.expected.get(name),
            ) {
                (None, _) => ablate_data::scan_dataset(spec, &base)?,
                (Some(_), Some(e)) => {
                    let gaps = ablate_data::declared_gaps(spec, e);
                    if !gaps.is_empty() {
                        anyhow::bail!(crate::InvalidInput(format!(
                            "data `{name}` is not on this machine, and [data.{name}] expected does not say how many {} it has; add {} to it",
                            gaps.join(" or "),
                            gaps.iter()
                                .map(|g| format!("`{g} = N`"))
                                .collect::<Vec<_>>()
                                .join(" and ")
                        )));
                    }
                    let scan = ablate_data::declared_scan(spec, e);
                    let ages = scan.samples.iter().any(|s| s.age.is_some());
                    declared.insert(
                        name.clone(),
                        Declared {
                            size: *e,
                            ages_assumed: ages,
                        },
                    );
                    scan
                }
                (Some(err), None) => {
                    return Err(anyhow::Error::new(err).context(format!(
                        "cannot estimate data `{name}`: it is not on this machine; to estimate before it is, declare its size in [data.{name}]: `expected = {{ images = N }}` (with `identities = K` for a face-recognition set, `classes = C` for a general-purpose one)"
                    )));
                }
            };
            scans.insert(name.clone(), scan);
        }
        let scan = &scans[name];
        let size = t.config.train.input_size;
        let cache = ablate_orchestrator::cache_of(sweep, &output, &t.config);
        let key = format!("{name} at {size}px");
        if let std::collections::btree_map::Entry::Vacant(e) = caches.entry(key) {
            e.insert(ablate_data::cache_need(spec, size, &cache, scan));
        }
        // What a trial's parts depend on (`trial_parts`): splitting a paper-size
        // set once per trial took most of a minute.
        let c = &t.config;
        let by = serde_json::to_string(&(
            name,
            &c.within,
            c.objective == ablate_spec::types::Objective::Identity,
            &c.data.split,
            c.fold,
        ))?;
        if !splits.contains_key(&by) {
            splits.insert(by.clone(), ablate_data::trial_parts(&scan.samples, c)?);
        }
        let parts = &splits[&by];
        let keep = |idx: &[usize]| {
            idx.iter()
                .filter(|i| Heads::usable(&t.config.objective, &scan.samples[**i]))
                .count()
        };
        let images = [keep(&parts.train), keep(&parts.val), keep(&parts.test)];
        let ages: Vec<f32> = parts
            .train
            .iter()
            .filter_map(|i| scan.samples[*i].age)
            .collect();
        let heads =
            Heads::new(&t.config.objective, &ages).sizes(scan.identities.len(), scan.classes.len());
        let parameters = parameters(t, heads)?;
        let epochs = u64::from(t.config.train.epochs);
        let processed = epochs * (images[0] + images[1]) as u64 + images[2] as u64;
        let multi = matches!(
            &t.config.objective,
            ablate_spec::types::Objective::Faces {
                gender: Some(_),
                age: Some(_)
            }
        );
        let weights = parameters as u64 * 4;
        let moments = match t.config.train.optimizer {
            ablate_spec::types::Optimizer::Adamw => 2,
            ablate_spec::types::Optimizer::Sgd => u64::from(t.config.train.momentum > 0.0),
        };
        let key = shape(t);
        // An asked-for GPU model's measurements price the CUDA trials, whatever
        // the database holds (it may come from another GPU), and they are never
        // calibrated on this machine instead.
        let cuda = t.exec.device == ablate_spec::types::Device::Cuda;
        let measured = table.filter(|_| cuda).map(|tb| (tb, tb.row_for(t)));
        // Calibrated where the database has no trial of this shape, or one
        // that recorded no memory.
        let known = matches!(
            history.get(&key),
            Some(Speed::History {
                host_bytes: Some(_),
                ..
            }) | Some(Speed::Calibrated { .. })
        );
        if calibrate && !known && measured.is_none() {
            let c = calibrated(t, heads)?;
            let merged = match (history.remove(&key), c) {
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
            history.insert(key.clone(), merged);
        }
        let mut gpu_bytes = None;
        let (hours, host_bytes, source) = match (measured, history.get(&key)) {
            (Some((tb, Some(r))), _) => {
                gpu_bytes = r.peak_gpu_mib.map(|m| (m * 1048576.0) as u64);
                (
                    Some(hours_at(
                        epochs,
                        images,
                        r.train_images_per_s,
                        r.forward_images_per_s,
                    )),
                    None,
                    format!("GPU table: {} ({})", tb.gpu, tb.measured),
                )
            }
            (Some((tb, None)), _) => (
                None,
                None,
                format!(
                    "unknown: the {} table has no row of this net, input size and batch",
                    tb.gpu
                ),
            ),
            (None, h) => match h {
                Some(Speed::History {
                    seconds_per_image,
                    host_bytes,
                    gpu_bytes: g,
                    trials,
                }) => {
                    gpu_bytes = *g;
                    (
                        Some(processed as f64 * seconds_per_image / 3600.0),
                        *host_bytes,
                        format!("{trials} earlier trial(s) of this shape"),
                    )
                }
                Some(Speed::Calibrated {
                    train_ips,
                    forward_ips,
                    host_bytes,
                }) => (
                    Some(hours_at(epochs, images, *train_ips, *forward_ips)),
                    *host_bytes,
                    "calibrated on this machine".to_string(),
                ),
                None => (
                    None,
                    None,
                    "unknown: --calibrate, or run some trials of this shape".into(),
                ),
            },
        };
        costs.push(Cost {
            trial: t.id.to_string(),
            study: t
                .studies
                .first()
                .cloned()
                .or_else(|| t.stages.first().map(|s| format!("pretrain:{s}")))
                .unwrap_or_default(),
            images,
            processed,
            parameters,
            checkpoint_bytes: weights * if multi { 2 } else { 1 },
            state_bytes: weights * (1 + moments),
            host_bytes,
            gpu_bytes,
            hours,
            source,
        });
    }
    if json {
        let v = serde_json::json!({ "trials": costs, "declared": declared, "caches": caches.iter().map(|(k, n)| serde_json::json!({"cache": k, "images": n.images, "bytes": n.bytes, "up_to_date": n.reused})).collect::<Vec<_>>() });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!(
            "{}",
            crate::estimate_render::render(sweep, &costs, &caches, &declared)
        );
    }
    Ok(())
}

/// Hours for `epochs` of training and validation and one test pass at the given
/// training and forward speeds (images/s).
fn hours_at(epochs: u64, images: [usize; 3], train_ips: f64, forward_ips: f64) -> f64 {
    let forward = epochs * images[1] as u64 + images[2] as u64;
    (epochs as f64 * images[0] as f64 / train_ips + forward as f64 / forward_ips) / 3600.0
}

/// Exact parameter count: the trial's network, built on the CPU.
fn parameters(t: &Trial, heads: HeadSizes) -> Result<usize> {
    let side = t.config.train.input_size as usize;
    Ok(ablate_train::model::parameter_count(
        &t.config.model,
        side,
        heads,
    )?)
}

/// A few training steps of the trial's network on random data, on this machine.
fn calibrated(t: &Trial, heads: HeadSizes) -> Result<Speed> {
    let o = ablate_train::bench::BenchOptions {
        depth: "trial".into(),
        width: 1.0,
        batch: t.config.train.batch_size as usize,
        size: t.config.train.input_size as usize,
        steps: 3,
        warmup: 1,
        batch_norm: t.config.model.batch_norm,
        device: ablate_train::trainer::device(&t.exec)
            .map_err(|e| anyhow::anyhow!(e.to_string()))?,
        ops: ablate_train::model::Ops::Fast,
        deadline: None,
    };
    let peak = ablate_train::memory::Peak::start();
    let model = t.config.model.clone();
    let r = crate::threads::on_pool(|| ablate_train::bench::run_model(&o, &model, heads))?
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    Ok(Speed::Calibrated {
        train_ips: r.images_per_s,
        forward_ips: 1e3 * r.batch as f64 / r.forward_ms.max(1e-9),
        host_bytes: peak.host(),
    })
}

/// Per shape, from succeeded trials in the sweep's database: wall seconds per
/// processed image, the largest peak private memory and GPU tensor peak.
fn history(sweep: &Sweep, db: Option<&Path>) -> Result<HashMap<String, Speed>> {
    let path = ablate_orchestrator::db_path(sweep, db);
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (rows, attempts) = rt.block_on(async {
        let store = ablate_store::Store::open_read_only(&path).await?;
        let rows = store.results(&sweep.name).await?;
        let attempts = store.provenance(&sweep.name).await?;
        store.close().await;
        anyhow::Ok((rows, attempts))
    })?;
    let by_id: HashMap<&str, &Trial> = sweep.trials.iter().map(|t| (t.id.as_str(), t)).collect();
    // Per shape: seconds, images processed, [host, GPU] peaks, trials.
    type Acc = (f64, u64, [Option<u64>; 2], usize);
    let mut acc: HashMap<String, Acc> = HashMap::new();
    for r in rows {
        let (Some(t), Some(result)) = (by_id.get(r.id.as_str()), r.result.as_ref()) else {
            continue;
        };
        let Some(a) = attempts
            .iter()
            .rev()
            .find(|a| a.trial_id == r.id && a.state == ablate_protocol::AttemptState::Succeeded)
        else {
            continue;
        };
        let n = |p: &str| {
            result
                .pointer(p)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        let epochs = u64::from(t.config.train.epochs);
        let processed = epochs * (n("/images/train") + n("/images/val")) + n("/images/test");
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
    Ok(acc
        .into_iter()
        .map(|(k, (s, n, [host, gpu], trials))| {
            (
                k,
                Speed::History {
                    seconds_per_image: s / n as f64,
                    host_bytes: host,
                    gpu_bytes: gpu,
                    trials,
                },
            )
        })
        .collect())
}
