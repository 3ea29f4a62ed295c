//! The verdict section of a sweep of one's own claims: titled for the sweep, its
//! own claims first, the paper's only where its studies can judge them, and a
//! verdict that rests on runs flagged degenerate never shown as settled.
#![allow(clippy::unwrap_used)]

mod common;

use ablate_report::render_text;
use common::input;

/// The verdict section: from its heading to the next one.
fn section(md: &str) -> &str {
    let start = md
        .find("## Verdicts on the claims of mine")
        .unwrap_or_else(|| panic!("{md}"));
    let rest = &md[start + 2..];
    &md[start..start + 2 + rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn the_sweeps_own_claims_come_first_and_unjudgeable_paper_claims_take_one_line() {
    let vgg9 = [0.90, 0.91, 0.90, 0.89];
    let i = input(&[0.80, 0.81, 0.80, 0.79], &vgg9, &[], "");
    let md = render_text(&i).markdown;
    let s = section(&md);
    assert!(!md.contains("The paper's conclusions"), "{s}");
    let rows: Vec<&str> = s.lines().filter(|l| l.starts_with("| ")).collect();
    assert!(
        rows[2].starts_with("| the deeper net recognises gender better | **supported** |"),
        "{s}"
    );
    assert!(
        !rows.iter().any(|r| r.contains("not judged")),
        "no table row for a claim the studies cannot judge: {s}"
    );
    let line = s
        .lines()
        .find(|l| l.starts_with("Not judged on this sweep"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(line.contains("\"LDAE is the best age encoding\""), "{line}");
    assert!(line.contains("paper_claims = false"), "{line}");
    let i = input(
        &[0.80, 0.81, 0.80, 0.79],
        &vgg9,
        &[],
        "[report]\npaper_claims = false\n",
    );
    let md = render_text(&i).markdown;
    assert!(!section(&md).contains("Not judged"), "{md}");
    assert!(!section(&md).contains("LDAE"), "{md}");
}

#[test]
fn a_verdict_that_rests_on_flagged_runs_is_not_shown_settled() {
    // vgg7 looks worse only through six collapsed seeds at chance.
    let vgg7 = [0.80, 0.81, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
    let vgg9 = [0.80, 0.81, 0.80, 0.79, 0.81, 0.80];
    let i = input(
        &vgg7,
        &vgg9,
        &[2, 3, 4, 5, 6, 7],
        "[report]\npaper_claims = false\n",
    );
    let md = render_text(&i).markdown;
    let s = section(&md);
    let row = s
        .lines()
        .find(|l| l.starts_with("| the deeper net"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        row.contains(
            "**inconclusive** (supported only with the 6 flagged runs of its study, inconclusive without them: not settled)"
        ),
        "{row}"
    );
    // The same runs without flags: a settled verdict.
    let i = input(&vgg7, &vgg9, &[], "[report]\npaper_claims = false\n");
    let md = render_text(&i).markdown;
    assert!(section(&md).contains("| **supported** |"), "{md}");
}

#[test]
fn with_no_test_computable_yet_the_section_says_so() {
    let i = input(&[0.8], &[0.9], &[], "[report]\npaper_claims = false\n");
    let md = render_text(&i).markdown;
    assert!(
        section(&md).contains("No test behind these verdicts could be computed yet"),
        "{md}"
    );
    assert!(!md.contains("All 0 tests"), "{md}");
}
