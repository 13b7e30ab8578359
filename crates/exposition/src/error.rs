//! Parse errors: what was wrong, and where (line, column, byte offset).

use std::fmt;

/// A position in the input: 1-based line and column (columns count characters, not bytes),
/// and the 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in Unicode scalar values from the start of the line.
    pub col: u32,
    /// 0-based byte offset into the whole input.
    pub offset: usize,
}

impl Position {
    /// Computes the position of byte `offset` in `input`, given the offset where its line
    /// starts and the line number. Only used on the error path.
    pub(crate) fn locate(input: &[u8], line_start: usize, line: u32, offset: usize) -> Self {
        let offset = offset.min(input.len());
        let start = line_start.min(offset);
        let prefix = &input[start..offset];
        let col = match std::str::from_utf8(prefix) {
            Ok(s) => s.chars().count(),
            // Invalid UTF-8 before the error: count bytes that start a character.
            Err(_) => prefix.iter().filter(|&&b| (b & 0xC0) != 0x80).count(),
        };
        Position {
            line,
            col: u32::try_from(col).unwrap_or(u32::MAX).saturating_add(1),
            offset,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// What went wrong. The messages say what was expected and, where useful, what was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The grammar expected something else here.
    Expected {
        /// What the grammar wanted, e.g. `"label name"`.
        expected: &'static str,
        /// A short rendering of what was there instead.
        found: String,
    },
    /// A sample has neither a bare nor a quoted metric name.
    MissingMetricName,
    /// The same label name appears twice in one label set.
    DuplicateLabel(String),
    /// Two quoted metric names in one sample, or a quoted name after a bare one.
    DuplicateMetricName,
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A number that does not parse as the format defines numbers.
    InvalidNumber(String),
    /// A timestamp that does not parse or is out of range.
    InvalidTimestamp(String),
    /// `# TYPE` names a type the format does not know.
    InvalidMetricType(String),
    /// An exemplar in the Prometheus text format, which has none.
    ExemplarNotAllowed,
    /// The input ended without the `# EOF` line OpenMetrics requires.
    MissingEof,
    /// Data follows the `# EOF` line.
    DataAfterEof,
    /// An OpenMetrics rule about families, metrics or values was broken; the text says which.
    OpenMetrics(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::MissingMetricName => f.write_str("sample has no metric name"),
            ErrorKind::DuplicateLabel(name) => write!(f, "duplicate label name {name:?}"),
            ErrorKind::DuplicateMetricName => f.write_str("sample has more than one metric name"),
            ErrorKind::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ErrorKind::InvalidNumber(s) => write!(f, "invalid number {s:?}"),
            ErrorKind::InvalidTimestamp(s) => write!(f, "invalid timestamp {s:?}"),
            ErrorKind::InvalidMetricType(s) => write!(f, "invalid metric type {s:?}"),
            ErrorKind::ExemplarNotAllowed => {
                f.write_str("exemplars are only allowed in OpenMetrics")
            }
            ErrorKind::MissingEof => f.write_str("expected \"# EOF\" at the end of the input"),
            ErrorKind::DataAfterEof => f.write_str("unexpected data after \"# EOF\""),
            ErrorKind::OpenMetrics(msg) => f.write_str(msg),
        }
    }
}

/// A parse error with its position. `Display` prints `LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{pos}: {kind}")]
pub struct ParseError {
    /// Where the problem is.
    pub pos: Position,
    /// What the problem is.
    pub kind: ErrorKind,
}

impl ParseError {
    /// The error with the offending line and a caret under the column, for people:
    ///
    /// ```text
    /// 3:9: expected label value, found "x"
    ///   |
    /// 3 | foo{bar=x} 1
    ///   |         ^
    /// ```
    pub fn render(&self, input: &[u8]) -> String {
        let start = self.pos.offset.min(input.len());
        let line_start = input[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line_end = input[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(input.len(), |i| start + i);
        let text = String::from_utf8_lossy(&input[line_start..line_end]);
        let gutter = self.pos.line.to_string();
        let pad = " ".repeat(gutter.len());
        let caret_pad = " ".repeat(self.pos.col.saturating_sub(1) as usize);
        format!("{self}\n{pad} |\n{gutter} | {text}\n{pad} | {caret_pad}^")
    }
}

/// `Result` with this crate's [`ParseError`].
pub type Result<T> = std::result::Result<T, ParseError>;

/// A short, printable rendering of the bytes at an error position.
pub(crate) fn describe_found(rest: &[u8]) -> String {
    match rest.first() {
        None => "end of input".to_owned(),
        Some(b'\n') => "end of line".to_owned(),
        Some(_) => {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(rest.len())
                .min(16);
            let mut s = String::from_utf8_lossy(&rest[..end]).into_owned();
            // Do not cut a character in half when the lossy conversion kept it whole.
            if end < rest.len() && rest[end] != b'\n' {
                s.push('…');
            }
            format!("{s:?}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_characters_not_bytes() {
        let input = "ab\nxé{y\n".as_bytes();
        // 'é' is two bytes; '{' is the third character of line 2.
        let p = Position::locate(input, 3, 2, 3 + 1 + 2);
        assert_eq!((p.line, p.col, p.offset), (2, 3, 6));
    }

    #[test]
    fn render_puts_caret_under_column() {
        let input = b"a 1\nfoo{bar=x} 1\n";
        let err = ParseError {
            pos: Position::locate(input, 4, 2, 4 + 8),
            kind: ErrorKind::Expected {
                expected: "'\"' before label value",
                found: describe_found(b"x} 1\n"),
            },
        };
        let r = err.render(input);
        assert_eq!(
            r,
            "2:9: expected '\"' before label value, found \"x} 1\"\n  |\n2 | foo{bar=x} 1\n  |         ^"
        );
    }
}
