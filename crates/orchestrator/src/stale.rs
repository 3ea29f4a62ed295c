//! Which stored results no longer stand for their trial: trained on other data
//! (the content digest of its cache changed), by another trainer (its version
//! changed), or from a pretraining trial that is itself stale. Pure: the caller
//! gives what was recorded and what is current.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ablate_protocol::BUILTIN_TRAINER_VERSION;
use ablate_spec::{Sweep, TrialId, short_id};
use ablate_store::RecordedResult;

use crate::caches::{self, Digests};

/// A stale result: the trial and why, in the sweep's run order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stale {
    pub trial: TrialId,
    pub reason: String,
    /// The attempt that made the stale result.
    pub attempt: i64,
}

/// The trainer version results of this sweep must have been made by: ablate's
/// own, or what `[worker] version` declares (None: not compared).
pub fn current_trainer(sweep: &Sweep) -> Option<String> {
    match &sweep.worker {
        None => Some(BUILTIN_TRAINER_VERSION.to_string()),
        Some(_) => sweep.worker_version.clone(),
    }
}

/// Stale results among `recorded`. A result with no recorded digest or version
/// (from an ablate before they were recorded) is not judged on it: rerunning
/// every old sweep on upgrade would cost more than it could reveal.
pub fn find(
    sweep: &Sweep,
    output: &Path,
    recorded: &[RecordedResult],
    digests: &Digests,
    trainer: Option<&str>,
) -> Vec<Stale> {
    let by_id: HashMap<&str, &RecordedResult> =
        recorded.iter().map(|r| (r.trial.as_str(), r)).collect();
    let mut stale: BTreeMap<&str, String> = BTreeMap::new();
    let mut out = Vec::new();
    // Run order puts every pretraining trial before the trials that start from it.
    for t in &sweep.trials {
        let Some(r) = by_id.get(t.id.as_str()) else {
            continue;
        };
        let now = digests.get(&caches::cache_of(sweep, output, &t.config));
        let reason = if let (Some(was), Some(now)) = (&r.data_digest, now)
            && was != now
        {
            Some(format!(
                "its data changed: trained on content {}, the cache now holds {}",
                short_digest(was),
                short_digest(now)
            ))
        } else if let (Some(was), Some(now)) = (&r.trainer_version, trainer)
            && was != now
        {
            Some(format!(
                "trainer version {was} made it; the current one is {now}"
            ))
        } else if let Some(d) = t.depends_on.iter().find(|d| stale.contains_key(d.as_str())) {
            Some(format!(
                "it starts from {}, whose result is stale",
                short_id(d.as_str())
            ))
        } else {
            // Started from a pretraining result that has since been replaced.
            t.config.init.as_deref().and_then(|p| {
                let used = r.init_attempt?;
                let now = by_id.get(p)?.attempt;
                (now != used).then(|| {
                    format!(
                        "it started from attempt {used} of {}, whose result is now attempt {now}'s",
                        short_id(p)
                    )
                })
            })
        };
        if let Some(reason) = reason {
            stale.insert(t.id.as_str(), reason.clone());
            out.push(Stale {
                trial: t.id.clone(),
                reason,
                attempt: r.attempt,
            });
        }
    }
    out
}

/// The stale results of `sweep` as its database and caches stand now, building
/// nothing (what `ablate status` shows), and the caches older than their data.
/// Caches not built yet (or from before digests) cannot be judged and count as
/// current.
pub async fn in_store(
    store: &ablate_store::Store,
    sweep: &Sweep,
) -> Result<(Vec<Stale>, Vec<std::path::PathBuf>), crate::RunError> {
    let output = std::path::absolute(&sweep.output).map_err(crate::RunError::io(
        "resolve the output folder",
        &sweep.output,
    ))?;
    let recorded = store.recorded_results(&sweep.name).await?;
    let caches = caches::existing(
        sweep,
        &output,
        sweep.trials.iter().map(|t| &t.config),
        HashMap::new(),
    );
    let trainer = current_trainer(sweep);
    let stale = find(
        sweep,
        &output,
        &recorded,
        &caches.digests,
        trainer.as_deref(),
    );
    Ok((stale, caches.outdated))
}

/// The first 12 characters of a digest, for messages: a stored one may be any
/// text (another tool's, a damaged row), so characters, never bytes.
fn short_digest(d: &str) -> String {
    d.chars().take(12).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OUT: &str = "/nowhere/out";

    /// One stage (on objects) and two study trials on faces, one starting from it.
    fn sweep() -> Sweep {
        let text = "[sweep]\nname = \"s\"\n[data.faces]\nkind = \"synthetic-faces\"\n\
            [data.objects]\nkind = \"synthetic-objects\"\n\
            [pretrain.general]\ntask = \"general\"\ndata = \"objects\"\n\
            [[study]]\nname = \"p\"\nfixed = { data = \"faces\", tasks = [\"gender\"], depth = \"vgg7\" }\ngrid.pretrain = [\"none\", \"general\"]\n";
        ablate_spec::parse(text, Path::new("/nowhere/s.toml")).unwrap()
    }

    /// Every trial recorded with digest `d` of its cache, version "1", attempt i+1.
    fn recorded(s: &Sweep, digests: &Digests) -> Vec<RecordedResult> {
        s.trials
            .iter()
            .enumerate()
            .map(|(i, t)| RecordedResult {
                trial: t.id.clone(),
                attempt: i as i64 + 1,
                init_attempt: t.config.init.as_ref().map(|_| 1),
                data_digest: digests
                    .get(&caches::cache_of(s, Path::new(OUT), &t.config))
                    .cloned(),
                trainer_version: Some("1".into()),
            })
            .collect()
    }

    fn digests(s: &Sweep, faces: &str, objects: &str) -> Digests {
        s.trials
            .iter()
            .map(|t| {
                let d = if t.config.data.source.kind() == "synthetic-faces" {
                    faces
                } else {
                    objects
                };
                (
                    caches::cache_of(s, Path::new(OUT), &t.config),
                    d.to_string(),
                )
            })
            .collect()
    }

    fn reasons(found: &[Stale]) -> Vec<&str> {
        found.iter().map(|s| s.reason.as_str()).collect()
    }

    #[test]
    fn a_stored_digest_of_any_text_is_shown_without_panicking() {
        let s = sweep();
        let d = digests(&s, "f1", "o1");
        // A digest whose 12th byte falls inside a character.
        let odd = "ééééééééé-not-hex";
        let mut r = recorded(&s, &d);
        r[1].data_digest = Some(odd.into());
        let found = find(&s, Path::new(OUT), &r, &d, Some("1"));
        assert!(
            found[0].reason.contains("trained on content ééééééééé-no,"),
            "{:?}",
            reasons(&found)
        );
    }

    #[test]
    fn nothing_is_stale_when_data_and_trainer_are_what_they_were() {
        let s = sweep();
        let d = digests(&s, "f1", "o1");
        let r = recorded(&s, &d);
        assert!(find(&s, Path::new(OUT), &r, &d, Some("1")).is_empty());
        // Unknowns are not judged: no recorded digest or version, no current one.
        let unknown: Vec<RecordedResult> = r
            .iter()
            .map(|x| RecordedResult {
                data_digest: None,
                trainer_version: None,
                ..x.clone()
            })
            .collect();
        assert!(
            find(
                &s,
                Path::new(OUT),
                &unknown,
                &digests(&s, "f2", "o2"),
                Some("2")
            )
            .is_empty()
        );
        assert!(find(&s, Path::new(OUT), &r, &Digests::new(), None).is_empty());
    }

    #[test]
    fn changed_faces_make_both_face_trials_stale_but_not_the_stage() {
        let s = sweep();
        let r = recorded(&s, &digests(&s, "f1", "o1"));
        let found = find(&s, Path::new(OUT), &r, &digests(&s, "f2", "o1"), Some("1"));
        assert_eq!(found.len(), 2);
        assert!(
            found
                .iter()
                .all(|x| s.trial(&x.trial).unwrap().kind == ablate_spec::TrialKind::Train)
        );
        assert!(
            reasons(&found)
                .iter()
                .all(|x| x.contains("its data changed")),
            "{found:?}"
        );
    }

    #[test]
    fn a_stale_stage_makes_its_dependants_stale() {
        let s = sweep();
        let r = recorded(&s, &digests(&s, "f1", "o1"));
        let found = find(&s, Path::new(OUT), &r, &digests(&s, "f1", "o2"), Some("1"));
        assert_eq!(
            found.len(),
            2,
            "the stage and the trial that starts from it: {found:?}"
        );
        assert!(found[0].reason.contains("its data changed"));
        assert!(
            found[1].reason.contains("whose result is stale"),
            "{}",
            found[1].reason
        );
    }

    #[test]
    fn another_trainer_version_makes_every_result_stale() {
        let s = sweep();
        let d = digests(&s, "f1", "o1");
        let found = find(&s, Path::new(OUT), &recorded(&s, &d), &d, Some("2"));
        assert_eq!(found.len(), 3);
        assert!(
            reasons(&found)
                .iter()
                .all(|x| x.contains("trainer version 1 made it; the current one is 2"))
        );
    }

    #[test]
    fn a_dependant_trained_on_a_since_replaced_pretraining_result_is_stale() {
        let s = sweep();
        let d = digests(&s, "f1", "o1");
        let mut r = recorded(&s, &d);
        // The stage (attempt 1) was rerun: its result is now attempt 7's.
        r[0].attempt = 7;
        let found = find(&s, Path::new(OUT), &r, &d, Some("1"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].reason.contains("started from attempt 1"),
            "{}",
            found[0].reason
        );
        assert_eq!(
            s.trial(&found[0].trial).unwrap().config.init.as_deref(),
            Some(r[0].trial.as_str())
        );
    }
}
