//! The lexer: splits template text into text runs and the tokens of actions, as Go's
//! `text/template/parse` lexer does (delimiters `{{ }}`, trim markers, comments).

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Plain text outside actions (already trimmed by trim markers).
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    LeftParen,
    RightParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// A printable ASCII character with no other meaning (`,`).
    Char,
    /// `.Name`
    Field,
    /// `$name` or `$`
    Variable,
    Identifier,
    Bool,
    Number,
    CharConstant,
    String,
    RawString,
    Dot,
    Nil,
    /// Keywords: block, break, continue, define, else, end, if, range, template, with.
    Keyword,
    Eof,
    /// A lexing error; the token's text is the message.
    Error,
}

/// One token: its kind, text, byte offset in the input and 1-based line.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: Kind,
    pub text: String,
    pub pos: usize,
    pub line: usize,
}

impl Token {
    /// The token as Go's parser prints it in "unexpected …" errors.
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Eof => "EOF".to_string(),
            Kind::Error => self.text.clone(),
            Kind::Keyword => format!("<{}>", self.text),
            _ if self.text.chars().count() > 10 => {
                let head: String = self.text.chars().take(10).collect();
                format!("{}...", super::fmt::quote(&head))
            }
            _ => super::fmt::quote(&self.text),
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

/// Lexes the whole input. The last token is `Eof` or `Error`.
pub(crate) fn lex(input: &str) -> Vec<Token> {
    let mut lx = Lexer {
        input,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        tokens: Vec::new(),
        paren_depth: 0,
    };
    lx.run();
    lx.tokens
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    tokens: Vec<Token>,
    paren_depth: i32,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
        if c == '\n' {
            self.line -= 1;
        }
    }

    fn emit(&mut self, kind: Kind) {
        let text = self.input[self.start..self.pos].to_string();
        self.emit_text(kind, text);
    }

    fn emit_text(&mut self, kind: Kind, text: String) {
        self.tokens.push(Token {
            kind,
            text,
            pos: self.start,
            line: self.start_line,
        });
        self.ignore();
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn skip_to(&mut self, pos: usize) {
        self.line += self.input[self.pos..pos].matches('\n').count();
        self.pos = pos;
    }

    fn error(&mut self, msg: String) {
        self.tokens.push(Token {
            kind: Kind::Error,
            text: msg,
            pos: self.start,
            line: self.start_line,
        });
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn run(&mut self) {
        loop {
            // Text up to the next left delimiter.
            let Some(off) = self.rest().find(LEFT) else {
                self.skip_to(self.input.len());
                if self.pos > self.start {
                    self.emit(Kind::Text);
                }
                self.emit(Kind::Eof);
                return;
            };
            let delim_at = self.pos + off;
            let after = &self.input[delim_at + LEFT.len()..];
            let trim_left = has_left_trim(after);
            let mut text_end = delim_at;
            if trim_left {
                text_end = self.input[..delim_at]
                    .trim_end_matches(is_space)
                    .len()
                    .max(self.start);
            }
            self.skip_to(text_end);
            if self.pos > self.start {
                self.emit(Kind::Text);
            }
            self.skip_to(delim_at);
            self.ignore();
            if !self.left_delim(trim_left) {
                return;
            }
        }
    }

    /// At `{{`. Returns false when lexing must stop (an error was emitted).
    fn left_delim(&mut self, trim: bool) -> bool {
        let after_marker = if trim { 2 } else { 0 };
        let after = &self.input[self.pos + LEFT.len() + after_marker..];
        if after.starts_with(LEFT_COMMENT) {
            self.skip_to(self.pos + LEFT.len() + after_marker);
            self.ignore();
            return self.comment();
        }
        self.skip_to(self.pos + LEFT.len());
        self.emit(Kind::LeftDelim);
        self.skip_to(self.pos + after_marker);
        self.ignore();
        self.paren_depth = 0;
        self.inside_action()
    }

    fn comment(&mut self) -> bool {
        let Some(end) = self.rest().find(RIGHT_COMMENT) else {
            self.error("unclosed comment".to_string());
            return false;
        };
        self.skip_to(self.pos + end + RIGHT_COMMENT.len());
        let (delim, trim) = self.at_right_delim();
        if !delim {
            self.error("comment ends before closing delimiter".to_string());
            return false;
        }
        self.skip_to(self.pos + if trim { 2 } else { 0 } + RIGHT.len());
        if trim {
            self.trim_following();
        }
        self.ignore();
        true
    }

    /// Whether the input is at a right delimiter, and whether it has a trim marker.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim(rest) && rest[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (rest.starts_with(RIGHT), false)
    }

    fn trim_following(&mut self) {
        let n = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        self.skip_to(self.pos + n);
    }

    fn right_delim(&mut self, trim: bool) {
        if trim {
            self.skip_to(self.pos + 2);
            self.ignore();
        }
        self.skip_to(self.pos + RIGHT.len());
        self.emit(Kind::RightDelim);
        if trim {
            self.trim_following();
            self.ignore();
        }
    }

    fn inside_action(&mut self) -> bool {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth == 0 {
                    self.right_delim(trim);
                    return true;
                }
                self.error("unclosed left paren".to_string());
                return false;
            }
            let Some(c) = self.next() else {
                self.error("unclosed action".to_string());
                return false;
            };
            match c {
                c if is_space(c) => {
                    // A space run; a trim marker after it belongs to the delimiter.
                    loop {
                        if has_right_trim(self.rest()) && self.rest()[2..].starts_with(RIGHT) {
                            break;
                        }
                        match self.peek() {
                            Some(c) if is_space(c) => {
                                self.next();
                            }
                            _ => break,
                        }
                    }
                    self.emit(Kind::Space);
                }
                '=' => self.emit(Kind::Assign),
                ':' => {
                    if self.next() != Some('=') {
                        self.error("expected :=".to_string());
                        return false;
                    }
                    self.emit(Kind::Declare);
                }
                '|' => self.emit(Kind::Pipe),
                '"' => {
                    if !self.quote() {
                        return false;
                    }
                }
                '`' => {
                    let Some(end) = self.rest().find('`') else {
                        self.error("unterminated raw quoted string".to_string());
                        return false;
                    };
                    self.skip_to(self.pos + end + 1);
                    self.emit(Kind::RawString);
                }
                '$' => {
                    if !self.field_or_variable(Kind::Variable) {
                        return false;
                    }
                }
                '\'' => {
                    if !self.char_constant() {
                        return false;
                    }
                }
                '.' if !matches!(self.peek(), Some('0'..='9')) => {
                    if !self.field_or_variable(Kind::Field) {
                        return false;
                    }
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.backup(c);
                    if !self.number() {
                        return false;
                    }
                }
                c if is_alnum(c) => {
                    self.backup(c);
                    if !self.identifier() {
                        return false;
                    }
                }
                '(' => {
                    self.emit(Kind::LeftParen);
                    self.paren_depth += 1;
                }
                ')' => {
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        self.error("unexpected right paren".to_string());
                        return false;
                    }
                    self.emit(Kind::RightParen);
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(Kind::Char),
                c => {
                    self.error(format!(
                        "unrecognized character in action: {}",
                        go_unicode(c)
                    ));
                    return false;
                }
            }
        }
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn identifier(&mut self) -> bool {
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(format!("bad character {}", go_unicode(c)));
            return false;
        }
        let word = &self.input[self.start..self.pos];
        let kind = match word {
            "true" | "false" => Kind::Bool,
            "nil" => Kind::Nil,
            w if KEYWORDS.contains(&w) => Kind::Keyword,
            _ => Kind::Identifier,
        };
        self.emit(kind);
        true
    }

    fn field_or_variable(&mut self, kind: Kind) -> bool {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return true;
        }
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(format!("bad character {}", go_unicode(c)));
            return false;
        }
        self.emit(kind);
        true
    }

    fn quote(&mut self) -> bool {
        self.delimited('"', Kind::String, "unterminated quoted string")
    }

    fn char_constant(&mut self) -> bool {
        self.delimited('\'', Kind::CharConstant, "unterminated character constant")
    }

    /// The rest of a string or character constant up to the unescaped `close`, on one line.
    fn delimited(&mut self, close: char, kind: Kind, unterminated: &str) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        self.error(unterminated.to_string());
                        return false;
                    }
                    Some(_) => {}
                },
                Some('\n') | None => {
                    self.error(unterminated.to_string());
                    return false;
                }
                Some(c) if c == close => break,
                Some(_) => {}
            }
        }
        self.emit(kind);
        true
    }

    fn number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            let text = &self.input[self.start..self.pos];
            self.error(format!("bad number syntax: {}", super::fmt::quote(text)));
            return false;
        }
        self.emit(Kind::Number);
        true
    }
}

fn has_left_trim(after_delim: &str) -> bool {
    let mut cs = after_delim.chars();
    cs.next() == Some('-') && cs.next().is_some_and(is_space)
}

fn has_right_trim(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(is_space) && cs.next() == Some('-')
}

/// A character as Go's `%#U` prints it: `U+0023 '#'`.
fn go_unicode(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, String)> {
        lex(s).into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn trims_and_comments() {
        let toks = kinds("a  {{- .X -}}  b{{/* c */}}d");
        assert_eq!(
            toks,
            vec![
                (Kind::Text, "a".into()),
                (Kind::LeftDelim, "{{".into()),
                (Kind::Field, ".X".into()),
                (Kind::RightDelim, "}}".into()),
                (Kind::Text, "b".into()),
                (Kind::Text, "d".into()),
                (Kind::Eof, "".into()),
            ]
        );
    }

    #[test]
    fn action_tokens() {
        let toks: Vec<Kind> = lex("{{$x := printf \"%d\" 3 | len}}")
            .into_iter()
            .map(|t| t.kind)
            .collect();
        use Kind::*;
        assert_eq!(
            toks,
            vec![
                LeftDelim, Variable, Space, Declare, Space, Identifier, Space, String, Space,
                Number, Space, Pipe, Space, Identifier, RightDelim, Eof
            ]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            lex("{{ .X ").last().map(|t| t.text.clone()).as_deref(),
            Some("unclosed action")
        );
        assert_eq!(
            lex("{{ 3x }}").last().map(|t| t.text.clone()).as_deref(),
            Some("bad number syntax: \"3x\"")
        );
        assert_eq!(
            lex("{{/* x */ }}")
                .last()
                .map(|t| t.text.clone())
                .as_deref(),
            Some("comment ends before closing delimiter")
        );
    }
}
