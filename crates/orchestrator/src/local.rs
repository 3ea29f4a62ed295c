//! The local backend: each attempt is a child process of this one, in its own
//! process group. Its lifetime is its process, not its pipe: a worker's exit is
//! noticed when it happens, even while a process it started still holds its
//! stdout; what it wrote before exiting is drained (for at most `DRAIN`), and
//! then every process it leaves behind is ended (`tree`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ablate_protocol::FailureClass;
use ablate_spec::TrialId;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc::UnboundedSender;

use crate::backend::{Backend, BackendEvent, Launch};
use crate::lines::LineDecoder;
use crate::tree::{self, TAG_ENV, Tree};

/// After a worker exits, how long its output is still read: what it wrote is in
/// the pipe already; only a process it left holding the pipe keeps it open longer.
const DRAIN: Duration = Duration::from_secs(1);

/// How often running workers' descendants are recorded.
const SCAN_EVERY: Duration = Duration::from_secs(2);

type Trees = Arc<Mutex<HashMap<TrialId, Tree>>>;

/// Child processes on this machine.
#[derive(Debug)]
pub struct LocalBackend {
    /// Each running worker's processes, by trial; removed once it has exited
    /// and what it left is ended, so no signal reaches a pid since reused.
    trees: Trees,
    max_line: usize,
    last_scan: Option<Instant>,
    /// The path of this process's executable, whose workers run from
    /// `OWN_IMAGE` instead (with the path as their `argv[0]`).
    pinned: Option<String>,
}

/// Linux names a process's executable here even after its file was replaced.
const OWN_IMAGE: &str = "/proc/self/exe";

impl LocalBackend {
    /// `max_line`: the longest line of worker output read whole (bytes).
    pub fn new(max_line: usize) -> Self {
        LocalBackend {
            trees: Arc::default(),
            max_line,
            last_scan: None,
            pinned: None,
        }
    }

    /// Workers whose argv starts with `exe`, this process's own executable
    /// (the path it was started from), run this process's image instead: a
    /// rebuild that replaces the file during a sweep (`cargo build` renames a
    /// new binary over it) must neither change what the sweep's later trials
    /// run nor stop them starting. Where the image cannot be named (not Linux),
    /// the path is run as given.
    #[must_use]
    pub fn pin_self(mut self, exe: &Path) -> Self {
        // Not compared with `current_exe()` here: once the file is replaced, that
        // names "PATH (deleted)", and the caller may have read it before.
        if Path::new(OWN_IMAGE).exists() {
            self.pinned = Some(exe.display().to_string());
        }
        self
    }

    fn command(&self, argv: &[String]) -> Command {
        match &self.pinned {
            Some(path) if argv[0] == *path => {
                let mut cmd = Command::new(OWN_IMAGE);
                cmd.arg0(&argv[0]);
                cmd
            }
            _ => Command::new(&argv[0]),
        }
    }
}

/// Appended, never truncated: an earlier attempt's stderr (why it failed) stays
/// readable after a retry, each attempt under its own header.
fn stderr_log(launch: &Launch) -> Stdio {
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)
    {
        Ok(mut f) => {
            use std::io::Write as _;
            let _ = writeln!(
                f,
                "--- attempt {} ({}) ---",
                launch.attempt,
                ablate_store::now_rfc3339()
            );
            Stdio::from(f)
        }
        Err(_) => Stdio::null(),
    }
}

impl Backend for LocalBackend {
    fn launch(&mut self, launch: Launch, events: UnboundedSender<BackendEvent>) {
        let trial = launch.trial.clone();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tag = format!("{}-{}-{nanos}", std::process::id(), launch.attempt);
        let mut cmd = self.command(&launch.argv);
        cmd.args(&launch.argv[1..])
            .envs(launch.env.iter().cloned())
            .env(TAG_ENV, &tag)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_log(&launch));
        // Own process group: a terminal's Ctrl-C reaches the orchestrator only, which
        // then stops workers in order (SIGTERM, grace, SIGKILL).
        cmd.process_group(0);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = events.send(BackendEvent::SpawnFailed {
                    trial,
                    class: FailureClass::BadConfig,
                    message: format!("cannot start {:?}: {e}", launch.argv[0]),
                });
                return;
            }
        };
        let pid = child.id();
        if let Some(p) = pid {
            lock(&self.trees).insert(trial.clone(), Tree::new(p, tag));
        }
        let _ = events.send(BackendEvent::Spawned {
            trial: trial.clone(),
            pid,
        });
        let watch = Watch {
            trial,
            events,
            trees: self.trees.clone(),
            decoder: LineDecoder::new(self.max_line),
        };
        tokio::spawn(watch.run(child));
    }

    fn signal(&mut self, trial: &str, signal: Signal) {
        let root = lock(&self.trees).get(trial).map(Tree::root);
        if let Some(pid) = root {
            // The whole group: a worker may have children of its own (a Python
            // trainer's loaders); ones that left it are ended once it exits.
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid), signal);
        }
    }

    fn poll(&mut self, _events: &UnboundedSender<BackendEvent>) {
        let now = Instant::now();
        let mut trees = lock(&self.trees);
        if trees.is_empty() || self.last_scan.is_some_and(|t| now - t < SCAN_EVERY) {
            return;
        }
        self.last_scan = Some(now);
        let procs = tree::scan();
        for t in trees.values_mut() {
            t.record(&procs);
        }
        drop(trees);
    }
}

fn lock(trees: &Trees) -> std::sync::MutexGuard<'_, HashMap<TrialId, Tree>> {
    trees.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One worker, from launch to its `Exited` event.
struct Watch {
    trial: TrialId,
    events: UnboundedSender<BackendEvent>,
    trees: Trees,
    decoder: LineDecoder,
}

impl Watch {
    async fn run(mut self, mut child: Child) {
        let mut out = child.stdout.take();
        let mut buf = vec![0u8; 64 * 1024];
        let status = loop {
            tokio::select! {
                n = read(out.as_mut(), &mut buf) => match n {
                    Some(n) => self.lines(&buf[..n]),
                    // Closed (or unreadable): the exit still decides.
                    None => out = None,
                },
                status = child.wait() => break status,
            }
        };
        if let Some(o) = out.as_mut() {
            let deadline = tokio::time::Instant::now() + DRAIN;
            while let Ok(Some(n)) = tokio::time::timeout_at(deadline, read(Some(o), &mut buf)).await
            {
                self.lines(&buf[..n]);
            }
        }
        drop(out);
        if let Some(line) = self.decoder.finish() {
            self.send_line(line);
        }
        self.end_leftovers().await;
        let (code, signal) = match status {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                (status.code(), status.signal())
            }
            Err(_) => (None, None),
        };
        let _ = self.events.send(BackendEvent::Exited {
            trial: self.trial,
            code,
            signal,
        });
    }

    fn lines(&mut self, bytes: &[u8]) {
        for line in self.decoder.push(bytes) {
            self.send_line(line);
        }
    }

    fn send_line(&self, line: crate::lines::Line) {
        let _ = self.events.send(BackendEvent::Line {
            trial: self.trial.clone(),
            line,
        });
    }

    /// Ends what the worker left running, and says so.
    async fn end_leftovers(&self) {
        let tree = lock(&self.trees).remove(&self.trial);
        let Some(mut tree) = tree else { return };
        // Scanning /proc and waiting between rounds blocks: off the loop's thread.
        let killed = tokio::task::spawn_blocking(move || tree.kill_all())
            .await
            .unwrap_or_default();
        if !killed.is_empty() {
            let pids: Vec<String> = killed.iter().map(ToString::to_string).collect();
            let _ = self.events.send(BackendEvent::Note {
                trial: self.trial.clone(),
                text: format!(
                    "the worker exited leaving {} process(es) of its own running (pid {}); they were killed",
                    killed.len(),
                    pids.join(", ")
                ),
            });
        }
    }
}

/// Reads what is there: None at the end of the output, on an error, or with no
/// output to read (then never ready, so the exit decides).
async fn read(out: Option<&mut ChildStdout>, buf: &mut [u8]) -> Option<usize> {
    match out {
        Some(o) => o.read(buf).await.ok().filter(|&n| n > 0),
        None => std::future::pending().await,
    }
}
