//! Go's `fmt` and `strconv` formatting, as far as templates need it: `print`, `printf`,
//! `println`, quoting, and the float formats (`%e`, `%f`, `%g` and the shortest `%v`).

use super::time::{format_duration, format_time};
use super::value::Value;

/// `strconv.Quote`: a double-quoted Go string literal.
pub(crate) fn quote(s: &str) -> String {
    quote_with(s, false)
}

fn quote_with(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_printable(c) && (!ascii_only || c.is_ascii()) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` for non-ASCII characters.
fn is_printable(c: char) -> bool {
    let format_or_control = c.is_control()
        || matches!(c as u32, 0x80..=0x9f | 0xad | 0x2028 | 0x2029 | 0xfeff | 0xfff9..=0xfffb);
    !format_or_control && (c == ' ' || !c.is_whitespace())
}

/// Decimal digits of a finite, non-negative float (no leading or trailing zeros) and the
/// position of the decimal point relative to them, as Go's `decimalSlice`.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

/// Parses Rust's `{:e}` output (`1.2345e6`) into digits.
fn digits_from_exp(s: &str) -> Digits {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

fn shortest_digits(v: f64) -> Digits {
    digits_from_exp(&format!("{:e}", v.abs()))
}

/// `n` significant digits, correctly rounded.
fn prec_digits(v: f64, n: usize) -> Digits {
    // An f64 has at most 767 significant decimal digits; the rest are zeros (which `Digits`
    // drops anyway), and Rust's formatter takes at most a u16 precision.
    let n = n.min(800);
    digits_from_exp(&format!("{:.*e}", n.saturating_sub(1), v.abs()))
}

fn fmt_e(out: &mut String, digs: &Digits, prec: usize, upper: bool) {
    out.push(digs.d.first().map_or('0', |&b| b as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digs.d.get(i).map_or('0', |&b| b as char));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digs.d.is_empty() { 0 } else { digs.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

fn fmt_f(out: &mut String, digs: &Digits, prec: usize) {
    if digs.dp > 0 {
        let dp = digs.dp as usize;
        for i in 0..dp {
            out.push(digs.d.get(i).map_or('0', |&b| b as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i32 {
            let j = digs.dp + i - 1;
            let c = if j >= 0 {
                digs.d.get(j as usize).map_or('0', |&b| b as char)
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// `strconv.FormatFloat(v, verb, prec, 64)` for verbs `e E f F g G`; `prec` `None` is -1
/// (the shortest representation that reads back exactly).
pub(crate) fn format_float(v: f64, verb: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    match verb {
        'f' | 'F' => match prec {
            Some(p) => {
                // At most 1074 fraction digits are non-zero; pad the rest.
                let q = p.min(1100);
                out.push_str(&format!("{:.*}", q, v.abs()));
                out.extend(std::iter::repeat_n('0', p - q));
            }
            None => {
                let digs = shortest_digits(v);
                let p = (digs.d.len() as i32 - digs.dp).max(0) as usize;
                fmt_f(&mut out, &digs, p);
            }
        },
        'e' | 'E' => {
            let (digs, p) = match prec {
                Some(p) => (prec_digits(v, p + 1), p),
                None => {
                    let d = shortest_digits(v);
                    let p = d.d.len().saturating_sub(1);
                    (d, p)
                }
            };
            fmt_e(&mut out, &digs, p, verb == 'E');
        }
        _ => {
            let shortest = prec.is_none();
            let (digs, mut prec) = match prec {
                Some(p) => {
                    let p = p.max(1);
                    (prec_digits(v, p), p)
                }
                None => {
                    let d = shortest_digits(v);
                    let n = d.d.len();
                    (d, n)
                }
            };
            let nd = digs.d.len() as i32;
            let mut eprec = prec as i32;
            if eprec > nd && nd >= digs.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec as i32 > nd {
                    prec = nd as usize;
                }
                fmt_e(&mut out, &digs, prec.saturating_sub(1), verb == 'G');
            } else {
                if prec as i32 > digs.dp {
                    prec = nd as usize;
                }
                fmt_f(&mut out, &digs, (prec as i32 - digs.dp).max(0) as usize);
            }
        }
    }
    out
}

/// `fmt.Sprint(v)` for one value: the `%v` form.
pub(crate) fn sprint_value(v: &Value) -> String {
    let mut p = Printer::default();
    p.print_arg(v, 'v');
    p.out
}

/// `fmt.Sprint(args...)`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = a.as_str().is_some();
        if i > 0 && !is_string && !prev_string {
            p.out.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.out
}

/// `fmt.Sprintln(args...)`: spaces between all operands and a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.out.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.out.push('\n');
    p.out
}

/// `fmt.Sprintf(format, args...)`, with Go's error annotations (`%!d(string=x)`,
/// `%!s(MISSING)`, `%!(EXTRA …)`, `%!(BADWIDTH)`, `%!v(BADINDEX)`) and explicit argument
/// indexes (`%[2]d`).
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    let f = format.as_bytes();
    let end = f.len();
    let mut arg = 0usize;
    let mut reordered = false;
    let mut i = 0;
    while i < end {
        let lit_start = i;
        while i < end && f[i] != b'%' {
            i += 1;
        }
        p.out.push_str(&format[lit_start..i]);
        if i >= end {
            break;
        }
        i += 1; // the '%'
        p.flags = Flags::default();
        let mut good_arg = true;
        // Flags.
        while i < end {
            match f[i] {
                b'#' => p.flags.sharp = true,
                b'0' => p.flags.zero = !p.flags.minus,
                b'+' => p.flags.plus = true,
                b'-' => {
                    p.flags.minus = true;
                    p.flags.zero = false;
                }
                b' ' => p.flags.space = true,
                _ => break,
            }
            i += 1;
        }
        // An argument index, then the width.
        let mut after_index;
        (arg, i, after_index) = arg_number(arg, f, i, args.len(), &mut reordered, &mut good_arg);
        if i < end && f[i] == b'*' {
            i += 1;
            match int_from_arg(args.get(arg)) {
                Some(w) => {
                    if w < 0 {
                        p.flags.minus = true;
                        p.flags.zero = false;
                    }
                    p.flags.width = Some(w.unsigned_abs() as usize);
                }
                None => p.out.push_str("%!(BADWIDTH)"),
            }
            arg += 1;
            after_index = false;
        } else {
            let (w, ni) = parse_num(f, i, end);
            p.flags.width = w;
            i = ni;
            if after_index && w.is_some() {
                good_arg = false;
            }
        }
        // The precision, possibly after its own argument index.
        if i + 1 < end && f[i] == b'.' {
            i += 1;
            if after_index {
                good_arg = false;
            }
            (arg, i, after_index) =
                arg_number(arg, f, i, args.len(), &mut reordered, &mut good_arg);
            if i < end && f[i] == b'*' {
                i += 1;
                match int_from_arg(args.get(arg)) {
                    Some(n) if n >= 0 => p.flags.prec = Some(n as usize),
                    _ => p.out.push_str("%!(BADPREC)"),
                }
                arg += 1;
                after_index = false;
            } else {
                let (n, ni) = parse_num(f, i, end);
                p.flags.prec = Some(n.unwrap_or(0));
                i = ni;
            }
        }
        if !after_index {
            (arg, i, _) = arg_number(arg, f, i, args.len(), &mut reordered, &mut good_arg);
        }
        if i >= end {
            p.out.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('%');
        i += verb.len_utf8();
        p.flags.width = p.flags.width.map(|w| w.min(MAX_PAD));
        p.flags.prec = p.flags.prec.map(|w| w.min(MAX_PAD));
        if verb == '%' {
            p.out.push('%');
            continue;
        }
        if !good_arg {
            p.out.push_str("%!");
            p.out.push(verb);
            p.out.push_str("(BADINDEX)");
            continue;
        }
        match args.get(arg) {
            None => {
                p.out.push_str("%!");
                p.out.push(verb);
                p.out.push_str("(MISSING)");
            }
            Some(v) => {
                if verb == 'T' {
                    let t = if matches!(v, Value::Nil) {
                        "<nil>".to_string()
                    } else {
                        v.type_name()
                    };
                    p.pad_str(&t);
                } else {
                    p.print_arg(v, verb);
                }
                arg += 1;
            }
        }
    }
    if !reordered && arg < args.len() {
        p.flags = Flags::default();
        p.out.push_str("%!(EXTRA ");
        for (i, a) in args[arg..].iter().enumerate() {
            if i > 0 {
                p.out.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                p.out.push_str("<nil>");
            } else {
                p.out.push_str(&a.type_name());
                p.out.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.out.push(')');
    }
    p.out
}

/// Go's bound on widths and precisions (`tooLarge`): beyond it a `*` argument is a bad width
/// or precision and a literal one ends the format.
const MAX_WIDTH: i64 = 1_000_000;

/// A `*` width or precision argument: an int within Go's bound.
fn int_from_arg(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Int(n)) if (-MAX_WIDTH..=MAX_WIDTH).contains(n) => Some(*n),
        _ => None,
    }
}

/// Go's `parsenum`: digits from `start` (before `end`); a number past Go's bound consumes the
/// rest of the format. The bound is checked before each further digit, so a literal may reach
/// 10,000,009.
fn parse_num(f: &[u8], start: usize, end: usize) -> (Option<usize>, usize) {
    let mut n: Option<i64> = None;
    let mut i = start;
    while i < end && f[i].is_ascii_digit() {
        if n.is_some_and(|n| n > MAX_WIDTH) {
            return (None, end);
        }
        n = Some(n.unwrap_or(0) * 10 + i64::from(f[i] - b'0'));
        i += 1;
    }
    (n.map(|n| n as usize), i)
}

/// Go's `argNumber`: an explicit `[n]` at `i` selects argument n-1. Returns the argument, the
/// position after the index and whether an index was read.
fn arg_number(
    arg: usize,
    f: &[u8],
    i: usize,
    nargs: usize,
    reordered: &mut bool,
    good: &mut bool,
) -> (usize, usize, bool) {
    if i >= f.len() || f[i] != b'[' {
        return (arg, i, false);
    }
    *reordered = true;
    let rest = &f[i..];
    // At least "[n]", and a closing bracket.
    let close = if rest.len() < 3 {
        None
    } else {
        rest.iter().position(|&b| b == b']')
    };
    let Some(close) = close else {
        *good = false;
        return (arg, i + 1, false);
    };
    let (n, ni) = parse_num(rest, 1, close);
    match n {
        Some(n) if ni == close && n >= 1 && n - 1 < nargs => (n - 1, i + close + 1, true),
        Some(_) if ni == close => {
            *good = false;
            (arg, i + close + 1, true)
        }
        _ => {
            *good = false;
            (arg, i + close + 1, false)
        }
    }
}

/// The most padding or digits one verb produces. Go has no such bound (a literal width may
/// reach 10,000,009); anything this long is far beyond [`super::Limits::max_output`], so the
/// result is rejected either way, without allocating gigabytes first.
const MAX_PAD: usize = 1 << 24;

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

#[derive(Default)]
struct Printer {
    out: String,
    flags: Flags,
}

impl Printer {
    /// Writes `s` padded to the width (spaces, or zeros with the `0` flag).
    fn pad_with(&mut self, s: &str, zero: bool) {
        let n = s.chars().count();
        let w = self.flags.width.unwrap_or(0);
        if w <= n {
            self.out.push_str(s);
            return;
        }
        let fill = if zero && !self.flags.minus { '0' } else { ' ' };
        if self.flags.minus {
            self.out.push_str(s);
            self.out.extend(std::iter::repeat_n(fill, w - n));
        } else {
            self.out.extend(std::iter::repeat_n(fill, w - n));
            self.out.push_str(s);
        }
    }

    fn pad_str(&mut self, s: &str) {
        self.pad_with(s, self.flags.zero);
    }

    fn bad_verb(&mut self, v: &Value, verb: char) {
        self.out.push_str("%!");
        self.out.push(verb);
        self.out.push('(');
        if matches!(v, Value::Nil) {
            self.out.push_str("<nil>");
        } else {
            self.out.push_str(&v.type_name());
            self.out.push('=');
            // Go prints the operand with the verb's width and precision still set.
            self.print_arg(v, 'v');
        }
        self.out.push(')');
    }

    fn print_arg(&mut self, v: &Value, verb: char) {
        self.print_value(v, verb);
    }

    fn print_value(&mut self, v: &Value, verb: char) {
        match v {
            Value::Nil => match verb {
                'v' => self.pad_str("<nil>"),
                _ => self.bad_verb(v, verb),
            },
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad_str(if *b { "true" } else { "false" }),
                _ => self.bad_verb(v, verb),
            },
            Value::Int(i) => self.fmt_int(*i, verb, v),
            Value::Float(f) => match verb {
                'v' => self.fmt_float(*f, 'g', self.flags.prec),
                'e' | 'E' | 'f' | 'F' => {
                    self.fmt_float(*f, verb, Some(self.flags.prec.unwrap_or(6)))
                }
                'g' | 'G' => self.fmt_float(*f, verb, self.flags.prec),
                _ => self.bad_verb(v, verb),
            },
            Value::String(s) | Value::Html(s) => self.fmt_string(s, verb, v),
            Value::Time(ns) => match verb {
                'v' | 's' | 'q' | 'x' | 'X' => self.fmt_string(&format_time(*ns), verb, v),
                _ => self.bad_verb(v, verb),
            },
            Value::Duration(ns) => match verb {
                'v' | 's' | 'q' | 'x' | 'X' => self.fmt_string(&format_duration(*ns), verb, v),
                _ => self.fmt_int(*ns, verb, v),
            },
            Value::Labels(m) => {
                self.out.push_str("map[");
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.fmt_string(k, verb, &Value::String(k.clone()));
                    self.out.push(':');
                    self.fmt_string(val, verb, &Value::String(val.clone()));
                }
                self.out.push(']');
            }
            Value::Map(m) => {
                self.out.push_str("map[");
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.fmt_string(k, verb, &Value::String(k.clone()));
                    self.out.push(':');
                    self.print_value(val, verb);
                }
                self.out.push(']');
            }
            Value::List(l) => {
                self.out.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.print_value(e, verb);
                }
                self.out.push(']');
            }
            Value::Vector(samples) => {
                self.out.push('[');
                for (i, s) in samples.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.print_sample(s, verb);
                }
                self.out.push(']');
            }
            Value::Sample(None) => self.pad_str("<nil>"),
            Value::Sample(Some(s)) => self.print_sample(s, verb),
            Value::Struct(s) => {
                self.out.push('{');
                for (i, (_, f)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.print_value(f, verb);
                }
                self.out.push('}');
            }
        }
    }

    fn print_sample(&mut self, s: &super::value::Sample, verb: char) {
        self.out.push_str("&{");
        self.print_value(&Value::Labels(std::sync::Arc::new(s.labels.clone())), verb);
        self.out.push(' ');
        self.print_value(&Value::Float(s.value), verb);
        self.out.push('}');
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        match verb {
            'v' | 's' => {
                let s: String = match self.flags.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.to_string(),
                };
                self.pad_str(&s);
            }
            'q' => {
                let q = if self.flags.sharp
                    && !s.contains('`')
                    && !s.chars().any(|c| c.is_control() && c != '\t')
                {
                    format!("`{s}`")
                } else {
                    quote_with(s, self.flags.plus)
                };
                self.pad_str(&q);
            }
            'x' | 'X' => {
                let mut h = String::new();
                for (i, b) in s.bytes().enumerate() {
                    if self.flags.space && i > 0 {
                        h.push(' ');
                    }
                    if self.flags.sharp && (self.flags.space || i == 0) {
                        h.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    if verb == 'x' {
                        h.push_str(&format!("{b:02x}"));
                    } else {
                        h.push_str(&format!("{b:02X}"));
                    }
                }
                self.pad_str(&h);
            }
            _ => self.bad_verb(v, verb),
        }
    }

    fn fmt_int(&mut self, i: i64, verb: char, v: &Value) {
        let neg = i < 0;
        let u = i.unsigned_abs();
        let mut digits = match verb {
            'd' | 'v' => u.to_string(),
            'b' => format!("{u:b}"),
            'o' | 'O' => format!("{u:o}"),
            'x' => format!("{u:x}"),
            'X' => format!("{u:X}"),
            'c' => {
                let c = char::from_u32(i as u32)
                    .filter(|_| (0..=0x10ffff).contains(&i))
                    .unwrap_or('\u{fffd}');
                self.pad_str(&c.to_string());
                return;
            }
            'q' => {
                let c = char::from_u32(i as u32)
                    .filter(|_| (0..=0x10ffff).contains(&i))
                    .unwrap_or('\u{fffd}');
                let q = quote(&c.to_string());
                let inner = &q[1..q.len() - 1];
                let inner = if inner == "\\\"" {
                    "\"".to_string()
                } else if c == '\'' {
                    "\\'".to_string()
                } else {
                    inner.to_string()
                };
                self.pad_str(&format!("'{inner}'"));
                return;
            }
            'U' => {
                let mut s = format!("U+{u:04X}");
                if self.flags.sharp
                    && let Some(c) = char::from_u32(u as u32).filter(|c| is_printable(*c))
                {
                    s.push_str(&format!(" '{c}'"));
                }
                self.pad_str(&s);
                return;
            }
            _ => {
                self.bad_verb(v, verb);
                return;
            }
        };
        if let Some(p) = self.flags.prec {
            if p == 0 && u == 0 {
                digits.clear();
            }
            if digits.len() < p {
                digits = "0".repeat(p - digits.len()) + &digits;
            }
        }
        let mut prefix = String::new();
        if neg {
            prefix.push('-');
        } else if self.flags.plus {
            prefix.push('+');
        } else if self.flags.space {
            prefix.push(' ');
        }
        if self.flags.sharp {
            match verb {
                'b' => prefix.push_str("0b"),
                'o' if !digits.starts_with('0') => prefix.push('0'),
                'x' => prefix.push_str("0x"),
                'X' => prefix.push_str("0X"),
                _ => {}
            }
        }
        if verb == 'O' {
            prefix.push_str("0o");
        }
        if self.flags.zero && self.flags.prec.is_none() && !self.flags.minus {
            let w = self.flags.width.unwrap_or(0);
            if prefix.len() + digits.len() < w {
                digits = "0".repeat(w - prefix.len() - digits.len()) + &digits;
            }
        }
        let s = prefix + &digits;
        self.pad_with(&s, false);
    }

    fn fmt_float(&mut self, f: f64, verb: char, prec: Option<usize>) {
        let num = format_float(f, verb, prec);
        let (sign, body) = match num.strip_prefix('-') {
            Some(b) => ("-", b.to_string()),
            None => (
                if self.flags.plus {
                    "+"
                } else if self.flags.space {
                    " "
                } else {
                    ""
                },
                num.trim_start_matches('+').to_string(),
            ),
        };
        if f.is_nan() {
            let s = format!(
                "{}NaN",
                if self.flags.plus {
                    "+"
                } else if self.flags.space {
                    " "
                } else {
                    ""
                }
            );
            self.pad_with(&s, false);
            return;
        }
        if f.is_infinite() {
            let s = if f > 0.0 {
                if self.flags.space && !self.flags.plus {
                    " Inf".to_string()
                } else {
                    "+Inf".to_string()
                }
            } else {
                "-Inf".to_string()
            };
            self.pad_with(&s, false);
            return;
        }
        let w = self.flags.width.unwrap_or(0);
        if self.flags.zero && !self.flags.minus && w > sign.len() + body.len() {
            self.out.push_str(sign);
            self.out
                .extend(std::iter::repeat_n('0', w - sign.len() - body.len()));
            self.out.push_str(&body);
            return;
        }
        let s = format!("{sign}{body}");
        self.pad_with(&s, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        let g = |v: f64| format_float(v, 'g', None);
        assert_eq!(g(1e6), "1e+06");
        assert_eq!(g(123456.0), "123456");
        assert_eq!(g(1234567.0), "1.234567e+06");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00001), "1e-05");
        assert_eq!(g(0.0), "0");
        assert_eq!(g(-2.5), "-2.5");
        assert_eq!(g(1e21), "1e+21");
        assert_eq!(g(1e100), "1e+100");
        let g4 = |v: f64| format_float(v, 'g', Some(4));
        assert_eq!(g4(1.234567), "1.235");
        assert_eq!(g4(1234567.0), "1.235e+06");
        assert_eq!(g4(1.0), "1");
        assert_eq!(g4(1200.0), "1200");
        assert_eq!(g4(100000.0), "1e+05");
        assert_eq!(g4(0.5), "0.5");
        assert_eq!(g4(0.0), "0");
        assert_eq!(format_float(1.5, 'e', Some(6)), "1.500000e+00");
        assert_eq!(format_float(0.0, 'e', Some(2)), "0.00e+00");
        assert_eq!(format_float(1234.5678, 'f', Some(2)), "1234.57");
        assert_eq!(format_float(0.125, 'f', Some(2)), "0.12");
        assert_eq!(format_float(2.5, 'f', Some(0)), "2");
    }

    #[test]
    fn printf_like_go() {
        let s = |f: &str, a: Vec<Value>| sprintf(f, &a);
        assert_eq!(
            s(
                "%d|%5d|%-5d|%05d",
                vec![Value::Int(3), Value::Int(-3), Value::Int(3), Value::Int(-3)]
            ),
            "3|   -3|3    |-0003"
        );
        assert_eq!(
            s(
                "%.2f %8.3f %-8.1f|",
                vec![1.005.into(), 3.14659.into(), 2.0.into()]
            ),
            "1.00    3.147 2.0     |"
        );
        assert_eq!(
            s(
                "%s %q %v %x",
                vec!["a".into(), "b\n".into(), "c".into(), "hi".into()]
            ),
            "a \"b\\n\" c 6869"
        );
        assert_eq!(s("%d", vec!["x".into()]), "%!d(string=x)");
        assert_eq!(s("%d %d", vec![Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            s("%d", vec![Value::Int(1), "a".into()]),
            "1%!(EXTRA string=a)"
        );
        assert_eq!(s("%t %v %%", vec![true.into(), Value::Nil]), "true <nil> %");
        assert_eq!(
            s("%e %g %G", vec![1234.5678.into(), 1e-7.into(), 1e21.into()]),
            "1.234568e+03 1e-07 1E+21"
        );
        assert_eq!(
            s(
                "%v %v %v",
                vec![
                    f64::INFINITY.into(),
                    f64::NEG_INFINITY.into(),
                    f64::NAN.into()
                ]
            ),
            "+Inf -Inf NaN"
        );
        assert_eq!(
            s(
                "%x %X %o %b %c",
                vec![
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5),
                    Value::Int(65)
                ]
            ),
            "ff FF 10 101 A"
        );
        assert_eq!(
            s(
                "%+d %+.1f % d",
                vec![Value::Int(5), 2.25.into(), Value::Int(7)]
            ),
            "+5 +2.2  7"
        );
        assert_eq!(
            s(
                "%.3s|%6s|%-6s|",
                vec!["abcdef".into(), "ab".into(), "ab".into()]
            ),
            "abc|    ab|ab    |"
        );
        assert_eq!(
            s("%s", vec![Value::labels([("a", "b"), ("c", "d")])]),
            "map[a:b c:d]"
        );
        assert_eq!(s("%", vec![]), "%!(NOVERB)");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            sprint(&[Value::Int(1), Value::Int(2), "a".into(), Value::Int(3)]),
            "1 2a3"
        );
        assert_eq!(sprintln(&[Value::Int(1), "a".into()]), "1 a\n");
    }
}
