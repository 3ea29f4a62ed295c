//! Progress for long steps: an indicatif bar on a terminal, a few plain
//! timestamped lines otherwise (logs of batch jobs stay readable).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress sink for `(done, total)` updates from any thread.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    start: Instant,
    /// Last tenth reported, off a terminal.
    last: Mutex<usize>,
}

impl Progress {
    pub fn new(label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:>16} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_string());
            bar
        });
        Progress {
            bar,
            label: label.to_string(),
            start: Instant::now(),
            last: Mutex::new(0),
        }
    }

    pub fn update(&self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            return;
        }
        // Quick steps print nothing; slow ones a line per tenth.
        if self.start.elapsed().as_secs_f64() < 2.0 {
            return;
        }
        let tenth = (done * 10).checked_div(total).unwrap_or(10);
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if tenth > *last {
            *last = tenth;
            eprintln!(
                "[{:>7.1}s] {}: {done}/{total}",
                self.start.elapsed().as_secs_f64(),
                self.label
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
