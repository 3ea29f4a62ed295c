//! Following a job's events file: the lines added since the last read, decoded
//! as a local worker's pipe is (`crate::lines`: bytes, invalid UTF-8 replaced,
//! long lines cut, read in chunks so none is held whole). A line still being
//! written stays buffered until its newline arrives, or until the job has ended
//! (`finish`), since a worker's last line may have none.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::lines::{Line, LineDecoder};

#[derive(Debug)]
pub struct Follower {
    pub path: PathBuf,
    offset: u64,
    max_line: usize,
    decoder: LineDecoder,
}

impl Follower {
    pub fn new(path: PathBuf, max_line: usize) -> Self {
        Follower {
            path,
            offset: 0,
            max_line,
            decoder: LineDecoder::new(max_line),
        }
    }

    /// New complete lines (none while the file does not exist yet).
    pub fn read_lines(&mut self) -> Vec<Line> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            // Truncated (a requeued job rewrote it): start over.
            self.offset = 0;
            self.decoder = LineDecoder::new(self.max_line);
        }
        if len == self.offset || f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut lines = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.offset += n as u64;
                    lines.extend(self.decoder.push(&buf[..n]));
                }
            }
        }
        lines
    }

    /// What is left once the job has ended: new lines, and a last one without
    /// its newline.
    pub fn finish(&mut self) -> Vec<Line> {
        let mut lines = self.read_lines();
        lines.extend(self.decoder.finish());
        lines
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Follower;
    use std::io::Write;

    fn texts(lines: Vec<crate::lines::Line>) -> Vec<String> {
        lines.into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn complete_lines_only_in_order_and_the_last_one_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut f = Follower::new(path.clone(), 1 << 20);
        assert!(f.read_lines().is_empty(), "no file yet");
        let mut w = std::fs::File::create(&path).unwrap();
        w.write_all(b"{\"a\":1}\n{\"b\":").unwrap();
        assert_eq!(texts(f.read_lines()), vec!["{\"a\":1}"]);
        w.write_all(b"2}\n").unwrap();
        assert_eq!(texts(f.read_lines()), vec!["{\"b\":2}"]);
        assert!(f.read_lines().is_empty());
        std::fs::write(&path, b"{\"c\":3}\n").unwrap();
        assert_eq!(
            texts(f.read_lines()),
            vec!["{\"c\":3}"],
            "a truncated file is read again"
        );
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"{\"event\":\"finished\"}").unwrap();
        assert!(f.read_lines().is_empty(), "no newline yet");
        assert_eq!(
            texts(f.finish()),
            vec!["{\"event\":\"finished\"}"],
            "delivered once the job has ended"
        );
    }

    #[test]
    fn a_long_line_is_read_in_chunks_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut big = vec![b'x'; 300_000];
        big.extend_from_slice(b"\n\xff ok\n");
        std::fs::write(&path, &big).unwrap();
        let lines = Follower::new(path, 1000).read_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].cut_from, Some(300_000));
        assert_eq!(lines[0].text.len(), 1000);
        assert!(lines[1].invalid_utf8, "decoded as a local pipe is");
    }
}
