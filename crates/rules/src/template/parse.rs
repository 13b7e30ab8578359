//! The parser: tokens to a tree of nodes, with Go's `text/template/parse` rules and messages.

use std::fmt::{self, Write as _};

use super::TemplateError;
use super::lex::{Kind, Token, lex};

/// A parsed template body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tree {
    pub name: String,
    pub root: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break(usize),
    Continue(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// `.A.B` (idents without dots).
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A` (`idents[0]` is `$x`).
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// `(pipe).A.B`
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    /// A function name.
    Identifier {
        pos: usize,
        name: String,
    },
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(usize, Number),
    String {
        pos: usize,
        quoted: String,
        text: String,
    },
    Pipe(Box<Pipe>),
}

/// A numeric literal and the interpretations Go gives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    pub is_char: bool,
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Number(pos, _)
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                if let Arg::Pipe(p) = node.as_ref() {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => f.write_str(&n.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            if let Arg::Pipe(p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

pub(crate) struct ListDisplay<'a>(pub &'a [Node]);

impl fmt::Display for ListDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in self.0 {
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = |f: &mut fmt::Formatter<'_>, kw: &str, b: &Branch| {
            write!(f, "{{{{{kw} {}}}}}{}", b.pipe, ListDisplay(&b.list))?;
            if let Some(e) = &b.else_list {
                write!(f, "{{{{else}}}}{}", ListDisplay(e))?;
            }
            f.write_str("{{end}}")
        };
        match self {
            Node::Text(t) => f.write_str(t),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => branch(f, "if", b),
            Node::Range(b) => branch(f, "range", b),
            Node::With(b) => branch(f, "with", b),
            Node::Template { name, pipe, .. } => match pipe {
                None => write!(f, "{{{{template {}}}}}", super::fmt::quote(name)),
                Some(p) => write!(f, "{{{{template {} {p}}}}}", super::fmt::quote(name)),
            },
            Node::Break(_) => f.write_str("{{break}}"),
            Node::Continue(_) => f.write_str("{{continue}}"),
        }
    }
}

/// What `itemList` stopped at.
enum Stop {
    End,
    Else,
}

/// The most deeply nested control structures and parentheses a template may have.
pub(crate) const MAX_PARSE_DEPTH: usize = 100;

pub(crate) struct Parser<'a> {
    name: &'a str,
    text: &'a str,
    tokens: Vec<Token>,
    idx: usize,
    seen: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    action_line: usize,
    has_func: &'a dyn Fn(&str) -> bool,
    pub defs: Vec<Tree>,
}

type PResult<T> = Result<T, TemplateError>;

/// Parses `text` as the template `name`; returns the main tree and the `define`d ones.
pub(crate) fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> PResult<(Tree, Vec<Tree>)> {
    let mut p = Parser {
        name,
        text,
        tokens: lex(text),
        idx: 0,
        seen: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        action_line: 0,
        has_func,
        defs: Vec::new(),
    };
    let root = p.parse_top()?;
    Ok((
        Tree {
            name: name.to_string(),
            root,
        },
        p.defs,
    ))
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "and"
            | "or"
            | "not"
            | "len"
            | "index"
            | "slice"
            | "print"
            | "printf"
            | "println"
            | "eq"
            | "ne"
            | "lt"
            | "le"
            | "gt"
            | "ge"
            | "html"
            | "js"
            | "urlquery"
            | "call"
    )
}

impl Parser<'_> {
    fn next(&mut self) -> Token {
        // The lexer always ends with Eof or Error; reading past the end repeats it.
        let t = self
            .tokens
            .get(self.idx)
            .or(self.tokens.last())
            .cloned()
            .unwrap_or(Token {
                kind: Kind::Eof,
                text: String::new(),
                pos: self.text.len(),
                line: 1,
            });
        self.idx += 1;
        self.seen = self.seen.max(self.idx);
        t
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&mut self) -> Token {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn error_at(&self, t: &Token, msg: impl Into<String>) -> TemplateError {
        TemplateError::Parse {
            message: format!("template: {}:{}: {}", self.name, t.line, msg.into()),
            line: t.line,
            offset: t.pos,
        }
    }

    fn errorf(&self, msg: impl Into<String>) -> TemplateError {
        // Go reports the line of the latest token lexed, peeked ones included.
        match self
            .tokens
            .get(self.seen.saturating_sub(1))
            .or(self.tokens.last())
        {
            Some(t) => self.error_at(t, msg),
            None => TemplateError::Parse {
                message: format!("template: {}:1: {}", self.name, msg.into()),
                line: 1,
                offset: 0,
            },
        }
    }

    fn unexpected(&self, t: &Token, context: &str) -> TemplateError {
        if t.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != t.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if t.text.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.error_at(t, format!("{}{}", t.text, extra));
        }
        self.error_at(t, format!("unexpected {} in {}", t.describe(), context))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err(self.errorf(format!(
                "exceeded maximum nesting depth ({MAX_PARSE_DEPTH})"
            )));
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        loop {
            let t = self.peek();
            if t.kind == Kind::Eof {
                return Ok(root);
            }
            if t.kind == Kind::LeftDelim {
                let save = self.idx;
                self.next();
                let kw = self.next_non_space();
                if kw.kind == Kind::Keyword && kw.text == "define" {
                    self.action_line = kw.line;
                    self.parse_definition()?;
                    self.action_line = 0;
                    continue;
                }
                self.idx = save;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                Item::End => return Err(self.errorf("unexpected {{end}}")),
                Item::Else => return Err(self.errorf("unexpected {{else}}")),
            }
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        if !matches!(t.kind, Kind::String | Kind::RawString) {
            return Err(self.unexpected(&t, CONTEXT));
        }
        let name = unquote(&t.text).map_err(|e| self.error_at(&t, e))?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, stop) = self.item_list()?;
        self.vars = saved_vars;
        if let Stop::Else = stop {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_def(Tree { name, root: list })
    }

    fn add_def(&mut self, tree: Tree) -> PResult<()> {
        if let Some(existing) = self.defs.iter_mut().find(|d| d.name == tree.name) {
            if is_empty_tree(&existing.root) {
                *existing = tree;
            } else if !is_empty_tree(&tree.root) {
                return Err(self.errorf(format!(
                    "template: multiple definition of template {}",
                    super::fmt::quote(&tree.name)
                )));
            }
            return Ok(());
        }
        self.defs.push(tree);
        Ok(())
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Stop)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::End => return Ok((list, Stop::End)),
                Item::Else => return Ok((list, Stop::Else)),
            }
        }
        let t = self.peek_non_space();
        if t.kind == Kind::Error {
            return Err(self.unexpected(&t, "input"));
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text(t.text))),
            Kind::LeftDelim => {
                let saved = self.action_line;
                self.action_line = t.line;
                let r = self.action();
                self.action_line = saved;
                r
            }
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        if t.kind == Kind::Keyword {
            match t.text.as_str() {
                "block" => return self.block_control().map(Item::Node),
                "break" | "continue" => {
                    let is_break = t.text == "break";
                    let end = self.next_non_space();
                    if end.kind != Kind::RightDelim {
                        return Err(self.unexpected(&end, &format!("{{{{{}}}}}", t.text)));
                    }
                    if self.range_depth == 0 {
                        return Err(
                            self.errorf(format!("{{{{{}}}}} outside {{{{range}}}}", t.text))
                        );
                    }
                    return Ok(Item::Node(if is_break {
                        Node::Break(t.pos)
                    } else {
                        Node::Continue(t.pos)
                    }));
                }
                "else" => {
                    let peek = self.peek_non_space();
                    if peek.kind == Kind::Keyword && (peek.text == "if" || peek.text == "with") {
                        return Ok(Item::Else);
                    }
                    self.expect(Kind::RightDelim, "else")?;
                    return Ok(Item::Else);
                }
                "end" => {
                    self.expect(Kind::RightDelim, "end")?;
                    return Ok(Item::End);
                }
                "if" => return self.control("if").map(|b| Item::Node(Node::If(b))),
                "range" => return self.control("range").map(|b| Item::Node(Node::Range(b))),
                "with" => return self.control("with").map(|b| Item::Node(Node::With(b))),
                "template" => return self.template_control().map(Item::Node),
                _ => {}
            }
        }
        self.backup();
        let t = self.peek();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action { pos: t.pos, pipe }))
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let nvars = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, stop) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Stop::Else = stop {
            let peek = self.peek();
            if context == "if" && peek.kind == Kind::Keyword && peek.text == "if" {
                self.next();
                else_list = Some(vec![Node::If(self.control("if")?)]);
            } else if context == "with" && peek.kind == Kind::Keyword && peek.text == "with" {
                self.next();
                else_list = Some(vec![Node::With(self.control("with")?)]);
            } else {
                let (l, stop) = self.item_list()?;
                if let Stop::Else = stop {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(nvars);
        self.depth -= 1;
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, t: &Token, context: &str) -> PResult<String> {
        match t.kind {
            Kind::String | Kind::RawString => unquote(&t.text).map_err(|e| self.error_at(t, e)),
            _ => Err(self.unexpected(t, context)),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, CONTEXT)?;
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        self.enter()?;
        let t = self.next_non_space();
        let name = self.template_name(&t, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (list, stop) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        if let Stop::Else = stop {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_def(Tree {
            name: name.clone(),
            root: list,
        })?;
        self.depth -= 1;
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$k, $v :=` (range only).
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let save = self.idx;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.text.clone());
                    self.vars.push(v.text);
                    break;
                }
                Kind::Char if next.text == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.text.clone());
                    self.vars.push(v.text);
                    if context == "range" && pipe.decl.len() < 2 {
                        let p = self.peek_non_space();
                        if matches!(p.kind, Kind::Variable | Kind::RightDelim | Kind::RightParen) {
                            continue;
                        }
                        return Err(self.errorf("range can only initialize variables"));
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ => {
                    self.idx = save;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            if t.kind == end {
                if pipe.cmds.is_empty() {
                    return Err(self.errorf(format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args[0],
                        Arg::Bool(..)
                            | Arg::Dot(_)
                            | Arg::Nil(_)
                            | Arg::Number(..)
                            | Arg::String { .. }
                    ) {
                        return Err(self.errorf(format!(
                            "non executable command in pipeline stage {}",
                            i + 1
                        )));
                    }
                }
                return Ok(pipe);
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command {
            pos: self.peek_non_space().pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let first = self.peek();
        if first.kind != Kind::Field {
            return Ok(Some(node));
        }
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            fields.push(self.next().text[1..].to_string());
        }
        let pos = first.pos;
        Ok(Some(match node {
            Arg::Field { idents, .. } => Arg::Field {
                pos,
                idents: idents.into_iter().chain(fields).collect(),
            },
            Arg::Variable { idents, .. } => Arg::Variable {
                pos,
                idents: idents.into_iter().chain(fields).collect(),
            },
            Arg::Bool(..) | Arg::String { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return Err(self.errorf(format!(
                    "unexpected . after term {}",
                    super::fmt::quote(&node.to_string())
                )));
            }
            node => Arg::Chain {
                pos,
                node: Box::new(node),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        Ok(Some(match t.kind {
            Kind::Identifier => {
                if !is_builtin(&t.text) && !(self.has_func)(&t.text) {
                    return Err(self.error_at(
                        &t,
                        format!("function {} not defined", super::fmt::quote(&t.text)),
                    ));
                }
                Arg::Identifier {
                    pos: t.pos,
                    name: t.text,
                }
            }
            Kind::Dot => Arg::Dot(t.pos),
            Kind::Nil => Arg::Nil(t.pos),
            Kind::Variable => {
                if !self.vars.contains(&t.text) {
                    return Err(self.error_at(
                        &t,
                        format!("undefined variable {}", super::fmt::quote(&t.text)),
                    ));
                }
                Arg::Variable {
                    pos: t.pos,
                    idents: vec![t.text],
                }
            }
            Kind::Field => Arg::Field {
                pos: t.pos,
                idents: vec![t.text[1..].to_string()],
            },
            Kind::Bool => Arg::Bool(t.pos, t.text == "true"),
            Kind::Number | Kind::CharConstant => {
                let n = parse_number(&t.text, t.kind == Kind::CharConstant)
                    .map_err(|e| self.error_at(&t, e))?;
                Arg::Number(t.pos, n)
            }
            Kind::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(p))
            }
            Kind::String | Kind::RawString => {
                let text = unquote(&t.text).map_err(|e| self.error_at(&t, e))?;
                Arg::String {
                    pos: t.pos,
                    quoted: t.text,
                    text,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Item {
    Node(Node),
    End,
    Else,
}

fn is_empty_tree(list: &[Node]) -> bool {
    list.iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

/// Go's `strconv.Unquote` for "…", `…` and '…' literals.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    const BAD: &str = "invalid syntax";
    if s.len() < 2 {
        return Err(BAD.into());
    }
    let q = s.as_bytes()[0];
    if s.as_bytes()[s.len() - 1] != q {
        return Err(BAD.into());
    }
    let body = &s[1..s.len() - 1];
    if q == b'`' {
        return Ok(body.replace('\r', ""));
    }
    let mut out = String::new();
    let mut cs = body.chars().peekable();
    while let Some(c) = cs.next() {
        if c == '\n' || (c as u32 == q as u32) {
            return Err(BAD.into());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = cs.next().ok_or(BAD)?;
        let mut hex = |n: usize| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let d = cs.next().and_then(|c| c.to_digit(16)).ok_or(BAD)?;
                v = v * 16 + d;
            }
            Ok(v)
        };
        let ch = match e {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            '\\' => '\\',
            '\'' if q == b'\'' => '\'',
            '"' if q == b'"' => '"',
            'x' => char::from_u32(hex(2)?).ok_or(BAD)?,
            'u' => char::from_u32(hex(4)?).ok_or(BAD)?,
            'U' => char::from_u32(hex(8)?).ok_or(BAD)?,
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = cs.next().and_then(|c| c.to_digit(8)).ok_or(BAD)?;
                    v = v * 8 + d;
                }
                if v > 255 {
                    return Err(BAD.into());
                }
                char::from_u32(v).ok_or(BAD)?
            }
            _ => return Err(BAD.into()),
        };
        out.push(ch);
    }
    if q == b'\'' && out.chars().count() != 1 {
        return Err(BAD.into());
    }
    Ok(out)
}

fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    // Underscores may only separate digits (or follow a base prefix).
    let legal_underscores = !digits.ends_with('_')
        && !digits.contains("__")
        && (!digits.starts_with('_') || (prefixed && !lower.starts_with("0_")));
    if digits.contains('_') && !legal_underscores {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    let mag = i128::from_str_radix(&clean, radix).ok()?;
    let v = if neg { -mag } else { mag };
    i64::try_from(v).ok()
}

/// A number literal with Go's interpretations (int, float, char).
pub(crate) fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    if is_char {
        let s = unquote(text)?;
        let c = s.chars().next().ok_or("invalid syntax")?;
        return Ok(Number {
            text: text.into(),
            int: Some(c as i64),
            float: Some(c as u32 as f64),
            is_char: true,
        });
    }
    if text.ends_with('i') {
        return Err(format!(
            "complex number {} is not supported",
            super::fmt::quote(text)
        ));
    }
    if let Some(i) = parse_go_int(text) {
        return Ok(Number {
            text: text.into(),
            int: Some(i),
            float: Some(i as f64),
            is_char: false,
        });
    }
    let looks_float =
        text.contains(['.', 'e', 'E', 'p', 'P']) && !text.to_ascii_lowercase().contains("0x");
    if let (true, Ok(f)) = (looks_float, text.replace('_', "").parse::<f64>()) {
        let int = (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64);
        return Ok(Number {
            text: text.into(),
            int,
            float: Some(f),
            is_char: false,
        });
    }
    if !text.contains(['.', 'e', 'E', 'p', 'P'])
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
    {
        return Err(format!("integer overflow: {}", super::fmt::quote(text)));
    }
    Err(format!(
        "illegal number syntax: {}",
        super::fmt::quote(text)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, String> {
        parse("t", s, &|n| n == "f")
            .map(|(t, _)| ListDisplay(&t.root).to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn round_trips() {
        for s in [
            "a{{.X.Y}}b",
            "{{$x := 1}}{{$x}}",
            "{{range $i, $e := .L}}{{$i}}{{break}}{{end}}",
            "{{with $x := .A}}{{$x}}{{end}}",
            "{{f (f .).X \"s\" 1.5 'c' nil true | printf \"%d\"}}",
            "{{template \"x\" .}}",
        ] {
            assert_eq!(p(s).as_deref(), Ok(s));
        }
        assert_eq!(
            p("{{if .A}}a{{else if .B}}b{{end}}").unwrap(),
            "{{if .A}}a{{else}}{{if .B}}b{{end}}{{end}}"
        );
    }

    #[test]
    fn errors_like_go() {
        assert_eq!(
            p("{{g}}").unwrap_err(),
            "template: t:1: function \"g\" not defined"
        );
        assert_eq!(
            p("{{$x}}").unwrap_err(),
            "template: t:1: undefined variable \"$x\""
        );
        assert_eq!(
            p("{{end}}").unwrap_err(),
            "template: t:1: unexpected {{end}}"
        );
        assert_eq!(p("{{if .X}}").unwrap_err(), "template: t:1: unexpected EOF");
        assert_eq!(
            p("{{}}").unwrap_err(),
            "template: t:1: missing value for command"
        );
        assert_eq!(
            p("{{.X | 3}}").unwrap_err(),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            p("{{break}}").unwrap_err(),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(
            p("{{ \"a }}").unwrap_err(),
            "template: t:1: unterminated quoted string"
        );
        assert_eq!(p("\n{{ .X ").unwrap_err(), "template: t:2: unclosed action");
        assert_eq!(
            p("{{ (.X }}").unwrap_err(),
            "template: t:1: unclosed left paren"
        );
        assert_eq!(
            p("{{ .X ) }}").unwrap_err(),
            "template: t:1: unexpected right paren"
        );
        assert_eq!(
            p("{{ .X \n .Y").unwrap_err(),
            "template: t:2: unclosed action started at t:1"
        );
        assert_eq!(p("{{ 1 2 }}").unwrap(), "{{1 2}}");
        assert_eq!(
            p("{{ \"a\"1 }}").unwrap_err(),
            "template: t:1: unexpected \"1\" in operand"
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn operand() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(".".to_string()),
            "[A-Z][a-z]{0,3}".prop_map(|f| format!(".{f}")),
            "[a-z]{1,3}".prop_map(|f| format!("$.L.{f}")),
            Just("$".to_string()),
            (0i64..1000).prop_map(|n| n.to_string()),
            (-1e6f64..1e6).prop_map(|f| format!("{f:e}")),
            "[a-z \\\\\"]{0,5}".prop_map(|s| format!("{s:?}")),
            "[a-z ]{0,5}".prop_map(|s| format!("`{s}`")),
            Just("'x'".to_string()),
            Just("true".to_string()),
            Just("nil".to_string()),
        ]
    }

    fn pipeline() -> impl Strategy<Value = String> {
        let command = prop_oneof![
            operand(),
            (
                prop_oneof![Just("f"), Just("printf"), Just("len"), Just("eq")],
                prop::collection::vec(operand(), 0..3)
            )
                .prop_map(|(f, args)| std::iter::once(f.to_string())
                    .chain(args)
                    .collect::<Vec<_>>()
                    .join(" ")),
        ];
        (
            command,
            prop::collection::vec(
                prop_oneof![Just("f"), Just("len"), Just("printf \"%v\"")],
                0..2,
            ),
        )
            .prop_map(|(first, rest)| {
                std::iter::once(first)
                    .chain(rest.into_iter().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
    }

    fn template() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[a-z \n]{0,6}",
            pipeline().prop_map(|p| format!("{{{{{p}}}}}")),
            pipeline().prop_map(|p| format!("{{{{- ({p}).X -}}}}")),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            let list = prop::collection::vec(inner, 0..4).prop_map(|v| v.concat());
            prop_oneof![
                (pipeline(), list.clone(), list.clone())
                    .prop_map(|(p, a, b)| format!("{{{{if {p}}}}}{a}{{{{else}}}}{b}{{{{end}}}}")),
                (pipeline(), list.clone()).prop_map(|(p, a)| format!(
                    "{{{{range $i, $e := {p}}}}}{a}{{{{break}}}}{{{{end}}}}"
                )),
                (pipeline(), list.clone())
                    .prop_map(|(p, a)| format!("{{{{with $w := {p}}}}}{a}{{{{$w}}}}{{{{end}}}}")),
                (pipeline(), list).prop_map(|(p, a)| format!(
                    "{{{{$v := {p}}}}}{a}{{{{$v = 1}}}}{{{{template \"t\" $v}}}}"
                )),
            ]
        })
    }

    proptest! {
        /// Display prints source that parses back to the same tree.
        #[test]
        fn display_round_trips(src in template()) {
            let has = |n: &str| n == "f";
            let (tree, _) = parse("t", &src, &has).map_err(|e| TestCaseError::fail(format!("{src:?}: {e}")))?;
            let printed = ListDisplay(&tree.root).to_string();
            let (again, _) = parse("t", &printed, &has).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
            prop_assert_eq!(ListDisplay(&again.root).to_string(), printed);
        }
    }
}
