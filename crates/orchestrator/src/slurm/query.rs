//! Reading Slurm's view of jobs: `squeue` while it lists them, `scontrol show job`
//! for a while after they end, `sacct` where accounting exists. Parsing and the
//! meaning of each state are pure functions, tested on Slurm's real output.

use std::collections::HashMap;
use std::process::Command;

use ablate_protocol::FailureClass;

/// What Slurm says of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Pending {
        reason: String,
    },
    Running {
        node: String,
    },
    Ended {
        state: String,
        reason: String,
        exit: (i32, i32),
    },
}

/// How an ended job reads to the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndKind {
    /// The worker's own exit: the dispatcher classifies it with its events.
    Exit {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// Slurm ended it for a reason of its own.
    Failed {
        class: FailureClass,
        message: String,
    },
    /// Cancelled before it ran because it was withdrawn or its dependency failed.
    Withdrawn(String),
}

/// `3:0` -> (3, 0): exit code, then the signal that ended it.
fn parse_exit(s: &str) -> (i32, i32) {
    let mut it = s.trim().split(':').map(|p| p.parse::<i32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// A Slurm state name (`CANCELLED by 0` -> `CANCELLED`) as pending, running or ended.
pub fn seen(state: &str, reason: &str, node: &str, exit: &str) -> Seen {
    let state = state
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('+');
    match state {
        "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "SPECIAL_EXIT" | "" => {
            Seen::Pending {
                reason: reason.to_string(),
            }
        }
        "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "RESIZING" | "SIGNALING"
        | "STAGE_OUT" | "STOPPED" => Seen::Running {
            node: node.to_string(),
        },
        other => Seen::Ended {
            state: other.to_string(),
            reason: reason.to_string(),
            exit: parse_exit(exit),
        },
    }
}

/// `squeue -h -o '%i|%T|%r|%N'` lines -> job id -> what it says.
pub fn parse_squeue(out: &str) -> HashMap<String, Seen> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            (f.len() >= 4).then(|| (f[0].to_string(), seen(f[1], f[2], f[3], "0:0")))
        })
        .collect()
}

/// One `scontrol show job -o ID` line.
pub fn parse_scontrol(line: &str) -> Option<(String, Seen)> {
    let mut kv: HashMap<&str, &str> = HashMap::new();
    for tok in line.split_whitespace() {
        if let Some((k, v)) = tok.split_once('=') {
            kv.entry(k).or_insert(v);
        }
    }
    let id = kv.get("JobId")?.to_string();
    let node = kv
        .get("BatchHost")
        .or(kv.get("NodeList"))
        .copied()
        .unwrap_or("");
    let s = seen(
        kv.get("JobState")?,
        kv.get("Reason").copied().unwrap_or(""),
        node,
        kv.get("ExitCode").copied().unwrap_or("0:0"),
    );
    Some((id, s))
}

/// `sacct -n -P -X -o JobID,State,ExitCode,NodeList -j ID` output.
pub fn parse_sacct(out: &str, id: &str) -> Option<Seen> {
    out.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split('|').collect();
        (f.len() >= 4 && f[0] == id).then(|| seen(f[1], "", f[3], f[2]))
    })
}

/// What an ended job means. `withdrawing`: ablate cancelled it to take it back;
/// `signalled`: ablate signalled it (a stop or a hung worker) and judges it itself.
pub fn judge(
    job: &str,
    state: &str,
    reason: &str,
    exit: (i32, i32),
    withdrawing: bool,
    signalled: bool,
) -> EndKind {
    let failed = |class: FailureClass, message: String| EndKind::Failed { class, message };
    match state {
        "COMPLETED" | "FAILED" => match exit {
            (_, sig) if sig != 0 => EndKind::Exit {
                code: None,
                signal: Some(sig),
            },
            (code, _) => EndKind::Exit {
                code: Some(code),
                signal: None,
            },
        },
        "CANCELLED" if withdrawing => {
            EndKind::Withdrawn(format!("job {job} was withdrawn by ablate"))
        }
        "CANCELLED" if reason.contains("Dependency") => EndKind::Withdrawn(format!(
            "job {job} was cancelled: a job it waited on failed"
        )),
        "CANCELLED" if signalled => EndKind::Exit {
            code: None,
            signal: Some(if exit.1 != 0 { exit.1 } else { 9 }),
        },
        "CANCELLED" => failed(
            FailureClass::Cancelled,
            format!("Slurm job {job} was cancelled outside ablate (scancel by a user or an admin)"),
        ),
        "TIMEOUT" | "DEADLINE" => failed(
            FailureClass::Timeout,
            format!(
                "Slurm job {job} ran past its time limit ({state}); raise --time or [slurm] time"
            ),
        ),
        "PREEMPTED" => failed(
            FailureClass::Preempted,
            format!("Slurm job {job} was preempted"),
        ),
        "NODE_FAIL" | "BOOT_FAIL" => failed(
            FailureClass::NodeFailure,
            format!("Slurm job {job} ended with {state}: its node failed"),
        ),
        "OUT_OF_MEMORY" => failed(
            FailureClass::OutOfMemory,
            format!(
                "Slurm job {job} ran out of memory; raise it with sbatch_args = [\"--mem=...\"]"
            ),
        ),
        other => failed(
            FailureClass::Lost,
            format!("Slurm job {job} ended as {other} ({reason})"),
        ),
    }
}

fn run(program: &str, args: &[String]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The state of each of `jobs` Slurm still knows (squeue first, then per job
/// scontrol and sacct); a job no source knows is absent from the map.
pub fn states(jobs: &[String]) -> HashMap<String, Seen> {
    let mut found = HashMap::new();
    if jobs.is_empty() {
        return found;
    }
    for chunk in jobs.chunks(200) {
        let args = [
            "-h".to_string(),
            "-t".into(),
            "all".into(),
            "-o".into(),
            "%i|%T|%r|%N".into(),
            "-j".into(),
            chunk.join(","),
        ];
        if let Some(out) = run("squeue", &args) {
            found.extend(parse_squeue(&out));
        }
    }
    for id in jobs {
        // squeue shows no exit code: an ended job's comes from scontrol or sacct.
        if matches!(
            found.get(id),
            Some(Seen::Pending { .. } | Seen::Running { .. })
        ) {
            continue;
        }
        let from_scontrol = run(
            "scontrol",
            &["show".into(), "job".into(), "-o".into(), id.clone()],
        )
        .and_then(|o| o.lines().find_map(parse_scontrol))
        .filter(|(jid, _)| jid == id)
        .map(|(_, s)| s);
        let s = from_scontrol.or_else(|| {
            let args = [
                "-n",
                "-P",
                "-X",
                "-o",
                "JobID,State,ExitCode,NodeList",
                "-j",
                id,
            ];
            run("sacct", &args.map(String::from)).and_then(|o| parse_sacct(&o, id))
        });
        if let Some(s) = s {
            found.insert(id.clone(), s);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines() {
        let m = parse_squeue(
            "12|PENDING|Dependency|\n13|RUNNING|None|localhost\n14|COMPLETED|None|localhost\n",
        );
        assert_eq!(
            m["12"],
            Seen::Pending {
                reason: "Dependency".into()
            }
        );
        assert_eq!(
            m["13"],
            Seen::Running {
                node: "localhost".into()
            }
        );
        assert!(matches!(m["14"], Seen::Ended { .. }));
    }

    /// Lines as Slurm 22.05 prints them (docs/slurm-facts.md), cut to the keys that matter.
    #[test]
    fn scontrol_lines_from_a_real_slurm() {
        let line = |state: &str, reason: &str, exit: &str| {
            format!(
                "JobId=15 JobName=ablate-s-0123456789ab UserId=root(0) JobState={state} Reason={reason} Dependency=(null) Requeue=0 Restarts=0 BatchFlag=1 ExitCode={exit} RunTime=00:00:01 NodeList=localhost BatchHost=localhost Command=/o/ablate-job.sh WorkDir=/r/a b StdOut=/r/a b/events-a1.jsonl Power= "
            )
        };
        let judged = |state: &str, reason: &str, exit: &str| {
            let (id, seen) = parse_scontrol(&line(state, reason, exit)).expect("parsed");
            assert_eq!(id, "15");
            match seen {
                Seen::Ended {
                    state,
                    reason,
                    exit,
                } => judge(&id, &state, &reason, exit, false, false),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            judged("COMPLETED", "None", "0:0"),
            EndKind::Exit {
                code: Some(0),
                signal: None
            }
        );
        assert_eq!(
            judged("FAILED", "NonZeroExitCode", "3:0"),
            EndKind::Exit {
                code: Some(3),
                signal: None
            }
        );
        assert_eq!(
            judged("FAILED", "NonZeroExitCode", "127:0"),
            EndKind::Exit {
                code: Some(127),
                signal: None
            }
        );
        assert_eq!(
            judged("FAILED", "JobLaunchFailure", "0:53"),
            EndKind::Exit {
                code: None,
                signal: Some(53)
            }
        );
        assert!(matches!(
            judged("CANCELLED", "DependencyNeverSatisfied", "0:0"),
            EndKind::Withdrawn(_)
        ));
        assert!(matches!(
            judged("TIMEOUT", "TimeLimit", "0:0"),
            EndKind::Failed {
                class: FailureClass::Timeout,
                ..
            }
        ));
        assert!(matches!(
            judged("CANCELLED", "None", "0:15"),
            EndKind::Failed {
                class: FailureClass::Cancelled,
                ..
            }
        ));
        let (_, pending) = parse_scontrol(&line("PENDING", "Dependency", "0:0")).expect("parsed");
        assert_eq!(
            pending,
            Seen::Pending {
                reason: "Dependency".into()
            }
        );
        let (_, running) = parse_scontrol(&line("RUNNING", "None", "0:0")).expect("parsed");
        assert_eq!(
            running,
            Seen::Running {
                node: "localhost".into()
            }
        );
    }

    #[test]
    fn ended_jobs() {
        let ok = judge("1", "COMPLETED", "None", (0, 0), false, false);
        assert_eq!(
            ok,
            EndKind::Exit {
                code: Some(0),
                signal: None
            }
        );
        let f = judge("1", "FAILED", "NonZeroExitCode", (3, 0), false, false);
        assert_eq!(
            f,
            EndKind::Exit {
                code: Some(3),
                signal: None
            }
        );
        let k = judge("1", "FAILED", "", (0, 9), false, false);
        assert_eq!(
            k,
            EndKind::Exit {
                code: None,
                signal: Some(9)
            }
        );
        assert!(matches!(
            judge(
                "1",
                "CANCELLED",
                "DependencyNeverSatisfied",
                (0, 0),
                false,
                false
            ),
            EndKind::Withdrawn(_)
        ));
        assert!(matches!(
            judge("1", "CANCELLED", "None", (0, 0), true, false),
            EndKind::Withdrawn(_)
        ));
        assert!(matches!(
            judge("1", "CANCELLED", "None", (0, 15), false, true),
            EndKind::Exit {
                signal: Some(15),
                ..
            }
        ));
        assert!(matches!(
            judge("1", "CANCELLED", "None", (0, 0), false, false),
            EndKind::Failed { ref class, .. } if !class.retryable()
        ));
        assert!(matches!(
            judge("1", "PREEMPTED", "", (0, 0), false, false),
            EndKind::Failed { ref class, .. } if class.retryable()
        ));
        assert!(matches!(
            judge("1", "NODE_FAIL", "", (0, 0), false, false),
            EndKind::Failed { ref class, .. } if class.retryable()
        ));
        assert!(matches!(
            judge("1", "TIMEOUT", "", (0, 0), false, false),
            EndKind::Failed { ref class, .. } if !class.retryable()
        ));
    }
}
