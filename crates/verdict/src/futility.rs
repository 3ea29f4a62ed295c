//! Futility for adaptive seeds: at a look before the last, an open claim
//! stops receiving seeds when few continuations of the sweep would settle it
//! by the most seeds. A continuation keeps every result the sweep has and
//! draws the seeds still to come from them (each configuration's observed mean
//! and shrunk spread, as the advice draws, `advice.rs`); it is judged at the
//! last look's level with the claims settled so far kept, as the real sweep
//! would be. The chance is the share of continuations in which the claim ends
//! supported or contradicted.
//!
//! Stopping for futility never rejects anything: the stopped claim's routes
//! are held (p = 1) and their shares of alpha stay unspent, so the family-wise
//! error stays where the looks put it (a non-binding futility rule); what it
//! may cost is power, where the continuations misjudge a claim's chance.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Input;
use crate::advice::MoreSeeds;
use crate::judge::{Frozen, judge_look};
use crate::looks::Looks;
use crate::model::VerdictKind;

/// Continuations simulated per look.
const DRAWS: usize = 100;

/// Simulated seeds are numbered from here, clear of any real seed.
const FIRST_SIMULATED_SEED: u64 = 1 << 62;

/// Per claim in `open`: the share of continuations from look `k` (whose
/// trials `at` holds) to look `last` (`more` seeds per arm beyond them) that
/// settle it. None when the sweep has no spread to draw with yet.
pub(crate) fn chances(
    at: &Input<'_>,
    looks: &Looks,
    (k, last): (usize, usize),
    more: usize,
    frozen: &[Frozen],
    open: &[usize],
) -> Option<Vec<f64>> {
    let seeds = MoreSeeds::new(at.trials)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0x0f07_1e5e ^ k as u64);
    let mut settled = vec![0_usize; open.len()];
    // The real trials once; each continuation replaces only the drawn ones.
    let mut trials = at.trials.to_vec();
    for _ in 0..DRAWS {
        trials.truncate(at.trials.len());
        trials.extend(seeds.draw(FIRST_SIMULATED_SEED, more, &mut rng));
        let j = judge_look(
            &Input {
                trials: &trials,
                ..at.clone()
            },
            looks,
            last,
            frozen,
        );
        for (n, i) in settled.iter_mut().zip(open) {
            let v = j.verdicts.get(*i).map(|v| v.verdict);
            if matches!(v, Some(VerdictKind::Supported | VerdictKind::Contradicted)) {
                *n += 1;
            }
        }
    }
    Some(settled.iter().map(|n| *n as f64 / DRAWS as f64).collect())
}
