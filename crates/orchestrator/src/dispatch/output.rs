//! The core's reaction to a line of a worker's output: an event acted on (a
//! `finished` result only once it passed the protocol's checks), or chatter,
//! shown a few lines per attempt. A line cut at the cap or not valid UTF-8 is
//! never taken for an event.

use std::time::Duration;

use ablate_protocol::Incoming;
use ablate_spec::{Sweep, short_id};
use ablate_store::Progress;

use super::core::{Active, Core, Effect};
use crate::lines::Line;

/// How many lines of an attempt's stdout that are not protocol events are shown.
pub(super) const OTHER_LINES_SHOWN: usize = 3;

/// The least time between two recorded progress points of one attempt: a
/// worker may send heartbeats as often as it likes, the database gets one
/// write per attempt per this at most.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

impl Core<'_> {
    pub(super) fn on_line(&mut self, trial: &str, line: Line, fx: &mut Vec<Effect>) {
        let now = self.now;
        let sweep: &Sweep = self.sweep;
        let objective = self
            .by_id
            .get(trial)
            .map(|&i| &sweep.trials[self.jobs[i].index].config.objective);
        let Some(a) = self.active(trial) else {
            return;
        };
        a.last_seen = now;
        if let Some(len) = line.cut_from {
            if !a.noted_cut {
                a.noted_cut = true;
                fx.push(Effect::Log(format!(
                    "note  {}: a line of {len} bytes was longer than --max-line-bytes; it was cut and is not read as an event (further ones of this attempt are not noted)",
                    short_id(trial)
                )));
            }
            return;
        }
        let read = if line.invalid_utf8 {
            Err("not valid UTF-8; the bad bytes are shown as \u{fffd}".to_string())
        } else {
            Incoming::read(&line.text).map_err(|e| e.why)
        };
        let read = match read {
            Ok(r) => r,
            // The protocol allows other output on stdout: shown (the first few of
            // an attempt), never taken as an event.
            Err(why) => return other_line(a, trial, &line.text, &why, fx),
        };
        let finished = matches!(read.event, Incoming::Finished { .. });
        if let Some(field) = read.nonfinite.first()
            && !finished
            && !a.noted_nonfinite
        {
            a.noted_nonfinite = true;
            fx.push(Effect::Log(format!(
                "note  {}: the worker reported a non-finite number ({field}); it is stored as null",
                short_id(trial)
            )));
        }
        match read.event {
            Incoming::Started { device, resume } => {
                if let Some(d) = device {
                    a.view.device = d;
                }
                if let Some(note) = resume {
                    fx.push(Effect::Log(format!("note  {}: {note}", short_id(trial))));
                    a.resume = Some(note);
                }
            }
            Incoming::State { epoch, batch } => a.saved = Some((epoch, batch)),
            Incoming::Memory {
                host_private_bytes,
                gpu_bytes,
            } => fx.push(Effect::RecordMemory {
                trial: trial.into(),
                host: host_private_bytes,
                gpu: gpu_bytes,
            }),
            Incoming::Epoch {
                epoch,
                train_loss,
                images_per_s,
                val_score,
            } => {
                a.view.epoch = Some(epoch);
                a.view.loss = train_loss;
                a.view.images_per_s = images_per_s;
                a.view.metric = val_score.map(|s| format!("val {s:.3}"));
                fx.push(Effect::RecordEpoch {
                    trial: trial.into(),
                    epoch,
                    line: read.json.unwrap_or(line.text),
                });
            }
            Incoming::Heartbeat {
                loss,
                epoch,
                step,
                steps,
            } => {
                a.view.loss = loss;
                let due = (a.progress_recorded)
                    .is_none_or(|at| now.saturating_duration_since(at) >= PROGRESS_EVERY);
                if let (Some(epoch), Some(step), Some(steps), true) = (epoch, step, steps, due) {
                    a.progress_recorded = Some(now);
                    fx.push(Effect::RecordProgress {
                        trial: trial.into(),
                        progress: Progress { epoch, step, steps },
                    });
                }
            }
            Incoming::Finished { result } => {
                let checked = objective.map_or(Ok(()), |o| {
                    ablate_protocol::check_finished(&result, &read.nonfinite, trial, o)
                });
                match checked {
                    Ok(()) => {
                        a.finished = Some((result, now));
                        a.rejected = None;
                    }
                    Err(v) => {
                        fx.push(Effect::Log(format!(
                            "note  {}: its `finished` event does not count: {}",
                            short_id(trial),
                            v.message
                        )));
                        a.finished = None;
                        a.rejected = Some((v.class, v.message));
                    }
                }
            }
            Incoming::Failed { class, message } => a.failed = Some((class, message)),
        }
    }
}

/// A line of a worker's output that is not an event: the first few of an
/// attempt are shown with why, the rest counted.
fn other_line(a: &mut Active, trial: &str, text: &str, why: &str, fx: &mut Vec<Effect>) {
    a.other_lines += 1;
    if a.other_lines <= OTHER_LINES_SHOWN {
        let more = if a.other_lines == OTHER_LINES_SHOWN {
            "; further ones of this attempt are not shown"
        } else {
            ""
        };
        let shown: String = text.chars().take(200).collect();
        fx.push(Effect::Log(format!(
            "note  {}: a line that is not a protocol event ({why}): {shown}{more}",
            short_id(trial)
        )));
    }
}
