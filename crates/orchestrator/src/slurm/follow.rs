//! Following a job's events file: the complete lines added since the last read.
//! The worker writes one JSON object per line; a line still being written stays
//! buffered until its newline arrives.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

#[derive(Debug)]
pub struct Follower {
    pub path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    pub fn new(path: PathBuf) -> Self {
        Follower {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// New complete lines (none while the file does not exist yet).
    pub fn read_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            // Truncated (a requeued job rewrote it): start over.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let Ok(n) = f.read_to_end(&mut buf) else {
            return Vec::new();
        };
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&done)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Follower;
    use std::io::Write;

    #[test]
    fn complete_lines_only_in_order() {
        let dir = std::env::temp_dir().join(format!("ablate-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("events.jsonl");
        let mut f = Follower::new(path.clone());
        assert!(f.read_lines().is_empty(), "no file yet");
        let mut w = std::fs::File::create(&path).expect("create");
        w.write_all(b"{\"a\":1}\n{\"b\":").expect("write");
        assert_eq!(f.read_lines(), vec!["{\"a\":1}"]);
        w.write_all(b"2}\n").expect("write");
        assert_eq!(f.read_lines(), vec!["{\"b\":2}"]);
        assert!(f.read_lines().is_empty());
        std::fs::write(&path, b"{\"c\":3}\n").expect("rewrite");
        assert_eq!(
            f.read_lines(),
            vec!["{\"c\":3}"],
            "a truncated file is read again"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
