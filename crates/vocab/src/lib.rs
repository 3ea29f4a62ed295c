//! `ablate-vocab`: the words every crate of the workspace shares, typed, so each
//! is spelled once: the metrics a result gives (`Metric`: key, label, unit,
//! direction), a trial's id (`TrialId`), what a trial belongs to
//! (`Membership`: a study or a pretraining stage) and where it runs
//! (`BackendKind`).
//!
//! It depends on serde only and knows nothing of sweeps, results, SQL or
//! training: how a metric is read from a result is the protocol's.

mod backend;
mod id;
mod membership;
mod metric;

pub use backend::BackendKind;
pub use id::{TrialId, short_id};
pub use membership::Membership;
pub use metric::{Metric, UnknownMetric};

#[cfg(test)]
mod tests {
    use super::BackendKind;

    #[test]
    fn backend_names_round_trip() {
        for b in [BackendKind::Local, BackendKind::Slurm] {
            assert_eq!(BackendKind::parse(b.as_str()), Some(b));
            assert!(b == b.as_str());
        }
        assert_eq!(BackendKind::parse("ssh"), None);
    }
}
