//! Diagnostics that point at a file, line and column, and say what would be valid.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// One problem in a sweep file, located by line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    /// Dotted key path such as `train.epochs` or `study[2].grid.depth`; empty for syntax errors.
    pub key: String,
    pub message: String,
    /// What would be valid, or how to fix it.
    pub help: Option<String>,
    /// The offending source line, for context.
    pub source_line: String,
}

/// Everything that can go wrong turning a sweep file into trials.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read sweep file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: not valid UTF-8 text (first bad byte at offset {offset}); a sweep file is TOML, see experiments/quick.toml",
        path.display()
    )]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{}", Rendered { file, diagnostics })]
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("override {arg:?}: {why}")]
    Override { arg: String, why: String },
}

impl SpecError {
    /// A sweep file that cannot be read or is not valid is the user's to fix:
    /// `ablate` exits 2 for it.
    pub fn is_invalid_input(&self) -> bool {
        true
    }

    /// The diagnostics of an `Invalid` error (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Invalid { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

struct Rendered<'a> {
    file: &'a str,
    diagnostics: &'a [Diagnostic],
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                // The first line's `error: ` is printed by whoever shows the error.
                write!(f, "\nerror: ")?;
            }
            write!(f, "{}:{}:{}: ", self.file, d.line, d.column)?;
            if !d.key.is_empty() {
                write!(f, "`{}`: ", d.key)?;
            }
            write!(f, "{}", d.message)?;
            let gutter = d.line.to_string().len();
            let shown: String = d.source_line.chars().take(160).collect();
            if !shown.trim().is_empty() {
                write!(f, "\n{:gutter$} |\n{} | {}", "", d.line, shown)?;
                let pad = d.column.saturating_sub(1).min(shown.chars().count());
                write!(f, "\n{:gutter$} | {:pad$}^", "", "")?;
            }
            if let Some(help) = &d.help {
                write!(f, "\n  = help: {help}")?;
            }
        }
        Ok(())
    }
}

/// Collects diagnostics while a file is validated, so one run reports every problem.
#[derive(Debug)]
pub(crate) struct Ctx<'t> {
    text: &'t str,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// A cap on reported problems: past this the rest are usually echoes of the first.
const MAX_DIAGNOSTICS: usize = 50;

impl<'t> Ctx<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            text,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn error(
        &mut self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        if self.diagnostics.len() >= MAX_DIAGNOSTICS {
            return;
        }
        let (line, column, source_line) = locate(self.text, span.start);
        self.diagnostics.push(Diagnostic {
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            help,
            source_line,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty()
    }
}

/// Byte offset to (line, column, that line's text); columns count characters.
pub(crate) fn locate(text: &str, offset: usize) -> (usize, usize, String) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let source_line = text[line_start..line_end]
        .trim_end_matches('\r')
        .to_string();
    (line, column, source_line)
}

/// "did you mean `x`?" for a misspelt name, if one valid name is close enough.
pub(crate) fn did_you_mean<'a>(
    wrong: &str,
    valid: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|v| (strsim::jaro_winkler(wrong, v), v))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// A help line listing valid choices, led by the closest one.
pub(crate) fn choices_help(wrong: &str, valid: &[&str]) -> String {
    let list = valid
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(wrong, valid.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? expected one of {list}"),
        None => format!("expected one of {list}"),
    }
}
