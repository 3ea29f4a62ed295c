//! The type II ANOVA against statsmodels (anova.json; anova.py made it).
#![allow(clippy::unwrap_used)]

use ablate_verdict::anova::{Row, anova};
use serde_json::Value;

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-8 + 1e-7 * want.abs(),
        "{what}: {got} vs statsmodels {want}"
    );
}

#[test]
fn type_ii_anova_matches_statsmodels() {
    let f: Value = serde_json::from_str(include_str!("anova.json")).unwrap();
    for c in f["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let factors: Vec<String> = c["factors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        let rows: Vec<Row> = c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| Row {
                levels: factors
                    .iter()
                    .map(|f| r[f].as_str().unwrap().to_string())
                    .collect(),
                value: r["y"].as_f64().unwrap(),
            })
            .collect();
        let a = anova(&factors, &rows).unwrap();
        close(
            a.residual_ss,
            c["residual"]["ss"].as_f64().unwrap(),
            &format!("{name} residual SS"),
        );
        close(
            a.residual_df,
            c["residual"]["df"].as_f64().unwrap(),
            &format!("{name} residual df"),
        );
        for t in &a.terms {
            let key = t
                .factors
                .iter()
                .map(|f| format!("C({f})"))
                .collect::<Vec<_>>()
                .join(":");
            let want = &c["terms"][&key];
            close(
                t.ss,
                want["ss"].as_f64().unwrap(),
                &format!("{name} {key} SS"),
            );
            close(
                t.df,
                want["df"].as_f64().unwrap(),
                &format!("{name} {key} df"),
            );
            close(t.f, want["F"].as_f64().unwrap(), &format!("{name} {key} F"));
            close(t.p, want["p"].as_f64().unwrap(), &format!("{name} {key} p"));
            assert!((0.0..=1.0).contains(&t.partial_eta_sq));
        }
    }
}

#[test]
fn too_few_seeds_or_one_level_give_no_table() {
    let row = |a: &str, v: f64| Row {
        levels: vec![a.into()],
        value: v,
    };
    assert!(
        anova(&["a".into()], &[row("x", 1.0), row("y", 2.0)]).is_none(),
        "no residual df"
    );
    assert!(
        anova(&["a".into()], &[row("x", 1.0), row("x", 2.0)]).is_none(),
        "one level"
    );
}
