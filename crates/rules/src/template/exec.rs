//! The executor: walks a parsed template over a [`Value`], as Go's `text/template` executes,
//! with the `missingkey=zero` option Prometheus sets.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::fmt::sprint_value;
use super::funcs::{self, Callable, FuncMap, Ty};
use super::parse::{Arg, Command, Node, Pipe};
use super::value::Value;
use super::{Limits, Template, TemplateError};

/// Whether a list finished normally or hit `{{break}}` / `{{continue}}`.
#[derive(Clone, Copy, PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, TemplateError>;

/// The node execution is at, for error messages.
#[derive(Clone, Copy)]
enum At<'t> {
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Node(n) => match n {
                Node::Text(_) => 0,
                Node::Action { pos, .. }
                | Node::Template { pos, .. }
                | Node::Break(pos)
                | Node::Continue(pos) => *pos,
                Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
            },
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(a) => a.pos(),
        }
    }

    fn context(&self) -> String {
        match self {
            At::Node(n) => n.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Arg(a) => a.to_string(),
        }
    }
}

pub(crate) struct State<'t, 'f> {
    tmpl: &'t Template,
    funcs: &'t FuncMap<'f>,
    limits: &'t Limits,
    pub out: String,
    vars: Vec<(String, Value)>,
    depth: usize,
    steps: u64,
    name: &'t str,
    at: Option<At<'t>>,
}

impl<'t, 'f> State<'t, 'f> {
    pub fn new(
        tmpl: &'t Template,
        funcs: &'t FuncMap<'f>,
        limits: &'t Limits,
        dot: &Value,
    ) -> Self {
        State {
            tmpl,
            funcs,
            limits,
            out: String::new(),
            vars: vec![("$".to_string(), dot.clone())],
            depth: 0,
            steps: 0,
            name: &tmpl.name,
            at: None,
        }
    }

    pub fn run(&mut self, dot: &Value) -> R<()> {
        let root = &self.tmpl.tree.root;
        self.walk_list(dot, root).map(|_| ())
    }

    fn error(&self, msg: impl AsRef<str>) -> TemplateError {
        let msg = msg.as_ref();
        let message = match self.at {
            None => format!("template: {}: {}", self.name, msg),
            Some(at) => {
                let pos = at.pos().min(self.tmpl.text.len());
                let before = &self.tmpl.text[..pos];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(i) => pos - (i + 1),
                    None => pos,
                };
                format!(
                    "template: {}:{}:{}: executing {} at <{}>: {}",
                    self.tmpl.name,
                    line,
                    col,
                    super::fmt::quote(self.name),
                    at.context(),
                    msg
                )
            }
        };
        TemplateError::Exec { message }
    }

    fn at(&mut self, at: At<'t>) {
        self.at = Some(at);
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(self.error(format!(
                "execution exceeded the limit of {} steps",
                self.limits.max_steps
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        if self.depth >= self.limits.max_depth {
            return Err(self.error(format!(
                "exceeded maximum template depth ({})",
                self.limits.max_depth
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > self.limits.max_output {
            return Err(self.error(format!(
                "output exceeds the limit of {} bytes",
                self.limits.max_output
            )));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'t [Node]) -> R<Flow> {
        for n in list {
            let flow = self.walk(dot, n)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> R<Flow> {
        self.step()?;
        self.at(At::Node(node));
        match node {
            Node::Text(t) => self.write(t)?,
            Node::Action { pipe, .. } => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    let s = print_top(&v);
                    self.write(&s)?;
                }
            }
            Node::If(b) | Node::With(b) => {
                self.enter()?;
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, &b.pipe)?;
                let flow = if v.truth() {
                    if matches!(node, Node::With(_)) {
                        self.walk_list(&v, &b.list)?
                    } else {
                        self.walk_list(dot, &b.list)?
                    }
                } else if let Some(e) = &b.else_list {
                    self.walk_list(dot, e)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                self.depth -= 1;
                return Ok(flow);
            }
            Node::Range(b) => {
                self.enter()?;
                let mark = self.vars.len();
                self.walk_range(dot, b)?;
                self.vars.truncate(mark);
                self.depth -= 1;
            }
            Node::Template { name, pipe, .. } => {
                let Some(tree) = self.tmpl.defs.get(name) else {
                    return Err(
                        self.error(format!("template {} not defined", super::fmt::quote(name)))
                    );
                };
                self.enter()?;
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                let saved_vars =
                    std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
                let saved_name = std::mem::replace(&mut self.name, &tree.name);
                let r = self.walk_list(&new_dot, &tree.root);
                self.vars = saved_vars;
                self.name = saved_name;
                self.depth -= 1;
                r?;
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, dot: &Value, b: &'t super::parse::Branch) -> R<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let ndecl = b.pipe.decl.len();
        let mut ran = false;
        let mut iterate = |s: &mut Self, index: Value, elem: Value| -> R<Flow> {
            s.step()?;
            ran = true;
            if ndecl > 0 {
                if b.pipe.is_assign {
                    let v = if ndecl > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    s.set_var(&b.pipe.decl[0], v)?;
                } else if let Some(top) = s.vars.len().checked_sub(1) {
                    s.vars[top].1 = elem.clone();
                }
            }
            if ndecl > 1 {
                if b.pipe.is_assign {
                    s.set_var(&b.pipe.decl[1], elem.clone())?;
                } else if let Some(i) = s.vars.len().checked_sub(2) {
                    s.vars[i].1 = index;
                }
            }
            let flow = s.walk_list(&elem, &b.list);
            s.vars.truncate(mark);
            flow
        };
        match &val {
            Value::List(l) => {
                for (i, e) in l.iter().enumerate() {
                    if iterate(self, Value::Int(i as i64), e.clone())? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Vector(v) => {
                for (i, e) in v.iter().enumerate() {
                    if iterate(self, Value::Int(i as i64), Value::Sample(Some(e.clone())))?
                        == Flow::Break
                    {
                        break;
                    }
                }
            }
            Value::Labels(m) => {
                for (k, v) in m.iter() {
                    if iterate(self, Value::String(k.clone()), Value::String(v.clone()))?
                        == Flow::Break
                    {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, v) in m.iter() {
                    if iterate(self, Value::String(k.clone()), v.clone())? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                if ndecl > 1 {
                    return Err(self.error(format!(
                        "can't use {n} to iterate over more than one variable"
                    )));
                }
                for i in 0..*n {
                    if iterate(self, Value::Int(i), Value::Int(i))? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                return Err(self.error(format!("range can't iterate over {}", sprint_value(other))));
            }
        }
        if !ran && let Some(e) = &b.else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.at(At::Pipe(pipe));
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.error(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t Command, fin: Option<Value>) -> R<Value> {
        self.step()?;
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                return self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, fin);
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, &cmd.args, fin),
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, At::Cmd(cmd), &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                self.enter()?;
                let v = self.eval_pipeline(dot, p);
                self.depth -= 1;
                return v;
            }
            Arg::Variable { .. } => return self.eval_variable(dot, first, &cmd.args, fin),
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Err(self.error("nil is not a command")),
            Arg::Number(_, n) => self.ideal_constant(n),
            Arg::String { text, .. } => Ok(Value::String(text.clone())),
            _ => Err(self.error(format!(
                "can't evaluate command {}",
                super::fmt::quote(&first.to_string())
            ))),
        }
    }

    fn ideal_constant(&self, n: &super::parse::Number) -> R<Value> {
        let hex_int = n
            .text
            .trim_start_matches(['+', '-'])
            .to_ascii_lowercase()
            .starts_with("0x")
            && !n.text.contains(['p', 'P']);
        if !n.is_char
            && !hex_int
            && n.text.contains(['.', 'e', 'E', 'p', 'P'])
            && let Some(f) = n.float
        {
            return Ok(Value::Float(f));
        }
        match n.int {
            Some(i) => Ok(Value::Int(i)),
            None => Err(self.error(format!("{} overflows int", n.text))),
        }
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(node));
        let Arg::Variable { idents, .. } = node else {
            unreachable_node()
        };
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(
                if args.is_empty() {
                    std::slice::from_ref(node)
                } else {
                    args
                },
                &fin,
            )?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, node, &idents[1..], args, fin)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(node));
        let Arg::Chain {
            node: inner,
            fields,
            ..
        } = node
        else {
            unreachable_node()
        };
        if let Arg::Nil(_) = inner.as_ref() {
            return Err(self.error(format!("indirection through explicit nil in {node}")));
        }
        let recv = self.eval_arg(dot, Ty::Any, inner)?;
        self.eval_field_chain(dot, recv, node, fields, args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(node));
        let n = idents.len();
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, fin, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        if let Some(method) = funcs::method(&receiver, name) {
            return self.eval_call(dot, &method, At::Arg(node), name, args, fin);
        }
        let has_args = args.len() > 1 || fin.is_some();
        let field = |v: Option<Value>| -> Option<Value> { v };
        let found = match &receiver {
            Value::Nil => return Ok(Value::Nil),
            Value::Struct(s) => field(
                s.fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone()),
            ),
            Value::Sample(Some(s)) => match name {
                "Labels" => Some(Value::Labels(Arc::new(s.labels.clone()))),
                "Value" => Some(Value::Float(s.value)),
                _ => None,
            },
            Value::Sample(None) if name == "Labels" || name == "Value" => {
                return Err(self.error(format!("nil pointer evaluating *template.sample.{name}")));
            }
            Value::Labels(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                return Ok(Value::String(m.get(name).cloned().unwrap_or_default()));
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                return Ok(m.get(name).cloned().unwrap_or(Value::Nil));
            }
            _ => None,
        };
        match found {
            Some(v) => {
                if has_args {
                    return Err(self.error(format!(
                        "{name} has arguments but cannot be invoked as function"
                    )));
                }
                Ok(v)
            }
            None => Err(self.error(format!(
                "can't evaluate field {name} in type {}",
                receiver.type_name()
            ))),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'t Arg,
        name: &str,
        cmd: At<'t>,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(ident));
        if name == "and" || name == "or" {
            return self.eval_and_or(dot, name, args, fin);
        }
        if let Some(b) = funcs::builtin(name) {
            return self.eval_call(dot, &b, cmd, name, args, fin);
        }
        let funcs = self.funcs;
        match funcs.get(name) {
            Some(f) => self.eval_call(dot, f, cmd, name, args, fin),
            None => Err(self.error(format!(
                "{} is not a defined function",
                super::fmt::quote(name)
            ))),
        }
    }

    fn eval_and_or(
        &mut self,
        dot: &Value,
        name: &str,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let rest = if args.is_empty() { args } else { &args[1..] };
        if rest.len() + usize::from(fin.is_some()) < 1 {
            return Err(self.error(format!(
                "wrong number of args for {name}: want at least 1 got 0"
            )));
        }
        let mut v = Value::Nil;
        for a in rest {
            v = self.eval_arg(dot, Ty::Any, a)?;
            if v.truth() == (name == "or") {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = f;
        }
        Ok(v)
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        f: &Callable<'_>,
        node: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = f.params.len();
        if f.variadic.is_some() {
            if num_in < num_fixed {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want at least {num_fixed} got {}",
                    args.len()
                )));
            }
        } else if num_in != num_fixed {
            return Err(self.error(format!(
                "wrong number of args for {name}: want {num_fixed} got {num_in}"
            )));
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let ty = if i < num_fixed {
                f.params[i]
            } else {
                f.variadic.unwrap_or(Ty::Any)
            };
            argv.push(self.eval_arg(dot, ty, a)?);
        }
        if let Some(v) = fin {
            let ty = if num_in - 1 < num_fixed {
                f.params[num_in - 1]
            } else {
                f.variadic.unwrap_or(Ty::Any)
            };
            argv.push(self.validate_type(v, ty)?);
        }
        let name_for_call = if name == "call" {
            args.first().map(|a| a.to_string())
        } else {
            None
        };
        let result = (f.call)(argv, name_for_call.as_deref());
        match result {
            Ok(v) => {
                if let Value::String(s) = &v
                    && s.len() > self.limits.max_output
                {
                    return Err(self.error(format!(
                        "{name} result exceeds the limit of {} bytes",
                        self.limits.max_output
                    )));
                }
                Ok(v)
            }
            Err(e) => {
                self.at(node);
                Err(self.error(format!("error calling {name}: {e}")))
            }
        }
    }

    fn validate_type(&self, v: Value, ty: Ty) -> R<Value> {
        if ty == Ty::Any {
            return Ok(v);
        }
        let ok = match (&v, ty) {
            (Value::Nil, Ty::Sample) => return Ok(Value::Sample(None)),
            (Value::Nil, Ty::Vector) => return Ok(Value::Vector(Arc::new(Vec::new()))),
            (Value::Nil, _) => {
                return Err(self.error(format!("invalid value; expected {}", ty.go_name())));
            }
            (Value::String(_), Ty::String)
            | (Value::Float(_), Ty::Float)
            | (Value::Int(_), Ty::Int)
            | (Value::Bool(_), Ty::Bool)
            | (Value::Sample(_), Ty::Sample)
            | (Value::Vector(_), Ty::Vector) => true,
            _ => false,
        };
        if !ok {
            return Err(self.error(format!(
                "wrong type for value; expected {}; got {}",
                ty.go_name(),
                v.type_name()
            )));
        }
        Ok(v)
    }

    fn eval_arg(&mut self, dot: &Value, ty: Ty, arg: &'t Arg) -> R<Value> {
        self.at(At::Arg(arg));
        let v = match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                return match ty {
                    Ty::Any => Ok(Value::Nil),
                    Ty::Sample => Ok(Value::Sample(None)),
                    Ty::Vector => Ok(Value::Vector(Arc::new(Vec::new()))),
                    _ => Err(self.error(format!("cannot assign nil to {}", ty.go_name()))),
                };
            }
            Arg::Field { idents, .. } => self.eval_field_chain(
                dot,
                dot.clone(),
                arg,
                idents,
                std::slice::from_ref(arg),
                None,
            )?,
            Arg::Variable { .. } => self.eval_variable(dot, arg, &[], None)?,
            Arg::Pipe(p) => {
                self.enter()?;
                let v = self.eval_pipeline(dot, p);
                self.depth -= 1;
                v?
            }
            Arg::Identifier { name, .. } => {
                self.eval_function(dot, arg, name, At::Arg(arg), &[], None)?
            }
            Arg::Chain { .. } => self.eval_chain(dot, arg, &[], None)?,
            Arg::Bool(_, b) => {
                return match ty {
                    Ty::Bool | Ty::Any => Ok(Value::Bool(*b)),
                    _ => Err(self.literal_mismatch(ty, arg)),
                };
            }
            Arg::Number(_, n) => {
                return match ty {
                    Ty::Any => self.ideal_constant(n),
                    Ty::Float if n.float.is_some() => Ok(Value::Float(n.float.unwrap_or_default())),
                    Ty::Int if n.int.is_some() => Ok(Value::Int(n.int.unwrap_or_default())),
                    _ => Err(self.literal_mismatch(ty, arg)),
                };
            }
            Arg::String { text, .. } => {
                return match ty {
                    Ty::String | Ty::Any => Ok(Value::String(text.clone())),
                    _ => Err(self.literal_mismatch(ty, arg)),
                };
            }
        };
        self.validate_type(v, ty)
    }

    fn literal_mismatch(&self, ty: Ty, arg: &Arg) -> TemplateError {
        match ty {
            Ty::Bool => self.error(format!("expected bool; found {arg}")),
            Ty::Float => self.error(format!("expected float; found {arg}")),
            Ty::Int => self.error(format!("expected integer; found {arg}")),
            Ty::String => self.error(format!("expected string; found {arg}")),
            _ => self.error(format!(
                "can't handle {arg} for arg of type {}",
                ty.go_name()
            )),
        }
    }
}

fn unreachable_node() -> ! {
    unreachable!("the caller matched the node kind")
}

/// How an action prints its value (`fmt.Fprint` after Go's pointer indirection).
fn print_top(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".to_string(),
        Value::Sample(Some(s)) => {
            let mut t = sprint_value(&Value::Sample(Some(s.clone())));
            t.remove(0);
            t
        }
        other => sprint_value(other),
    }
}

/// Builds the `map[string]interface {}` that `args` returns.
pub(crate) fn args_map(args: Vec<Value>) -> Value {
    let m: BTreeMap<String, Value> = args
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("arg{i}"), v))
        .collect();
    Value::Map(Arc::new(m))
}
