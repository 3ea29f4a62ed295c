//! The text form of an estimate (`ablate plan --estimate`): the per-trial table, the sums per
//! study, the caches and the total, with every open number shown as open.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ablate_spec::Sweep;

/// A duration in the unit that fits it: seconds, minutes or hours.
pub fn duration_text(hours: f64) -> String {
    let s = hours * 3600.0;
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{hours:.2} h")
    }
}

/// The `known` time (summed over trials with a source) and how many trials have none.
fn hours_text(known: f64, open: usize) -> String {
    match open {
        0 => duration_text(known),
        _ if known > 0.0 => format!("{} + {open} trial(s) unknown", duration_text(known)),
        _ => format!("time unknown for {open} trial(s)"),
    }
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / f64::from(1u32 << 20))
}

pub fn render(sweep: &Sweep, estimate: &crate::Estimate) -> String {
    let crate::Estimate {
        costs,
        caches,
        declared,
    } = estimate;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sweep {}: cost estimate ({} trials)",
        sweep.name,
        costs.len()
    );
    for (name, d) in declared {
        let e = &d.size;
        let _ = writeln!(
            out,
            "data `{name}` is not on this machine: estimated from its declared size ({} images{}{}; every image counted usable{}), not a scan",
            e.images,
            e.identities
                .map(|k| format!(", {k} people"))
                .unwrap_or_default(),
            e.classes
                .map(|k| format!(", {k} classes"))
                .unwrap_or_default(),
            if d.ages_assumed {
                ", ages 0-100 for the age heads"
            } else {
                ""
            },
        );
    }
    let header = [
        "trial",
        "study",
        "train/val/test",
        "images processed",
        "parameters",
        "host memory",
        "GPU memory",
        "checkpoints + state",
        "time",
        "from",
    ];
    let rows: Vec<Vec<String>> = costs
        .iter()
        .map(|c| {
            vec![
                ablate_spec::short_id(&c.trial).to_string(),
                c.study.clone(),
                format!("{}/{}/{}", c.images[0], c.images[1], c.images[2]),
                c.processed.to_string(),
                c.parameters.to_string(),
                c.host_bytes.map_or("?".into(), mib),
                c.gpu_bytes.map_or("?".into(), mib),
                mib(c.checkpoint_bytes + c.state_bytes),
                c.hours.map_or("?".into(), duration_text),
                c.source.clone(),
            ]
        })
        .collect();
    out.push_str(&ablate_report::text::table(&header, &rows));
    if costs.iter().any(|c| c.gpu_bytes.is_some()) {
        // The two sources measure different things; say which is which.
        let _ = writeln!(
            out,
            "GPU memory: from a GPU table, what nvidia-smi showed in use while that net trained alone (its CUDA context included); from earlier trials, the largest peak of their tensors (the CUDA context and library workspaces come on top)."
        );
    }
    let mut studies: BTreeMap<&str, (u64, f64, usize, u64)> = BTreeMap::new();
    for c in costs {
        let e = studies.entry(&c.study).or_insert((0, 0.0, 0, 0));
        e.0 += c.processed;
        e.1 += c.hours.unwrap_or(0.0);
        e.2 += usize::from(c.hours.is_none());
        e.3 += c.checkpoint_bytes + c.state_bytes;
    }
    let _ = writeln!(
        out,
        "\nper study (a trial several studies share counts under its first):"
    );
    for (s, (p, h, open, d)) in &studies {
        let _ = writeln!(
            out,
            "  {s}: {p} images processed, {}, {} of checkpoints and states",
            hours_text(*h, *open),
            mib(*d)
        );
    }
    let cache_bytes: u64 = caches.values().map(|n| n.bytes).sum();
    let _ = writeln!(out, "\ncaches:");
    for (k, n) in caches {
        let what = if n.reused {
            "there, up to date"
        } else {
            "to build"
        };
        let _ = writeln!(out, "  {k}: {} images, {} ({what})", n.images, mib(n.bytes));
    }
    let hours: f64 = costs.iter().filter_map(|c| c.hours).sum();
    let open = costs.iter().filter(|c| c.hours.is_none()).count();
    let hours = match open {
        0 => hours_text(hours, 0),
        _ => format!(
            "{} (--calibrate, or earlier trials of their shapes, gives them)",
            hours_text(hours, open)
        ),
    };
    let peak = costs.iter().filter_map(|c| c.host_bytes).max();
    let _ = writeln!(
        out,
        "\ntotal: {} images processed, {hours}, peak host memory of one trial {}, disk {} (caches {} + checkpoints and states {})",
        costs.iter().map(|c| c.processed).sum::<u64>(),
        peak.map_or("?".into(), mib),
        mib(cache_bytes
            + costs
                .iter()
                .map(|c| c.checkpoint_bytes + c.state_bytes)
                .sum::<u64>()),
        mib(cache_bytes),
        mib(costs
            .iter()
            .map(|c| c.checkpoint_bytes + c.state_bytes)
            .sum::<u64>()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::duration_text;

    #[test]
    fn durations_are_shown_in_the_unit_that_fits() {
        assert_eq!(duration_text(2.0 / 3600.0), "2.0 s");
        assert_eq!(duration_text(40.0 / 3600.0), "40 s");
        assert_eq!(duration_text(0.25), "15.0 min");
        assert_eq!(duration_text(73.0), "73.00 h");
    }
}
