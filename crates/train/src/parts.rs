//! The images a trial uses: its cache, checked against what the orchestrator
//! prepared, and its training, validation and test parts after the same
//! filtering by task the trainer applies. `ablate data split` exports them.

use ablate_data::Cache;

use crate::error::TrainError;
use crate::protocol::TrialInput;
use crate::tasks::Heads;

pub(crate) struct Data {
    pub cache: Cache,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
    /// The split's digest and the cache's content digest.
    pub digest: String,
    pub content: String,
}

pub(crate) fn load_data(input: &TrialInput) -> Result<Data, TrainError> {
    let cfg = &input.config;
    let cache = Cache::load(&input.cache)?;
    if cache.size() != cfg.train.input_size {
        return Err(TrainError::CacheSize {
            cache: input.cache.clone(),
            has: cache.size(),
            needs: cfg.train.input_size,
        });
    }
    let content = cache.content_digest();
    if let Some(want) = input.data_digest.as_deref().filter(|w| *w != content) {
        return Err(TrainError::DataChanged {
            cache: input.cache.clone(),
            has: content,
            expects: want.to_string(),
        });
    }
    let parts = ablate_data::trial_parts(&cache.samples, cfg)?;
    let keep = |idx: Vec<usize>| -> Vec<usize> {
        idx.into_iter()
            .filter(|i| Heads::usable(&cfg.objective, &cache.samples[*i]))
            .collect()
    };
    let (train, val, test) = (
        keep(parts.train.clone()),
        keep(parts.val.clone()),
        keep(parts.test.clone()),
    );
    for (name, part) in [("training", &train), ("validation", &val), ("test", &test)] {
        if part.is_empty() {
            return Err(TrainError::EmptyPart {
                part: name,
                needs: Heads::needs(&cfg.objective),
                images: cache.len(),
            });
        }
    }
    Ok(Data {
        cache,
        train,
        val,
        test,
        digest: parts.digest(),
        content,
    })
}

/// The images a trial trains, validates and tests on, as cache positions, after
/// the same checks and the same filtering by task the trainer applies.
#[derive(Debug)]
pub struct TrialSplit {
    pub cache: Cache,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// A trial's parts exactly as [`run`] would use them: `ablate data split` exports
/// them so another framework can train on the same images.
pub fn trial_split(input: &TrialInput) -> Result<TrialSplit, TrainError> {
    let d = load_data(input)?;
    Ok(TrialSplit {
        cache: d.cache,
        train: d.train,
        val: d.val,
        test: d.test,
    })
}
