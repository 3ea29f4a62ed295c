//! A local worker's processes, so none outlives it: its process group, the
//! descendants seen while it ran (recorded with their start times, so a reused
//! pid is never taken for one), and any process carrying its attempt's tag in
//! its environment (`ABLATE_WORKER_TAG`, inherited by everything it starts,
//! also by a daemon that left its session and its parent before it was seen).
//! Read from /proc; where there is none, only the group is ended.

use std::collections::HashMap;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The environment variable whose value marks one attempt's processes.
pub const TAG_ENV: &str = "ABLATE_WORKER_TAG";

/// One process as /proc/<pid>/stat shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// Clock ticks after boot: with the pid, names one process for good.
    pub start: u64,
    pub zombie: bool,
}

/// Every process /proc lists now (empty without /proc).
pub fn scan() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            parse_stat(
                pid,
                &std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?,
            )
        })
        .collect()
}

/// `pid (comm) state ppid pgrp session ... starttime ...`; comm may hold spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
        zombie: *f.first()? == "Z",
    })
}

fn has_tag(pid: i32, tag: &str) -> bool {
    let want = format!("{TAG_ENV}={tag}");
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()))
}

/// One worker's processes.
#[derive(Debug)]
pub struct Tree {
    root: i32,
    tag: String,
    /// Descendants seen so far: pid -> start time.
    seen: HashMap<i32, u64>,
    /// The worker itself has not exited yet.
    running: bool,
}

impl Tree {
    pub fn new(root: u32, tag: String) -> Self {
        Tree {
            root: root as i32,
            tag,
            seen: HashMap::new(),
            running: true,
        }
    }

    /// The worker's pid (its process group's id).
    pub fn root(&self) -> i32 {
        self.root
    }

    /// Records the worker's descendants in `procs`: children of the worker (while
    /// it runs: its pid may be reused once it has exited) or of a process already
    /// recorded (an orphan's children are still found).
    pub fn record(&mut self, procs: &[Proc]) {
        let start_of: HashMap<i32, u64> = procs.iter().map(|p| (p.pid, p.start)).collect();
        loop {
            let before = self.seen.len();
            for p in procs.iter().filter(|p| p.pid != self.root) {
                let parent_known = (self.running && p.ppid == self.root)
                    || self
                        .seen
                        .get(&p.ppid)
                        .is_some_and(|s| start_of.get(&p.ppid) == Some(s));
                if parent_known {
                    self.seen.entry(p.pid).or_insert(p.start);
                }
            }
            if self.seen.len() == before {
                return;
            }
        }
    }

    /// The processes of this worker still alive in `procs`.
    fn left(&self, procs: &[Proc]) -> Vec<i32> {
        let me = std::process::id() as i32;
        procs
            .iter()
            .filter(|p| !p.zombie && p.pid != me)
            .filter(|p| {
                p.pgid == self.root
                    || self.seen.get(&p.pid) == Some(&p.start)
                    || has_tag(p.pid, &self.tag)
            })
            .map(|p| p.pid)
            .collect()
    }

    /// SIGKILLs every process of the worker still alive (after it exited: they
    /// would hold its output open, its GPU, its slot's cores), a few rounds in
    /// case one forks meanwhile. Returns the pids it signalled.
    pub fn kill_all(&mut self) -> Vec<i32> {
        self.running = false;
        let mut killed = Vec::new();
        for _ in 0..5 {
            let procs = scan();
            if procs.is_empty() {
                // No /proc: the group is all that can be found.
                let _ = nix::sys::signal::killpg(Pid::from_raw(self.root), Signal::SIGKILL);
                break;
            }
            self.record(&procs);
            let left = self.left(&procs);
            if left.is_empty() {
                break;
            }
            for pid in left {
                if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() && !killed.contains(&pid) {
                    killed.push(pid);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        killed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "4242 (py (loader) x) S 4000 4000 4000 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        let p = parse_stat(4242, line).unwrap();
        assert_eq!(
            (p.ppid, p.pgid, p.start, p.zombie),
            (4000, 4000, 987654, false)
        );
        assert!(parse_stat(1, "garbage").is_none());
    }

    fn proc(pid: i32, ppid: i32, start: u64) -> Proc {
        Proc {
            pid,
            ppid,
            pgid: pid,
            start,
            zombie: false,
        }
    }

    #[test]
    fn descendants_are_recorded_transitively_and_kept_after_they_are_orphaned() {
        let mut t = Tree::new(100, "tag".into());
        t.record(&[
            proc(100, 1, 5),
            proc(101, 100, 6),
            proc(102, 101, 7),
            proc(200, 1, 8),
        ]);
        assert_eq!(t.seen.len(), 2);
        // The worker and 101 exit; 102, reparented to init, is still its own.
        t.running = false;
        let later = [proc(102, 1, 7), proc(103, 102, 9), proc(200, 1, 8)];
        t.record(&later);
        let mut left = t.left(&later);
        left.sort_unstable();
        assert_eq!(left, [102, 103]);
        // A new process that reuses pid 102 is not the worker's.
        assert!(t.left(&[proc(102, 1, 99)]).is_empty());
    }
}
