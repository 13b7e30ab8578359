//! PromQL functions.

use std::collections::HashMap;

use prom_model::time::{civil_from_days, is_leap_year};
use prom_model::value::is_stale_nan;
use prom_model::{Labels, METRIC_NAME, Sample as RawSample};

use super::error::{EvalError, Result};
use super::eval::{
    Ctx, FastHash, Grid, Out, SelectorTimes, Sv, Val, Windows, absent_labels,
    check_unique_per_step, eval, eval_scalar, eval_selector, eval_string, eval_times, eval_vector,
    eval_windows, select_points, unwrap_parens,
};
use super::par;
use super::value::format_float;
use super::window::{Args, RangeFn, Scratch, eval_series};
use crate::ast::{Call, Expr, RangeExtension, ValueType};
use crate::ast::{Span, VectorSelector};

/// The `q`-quantile of `vals` (sorted in place), interpolating between ranks as Prometheus does.
pub(crate) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaNs sort first, as Go's sort.Float64s puts them.
    vals.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    vals[lower as usize] * (1.0 - weight) + vals[upper as usize] * weight
}

fn map_vector(ctx: &mut Ctx<'_>, arg: &Expr, grid: Grid, f: impl Fn(f64) -> f64) -> Result<Val> {
    let mut v = eval_vector(ctx, arg, grid)?;
    for s in &mut v {
        s.drop_name = true;
        for p in &mut s.pts {
            p.1 = f(p.1);
        }
    }
    Ok(Val::Vector(v))
}

fn math(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => f64::to_degrees,
        "rad" => f64::to_radians,
        _ => return None,
    })
}

fn calendar(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let s = secs.floor() as i64;
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let month_days = [
        31,
        if is_leap_year(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    match name {
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => (month_days[..(m as usize - 1)].iter().sum::<i64>() + d as i64) as f64,
        "days_in_month" => month_days[m as usize - 1] as f64,
        "hour" => (sod / 3600) as f64,
        "minute" => (sod % 3600 / 60) as f64,
        "month" => m as f64,
        "year" => y as f64,
        _ => f64::NAN,
    }
}

pub(crate) fn eval_call(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    let name = c.func.name;
    let args = &c.args;
    if let Some(f) = math(name) {
        return map_vector(ctx, &args[0], grid, f);
    }
    match name {
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; grid.n])),
        "step" => Ok(Val::Scalar(vec![ctx.query_step as f64 / 1000.0; grid.n])),
        "range" => Ok(Val::Scalar(vec![
            (ctx.query_end - ctx.query_start) as f64
                / 1000.0;
            grid.n
        ])),
        "start" => Ok(Val::Scalar(vec![ctx.query_start as f64 / 1000.0; grid.n])),
        "end" => Ok(Val::Scalar(vec![ctx.query_end as f64 / 1000.0; grid.n])),
        "min_of" | "max_of" => {
            let a = eval_scalar(ctx, &args[0], grid)?;
            let b = eval_scalar(ctx, &args[1], grid)?;
            Ok(Val::Scalar(
                a.iter()
                    .zip(&b)
                    .map(|(&x, &y)| {
                        if name == "min_of" {
                            go_min(x, y)
                        } else {
                            go_max(x, y)
                        }
                    })
                    .collect(),
            ))
        }
        "time" => Ok(Val::Scalar(
            (0..grid.n).map(|i| grid.t(i) as f64 / 1000.0).collect(),
        )),
        "round" => {
            let to = match args.get(1) {
                Some(e) => eval_scalar(ctx, e, grid)?,
                None => vec![1.0; grid.n],
            };
            let mut v = eval_vector(ctx, &args[0], grid)?;
            for s in &mut v {
                s.drop_name = true;
                for p in &mut s.pts {
                    let inv = 1.0 / to[p.0];
                    p.1 = (p.1 * inv + 0.5).floor() / inv;
                }
            }
            Ok(Val::Vector(v))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let mut v = eval_vector(ctx, &args[0], grid)?;
            let (lo, hi) = match name {
                "clamp" => (
                    Some(eval_scalar(ctx, &args[1], grid)?),
                    Some(eval_scalar(ctx, &args[2], grid)?),
                ),
                "clamp_min" => (Some(eval_scalar(ctx, &args[1], grid)?), None),
                _ => (None, Some(eval_scalar(ctx, &args[1], grid)?)),
            };
            for s in &mut v {
                s.drop_name = true;
                s.pts.retain_mut(|(i, x)| {
                    let l = lo.as_ref().map(|l| l[*i]);
                    let h = hi.as_ref().map(|h| h[*i]);
                    if let (Some(l), Some(h)) = (l, h)
                        && h < l
                    {
                        return false;
                    }
                    if let Some(l) = l {
                        *x = go_max(*x, l);
                    }
                    if let Some(h) = h {
                        *x = go_min(*x, h);
                    }
                    true
                });
            }
            v.retain(|s| !s.pts.is_empty());
            Ok(Val::Vector(v))
        }
        "start_timestamp" => match unwrap_parens(&args[0]) {
            Expr::VectorSelector(vs) => start_timestamps(ctx, vs, grid),
            // Only samples read from storage have start timestamps.
            other => {
                eval_vector(ctx, other, grid)?;
                Ok(Val::Vector(Vec::new()))
            }
        },
        "timestamp" => {
            let mut v = match unwrap_parens(&args[0]) {
                Expr::VectorSelector(vs) => eval_selector(ctx, vs, grid, true)?,
                other => {
                    let mut v = eval_vector(ctx, other, grid)?;
                    for s in &mut v {
                        for p in &mut s.pts {
                            p.1 = grid.t(p.0) as f64 / 1000.0;
                        }
                    }
                    v
                }
            };
            for s in &mut v {
                s.drop_name = true;
            }
            Ok(Val::Vector(v))
        }
        "vector" => {
            let s = eval_scalar(ctx, &args[0], grid)?;
            Ok(Val::Vector(vec![Sv {
                labels: Labels::new(),
                drop_name: false,
                pts: s.into_iter().enumerate().collect(),
            }]))
        }
        "scalar" => {
            let v = eval_vector(ctx, &args[0], grid)?;
            let mut out = vec![f64::NAN; grid.n];
            let mut count = vec![0u32; grid.n];
            for s in &v {
                for &(i, x) in &s.pts {
                    count[i] += 1;
                    out[i] = x;
                }
            }
            for (o, n) in out.iter_mut().zip(count) {
                if n != 1 {
                    *o = f64::NAN;
                }
            }
            Ok(Val::Scalar(out))
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            if let Some(arg) = args.first() {
                map_vector(ctx, arg, grid, |v| calendar(name, v))
            } else {
                Ok(Val::Vector(vec![Sv {
                    labels: Labels::new(),
                    drop_name: false,
                    pts: (0..grid.n)
                        .map(|i| (i, calendar(name, grid.t(i) as f64 / 1000.0)))
                        .collect(),
                }]))
            }
        }
        "absent" => {
            let v = eval_vector(ctx, &args[0], grid)?;
            let mut present = vec![false; grid.n];
            for s in &v {
                for &(i, _) in &s.pts {
                    present[i] = true;
                }
            }
            let labels = match unwrap_parens(&args[0]) {
                Expr::VectorSelector(vs) => absent_labels(vs),
                _ => Labels::new(),
            };
            let pts: Vec<(usize, f64)> = (0..grid.n)
                .filter(|&i| !present[i])
                .map(|i| (i, 1.0))
                .collect();
            Ok(Val::Vector(if pts.is_empty() {
                Vec::new()
            } else {
                vec![Sv {
                    labels,
                    drop_name: false,
                    pts,
                }]
            }))
        }
        "label_replace" => label_replace(ctx, c, grid),
        "label_join" => label_join(ctx, c, grid),
        "sort" | "sort_desc" => {
            sort_warning(ctx, c);
            let mut v = eval_vector(ctx, &args[0], grid)?;
            let desc = name == "sort_desc";
            let key = |s: &Sv| s.pts.first().map(|p| p.1).unwrap_or(f64::NAN);
            v.sort_by(|a, b| {
                let (x, y) = (key(a), key(b));
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => y.total_cmp(&x),
                    _ => x.total_cmp(&y),
                }
            });
            Ok(Val::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            sort_warning(ctx, c);
            let mut names = Vec::new();
            for a in &args[1..] {
                names.push(eval_string(ctx, a, grid)?);
            }
            let mut v = eval_vector(ctx, &args[0], grid)?;
            v.sort_by(|a, b| {
                for n in &names {
                    let o =
                        natural_cmp(a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if o.is_ne() {
                        return o;
                    }
                }
                a.labels.cmp(&b.labels)
            });
            if name == "sort_by_label_desc" {
                v.reverse();
            }
            Ok(Val::Vector(v))
        }
        "info" => info(ctx, c, grid),
        "histogram_quantile" => histogram_quantile(ctx, c, grid),
        "histogram_fraction" => histogram_fraction(ctx, c, grid),
        "histogram_quantiles" => histogram_quantiles(ctx, c, grid),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => {
            // Only native histograms have these; float series yield nothing.
            let _ = eval(ctx, &args[0], grid)?;
            Ok(Val::Vector(Vec::new()))
        }
        _ if c.func.arg_types.contains(&ValueType::Matrix) => range_function(ctx, c, grid),
        _ => Err(EvalError::Unsupported(format!(
            "function {name}() is not implemented"
        ))),
    }
}

/// `start_timestamp(selector)`: the start timestamp, in seconds, of the sample the selector
/// picks at each step; 0 for a sample without one.
fn start_timestamps(ctx: &mut Ctx<'_>, vs: &VectorSelector, grid: Grid) -> Result<Val> {
    let times = eval_times(ctx, vs.at, vs.offset.as_ref(), grid)?;
    let lookback = ctx.opts.lookback_delta;
    let lo = times.iter().copied().min().unwrap_or(0) - lookback;
    let hi = times.iter().copied().max().unwrap_or(0);
    let loaded = ctx.load_with_starts(vs, lo, hi, 0, grid.step, false)?;
    let at = SelectorTimes::new(times, lookback, false, false);
    // The selector picks a sample as usual, its value replaced by its start (staleness markers
    // kept, so that they still end the series).
    let loaded = loaded
        .into_iter()
        .map(|(labels, mut samples, starts)| {
            for (k, s) in samples.iter_mut().enumerate() {
                if !is_stale_nan(s.v) {
                    s.v = starts.get(k).copied().unwrap_or(0) as f64 / 1000.0;
                }
            }
            (labels, samples)
        })
        .collect();
    Ok(Val::Vector(select_points(ctx, &at, loaded, true)?))
}

fn sort_warning(ctx: &mut Ctx<'_>, c: &Call) {
    if ctx.query_step != 0 {
        ctx.warn(
            "sort is ineffective for range queries since results are always ordered by labels"
                .into(),
            c.span,
        );
    }
}

/// Compares strings with runs of digits compared as numbers (`"2" < "10"`).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let dx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let dy = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (nx, ny) = (&x[..dx], &y[..dy]);
                let tx = &nx[nx.iter().take_while(|&&c| c == b'0').count().min(dx - 1)..];
                let ty = &ny[ny.iter().take_while(|&&c| c == b'0').count().min(dy - 1)..];
                let o = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if o.is_ne() {
                    return o;
                }
                x = &x[dx..];
                y = &y[dy..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn label_replace(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    if let Expr::String(lit) = unwrap_parens(&c.args[1])
        && lit.bytes.is_some()
    {
        return Err(EvalError::InvalidArgument(format!(
            "invalid destination label name in label_replace(): {}",
            lit.value
        )));
    }
    let dst = eval_string(ctx, &c.args[1], grid)?;
    let repl = eval_string(ctx, &c.args[2], grid)?;
    let src = eval_string(ctx, &c.args[3], grid)?;
    let re_src = eval_string(ctx, &c.args[4], grid)?;
    let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|e| {
        EvalError::InvalidArgument(format!(
            "invalid regular expression in label_replace(): {re_src}: {e}"
        ))
    })?;
    if dst.is_empty() || !prom_model::is_valid_utf8_name(&dst) {
        return Err(EvalError::InvalidArgument(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut v = eval_vector(ctx, &c.args[0], grid)?;
    for s in &mut v {
        let value = s.labels.get(&src).unwrap_or("");
        if let Some(caps) = re.captures(value) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            set_label(s, &dst, &res);
        }
    }
    check_unique_per_step(&v)?;
    Ok(Val::Vector(v))
}

/// Sets (or, for an empty value, removes) label `dst` as label_replace and label_join do; a
/// series that gets its `__name__` written keeps it.
fn set_label(s: &mut Sv, dst: &str, value: &str) {
    let mut b = s.labels.to_builder();
    if value.is_empty() {
        b.del(dst);
    } else {
        b.set(dst, value);
    }
    s.labels = b.build();
    if dst == METRIC_NAME {
        s.drop_name = false;
    }
}

fn label_join(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    let dst = eval_string(ctx, &c.args[1], grid)?;
    let sep = eval_string(ctx, &c.args[2], grid)?;
    let mut srcs = Vec::new();
    for a in &c.args[3..] {
        let s = eval_string(ctx, a, grid)?;
        if !prom_model::is_valid_utf8_name(&s) {
            return Err(EvalError::InvalidArgument(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
        srcs.push(s);
    }
    if dst.is_empty() || !prom_model::is_valid_utf8_name(&dst) {
        return Err(EvalError::InvalidArgument(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut v = eval_vector(ctx, &c.args[0], grid)?;
    for s in &mut v {
        let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
        set_label(s, &dst, &joined.join(&sep));
    }
    check_unique_per_step(&v)?;
    Ok(Val::Vector(v))
}

/// Classic buckets of one histogram at one step: (upper bound, cumulative count).
type Buckets = Vec<(f64, f64)>;

/// A bucket series' upper bound from its `le` label; `None`, with Prometheus's warning, when
/// the label is missing or malformed.
fn bucket_bound(ctx: &mut Ctx<'_>, labels: &Labels, span: crate::ast::Span) -> Option<f64> {
    let le = labels
        .get("le")
        .and_then(|le| le.trim().parse::<f64>().ok());
    if le.is_none() {
        let name = labels.metric_name().unwrap_or("");
        ctx.warn(
            format!(
                "bucket label \"le\" is missing or has a malformed value of \"{}\" for metric name \"{name}\"",
                labels.get("le").unwrap_or("")
            ),
            span,
        );
    }
    le
}

/// Groups `le` series by their other labels, per step.
fn bucket_groups(
    ctx: &mut Ctx<'_>,
    v: &[Sv],
    grid: Grid,
    span: crate::ast::Span,
) -> (Vec<Labels>, Vec<HashMap<usize, Buckets>>) {
    let mut keys: Vec<Labels> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut per_step: Vec<HashMap<usize, Buckets>> = vec![HashMap::new(); grid.n];
    for s in v {
        let Some(le) = bucket_bound(ctx, &s.labels, span) else {
            continue;
        };
        let key: Labels = s
            .labels
            .iter()
            .filter(|l| l.name != "le")
            .map(|l| (l.name, l.value))
            .collect();
        let g = *index.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            keys.len() - 1
        });
        for &(i, x) in &s.pts {
            per_step[i].entry(g).or_default().push((le, x));
        }
    }
    (keys, per_step)
}

/// Sorts, merges equal bounds and forces monotonic counts; returns whether counts were fixed.
fn normalize(b: &mut Buckets) -> bool {
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Equal bounds merged in place, their counts added in order.
    let mut w = 0usize;
    for r in 0..b.len() {
        if w > 0 && b[w - 1].0 == b[r].0 {
            b[w - 1].1 += b[r].1;
        } else {
            b[w] = b[r];
            w += 1;
        }
    }
    b.truncate(w);
    let mut fixed = false;
    let mut max = f64::NEG_INFINITY;
    for x in b.iter_mut() {
        if x.1 < max {
            x.1 = max;
            fixed = true;
        } else {
            max = x.1;
        }
    }
    fixed
}

fn bucket_quantile(q: f64, b: &Buckets) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if b.len() < 2 || b.last().map(|x| x.0) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    let total = b[b.len() - 1].1;
    if total == 0.0 || total.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * total;
    // Go's `sort.Search(len-1, count >= rank)`, probe for probe: with a NaN count the buckets
    // are not monotonic, and only the same search gives the same answer (and stays in bounds).
    let (mut lo, mut hi) = (0usize, b.len() - 1);
    while lo < hi {
        let h = (lo + hi) / 2;
        if b[h].1 >= rank {
            hi = h;
        } else {
            lo = h + 1;
        }
    }
    let i = lo;
    if i == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[i].0, b[i].1);
    if i > 0 {
        start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// The observations between `lo` and `hi`, interpolating linearly inside buckets; a bucket of
/// infinite width contributes only when wholly inside.
fn bucket_fraction(lo: f64, hi: f64, b: &Buckets) -> f64 {
    let mut sum = 0.0;
    let mut prev_ub = if b.first().is_some_and(|f| f.0 > 0.0) {
        0.0
    } else {
        f64::NEG_INFINITY
    };
    let mut prev_c = 0.0;
    for &(ub, c) in b {
        let (lb, n) = (prev_ub, c - prev_c);
        prev_ub = ub;
        prev_c = c;
        if ub <= lo || lb >= hi {
            continue;
        }
        if (lo <= lb && ub <= hi)
            || (ub == f64::INFINITY && hi == ub)
            || (lb == f64::NEG_INFINITY && lo == lb)
        {
            sum += n;
        } else if lb.is_finite() && ub.is_finite() {
            sum += n * (ub.min(hi) - lb.max(lo)) / (ub - lb);
        }
    }
    sum
}

fn histogram_quantile(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    let q = eval_scalar(ctx, &c.args[0], grid)?;
    let v = eval_vector(ctx, &c.args[1], grid)?;
    let span = c.args[1].span();
    // The histograms: `le` series grouped by their other labels, each group's series in input
    // order with their bounds.
    let mut keys: Vec<Labels> = Vec::new();
    let mut members: Vec<Vec<(u32, f64)>> = Vec::new();
    {
        let mut index: HashMap<Labels, usize, FastHash> = HashMap::default();
        for (j, s) in v.iter().enumerate() {
            let Some(le) = bucket_bound(ctx, &s.labels, span) else {
                continue;
            };
            if s.pts.is_empty() {
                continue;
            }
            let key: Labels = s
                .labels
                .iter()
                .filter(|l| l.name != "le")
                .map(|l| (l.name, l.value))
                .collect();
            let g = *index.entry(key).or_insert_with_key(|key| {
                keys.push(key.clone());
                members.push(Vec::new());
                keys.len() - 1
            });
            members[g].push((j as u32, le));
        }
    }
    for &qi in &q {
        if !(0.0..=1.0).contains(&qi) {
            ctx.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_float(qi)
                ),
                c.args[0].span(),
            );
        }
    }
    // Each group's points by step, each step's buckets in input order (a stable sort of the
    // members' points, which come in input order), as a step-by-step walk collects them.
    let mut items: Vec<(usize, f64, f64)> = Vec::new();
    let mut b: Buckets = Vec::new();
    let mut fixed: Vec<(usize, usize)> = Vec::new();
    let mut out: Vec<((usize, usize), Sv)> = Vec::new();
    for (g, m) in members.iter().enumerate() {
        ctx.check("histogram_quantile")?;
        items.clear();
        for &(j, le) in m {
            items.extend(v[j as usize].pts.iter().map(|&(i, x)| (i, le, x)));
        }
        items.sort_by_key(|x| x.0);
        let mut pts = Vec::new();
        for run in items.chunk_by(|x, y| x.0 == y.0) {
            let i = run[0].0;
            b.clear();
            b.extend(run.iter().map(|x| (x.1, x.2)));
            if normalize(&mut b) {
                fixed.push((i, g));
            }
            pts.push((i, bucket_quantile(q[i], &b)));
        }
        if let Some(&(i0, _)) = pts.first() {
            out.push((
                (i0, g),
                Sv {
                    labels: keys[g].clone(),
                    drop_name: true,
                    pts,
                },
            ));
        }
    }
    // Prometheus's info for every histogram that needed fixing, step by step.
    fixed.sort_unstable();
    for (_, g) in fixed {
        ctx.info(format!(
            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"{}\"",
            keys[g].metric_name().unwrap_or("")
        ), span);
    }
    // A step-by-step walk creates the output series by first step, then group.
    out.sort_unstable_by_key(|x| x.0);
    Ok(Val::Vector(out.into_iter().map(|x| x.1).collect()))
}

/// One step's bucket groups in group order, each made monotonic, with Prometheus's info for
/// every group that needed it.
fn fixed_groups(
    ctx: &mut Ctx<'_>,
    groups: impl IntoIterator<Item = (usize, Buckets)>,
    keys: &[Labels],
    span: Span,
) -> Vec<(usize, Buckets)> {
    let mut groups: Vec<(usize, Buckets)> = groups.into_iter().collect();
    groups.sort_by_key(|g| g.0);
    for (g, b) in &mut groups {
        if normalize(b) {
            ctx.info(format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"{}\"",
                keys[*g].metric_name().unwrap_or("")
            ), span);
        }
    }
    groups
}

fn histogram_quantiles(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    let v = eval_vector(ctx, &c.args[0], grid)?;
    let label = eval_string(ctx, &c.args[1], grid)?;
    if label.is_empty() || !prom_model::is_valid_utf8_name(&label) {
        return Err(EvalError::InvalidArgument(format!(
            "invalid label name {label:?}"
        )));
    }
    let mut qs = Vec::new();
    for a in &c.args[2..] {
        let q = eval_scalar(ctx, a, grid)?;
        if q.iter().any(|q| !(0.0..=1.0).contains(q)) {
            ctx.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_float(
                        *q.iter()
                            .find(|q| !(0.0..=1.0).contains(*q))
                            .unwrap_or(&f64::NAN)
                    )
                ),
                a.span(),
            );
        }
        qs.push(q);
    }
    if let Some(s) = v.iter().find(|s| s.labels.contains(&label)) {
        return Err(EvalError::InvalidArgument(format!(
            "label {label:?} already exists in the input series {}",
            s.labels
        )));
    }
    let (keys, steps) = bucket_groups(ctx, &v, grid, c.args[0].span());
    let mut out = Out::default();
    for (i, groups) in steps.into_iter().enumerate() {
        for (g, b) in fixed_groups(ctx, groups, &keys, c.args[0].span()) {
            for q in &qs {
                let q = q[i];
                let text = if q.is_finite() && q.fract() == 0.0 {
                    format!("{q:.1}")
                } else {
                    format_float(q)
                };
                let mut lb = keys[g].to_builder();
                lb.set(&label, &text);
                out.push(&lb.build(), true, i, bucket_quantile(q, &b));
            }
        }
    }
    Ok(Val::Vector(out.series))
}

fn histogram_fraction(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    let lo = eval_scalar(ctx, &c.args[0], grid)?;
    let hi = eval_scalar(ctx, &c.args[1], grid)?;
    let v = eval_vector(ctx, &c.args[2], grid)?;
    let (keys, steps) = bucket_groups(ctx, &v, grid, c.args[2].span());
    let mut out = Out::default();
    for (i, groups) in steps.into_iter().enumerate() {
        let mut groups: Vec<(usize, Buckets)> = groups.into_iter().collect();
        groups.sort_by_key(|g| g.0);
        for (g, mut b) in groups {
            normalize(&mut b);
            let total = b.last().map(|x| x.1).unwrap_or(0.0);
            let value = if b.last().map(|x| x.0) != Some(f64::INFINITY)
                || total == 0.0
                || lo[i].is_nan()
                || hi[i].is_nan()
            {
                f64::NAN
            } else if lo[i] >= hi[i] {
                0.0
            } else {
                bucket_fraction(lo[i], hi[i], &b) / total
            };
            out.push(&keys[g], true, i, value);
        }
    }
    Ok(Val::Vector(out.series))
}

fn range_function(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    let name = c.func.name;
    let mi = c
        .func
        .arg_types
        .iter()
        .position(|t| *t == ValueType::Matrix)
        .unwrap_or(0);
    if let Expr::MatrixSelector(ms) = unwrap_parens(&c.args[mi])
        && let Some(ext) = ms.selector.extension
    {
        return extended_range_function(ctx, c, ms, ext, grid);
    }
    let mut scalars = Vec::new();
    for (i, a) in c.args.iter().enumerate() {
        if i != mi {
            scalars.push(eval_scalar(ctx, a, grid)?);
        }
    }
    if let Some(series) = super::fused::range_while_reading(ctx, c, grid)? {
        return Ok(Val::Vector(series));
    }
    let w: Windows = eval_windows(ctx, &c.args[mi], grid)?;
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    if matches!(name, "rate" | "increase" | "irate") {
        for s in &w.series {
            if let Some(msg) = s.labels.metric_name().and_then(not_a_counter)
                && !s.drop_name
            {
                ctx.info(msg, c.args[mi].span());
            }
        }
    }
    if name == "quantile_over_time" {
        for &q in &scalars[0] {
            if !(0.0..=1.0).contains(&q) {
                ctx.warn(
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        format_float(q)
                    ),
                    c.args[0].span(),
                );
                break;
            }
        }
    }
    if name == "double_exponential_smoothing" {
        for (&sf, &tf) in scalars[0].iter().zip(&scalars[1]) {
            if !(sf > 0.0 && sf < 1.0) {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if !(tf > 0.0 && tf < 1.0) {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
        }
    }
    if name == "absent_over_time" {
        let mut present = vec![false; grid.n];
        for s in &w.series {
            w.for_each(s, |i, win| {
                if !win.is_empty() {
                    present[i] = true;
                }
            });
        }
        let labels = w.selector.as_ref().map(absent_labels).unwrap_or_default();
        let pts: Vec<(usize, f64)> = (0..grid.n)
            .filter(|&i| !present[i])
            .map(|i| (i, 1.0))
            .collect();
        return Ok(Val::Vector(if pts.is_empty() {
            Vec::new()
        } else {
            vec![Sv {
                labels,
                drop_name: false,
                pts,
            }]
        }));
    }
    let Some(f) = RangeFn::from_name(name) else {
        if w.series.iter().any(|s| {
            let mut any = false;
            w.for_each(s, |_, win| any |= !win.is_empty());
            any
        }) {
            return Err(EvalError::Unsupported(format!(
                "function {name}() is not implemented"
            )));
        }
        return Ok(Val::Vector(Vec::new()));
    };
    let args = Args {
        scalars: &scalars,
        grid,
    };
    let samples: usize = w.series.iter().map(|s| s.samples.len()).sum();
    let per_step = if f.walks_windows() {
        // Each sample is in about range / step windows.
        let span = w.ends.last().copied().unwrap_or(0) - w.ends.first().copied().unwrap_or(0);
        let spacing = (span / w.ends.len().max(1) as i64).max(1);
        (w.range / spacing).clamp(1, w.ends.len().max(1) as i64) as usize
    } else {
        1
    };
    let work = samples
        .saturating_mul(per_step)
        .saturating_add(w.series.len().saturating_mul(w.ends.len()));
    let threads = par::threads_for(ctx.opts.parallelism, w.series.len(), work);
    let results = par::map(
        &w.series,
        threads,
        &ctx.stop(),
        "range function",
        Scratch::default,
        |scratch, s| {
            if s.starts.is_empty() || !f.uses_start_timestamps() {
                (eval_series(f, &w, &s.samples, &args, scratch), false)
            } else {
                let mut pts = Vec::with_capacity(w.ends.len());
                let overlapped = super::start::eval_series(f, &w, &s.samples, &s.starts, &mut pts);
                (pts, overlapped)
            }
        },
    )?;
    let mut out = Vec::with_capacity(w.series.len());
    for (s, (pts, overlapped)) in w.series.iter().zip(results) {
        if overlapped {
            ctx.warn(
                format!(
                    "sample has start time that overlaps with previous sample timestamp for metric {:?}",
                    s.labels.metric_name().unwrap_or("")
                ),
                c.args[mi].span(),
            );
        }
        ctx.add_samples(pts.len())?;
        if !pts.is_empty() {
            out.push(Sv {
                labels: s.labels.clone(),
                drop_name: if keeps_name { s.drop_name } else { true },
                pts,
            });
        }
    }
    Ok(Val::Vector(out))
}

/// The info `rate`, `increase` and `irate` give for a series whose metric name does not end
/// like a counter's, as Prometheus words it; `None` for a counter's name.
pub(crate) fn not_a_counter(name: &str) -> Option<String> {
    (!["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|x| name.ends_with(x)))
    .then(|| {
        format!(
            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"
        )
    })
}

/// `rate`, `increase`, `delta`, `changes`, `resets` over an `anchored` or `smoothed` range.
fn extended_range_function(
    ctx: &mut Ctx<'_>,
    c: &Call,
    ms: &crate::ast::MatrixSelector,
    ext: RangeExtension,
    grid: Grid,
) -> Result<Val> {
    let name = c.func.name;
    let allowed: &[&str] = match ext {
        RangeExtension::Anchored => &["changes", "delta", "increase", "rate", "resets"],
        RangeExtension::Smoothed => &["delta", "increase", "rate"],
    };
    if !allowed.contains(&name) {
        return Err(EvalError::InvalidQuery(format!(
            "{} modifier can only be used with: {} - not with {name}",
            ext.as_str(),
            allowed.join(", ")
        )));
    }
    let vs = &ms.selector;
    let range = ctx.duration(&ms.range)?;
    let off = match &vs.offset {
        Some(d) => ctx.duration(d)?,
        None => 0,
    };
    let at = ctx.at(vs.at);
    let ends: Vec<i64> = (0..grid.n).map(|i| at.unwrap_or(grid.t(i)) - off).collect();
    let lookback = ctx.opts.lookback_delta;
    let lo = ends.iter().copied().min().unwrap_or(0) - range - lookback;
    let mut hi = ends.iter().copied().max().unwrap_or(0);
    if ext == RangeExtension::Smoothed {
        hi += lookback;
    }
    let loaded = ctx.load(vs, lo, hi, range, grid.step, true)?;
    let counter = matches!(name, "rate" | "increase" | "resets");
    let mut out = Vec::new();
    // The extended window of a step, reused from step to step.
    let mut w: Vec<RawSample> = Vec::new();
    for (labels, samples) in loaded {
        let mut pts = Vec::new();
        for (i, &end) in ends.iter().enumerate() {
            let start = end - range;
            let a = samples.partition_point(|x| x.t <= start);
            let b = samples.partition_point(|x| x.t <= end);
            let inside = &samples[a..b];
            let before = a
                .checked_sub(1)
                .map(|k| samples[k])
                .filter(|x| x.t > start - lookback);
            w.clear();
            match ext {
                RangeExtension::Anchored => {
                    if inside.is_empty() {
                        continue;
                    }
                    if let Some(x) = before {
                        w.push(RawSample::new(start, x.v));
                    }
                    w.extend_from_slice(inside);
                }
                RangeExtension::Smoothed => {
                    let after_start = samples.get(a).copied().filter(|x| x.t <= start + lookback);
                    let first = match (before, after_start) {
                        (Some(l), Some(r)) => interpolate(l, r, start, counter),
                        (Some(l), None) => l.v,
                        (None, Some(r)) => r.v,
                        (None, None) => continue,
                    };
                    let last_before = b
                        .checked_sub(1)
                        .map(|k| samples[k])
                        .filter(|x| x.t > end - lookback);
                    let after_end = samples.get(b).copied().filter(|x| x.t <= end + lookback);
                    let last = match (last_before, after_end) {
                        (Some(l), Some(r)) => interpolate(l, r, end, counter),
                        (Some(l), None) => l.v,
                        (None, Some(r)) => r.v,
                        (None, None) => continue,
                    };
                    if inside.is_empty() && (before.is_none() || after_end.is_none()) {
                        continue;
                    }
                    w.push(RawSample::new(start, first));
                    w.extend_from_slice(inside);
                    w.push(RawSample::new(end, last));
                }
            }
            let delta_of = |w: &[RawSample], counter: bool| {
                let mut r = w[w.len() - 1].v - w[0].v;
                if counter {
                    for p in w.windows(2) {
                        if p[1].v < p[0].v {
                            r += p[0].v;
                        }
                    }
                }
                r
            };
            let v = match name {
                "increase" => delta_of(&w, true),
                "rate" => delta_of(&w, true) / (range as f64 / 1000.0),
                "delta" => delta_of(&w, false),
                "resets" => w.windows(2).filter(|p| p[1].v < p[0].v).count() as f64,
                _ => w
                    .windows(2)
                    .filter(|p| p[1].v != p[0].v && !(p[1].v.is_nan() && p[0].v.is_nan()))
                    .count() as f64,
            };
            pts.push((i, v));
        }
        ctx.add_samples(pts.len())?;
        if !pts.is_empty() {
            out.push(Sv {
                labels,
                drop_name: true,
                pts,
            });
        }
    }
    Ok(Val::Vector(out))
}

/// The value at `t` between samples `l` and `r`; for counters a drop is a reset from zero.
pub(crate) fn interpolate(l: RawSample, r: RawSample, t: i64, counter: bool) -> f64 {
    if r.t == l.t {
        return r.v;
    }
    let frac = (t - l.t) as f64 / (r.t - l.t) as f64;
    let base = if counter && r.v < l.v { 0.0 } else { l.v };
    base + (r.v - base) * frac
}

/// The time the samples of `expr` evaluated at `t` come from, following `@` and `offset` down
/// to the first selector (what `info()` looks its info series up at).
fn reference_time(ctx: &Ctx<'_>, expr: &Expr, t: i64) -> i64 {
    let shift = |at: Option<crate::ast::AtModifier>, off: Option<&crate::ast::Duration>| {
        let off = off.and_then(|d| ctx.duration(d).ok()).unwrap_or(0);
        ctx.at(at).unwrap_or(t) - off
    };
    match expr {
        Expr::VectorSelector(vs) => shift(vs.at, vs.offset.as_ref()),
        Expr::MatrixSelector(ms) => shift(ms.selector.at, ms.selector.offset.as_ref()),
        Expr::Subquery(sq) => reference_time(ctx, &sq.expr, shift(sq.at, sq.offset.as_ref())),
        _ => expr
            .children()
            .into_iter()
            .find(|c| has_selector(c))
            .map(|c| reference_time(ctx, c, t))
            .unwrap_or(t),
    }
}

fn has_selector(e: &Expr) -> bool {
    matches!(e, Expr::VectorSelector(_) | Expr::MatrixSelector(_))
        || e.children().into_iter().any(has_selector)
}

const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// An info series and the time of its newest sample at each step.
type InfoSeries = (Labels, Vec<Option<i64>>);

/// `info(v, {selector})`: adds the data labels of info series sharing `v`'s identifying labels.
fn info(ctx: &mut Ctx<'_>, c: &Call, grid: Grid) -> Result<Val> {
    let base = eval_vector(ctx, &c.args[0], grid)?;
    let (mut name_matchers, mut data_matchers) = (Vec::new(), Vec::new());
    if let Some(Expr::VectorSelector(vs)) = c.args.get(1).map(unwrap_parens) {
        for m in &vs.matchers {
            if m.name() == METRIC_NAME {
                name_matchers.push(m.clone());
            } else {
                data_matchers.push(m.clone());
            }
        }
    }
    if name_matchers.is_empty() {
        name_matchers.push(prom_model::Matcher::equal(METRIC_NAME, "target_info"));
    } else if name_matchers.iter().all(|m| m.kind().is_negative())
        && let Ok(m) =
            prom_model::Matcher::new(prom_model::MatchType::RegexMatch, METRIC_NAME, ".+_info")
    {
        // Only negative name matchers: still only info metrics.
        name_matchers.push(m);
    }
    let times: Vec<i64> = (0..grid.n)
        .map(|i| reference_time(ctx, &c.args[0], grid.t(i)))
        .collect();
    let lookback = ctx.opts.lookback_delta;
    let lo = times.iter().copied().min().unwrap_or(0) - lookback;
    let hi = times.iter().copied().max().unwrap_or(0);
    let sel = VectorSelector {
        name: None,
        matchers: name_matchers.clone(),
        offset: None,
        at: None,
        extension: None,
        span: c.span,
    };
    let loaded = ctx.load(&sel, lo, hi, 0, grid.step, false)?;
    // Per info series: the newest sample's time at each step, if any.
    let mut infos: HashMap<(String, String), Vec<InfoSeries>> = HashMap::new();
    for (labels, samples) in loaded {
        if !data_matchers
            .iter()
            .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
        {
            continue;
        }
        let mut at = vec![None; grid.n];
        for (i, &t) in times.iter().enumerate() {
            let j = samples.partition_point(|s| s.t <= t);
            if j > 0 {
                let s = samples[j - 1];
                if s.t > t - lookback && !prom_model::value::is_stale_nan(s.v) {
                    at[i] = Some(s.t);
                }
            }
        }
        let key = (
            labels.get(IDENTIFYING[0]).unwrap_or("").to_owned(),
            labels.get(IDENTIFYING[1]).unwrap_or("").to_owned(),
        );
        infos.entry(key).or_default().push((labels, at));
    }
    let empty_ok = data_matchers.iter().all(|m| m.matches(""));
    let mut out = Out::default();
    for s in &base {
        let name = s.labels.metric_name().unwrap_or("");
        let is_info = name_matchers.iter().all(|m| m.matches(name));
        let key = (
            s.labels.get(IDENTIFYING[0]).unwrap_or("").to_owned(),
            s.labels.get(IDENTIFYING[1]).unwrap_or("").to_owned(),
        );
        let no_info = Vec::new();
        let candidates = infos.get(&key).unwrap_or(&no_info);
        for &(i, v) in &s.pts {
            if is_info {
                out.push(&s.labels, s.drop_name, i, v);
                continue;
            }
            // The newest series per info metric name.
            let mut chosen: HashMap<&str, (&Labels, i64)> = HashMap::new();
            for (labels, at) in candidates {
                if let Some(t) = at[i] {
                    let n = labels.metric_name().unwrap_or("");
                    if chosen.get(n).is_none_or(|c| c.1 < t) {
                        chosen.insert(n, (labels, t));
                    }
                }
            }
            if chosen.is_empty() {
                if empty_ok {
                    out.push(&s.labels, s.drop_name, i, v);
                }
                continue;
            }
            let mut b = s.labels.to_builder();
            let mut added: HashMap<&str, &str> = HashMap::new();
            for (labels, _) in chosen.values() {
                for l in labels.iter() {
                    if l.name == METRIC_NAME
                        || IDENTIFYING.contains(&l.name)
                        || s.labels.contains(l.name)
                        || (!data_matchers.is_empty()
                            && !data_matchers.iter().any(|m| m.name() == l.name))
                    {
                        continue;
                    }
                    if let Some(prev) = added.insert(l.name, l.value)
                        && prev != l.value
                    {
                        return Err(EvalError::InvalidArgument(format!(
                            "conflicting label: {} has values {prev:?} and {:?} in different info metrics",
                            l.name, l.value
                        )));
                    }
                    b.set(l.name, l.value);
                }
            }
            out.push(&b.build(), s.drop_name, i, v);
        }
    }
    Ok(Val::Vector(out.series))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_quantile_searches_as_go_does_when_counts_are_not_monotonic() {
        // A NaN count breaks monotonicity; Go's search over all but the last bucket lands on
        // the last one, whose answer is the bound before it. A search over the whole slice
        // ran off its end here.
        let b = vec![(1.0, f64::NAN), (f64::INFINITY, -4.5)];
        assert_eq!(bucket_quantile(0.9, &b), 1.0);
        let b = vec![(1.0, 2.0), (2.0, f64::NAN), (f64::INFINITY, 4.0)];
        assert_eq!(bucket_quantile(0.25, &b), 2.0);
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        assert_eq!(quantile(0.5, &mut [3.0, 1.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(0.0, &mut [3.0, 1.0]), 1.0);
        assert_eq!(quantile(-1.0, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
        assert!(quantile(0.5, &mut []).is_nan());
        // NaN sorts first.
        assert!(quantile(0.0, &mut [1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn natural_order() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("2", "10"), Less);
        assert_eq!(natural_cmp("1.2.3", "1.11.3"), Less);
        assert_eq!(natural_cmp("a10", "a9"), Greater);
        assert_eq!(natural_cmp("abc", "abd"), Less);
        assert_eq!(natural_cmp("x", "x"), Equal);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(
            calendar("day_of_week", 0.0),
            4.0,
            "1970-01-01 was a Thursday"
        );
        assert!(calendar("year", f64::NAN).is_nan());
    }

    #[test]
    fn classic_bucket_quantile() {
        let b: Buckets = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.5, &b), 1.0);
        assert_eq!(bucket_quantile(0.75, &b), 1.5);
        assert!(
            bucket_quantile(0.5, &vec![(1.0, 1.0)]).is_nan(),
            "no +Inf bucket"
        );
        let mut unsorted: Buckets = vec![(f64::INFINITY, 5.0), (1.0, 6.0)];
        assert!(normalize(&mut unsorted), "counts had to be made monotonic");
        assert_eq!(unsorted, vec![(1.0, 6.0), (f64::INFINITY, 6.0)]);
    }

    #[test]
    fn rate_extrapolation() {
        use super::super::window::extrapolated;
        let s = |t: i64, v: f64| RawSample::new(t, v);
        // Samples cover the whole window: no extrapolation needed beyond the edges.
        let w = [s(10_000, 1.0), s(20_000, 2.0), s(30_000, 3.0)];
        assert_eq!(extrapolated(&w, 0, 40_000, true, false), Some(4.0));
        assert_eq!(extrapolated(&w, 0, 40_000, true, true), Some(0.1));
        // A counter is not extrapolated below zero: 1 at 10s started at most 10s earlier.
        let w = [s(30_000, 1.0), s(40_000, 2.0)];
        assert_eq!(extrapolated(&w, 0, 40_000, true, false), Some(1.5));
        assert_eq!(extrapolated(&w[..1], 0, 40_000, true, false), None);
    }
}
