//! The statistics against scipy and statsmodels: reference.json holds the values
//! and the calls that produced them (`produced_by`; reference.py regenerates it).
#![allow(clippy::unwrap_used)]

use ablate_verdict::stats;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("reference.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-9 + 1e-7 * want.abs();
    assert!(
        (got - want).abs() <= tol,
        "{what}: {got} vs scipy/statsmodels {want}"
    );
}

#[test]
fn welch_matches_scipy() {
    for (i, c) in fixture()["welch"].as_array().unwrap().iter().enumerate() {
        let (a, b) = (floats(&c["a"]), floats(&c["b"]));
        let w = stats::welch(&a, &b, 0.05).unwrap();
        close(w.t, c["t"].as_f64().unwrap(), &format!("case {i} t"));
        close(w.df, c["df"].as_f64().unwrap(), &format!("case {i} df"));
        close(w.p, c["p"].as_f64().unwrap(), &format!("case {i} p"));
        let ci = floats(&c["ci"]);
        close(w.ci.0, ci[0], &format!("case {i} ci low"));
        close(w.ci.1, ci[1], &format!("case {i} ci high"));
        close(
            w.g,
            c["hedges_g"].as_f64().unwrap(),
            &format!("case {i} Hedges g"),
        );
    }
}

#[test]
fn tost_matches_statsmodels() {
    for (i, c) in fixture()["welch"].as_array().unwrap().iter().enumerate() {
        let (a, b) = (floats(&c["a"]), floats(&c["b"]));
        let t = stats::tost(&a, &b, c["margin"].as_f64().unwrap(), 0.05).unwrap();
        close(
            t.p,
            c["tost_p"].as_f64().unwrap(),
            &format!("case {i} TOST p"),
        );
        close(
            t.p_lower,
            c["tost_p_lower"].as_f64().unwrap(),
            &format!("case {i} lower p"),
        );
        close(
            t.p_upper,
            c["tost_p_upper"].as_f64().unwrap(),
            &format!("case {i} upper p"),
        );
    }
}

#[test]
fn holm_matches_statsmodels() {
    let f = fixture();
    let got = stats::holm(&floats(&f["holm"]["p"]));
    for (g, w) in got.iter().zip(floats(&f["holm"]["adjusted"])) {
        close(*g, w, "Holm-adjusted p");
    }
}

/// statsmodels solves for a real n from the noncentral t; ours is the iterated
/// t approximation, rounded up: it may exceed the exact n by at most one seed.
#[test]
fn seeds_needed_match_statsmodels_power() {
    for c in fixture()["power"].as_array().unwrap() {
        let n = stats::seeds_for_difference(
            c["sd"].as_f64().unwrap(),
            c["effect"].as_f64().unwrap(),
            c["alpha"].as_f64().unwrap(),
            c["power"].as_f64().unwrap(),
        )
        .unwrap() as f64;
        let exact = c["n"].as_f64().unwrap();
        assert!(
            n >= exact.ceil() && n <= exact.ceil() + 1.0,
            "{n} seeds vs statsmodels {exact}: {c}"
        );
    }
}

#[test]
fn degenerate_inputs_are_untestable_not_nan() {
    assert_eq!(
        stats::welch(&[1.0], &[2.0, 3.0], 0.05),
        Err(stats::Untestable::TooFew { a: 1, b: 2 })
    );
    assert_eq!(
        stats::welch(&[1.0, 1.0], &[2.0, 2.0], 0.05),
        Err(stats::Untestable::NoSpread)
    );
    assert_eq!(stats::seeds_for_difference(f64::NAN, 0.5, 0.05, 0.8), None);
    assert!(stats::holm(&[]).is_empty());
}

#[test]
fn contrasts_match_scipy() {
    for (i, c) in fixture()["contrast"].as_array().unwrap().iter().enumerate() {
        let arms: Vec<Vec<f64>> = c["arms"].as_array().unwrap().iter().map(floats).collect();
        let coef = floats(&c["c"]);
        let input: Vec<(&[f64], f64)> = arms.iter().map(Vec::as_slice).zip(coef).collect();
        let w = stats::contrast(&input, 0.05).unwrap();
        close(
            w.diff,
            c["diff"].as_f64().unwrap(),
            &format!("contrast {i} estimate"),
        );
        close(w.t, c["t"].as_f64().unwrap(), &format!("contrast {i} t"));
        close(w.df, c["df"].as_f64().unwrap(), &format!("contrast {i} df"));
        close(w.p, c["p"].as_f64().unwrap(), &format!("contrast {i} p"));
    }
    // Two arms with (1, -1) is Welch's test.
    let (a, b) = ([1.0, 2.0, 4.0], [0.5, 0.7, 0.2, 0.1]);
    let (w, c) = (
        stats::welch(&a, &b, 0.05).unwrap(),
        stats::contrast(&[(&a, 1.0), (&b, -1.0)], 0.05).unwrap(),
    );
    close(c.t, w.t, "t");
    close(c.p, w.p, "p");
}

/// The one-sided tests behind "no worse within a margin" are TOST's halves.
#[test]
fn one_sided_tests_are_the_halves_of_tost() {
    for c in fixture()["welch"].as_array().unwrap() {
        let (a, b) = (floats(&c["a"]), floats(&c["b"]));
        let m = c["margin"].as_f64().unwrap();
        let (_, below) = stats::one_sided(&a, &b, m, false, 0.05).unwrap();
        let (_, above) = stats::one_sided(&a, &b, -m, true, 0.05).unwrap();
        close(below, c["tost_p_upper"].as_f64().unwrap(), "diff < margin");
        close(above, c["tost_p_lower"].as_f64().unwrap(), "diff > -margin");
    }
}

/// The t interval of a mean: scipy.stats.t.interval(0.95, n - 1, loc=mean, scale=sem)
/// for [1, 2, 4] is (-1.461249700263426, 6.1279163669300925) (scipy 1.17.1).
#[test]
fn mean_ci_matches_scipy() {
    let (lo, hi) = stats::mean_ci(&[1.0, 2.0, 4.0], 0.05).unwrap();
    close(lo, -1.461_249_700_263_426, "low");
    close(hi, 6.127_916_366_930_092_5, "high");
    assert!(stats::mean_ci(&[1.0], 0.05).is_none());
}
