//! A trial's images, as training will count them: its dataset scanned once (or
//! stood in for by its declared size), its parts split once per distinct
//! split, and its samples filtered by the trainer's task filter.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use ablate_data::{CacheNeed, Parts, Scan};
use ablate_spec::types::Objective;
use ablate_spec::{Sweep, Trial};
use ablate_train::model::HeadSizes;
use ablate_train::tasks::Heads;

use crate::{CostError, Declared};

/// What one trial trains, validates and tests on, and its heads' sizes.
pub(crate) struct Counted {
    pub images: [usize; 3],
    pub heads: HeadSizes,
}

/// Scans, splits and cache needs, shared by a sweep's trials.
pub(crate) struct Data<'a> {
    sweep: &'a Sweep,
    base: PathBuf,
    output: PathBuf,
    scans: HashMap<String, Scan>,
    splits: HashMap<String, Parts>,
    caches: BTreeMap<String, CacheNeed>,
    declared: BTreeMap<String, Declared>,
}

impl<'a> Data<'a> {
    pub fn new(sweep: &'a Sweep, base: PathBuf, output: PathBuf) -> Self {
        Data {
            sweep,
            base,
            output,
            scans: HashMap::new(),
            splits: HashMap::new(),
            caches: BTreeMap::new(),
            declared: BTreeMap::new(),
        }
    }

    /// The trial's counts; `None` for a trial on no dataset.
    pub fn count(&mut self, t: &Trial) -> Result<Option<Counted>, CostError> {
        let Some((name, spec)) = self.sweep.dataset_of(&t.config) else {
            return Ok(None);
        };
        self.scan(name, spec)?;
        let scan = &self.scans[name];
        let size = t.config.train.input_size;
        let cache = ablate_orchestrator::cache_of(self.sweep, &self.output, &t.config);
        self.caches
            .entry(format!("{name} at {size}px"))
            .or_insert_with(|| ablate_data::cache_need(spec, size, &cache, scan));
        // What a trial's parts depend on (`trial_parts`): splitting a paper-size
        // set once per trial took most of a minute.
        let c = &t.config;
        let by = serde_json::to_string(&(
            name,
            &c.within,
            c.objective == Objective::Identity,
            &c.data.split,
            c.fold,
        ))?;
        if !self.splits.contains_key(&by) {
            let parts = ablate_data::trial_parts(&scan.samples, c)?;
            self.splits.insert(by.clone(), parts);
        }
        let parts = &self.splits[&by];
        let keep = |idx: &[usize]| {
            idx.iter()
                .filter(|i| crate::usable(t, &scan.samples[**i]))
                .count()
        };
        let images = [keep(&parts.train), keep(&parts.val), keep(&parts.test)];
        let ages: Vec<f32> = parts
            .train
            .iter()
            .filter_map(|i| scan.samples[*i].age)
            .collect();
        let heads =
            Heads::new(&c.objective, &ages).sizes(scan.identities.len(), scan.classes.len());
        Ok(Some(Counted { images, heads }))
    }

    /// Scans dataset `name` once: its files, or a stand-in from its declared size.
    fn scan(
        &mut self,
        name: &str,
        spec: &ablate_spec::types::DatasetSpec,
    ) -> Result<(), CostError> {
        if self.scans.contains_key(name) {
            return Ok(());
        }
        let scan = match (
            ablate_data::missing(&spec.source, &self.base),
            self.sweep.expected.get(name),
        ) {
            (None, _) => ablate_data::scan_dataset(spec, &self.base)?,
            (Some(_), Some(e)) => {
                let gaps = ablate_data::declared_gaps(spec, e);
                if !gaps.is_empty() {
                    return Err(CostError::Undeclared {
                        name: name.to_string(),
                        gaps: gaps.iter().map(ToString::to_string).collect(),
                    });
                }
                let scan = ablate_data::declared_scan(spec, e);
                let ages_assumed = scan.samples.iter().any(|s| s.age.is_some());
                self.declared.insert(
                    name.to_string(),
                    Declared {
                        size: *e,
                        ages_assumed,
                    },
                );
                scan
            }
            (Some(source), None) => {
                return Err(CostError::NotHere {
                    name: name.to_string(),
                    source,
                });
            }
        };
        self.scans.insert(name.to_string(), scan);
        Ok(())
    }

    /// The caches the trials need and the datasets estimated from their size.
    pub fn finish(self) -> (BTreeMap<String, CacheNeed>, BTreeMap<String, Declared>) {
        (self.caches, self.declared)
    }
}
