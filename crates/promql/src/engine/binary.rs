//! Binary operators: arithmetic, comparisons and set operators, with vector matching.

use std::collections::{HashMap, HashSet};

use prom_model::{Labels, METRIC_NAME};

use super::error::{EvalError, Result};
use super::eval::{Ctx, FastHash, Grid, Out, Sv, Val, columns, eval, go_labels};
use crate::ast::{BinaryExpr, BinaryOp, Cardinality, VectorMatching};

/// `a op b` for an arithmetic operator.
pub(crate) fn arith(op: BinaryOp, a: f64, b: f64) -> f64 {
    op.arith(a, b).unwrap_or(f64::NAN)
}

/// `a op b` for a comparison operator.
pub(crate) fn compare(op: BinaryOp, a: f64, b: f64) -> bool {
    match op {
        BinaryOp::Eql => a == b,
        BinaryOp::Neq => a != b,
        BinaryOp::Gtr => a > b,
        BinaryOp::Lss => a < b,
        BinaryOp::Gte => a >= b,
        BinaryOp::Lte => a <= b,
        _ => false,
    }
}

pub(crate) fn eval_binary(ctx: &mut Ctx<'_>, b: &BinaryExpr, grid: Grid) -> Result<Val> {
    if matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower) {
        return Err(EvalError::Unsupported(format!(
            "the {} operator works on native histograms, which this engine does not support",
            b.op.as_str()
        )));
    }
    let lhs = eval(ctx, &b.lhs, grid)?;
    let rhs = eval(ctx, &b.rhs, grid)?;
    let cmp = b.op.is_comparison();
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(|(&a, &c)| {
                    if cmp {
                        if compare(b.op, a, c) { 1.0 } else { 0.0 }
                    } else {
                        arith(b.op, a, c)
                    }
                })
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(s)) => Ok(Val::Vector(vector_scalar(b, v, &s, false))),
        (Val::Scalar(s), Val::Vector(v)) => Ok(Val::Vector(vector_scalar(b, v, &s, true))),
        (Val::Vector(l), Val::Vector(r)) => {
            let default = VectorMatching::default();
            let m = b.matching.as_ref().unwrap_or(&default);
            if b.op.is_set_operator() {
                Ok(Val::Vector(set_op(b.op, m, l, r, grid)))
            } else {
                Ok(Val::Vector(vector_vector(ctx, b, m, l, r, grid)?))
            }
        }
        _ => Err(EvalError::InvalidQuery(format!(
            "operator {} not defined on strings",
            b.op.as_str()
        ))),
    }
}

fn vector_scalar(b: &BinaryExpr, mut v: Vec<Sv>, s: &[f64], swap: bool) -> Vec<Sv> {
    let cmp = b.op.is_comparison();
    for series in &mut v {
        if !cmp || b.return_bool {
            series.drop_name = true;
        }
        series.pts.retain_mut(|(i, x)| {
            let (l, r) = if swap { (s[*i], *x) } else { (*x, s[*i]) };
            if cmp {
                let keep = compare(b.op, l, r);
                if b.return_bool {
                    *x = if keep { 1.0 } else { 0.0 };
                    true
                } else {
                    keep
                }
            } else {
                *x = arith(b.op, l, r);
                true
            }
        });
    }
    v.retain(|s| !s.pts.is_empty());
    v
}

/// The labels two series are matched on.
fn signature(labels: &Labels, m: &VectorMatching) -> Labels {
    if m.on {
        labels
            .iter()
            .filter(|l| m.labels.iter().any(|n| n == l.name))
            .map(|l| (l.name, l.value))
            .collect()
    } else {
        labels
            .iter()
            .filter(|l| l.name != METRIC_NAME && !m.labels.iter().any(|n| n == l.name))
            .map(|l| (l.name, l.value))
            .collect()
    }
}

fn set_op(op: BinaryOp, m: &VectorMatching, lhs: Vec<Sv>, rhs: Vec<Sv>, grid: Grid) -> Vec<Sv> {
    let lsig: Vec<Labels> = lhs.iter().map(|s| signature(&s.labels, m)).collect();
    let rsig: Vec<Labels> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
    let lcols = columns(&lhs, grid.n);
    let rcols = columns(&rhs, grid.n);
    let mut keep_l: Vec<Vec<(usize, f64)>> = vec![Vec::new(); lhs.len()];
    let mut keep_r: Vec<Vec<(usize, f64)>> = vec![Vec::new(); rhs.len()];
    for i in 0..grid.n {
        match op {
            BinaryOp::And | BinaryOp::Unless => {
                let present: HashSet<&Labels, FastHash> =
                    rcols[i].iter().map(|&(j, _)| &rsig[j]).collect();
                for &(j, v) in &lcols[i] {
                    if present.contains(&lsig[j]) == (op == BinaryOp::And) {
                        keep_l[j].push((i, v));
                    }
                }
            }
            _ => {
                let present: HashSet<&Labels, FastHash> =
                    lcols[i].iter().map(|&(j, _)| &lsig[j]).collect();
                for &(j, v) in &lcols[i] {
                    keep_l[j].push((i, v));
                }
                for &(j, v) in &rcols[i] {
                    if !present.contains(&rsig[j]) {
                        keep_r[j].push((i, v));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (mut s, pts) in lhs.into_iter().zip(keep_l) {
        if !pts.is_empty() {
            s.pts = pts;
            out.push(s);
        }
    }
    for (mut s, pts) in rhs.into_iter().zip(keep_r) {
        if !pts.is_empty() {
            s.pts = pts;
            out.push(s);
        }
    }
    out
}

fn result_labels(many: &Labels, one: &Labels, m: &VectorMatching) -> Labels {
    let mut b = many.to_builder();
    match m.card {
        Cardinality::OneToOne => {
            if m.on {
                b.retain(|n, _| m.labels.iter().any(|x| x == n));
            } else {
                for n in &m.labels {
                    b.del(n);
                }
            }
        }
        _ => {
            for n in &m.include {
                match one.get(n) {
                    Some(v) => {
                        b.set(n, v);
                    }
                    None => {
                        b.del(n);
                    }
                }
            }
        }
    }
    b.build()
}

fn vector_vector(
    ctx: &mut Ctx<'_>,
    b: &BinaryExpr,
    m: &VectorMatching,
    lhs: Vec<Sv>,
    rhs: Vec<Sv>,
    grid: Grid,
) -> Result<Vec<Sv>> {
    let swapped = m.card == Cardinality::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    // Signatures become small integers once, so steps index vectors instead of hashing labels.
    let mut sig_ids: HashMap<Labels, usize, FastHash> = HashMap::default();
    let mut sigs: Vec<Labels> = Vec::new();
    let mut intern = |l: Labels| {
        *sig_ids.entry(l.clone()).or_insert_with(|| {
            sigs.push(l);
            sigs.len() - 1
        })
    };
    let msig: Vec<usize> = many
        .iter()
        .map(|s| intern(signature(&s.labels, m)))
        .collect();
    let osig: Vec<usize> = one
        .iter()
        .map(|s| intern(signature(&s.labels, m)))
        .collect();
    let mcols = columns(&many, grid.n);
    let ocols = columns(&one, grid.n);
    let cmp = b.op.is_comparison();
    let drop_name_always = !cmp || b.return_bool;
    let mut out = Out::default();
    // (many index or MAX, one index or MAX) -> output series.
    let mut out_index: HashMap<(usize, usize), usize, FastHash> = HashMap::default();
    let one_side = if swapped { "left" } else { "right" };
    let empty = Labels::new();
    let mut slot: Vec<Option<(usize, f64)>> = vec![None; sigs.len()];
    let mut matched: Vec<Option<usize>> = vec![None; sigs.len()];
    // The step at which each output series last got a point, to find two matches producing
    // the same series at one step.
    let mut produced_at: Vec<usize> = Vec::new();
    // The last (one-side series, output series) of each many-side series, and the output
    // series of each one-side series filled without a match: most series pair with the same
    // partner at every step, so the map of pairs is rarely consulted.
    let mut last_of_many: Vec<(usize, usize)> = vec![(usize::MAX, usize::MAX); many.len()];
    let mut of_unmatched_one: Vec<usize> = vec![usize::MAX; one.len()];
    let mut pairs: Vec<(Option<usize>, f64, Option<usize>, f64)> = Vec::new();
    for i in 0..grid.n {
        if i % 64 == 0 {
            ctx.check("binary operation")?;
        }
        if (mcols[i].is_empty() || ocols[i].is_empty()) && m.fill.is_empty() {
            continue;
        }
        for &(j, v) in &ocols[i] {
            if let Some((prev, _)) = slot[osig[j]] {
                let (a, c) = ordered(&one[prev].labels, &one[j].labels);
                return Err(EvalError::ManyToMany(format!(
                    "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{a}, {c}];many-to-many matching not allowed: matching labels must be unique on one side",
                    go_labels(&sigs[osig[j]]),
                    a = go_labels(a),
                    c = go_labels(c)
                )));
            }
            slot[osig[j]] = Some((j, v));
        }
        pairs.clear();
        for &(j, v) in &mcols[i] {
            let sig = msig[j];
            match slot[sig] {
                Some((k, ov)) => {
                    if let Some(prev) = matched[sig]
                        && m.card == Cardinality::OneToOne
                    {
                        let (a, c) = ordered(&many[prev].labels, &many[j].labels);
                        return Err(EvalError::ManyToMany(format!(
                            "found duplicate series for the match group {} on the left hand-side of the operation: [{a}, {c}];many-to-many matching not allowed: matching labels must be unique on one side",
                            go_labels(&sigs[sig]),
                            a = go_labels(a),
                            c = go_labels(c)
                        )));
                    }
                    matched[sig] = Some(j);
                    pairs.push((Some(j), v, Some(k), ov));
                }
                None => {
                    if let Some(f) = m.fill.rhs {
                        pairs.push((Some(j), v, None, f));
                    }
                }
            }
        }
        if let Some(f) = m.fill.lhs {
            for &(k, ov) in &ocols[i] {
                if matched[osig[k]].is_none() {
                    pairs.push((None, f, Some(k), ov));
                }
            }
        }
        for &(j, _) in &ocols[i] {
            slot[osig[j]] = None;
        }
        for &(j, _) in &mcols[i] {
            matched[msig[j]] = None;
        }
        for &(j, v, k, ov) in &pairs {
            let (l, r) = if swapped { (ov, v) } else { (v, ov) };
            let value = if cmp {
                let keep = compare(b.op, l, r);
                if b.return_bool {
                    if keep { 1.0 } else { 0.0 }
                } else if keep {
                    l
                } else {
                    continue;
                }
            } else {
                arith(b.op, l, r)
            };
            let key = (j.unwrap_or(usize::MAX), k.unwrap_or(usize::MAX));
            let cached = match (j, k) {
                (Some(j), _) if last_of_many[j].1 != usize::MAX && last_of_many[j].0 == key.1 => {
                    Some(last_of_many[j].1)
                }
                (None, Some(k)) if of_unmatched_one[k] != usize::MAX => Some(of_unmatched_one[k]),
                _ => out_index.get(&key).copied(),
            };
            let idx = match cached {
                Some(idx) => idx,
                None => {
                    let (labels, dn) = match (j, k) {
                        (Some(j), Some(k)) => (
                            result_labels(&many[j].labels, &one[k].labels, m),
                            // A filtering comparison returns the matched series of the
                            // many side (the right operand under group_right), name and
                            // all: its drop mark goes with it.
                            drop_name_always || many[j].drop_name,
                        ),
                        (Some(j), None) => (
                            result_labels(&many[j].labels, &empty, m),
                            drop_name_always || many[j].drop_name,
                        ),
                        (None, Some(k)) => {
                            (sigs[osig[k]].clone(), drop_name_always || one[k].drop_name)
                        }
                        (None, None) => continue,
                    };
                    let idx = out.index(&labels, dn);
                    out_index.insert(key, idx);
                    // An output series has at most a point per step of its operand.
                    let pts = &mut out.series[idx].pts;
                    if pts.capacity() == 0 {
                        pts.reserve_exact(match (j, k) {
                            (Some(j), _) => many[j].pts.len(),
                            (None, Some(k)) => one[k].pts.len(),
                            (None, None) => 0,
                        });
                    }
                    idx
                }
            };
            match (j, k) {
                (Some(j), _) => last_of_many[j] = (key.1, idx),
                (None, Some(k)) => of_unmatched_one[k] = idx,
                (None, None) => {}
            }
            if m.card != Cardinality::OneToOne {
                if produced_at.len() <= idx {
                    produced_at.resize(idx + 1, usize::MAX);
                }
                if produced_at[idx] == i {
                    return Err(EvalError::ManyToMany(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
                produced_at[idx] = i;
            }
            out.series[idx].pts.push((i, value));
        }
    }
    Ok(out.series)
}

fn ordered<'a>(a: &'a Labels, b: &'a Labels) -> (&'a Labels, &'a Labels) {
    if a <= b { (a, b) } else { (b, a) }
}
