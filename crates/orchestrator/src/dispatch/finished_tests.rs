//! What a worker's result and output may do to a sweep: a `finished` event
//! counts only when it passes the protocol's checks, a result that passed is
//! kept however the worker then ends, and no line of output, however long or
//! malformed, is taken for an event. Driven through `Core::handle`.
#![allow(clippy::unwrap_used)]

use ablate_protocol::{FailureClass, TrialState};
use ablate_spec::{Sweep, short_id};
use nix::sys::signal::Signal;

use super::core::{Effect, Input};
use super::tests::{Harness, finished, finished_line, line, messages, signals, started, sweep};
use crate::backend::BackendEvent;
use crate::lines::Line;

fn logs(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Log(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

/// Runs the pretraining trial (task identity) to a `finished` `json` and exit 0;
/// returns the effects of the exit.
fn finish_with(s: &Sweep, json: &str) -> (String, Vec<Effect>) {
    let mut h = Harness::new(s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    h.send(1.0, line(&pre, json));
    (pre.clone(), h.exit(1.5, &pre, Some(0), None))
}

#[test]
fn a_finished_event_without_a_valid_result_fails_as_protocol_and_is_not_retried() {
    let cases = [
        (r#"{"event":"finished"}"#.to_string(), "no `result`"),
        (r#"{"event":"finished","result":"hello"}"#.into(), "not an object"),
        (
            r#"{"event":"finished","result":{"trial":"0123","test":{"identity":{"accuracy":0.5}}}}"#.into(),
            "another trial",
        ),
        (
            r#"{"event":"finished","result":{"trial":"TRIAL","test":{"loss":0.5}}}"#.into(),
            "result.test.identity.accuracy is missing",
        ),
        (
            r#"{"event":"finished","result":{"trial":"TRIAL","test":{"identity":{"accuracy":1.5}}}}"#.into(),
            "must be a number in [0, 1]",
        ),
    ];
    for (json, says) in cases {
        let s = sweep();
        let id = s.trials[0].id.to_string();
        let (pre, fx) = finish_with(&s, &json.replace("TRIAL", &id));
        assert_eq!(
            finished(&fx),
            [(
                pre.clone(),
                TrialState::Failed,
                Some(FailureClass::Protocol)
            )],
            "{json}"
        );
        let m = messages(&fx).join(" ");
        assert!(m.contains(says), "{json}: {m}");
    }
}

#[test]
fn pythons_nan_in_a_result_fails_as_nan_loss_naming_the_field() {
    let s = sweep();
    let id = s.trials[0].id.to_string();
    let json = format!(
        r#"{{"event": "finished", "result": {{"trial": "{id}", "test": {{"identity": {{"accuracy": NaN}}}}}}}}"#
    );
    let (pre, fx) = finish_with(&s, &json);
    assert_eq!(
        finished(&fx),
        [(pre, TrialState::Failed, Some(FailureClass::NanLoss))]
    );
    assert!(
        messages(&fx)[0].contains("result.test.identity.accuracy (NaN)"),
        "{:?}",
        messages(&fx)
    );
}

#[test]
fn degenerate_false_is_recorded_as_not_flagged() {
    let s = sweep();
    let id = s.trials[0].id.to_string();
    let json = format!(
        r#"{{"event":"finished","result":{{"trial":"{id}","test":{{"identity":{{"accuracy":0.5}}}},"degenerate":false}}}}"#
    );
    let (_, fx) = finish_with(&s, &json);
    let flagged: Vec<bool> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Succeed { result, .. } => Some(result.as_ref().unwrap().degenerate()),
            _ => None,
        })
        .collect();
    assert_eq!(flagged, [false]);
}

#[test]
fn a_worker_that_lingers_after_its_result_is_killed_and_its_result_kept() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    h.send(1.0, line(&pre, &finished_line(&pre, "identity")));
    // The grace period is 5 s, the heartbeat timeout 60 s.
    assert!(
        signals(&h.send(5.5, Input::Tick)).is_empty(),
        "within the grace"
    );
    let fx = h.send(6.5, Input::Tick);
    assert_eq!(signals(&fx), [(pre.clone(), Signal::SIGKILL)]);
    assert!(logs(&fx)[0].contains("did not exit"), "{fx:?}");
    // Long past the heartbeat timeout it still is not "hung".
    assert!(signals(&h.send(100.0, Input::Tick)).is_empty());
    let fx = h.exit(100.5, &pre, None, Some(9));
    assert_eq!(finished(&fx), [(pre, TrialState::Succeeded, None)]);
    assert!(
        messages(&fx)[0].contains("result kept"),
        "{:?}",
        messages(&fx)
    );
}

#[test]
fn a_result_survives_a_stop_that_comes_after_it() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    h.send(1.0, line(&pre, &finished_line(&pre, "identity")));
    h.send(1.1, Input::Stop("interrupted (Ctrl-C)"));
    let fx = h.exit(1.2, &pre, None, Some(15));
    assert_eq!(finished(&fx), [(pre, TrialState::Succeeded, None)]);
}

#[test]
fn a_cut_line_is_noted_once_and_invalid_utf8_is_not_an_event() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    let cut = |n: u64| {
        Input::Backend(BackendEvent::Line {
            trial: pre.clone().into(),
            line: Line {
                text: r#"{"event":"finished","result":{"#.into(),
                invalid_utf8: false,
                cut_from: Some(n),
            },
        })
    };
    let fx = h.send(1.0, cut(200_000_000));
    assert!(logs(&fx)[0].contains("200000000 bytes"), "{fx:?}");
    assert!(h.send(1.1, cut(300)).is_empty(), "noted once");
    let bad = Input::Backend(BackendEvent::Line {
        trial: pre.clone().into(),
        line: Line {
            text: finished_line(&pre, "identity"),
            invalid_utf8: true,
            cut_from: None,
        },
    });
    let fx = h.send(1.2, bad);
    assert!(logs(&fx)[0].contains("not valid UTF-8"), "{fx:?}");
    // Neither counted as a result: exit 0 without one.
    let fx = h.exit(2.0, &pre, Some(0), None);
    assert_eq!(
        finished(&fx),
        [(pre, TrialState::Failed, Some(FailureClass::Internal))]
    );
}

#[test]
fn a_note_from_the_backend_is_logged_with_its_trial() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    let fx = h.send(
        1.0,
        Input::Backend(BackendEvent::Note {
            trial: pre.clone().into(),
            text: "left 1 process".into(),
        }),
    );
    assert_eq!(
        logs(&fx),
        [format!("note  {}: left 1 process", short_id(&pre))]
    );
}
