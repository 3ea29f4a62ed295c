//! The report of a fixed input: snapshot of report.md and results.csv, escaping,
//! partial sweeps, and the conclusions' verdicts.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use ablate_report::{Input, Provenance, StudyInfo, SweepResults, TrialRow, render, render_text};
use ablate_spec::{Membership, TrialKind};

fn trial(
    id: &str,
    study: &str,
    labels: &[(&str, &str)],
    seed: u64,
    metrics: &[(&str, f64)],
    state: &str,
) -> TrialRow {
    TrialRow {
        id: format!("{id:0<64}").into(),
        kind: TrialKind::Train,
        state: state.parse().unwrap(),
        studies: vec![Membership::parse(study)],
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        seed,
        fold: None,
        metrics: (metrics.iter())
            .map(|(k, v)| (k.parse().unwrap(), *v))
            .collect(),
        degenerate: None,
        curve: vec![0.5, 0.6],
        cs: None,
        images: Some([70, 15, 15]),
        result: None,
        attempts: Vec::new(),
    }
}

fn input() -> Input {
    let mut trials = Vec::new();
    // LDAE clearly best over 4 seeds; the second seed of regression is still pending.
    for (i, (enc, base)) in [
        ("classification", 9.0),
        ("regression-l2", 10.0),
        ("ldae-s2", 7.0),
    ]
    .iter()
    .enumerate()
    {
        for seed in 0..4u64 {
            let state = if *enc == "regression-l2" && seed == 1 {
                "pending"
            } else {
                "succeeded"
            };
            let m = [
                ("age_mae", base + 0.1 * seed as f64),
                ("age_mae_argmax", base + 0.5),
            ];
            trials.push(trial(
                &format!("e{i}{seed}"),
                "encoding",
                &[("encoding", enc), ("tasks", "age")],
                seed,
                if state == "pending" { &[] } else { &m },
                state,
            ));
        }
    }
    // A hostile label: Markdown and HTML must not interpret it.
    trials.push(trial(
        "h0",
        "encoding",
        &[("encoding", "<b>|x*"), ("tasks", "age")],
        0,
        &[("age_mae", 12.0)],
        "succeeded",
    ));
    let mut degenerate = trial(
        "d0",
        "encoding",
        &[("encoding", "classification"), ("tasks", "age")],
        9,
        &[("age_mae", 20.0)],
        "succeeded",
    );
    degenerate.degenerate = Some(vec![
        "age: MAE 20.0 is no better than predicting the training mean (19.9)".into(),
    ]);
    trials.push(degenerate);
    let results = SweepResults {
        sweep: "fixture".into(),
        description: Some("a fixed input for snapshot tests".into()),
        studies: vec![StudyInfo {
            name: "encoding".into(),
            description: None,
            axes: vec![(
                "encoding".into(),
                vec![
                    "classification".into(),
                    "regression-l2".into(),
                    "ldae-s2".into(),
                    "<b>|x*".into(),
                ],
            )],
        }],
        stages: BTreeMap::new(),
        trials,
        provenance: Provenance {
            spec_hash: "abc123".into(),
            overrides: Vec::new(),
            versions: vec!["0.1.0".into()],
            commits: vec!["deadbeef".into()],
            devices: vec!["cpu on host".into()],
            hours: [("cpu".to_string(), 0.25)].into_iter().collect(),
            peak_host: Some((412 << 20, "0123456789abcdef".into(), 3)),
            peak_gpu: None,
            study_hours: [("s".to_string(), 0.25)].into_iter().collect(),
        },
    };
    Input {
        results,
        settings: Default::default(),
        claims: Vec::new(),
        stale: Vec::new(),
        adaptive: None,
        data: Vec::new(),
    }
}

#[test]
fn report_markdown_snapshot() {
    let r = render_text(&input());
    insta::assert_snapshot!("report_md", r.markdown);
    // LDAE beats regression-l2 clearly, but not the noisy classification arm
    // (one flagged seed) or the one-seed arm: the claim stays open, with the
    // seeds it would take.
    assert!(
        r.markdown
            .contains("**LDAE is the best age encoding**: inconclusive."),
        "{}",
        r.markdown
    );
    // The advice names the count and the route, from simulated sweeps.
    assert!(
        r.markdown
            .contains("seeds per arm would likely settle it as supported: ")
    );
    assert!(r.markdown.contains(" (supported) |"), "the table's cell");
    // Clear on its own, but its route needs every pair: no decision yet.
    assert!(r.markdown.contains(
        "regression-l2: difference -3.017 [95% CI -3.321, -2.712], Hedges g -18.27; Welch t(4.0) = -27.60, p < 0.0001, adjusted p < 0.0001; N = 4 vs 3 (1 seed(s) unfinished, left out) → passes at its route's level (the route waits on its other tests)"
    ));
    assert!(r.markdown.contains("\\<b\\>\\|x\\*"), "labels are escaped");
    assert!(
        r.markdown.contains("| regression-l2 | 3/4 |"),
        "a pending seed is shown, not dropped"
    );
    assert!(
        r.markdown
            .contains("\"Age needs a deeper network than gender (from scratch)\" (no study varies \\`depth\\`)"),
        "{}",
        r.markdown
    );
}

/// Results kept with `--keep-stale` are called out before anything is read off them.
#[test]
fn kept_stale_results_are_called_out_first() {
    let mut i = input();
    assert!(!render_text(&i).markdown.contains("stale"));
    let id = i.results.trials[0].id.clone();
    i.stale = vec![(
        id.clone(),
        "its data changed: trained on content aaa, the cache now holds bbb".into(),
    )];
    let md = render_text(&i).markdown;
    let warning = md
        .find("**1 result is stale**")
        .unwrap_or_else(|| panic!("{md}"));
    assert!(warning < md.find("## Verdicts on the claims of fixture").unwrap());
    assert!(
        md.contains(&format!("- `{}`", ablate_spec::short_id(&id))),
        "{md}"
    );
    assert!(
        md.contains("its data changed: trained on content aaa"),
        "{md}"
    );
}

#[test]
fn results_csv_snapshot() {
    let r = render_text(&input());
    insta::assert_snapshot!("results_csv", r.csv);
    let header = r.csv.lines().next().unwrap();
    assert!(header.starts_with("trial_id,kind,state,studies,seed,fold,encoding,tasks,gender_accuracy,age_mae,age_mae_argmax"), "{header}");
    assert_eq!(r.csv.lines().count(), 1 + 14);
    let v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
    assert_eq!(v["trials"].as_array().unwrap().len(), 14);
}

/// Bars show every seed as a dot and a 95% interval; a read-out a configuration
/// does not have is "n/a", not "missing"; the legend has its own strip above the
/// plot, so it never covers a bar.
#[test]
fn bar_charts_show_seeds_not_applicable_and_a_legend_off_the_data() {
    let r = render(&input());
    let age = r.charts[0]
        .1
        .iter()
        .find(|c| c.name == "encoding-age")
        .unwrap();
    // Finished seeds with age MAE: classification 5 (one flagged), regression-l2 3,
    // ldae-s2 4, the odd label 1; with ArgMax: classification 4 (the flagged run
    // reported none), regression-l2 3, ldae-s2 4, the odd label n/a.
    // plotters writes each text's content on its own line.
    let dots = age.svg.matches("<circle").count();
    assert_eq!(dots, (5 + 3 + 4 + 1) + (4 + 3 + 4));
    assert!(
        age.svg.contains("\nn/a\n</text>"),
        "the odd label has no ArgMax read-out"
    );
    assert!(
        !age.svg.contains("\nmissing\n</text>"),
        "nothing is still due in that panel"
    );
    // Legend text sits in the top strip (y < 30), above the caption and plot.
    let at = age.svg.find("\nArgMax\n</text>").unwrap();
    let tag = &age.svg[age.svg[..at].rfind("<text").unwrap()..at];
    let y: f64 = tag
        .split("y=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(y < 30.0, "legend at y = {y}: {tag}");
}

#[test]
fn charts_are_valid_png_and_svg_of_the_expected_size_and_series() {
    let r = render(&input());
    let (study, charts) = &r.charts[0];
    assert_eq!(study, "encoding");
    let age = charts
        .iter()
        .find(|c| c.name == "encoding-age")
        .expect("an age panel");
    assert_eq!(
        age.series,
        vec!["Expected value", "ArgMax"],
        "both read-outs side by side"
    );
    let img = image::load_from_memory(&age.png).unwrap();
    assert_eq!((img.width(), img.height()), (900, 480));
    // Not blank: the bars and text put many distinct colours on the canvas.
    let rgb = img.to_rgb8();
    let distinct: std::collections::HashSet<[u8; 3]> = rgb.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 20, "{} colours", distinct.len());
    assert!(
        age.svg.starts_with("<svg")
            && age.svg.contains("width=\"900\"")
            && age.svg.contains("Expected value")
    );
    assert!(
        charts.iter().any(|c| c.name == "encoding-curves-age"),
        "learning curves"
    );
    assert!(r.markdown.contains(
        "![encoding: age MAE (years), mean and 95% CI, each seed a dot](encoding-age.png)"
    ));
    assert!(
        r.html.contains("<img src=\"data:image/png;base64,iVBOR"),
        "charts embedded"
    );
    assert!(
        !r.html.contains("http://") && !r.html.contains("https://"),
        "nothing fetched"
    );
    let dir = std::env::temp_dir().join(format!("ablate-report-test-{}", std::process::id()));
    let files = ablate_report::write(&r, &dir).unwrap();
    assert!(files.iter().any(|f| f.ends_with("encoding-age.svg")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// tables.tex: a booktabs table per study, best bold, a dagger where a value is
/// significantly worse than the best after adjustment, LaTeX-escaped labels.
#[test]
fn latex_tables_mark_the_best_and_significant_differences() {
    let r = render_text(&input());
    let t = &r.latex;
    assert!(
        t.contains("\\usepackage{booktabs}")
            && t.contains("\\toprule")
            && t.contains("\\bottomrule"),
        "{t}"
    );
    assert!(t.contains("\\label{tab:ablate-encoding}"));
    // ldae-s2 is best on age MAE; regression-l2 is far worse with little spread.
    let row = |name: &str| {
        t.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {t}"))
            .to_string()
    };
    assert!(
        row("ldae-s2").contains("\\textbf{7.150 $\\pm$"),
        "{}",
        row("ldae-s2")
    );
    assert!(
        row("regression-l2").contains("$^\\dagger$"),
        "{}",
        row("regression-l2")
    );
    assert!(
        !row("classification")
            .split('&')
            .nth(2)
            .unwrap()
            .contains("dagger"),
        "noisy arm not significant"
    );
    assert!(
        t.contains("\\textless{}b\\textgreater{}|x*"),
        "labels escaped: {t}"
    );
}

/// Seeds that agree exactly (no spread), arms of one seed, and pending seeds give
/// "not testable" and "-", never NaN or infinity, anywhere in the report.
#[test]
fn no_spread_and_single_seeds_never_print_nan() {
    let mut i = input();
    for t in &mut i.results.trials {
        for v in t.metrics.values_mut() {
            *v = 10.0;
        }
    }
    let r = render_text(&i);
    for bad in ["NaN", "inf"] {
        assert!(!r.markdown.contains(bad), "{bad} in:\n{}", r.markdown);
        assert!(!r.latex.contains(bad), "{bad} in:\n{}", r.latex);
    }
    assert!(
        r.markdown
            .contains("not testable: no seed-to-seed spread in either arm"),
        "{}",
        r.markdown
    );
}

fn data(
    name: &str,
    kind: &str,
    synthetic: bool,
    identities: bool,
    recognition: bool,
) -> ablate_report::DataInfo {
    ablate_report::DataInfo {
        name: name.into(),
        kind: kind.into(),
        used_by: vec![if recognition {
            "pretraining face".into()
        } else {
            "study s".into()
        }],
        images: Some([70, 15, 15]),
        synthetic,
        identities,
        recognition,
        studied: !recognition,
    }
}

/// The report says when its faces are generated, and when a set that names no
/// person may hold one person in two parts or in the pretraining set.
#[test]
fn the_data_section_says_what_the_data_cannot_show() {
    let mut i = input();
    i.data = vec![data("faces", "synthetic-faces", true, true, false)];
    let md = render_text(&i).markdown;
    assert!(md.contains("## Data"), "{md}");
    assert!(md.contains("**Synthetic data.** `faces`"), "{md}");
    let banner = md.find("> **On synthetic faces.**").expect("a banner");
    assert!(
        banner < md.find("| claim | verdict").unwrap(),
        "above the verdicts: {md}"
    );
    assert!(!md.contains("No person identities"), "{md}");

    i.data = vec![
        data("utk", "utkface", false, false, false),
        data("lfw", "lfw", false, true, true),
    ];
    let md = render_text(&i).markdown;
    assert!(
        !md.contains("Synthetic data") && !md.contains("On synthetic faces"),
        "{md}"
    );
    assert!(
        md.contains("`utk` (utkface) names no person, so it is split by image: the same person may appear in its training and test parts, and in `lfw` that face-recognition pretraining trains on."),
        "{md}"
    );
    assert!(
        md.contains("| utk | utkface | study s | 70 / 15 / 15 |"),
        "{md}"
    );
}
