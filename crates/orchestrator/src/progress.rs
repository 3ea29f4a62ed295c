//! What a running sweep shows: indicatif bars on a terminal (the sweep, then one
//! line per running trial), plain timestamped lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// One running trial, as shown.
#[derive(Debug, Clone, Default)]
pub struct RunningView {
    pub trial: String,
    pub what: String,
    pub device: String,
    pub epoch: Option<u32>,
    pub epochs: Option<u32>,
    pub loss: Option<f64>,
    pub metric: Option<String>,
    pub images_per_s: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    pub blocked: usize,
    pub pending: usize,
    pub running: Vec<RunningView>,
    pub eta: Option<Duration>,
}

pub trait Reporter: Send {
    /// A notable moment (a trial started, finished, failed, was retried...).
    fn log(&mut self, line: &str);
    /// The current state; called often, draw as you like.
    fn update(&mut self, snapshot: &Snapshot);
    fn finish(&mut self) {}
}

pub fn for_terminal() -> Box<dyn Reporter> {
    if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines {
            start: Instant::now(),
            last: None,
        })
    }
}

fn describe(r: &RunningView) -> String {
    let mut s = format!("{} {} on {}", r.trial, r.what, r.device);
    if let (Some(e), Some(n)) = (r.epoch, r.epochs) {
        s.push_str(&format!(" epoch {e}/{n}"));
    }
    if let Some(l) = r.loss {
        s.push_str(&format!(" loss {l:.3}"));
    }
    if let Some(m) = &r.metric {
        s.push_str(&format!(" {m}"));
    }
    if let Some(i) = r.images_per_s {
        s.push_str(&format!(" {i:.0} img/s"));
    }
    s
}

fn summary(s: &Snapshot) -> String {
    let eta = s
        .eta
        .map_or(String::new(), |d| format!(", eta {}", fmt_duration(d)));
    format!(
        "{}/{} done, {} running, {} failed, {} blocked, {} pending{eta}",
        s.done,
        s.total,
        s.running.len(),
        s.failed,
        s.blocked,
        s.pending
    )
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Plain lines: every log line, and the summary at most every 30 s.
struct Lines {
    start: Instant,
    last: Option<Instant>,
}

impl Reporter for Lines {
    fn log(&mut self, line: &str) {
        eprintln!("[{:>8.1}s] {line}", self.start.elapsed().as_secs_f64());
    }

    fn update(&mut self, s: &Snapshot) {
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            self.last = Some(Instant::now());
            eprintln!(
                "[{:>8.1}s] {}",
                self.start.elapsed().as_secs_f64(),
                summary(s)
            );
        }
    }
}

struct Bars {
    multi: MultiProgress,
    sweep: ProgressBar,
    lines: Vec<ProgressBar>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::new();
        let sweep = multi.add(ProgressBar::new(0));
        if let Ok(style) = ProgressStyle::with_template("sweep [{bar:30}] {msg}") {
            sweep.set_style(style.progress_chars("=> "));
        }
        Bars {
            multi,
            sweep,
            lines: Vec::new(),
        }
    }
}

impl Reporter for Bars {
    fn log(&mut self, line: &str) {
        let _ = self.multi.println(line);
    }

    fn update(&mut self, s: &Snapshot) {
        self.sweep.set_length(s.total as u64);
        self.sweep.set_position(s.done as u64);
        self.sweep.set_message(summary(s));
        while self.lines.len() < s.running.len() {
            let bar = self.multi.add(ProgressBar::new_spinner());
            if let Ok(style) = ProgressStyle::with_template("  {msg}") {
                bar.set_style(style);
            }
            self.lines.push(bar);
        }
        while self.lines.len() > s.running.len() {
            if let Some(bar) = self.lines.pop() {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
        }
        for (bar, r) in self.lines.iter().zip(&s.running) {
            bar.set_message(describe(r));
        }
    }

    fn finish(&mut self) {
        for bar in self.lines.drain(..) {
            bar.finish_and_clear();
        }
        self.sweep.finish_and_clear();
    }
}
