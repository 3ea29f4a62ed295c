//! What a report is made from: the sweep's results (`ablate-results`), the
//! settings and claims it is judged by, and what its data cannot show.

use ablate_spec::Sweep;
use ablate_store::Store;
use serde::Serialize;

pub use ablate_results::{Provenance, StudyInfo, SweepResults, TrialRow};
pub use ablate_spec::Metric;

/// The metrics a report can show, in its order.
pub const METRICS: [Metric; 7] = Metric::ALL;

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    #[serde(flatten)]
    pub results: SweepResults,
    /// `[report]` settings: alpha, power, smallest effects of interest.
    pub settings: ablate_verdict::Settings,
    /// The sweep's `[[claim]]`s.
    pub claims: Vec<ablate_spec::claims::ClaimSpec>,
    /// Results kept although stale (`ablate run --keep-stale`): trial id and why.
    /// The report crate cannot judge staleness (it needs the caches); the caller
    /// fills this in.
    pub stale: Vec<(ablate_spec::TrialId, String)>,
    /// The datasets trained on, with what their data cannot show.
    pub data: Vec<crate::datasets::DataInfo>,
    /// `[sweep] seeds = { min, max, step }`: judged look by look.
    pub adaptive: Option<ablate_spec::AdaptiveSeeds>,
}

impl Input {
    /// The report of `results`, read from `sweep`.
    pub fn new(sweep: &Sweep, results: SweepResults) -> Input {
        let images: Vec<Option<[u64; 3]>> = results.trials.iter().map(|t| t.images).collect();
        Input {
            data: crate::datasets::collect(sweep, &images),
            settings: ablate_verdict::Settings::from_spec(&sweep.report),
            claims: sweep.claims.clone(),
            stale: Vec::new(),
            adaptive: sweep.adaptive,
            results,
        }
    }
}

/// Reads everything the report needs for `sweep` from `store`.
pub async fn load(store: &Store, sweep: &Sweep) -> Result<Input, ablate_store::StoreError> {
    Ok(Input::new(sweep, ablate_results::load(store, sweep).await?))
}
