//! Errors of the test-script reader.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What is wrong with a script.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptErrorKind {
    /// A non-empty line outside a block that is not a command.
    #[error("invalid command {0:?}: expected load, load_with_nhcb, clear or eval")]
    UnknownCommand(String),
    /// A `load…` line that is not `load <interval>` / `load_with_nhcb <interval>`.
    #[error("invalid load command: expected `load <interval>` or `load_with_nhcb <interval>`")]
    MalformedLoad,
    /// An `eval…` line of neither accepted shape.
    #[error(
        "invalid eval command: expected `eval[_fail|_warn|_info|_ordered] instant at <time> <expr>` \
         or `eval[_fail|_warn|_info] range from <start> to <end> step <step> <expr>`"
    )]
    MalformedEval,
    /// A time or duration that does not parse.
    #[error("invalid {what} {text:?}: {reason}")]
    InvalidDuration {
        /// Which field (`interval`, `evaluation time`, `start`, …).
        what: &'static str,
        /// As written.
        text: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A range whose end is before its start.
    #[error("end time {end:?} is before start time {start:?}")]
    EndBeforeStart {
        /// Start as written.
        start: String,
        /// End as written.
        end: String,
    },
    /// An `expect …` line of no known shape.
    #[error(
        "invalid expect line: expected `expect <fail|warn|no_warn|info|no_info|ordered> \
         [msg: <text> | regex: <pattern>]`, `expect string <quoted>` or \
         `expect range vector from <start> to <end> step <step>`"
    )]
    MalformedExpect,
    /// Expectations that cannot hold together (or cannot apply to this eval).
    #[error("{0}")]
    ConflictingExpectations(&'static str),
    /// A `regex:` or `expected_fail_regexp` pattern that does not compile.
    #[error("invalid regex {pattern:?}: {reason}")]
    InvalidRegex {
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// An `expect string` literal that does not unquote.
    #[error("invalid string literal: {0}")]
    InvalidString(&'static str),
    /// A series line (metric or values) that does not parse.
    #[error("invalid series: {0}")]
    Series(String),
    /// An instant eval whose expected series has several values without `expect range vector`.
    #[error(
        "an instant eval expects one value per series; use `expect range vector from … to … step …` \
         for a range-vector result"
    )]
    MultipleValuesInInstant,
    /// An invalid `@st` (start timestamp) line or a mismatch with its sample line.
    #[error("start timestamps: {0}")]
    StartTimestamps(String),
    /// A sample time beyond the `i64` millisecond range.
    #[error("sample timestamp out of range")]
    TimestampOverflow,
    /// The script file could not be read.
    #[error("cannot read the script: {0}")]
    Io(#[source] std::io::Error),
}

/// An error reading a test script: what and where.
///
/// Displays as `file:line:col: message` (without the file when none is attached) followed by the
/// offending line and a caret under the column.
#[derive(Debug)]
pub struct ScriptError {
    // Boxed: results of the reader stay one pointer wide on the error side.
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ScriptErrorKind,
    file: Option<PathBuf>,
    line: usize,
    column: usize,
    span: Range<usize>,
    source_line: String,
}

impl ScriptError {
    /// An error at a position: `line` and `column` 1-based, `span` in bytes of the whole script,
    /// `source_line` the text of the line.
    pub(crate) fn new(
        kind: ScriptErrorKind,
        line: usize,
        column: usize,
        span: Range<usize>,
        source_line: &str,
    ) -> Self {
        ScriptError {
            inner: Box::new(Inner {
                kind,
                file: None,
                line,
                column,
                span,
                source_line: source_line.trim_end_matches('\r').to_owned(),
            }),
        }
    }

    pub(crate) fn io(err: std::io::Error) -> Self {
        ScriptError {
            inner: Box::new(Inner {
                kind: ScriptErrorKind::Io(err),
                file: None,
                line: 0,
                column: 0,
                span: 0..0,
                source_line: String::new(),
            }),
        }
    }

    /// Names the file the script came from, for the message.
    pub fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.inner.file = Some(file.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ScriptErrorKind {
        &self.inner.kind
    }

    /// The file, if attached.
    pub fn file(&self) -> Option<&Path> {
        self.inner.file.as_deref()
    }

    /// 1-based line (0 when the error concerns no line, e.g. I/O).
    pub fn line(&self) -> usize {
        self.inner.line
    }

    /// 1-based byte column in the line (0 when the error concerns no line).
    pub fn column(&self) -> usize {
        self.inner.column
    }

    /// Byte range of the offending text in the script.
    pub fn span(&self) -> Range<usize> {
        self.inner.span.clone()
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner;
        if let Some(file) = &e.file {
            write!(f, "{}:", file.display())?;
        }
        if e.line > 0 {
            write!(f, "{}:{}:", e.line, e.column)?;
        }
        write!(f, " {}", e.kind)?;
        if e.line > 0 && !e.source_line.is_empty() {
            // Tabs become single spaces so that the caret lines up.
            let shown: String = e
                .source_line
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let before = e
                .source_line
                .get(..e.column.saturating_sub(1))
                .map_or(0, |s| s.chars().count());
            let width = e
                .source_line
                .get(e.column.saturating_sub(1)..)
                .map_or(1, |rest| {
                    rest.get(..e.span.len().min(rest.len()))
                        .map_or(1, |s| s.chars().count().max(1))
                });
            write!(
                f,
                "\n    {shown}\n    {}{}",
                " ".repeat(before),
                "^".repeat(width)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.inner.kind)
    }
}
