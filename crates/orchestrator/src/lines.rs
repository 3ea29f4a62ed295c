//! A worker's output as lines, the same for a local worker's pipe and a batch
//! job's events file: bytes in, lines out. Output is bytes, not text: invalid
//! UTF-8 is replaced (and the line is then never an event), and a line longer
//! than the cap keeps its first `max` bytes while the rest is dropped as it
//! arrives, so no line is ever held whole, however long the worker makes it.

/// The default cap on one line of worker output (`ablate run --max-line-bytes`).
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// One line of output, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// Some bytes were not UTF-8 and were replaced.
    pub invalid_utf8: bool,
    /// The line was longer than the cap: its whole length in bytes.
    pub cut_from: Option<u64>,
}

impl Line {
    /// A whole, valid line (what tests and other sources hand over).
    pub fn plain(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            invalid_utf8: false,
            cut_from: None,
        }
    }

    /// Whether the line may be read as an event: whole and valid UTF-8.
    pub fn intact(&self) -> bool {
        !self.invalid_utf8 && self.cut_from.is_none()
    }
}

#[derive(Debug)]
pub struct LineDecoder {
    max: usize,
    partial: Vec<u8>,
    /// Bytes of the current line past the cap, dropped.
    dropped: u64,
}

impl LineDecoder {
    pub fn new(max: usize) -> Self {
        LineDecoder {
            max: max.max(1),
            partial: Vec::new(),
            dropped: 0,
        }
    }

    /// The lines `bytes` completes, in order; a line still open stays buffered
    /// (up to the cap) until its newline arrives or `finish`.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Line> {
        let mut out = Vec::new();
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            self.take(&bytes[..nl]);
            out.extend(self.end_line());
            bytes = &bytes[nl + 1..];
        }
        self.take(bytes);
        out
    }

    /// The last line, when the output ended without a newline.
    pub fn finish(&mut self) -> Option<Line> {
        self.end_line()
    }

    fn take(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.partial.len());
        let keep = bytes.len().min(room);
        self.partial.extend_from_slice(&bytes[..keep]);
        self.dropped += (bytes.len() - keep) as u64;
    }

    fn end_line(&mut self) -> Option<Line> {
        let mut bytes = std::mem::take(&mut self.partial);
        let dropped = std::mem::take(&mut self.dropped);
        let cut_from = (dropped > 0).then(|| bytes.len() as u64 + dropped);
        if bytes.last() == Some(&b'\r') && cut_from.is_none() {
            bytes.pop();
        }
        let (text, invalid_utf8) = match String::from_utf8(bytes) {
            Ok(s) => (s, false),
            Err(e) => {
                let utf8 = e.utf8_error();
                let mut bytes = e.into_bytes();
                // A cut may split the last character: that is the cut, not bad output.
                if cut_from.is_some() && utf8.error_len().is_none() {
                    bytes.truncate(utf8.valid_up_to());
                    (String::from_utf8_lossy(&bytes).into_owned(), false)
                } else {
                    (String::from_utf8_lossy(&bytes).into_owned(), true)
                }
            }
        };
        if text.trim().is_empty() && cut_from.is_none() {
            return None;
        }
        Some(Line {
            text,
            invalid_utf8,
            cut_from,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_whole_in_order_and_blank_ones_are_skipped() {
        let mut d = LineDecoder::new(100);
        assert_eq!(
            d.push(b"{\"a\":1}\n\n  \n{\"b\""),
            [Line::plain("{\"a\":1}")]
        );
        assert_eq!(d.push(b":2}\r\nx"), [Line::plain("{\"b\":2}")]);
        assert_eq!(
            d.finish(),
            Some(Line::plain("x")),
            "a last line without newline"
        );
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_marked() {
        let mut d = LineDecoder::new(100);
        let lines = d.push(b"ok \xff\xfe here\n{\"event\":\"heartbeat\"}\n");
        assert_eq!(lines.len(), 2);
        assert!(lines[0].invalid_utf8);
        assert_eq!(lines[0].text, "ok \u{fffd}\u{fffd} here");
        assert!(lines[1].intact());
    }

    #[test]
    fn a_long_line_is_cut_at_the_cap_and_never_held_whole() {
        let mut d = LineDecoder::new(8);
        for _ in 0..1000 {
            assert!(d.push(&[b'x'; 1000]).is_empty());
            assert!(d.partial.len() <= 8, "held {} bytes", d.partial.len());
        }
        let lines = d.push(b"yy\nnext\n");
        assert_eq!(lines[0].text, "xxxxxxxx");
        assert_eq!(lines[0].cut_from, Some(1_000_002));
        assert!(!lines[0].intact());
        assert_eq!(lines[1], Line::plain("next"));
    }

    #[test]
    fn a_cut_inside_a_character_is_not_invalid_utf8() {
        let mut d = LineDecoder::new(4);
        let lines = d.push("abcé and more\n".as_bytes());
        assert_eq!(lines[0].text, "abc");
        assert!(!lines[0].invalid_utf8);
        assert!(lines[0].cut_from.is_some());
    }
}
