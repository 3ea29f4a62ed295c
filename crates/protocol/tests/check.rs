//! `check_finished`: each way a `finished` result can be unfit to record, and
//! the message naming the field.
#![allow(clippy::unwrap_used)]

use ablate_protocol::{FailureClass, Incoming, check_finished};
use ablate_spec::types::Objective;
use serde_json::json;

const TRIAL: &str = "ab12";

fn gender_and_age() -> Objective {
    serde_json::from_value(json!({
        "kind": "faces",
        "gender": 1.0,
        "age": {"weight": 1.0, "encoding": {"kind": "regression", "loss": "l1"}}
    }))
    .unwrap()
}

fn good() -> serde_json::Value {
    json!({
        "trial": TRIAL,
        "test": {
            "gender": {"accuracy": 0.9},
            "age": {"expected": {"mae": 6.5, "cs": [0.1, 0.5, 1.0], "epsilon_error": 0.4},
                    "argmax": null, "baseline_mae": 11.0},
            "loss": 0.7
        },
        "images": {"train": 10, "val": 2, "test": 3},
        "degenerate": null
    })
}

/// The class and message of a result's check, or None when it passes.
fn check(result: &serde_json::Value) -> Option<(FailureClass, String)> {
    let line = json!({"event": "finished", "result": result}).to_string();
    let Ok(Incoming::Finished { result }) = Incoming::parse(&line) else {
        panic!("not read as finished");
    };
    check_finished(&result, &[], TRIAL, &gender_and_age())
        .err()
        .map(|v| (v.class, v.message))
}

fn protocol(result: &serde_json::Value, names: &str) {
    let (class, message) = check(result).unwrap_or_else(|| panic!("passed: {result}"));
    assert_eq!(class, FailureClass::Protocol, "{message}");
    assert!(message.contains(names), "{message} should name {names}");
}

#[test]
fn a_complete_result_passes_and_degenerate_may_be_null_false_or_evidence() {
    assert_eq!(check(&good()), None);
    let mut r = good();
    r["degenerate"] = json!(false);
    assert_eq!(check(&r), None);
    r["degenerate"] = json!({"evidence": ["predicts one class"]});
    assert_eq!(check(&r), None);
    r.as_object_mut().unwrap().remove("degenerate");
    assert_eq!(check(&r), None);
}

#[test]
fn no_result_or_not_an_object_is_a_protocol_failure() {
    let Ok(Incoming::Finished { result }) = Incoming::parse(r#"{"event":"finished"}"#) else {
        panic!("not read as finished");
    };
    let v = check_finished(&result, &[], TRIAL, &gender_and_age()).unwrap_err();
    assert_eq!(v.class, FailureClass::Protocol);
    assert!(v.message.contains("no `result`"), "{}", v.message);
    protocol(&json!("hello"), "the string \"hello\"");
    protocol(&json!([1, 2]), "not an object");
}

#[test]
fn the_result_must_name_this_trial() {
    let mut r = good();
    r["trial"] = json!("cd34");
    protocol(&r, "\"cd34\", another trial");
    r.as_object_mut().unwrap().remove("trial");
    protocol(&r, "result.trial is missing");
}

#[test]
fn each_task_needs_its_metric_in_range() {
    let mut r = good();
    r["test"]["gender"] = json!(null);
    protocol(&r, "result.test.gender.accuracy is missing");
    let mut r = good();
    r["test"]["age"]["expected"]["mae"] = json!(-1.5);
    protocol(
        &r,
        "result.test.age.expected.mae is -1.5; it must be a number, 0 or more",
    );
    let mut r = good();
    r["test"]["gender"]["accuracy"] = json!(90);
    protocol(
        &r,
        "result.test.gender.accuracy is 90; it must be a number in [0, 1]",
    );
    let mut r = good();
    r["test"]["gender"]["accuracy"] = json!("0.9");
    protocol(&r, "the string \"0.9\"");
    let mut r = good();
    r["test"]["age"]["expected"]["cs"] = json!([0.1, 1.2]);
    protocol(&r, "result.test.age.expected.cs[1] is 1.2");
    let mut r = good();
    r["images"]["val"] = json!(-2);
    protocol(&r, "result.images.val is -2");
}

#[test]
fn degenerate_true_or_empty_evidence_says_what_is_valid() {
    let mut r = good();
    r["degenerate"] = json!(true);
    protocol(&r, "result.degenerate is true; it must be null or false");
    r["degenerate"] = json!({"evidence": []});
    protocol(&r, "{\"evidence\": [\"why\", ...]}");
}

#[test]
fn a_non_finite_number_is_nan_loss_naming_the_field() {
    let line = r#"{"event": "finished", "result": {"trial": "ab12", "test": {"gender": {"accuracy": NaN}}}}"#;
    let read = Incoming::read(line).unwrap();
    let Incoming::Finished { result } = &read.event else {
        panic!("not read as finished");
    };
    let v = check_finished(result, &read.nonfinite, TRIAL, &gender_and_age()).unwrap_err();
    assert_eq!(v.class, FailureClass::NanLoss);
    assert!(
        v.message.contains("result.test.gender.accuracy (NaN)"),
        "{}",
        v.message
    );
}
