//! Aggregation operators.

use std::collections::HashMap;

use prom_model::Labels;

use super::error::{EvalError, Result};
use super::eval::{
    Ctx, Grid, Out, Sv, Val, columns, eval_scalar, eval_string, eval_vector, is_name_label,
};
use super::functions::quantile;
use super::value::format_float;
use crate::ast::{AggregateExpr, AggregateOp};

fn group_labels(s: &Sv, a: &AggregateExpr) -> Labels {
    let base = &s.labels;
    if a.without {
        base.iter()
            .filter(|l| !is_name_label(l.name) && !a.grouping.iter().any(|g| g == l.name))
            .map(|l| (l.name, l.value))
            .collect()
    } else {
        base.iter()
            .filter(|l| a.grouping.iter().any(|g| g == l.name))
            .map(|l| (l.name, l.value))
            .collect()
    }
}

/// Kahan-compensated running sum.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Kahan {
    sum: f64,
    c: f64,
}

impl Kahan {
    pub fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if t.is_infinite() {
            self.c = 0.0;
        } else if self.sum.abs() >= v.abs() {
            self.c += (self.sum - t) + v;
        } else {
            self.c += (v - t) + self.sum;
        }
        self.sum = t;
    }

    pub fn value(&self) -> f64 {
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    n: f64,
    sum: Kahan,
    mean: f64,
    imean: f64,
    m2: f64,
    value: f64,
    seen: bool,
}

pub(crate) fn eval_aggregate(ctx: &mut Ctx<'_>, a: &AggregateExpr, grid: Grid) -> Result<Val> {
    let mut param: Option<Vec<f64>> = None;
    let mut label: Option<String> = None;
    if let Some(p) = &a.param {
        if a.op == AggregateOp::CountValues {
            let l = eval_string(ctx, p, grid)?;
            if !prom_model::is_valid_utf8_name(&l) || l.is_empty() {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid label name {l:?}"
                )));
            }
            label = Some(l);
        } else {
            param = Some(eval_scalar(ctx, p, grid)?);
        }
    }
    let input = eval_vector(ctx, &a.expr, grid)?;
    let mut group_of = Vec::with_capacity(input.len());
    let mut groups: Vec<Labels> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut group_drop: Vec<bool> = Vec::new();
    for s in &input {
        let g = group_labels(s, a);
        let gi = *index.entry(g.clone()).or_insert_with(|| {
            groups.push(g);
            group_drop.push(false);
            groups.len() - 1
        });
        group_drop[gi] |= s.drop_name;
        group_of.push(gi);
    }
    // Parameters are checked at every step, even without input.
    if let Some(param) = &param {
        let span = a.param.as_ref().map(|p| p.span()).unwrap_or(a.span);
        for &p in param {
            match a.op {
                AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                    if p.is_nan() {
                        return Err(EvalError::InvalidArgument("Parameter value is NaN".into()));
                    }
                    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&p) {
                        return Err(EvalError::InvalidArgument(format!(
                            "Scalar value {} overflows int64",
                            format_float(p)
                        )));
                    }
                }
                AggregateOp::LimitRatio => {
                    if p.is_nan() {
                        return Err(EvalError::InvalidArgument("Ratio value is NaN".into()));
                    }
                    if !(-1.0..=1.0).contains(&p) {
                        ctx.warn(
                            format!(
                                "ratio value should be between -1 and 1, got {}, capping to {}",
                                format_float(p),
                                p.clamp(-1.0, 1.0)
                            ),
                            span,
                        );
                    }
                }
                AggregateOp::Quantile if !(0.0..=1.0).contains(&p) => {
                    ctx.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            format_float(p)
                        ),
                        span,
                    );
                }
                _ => {}
            }
        }
    }
    let cols = columns(&input, grid.n);
    let mut out = Out::default();
    match a.op {
        AggregateOp::Topk
        | AggregateOp::Bottomk
        | AggregateOp::Limitk
        | AggregateOp::LimitRatio => {
            let param = param.unwrap_or_default();
            for (i, col) in cols.iter().enumerate() {
                if col.is_empty() {
                    continue;
                }
                let p = param.get(i).copied().unwrap_or(f64::NAN);
                let mut per: Vec<Vec<(usize, f64)>> = vec![Vec::new(); groups.len()];
                for &(j, v) in col {
                    per[group_of[j]].push((j, v));
                }
                if a.op == AggregateOp::LimitRatio {
                    let r = p.clamp(-1.0, 1.0);
                    for &(j, v) in col {
                        let off = input[j].labels.hash64() as f64 / u64::MAX as f64;
                        if (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r) {
                            out.push(&input[j].labels, input[j].drop_name, i, v);
                        }
                    }
                    continue;
                }
                let k = p as i64;
                if k < 1 {
                    continue;
                }
                for mut g in per {
                    match a.op {
                        AggregateOp::Topk => g.sort_by(|x, y| desc_nan_last(x.1, y.1)),
                        AggregateOp::Bottomk => g.sort_by(|x, y| asc_nan_last(x.1, y.1)),
                        _ => {}
                    }
                    for &(j, v) in g.iter().take(k as usize) {
                        out.push(&input[j].labels, input[j].drop_name, i, v);
                    }
                }
            }
        }
        AggregateOp::CountValues => {
            let label = label.unwrap_or_default();
            for (i, col) in cols.iter().enumerate() {
                let mut counts: Vec<(usize, String, f64)> = Vec::new();
                let mut pos: HashMap<(usize, String), usize> = HashMap::new();
                for &(j, v) in col {
                    let key = (group_of[j], format_float(v));
                    match pos.get(&key) {
                        Some(&p) => counts[p].2 += 1.0,
                        None => {
                            pos.insert(key.clone(), counts.len());
                            counts.push((key.0, key.1, 1.0));
                        }
                    }
                }
                for (g, val, n) in counts {
                    let mut b = groups[g].to_builder();
                    b.set(&label, &val);
                    out.push(&b.build(), group_drop[g], i, n);
                }
            }
        }
        AggregateOp::Quantile => {
            let param = param.unwrap_or_default();
            for (i, col) in cols.iter().enumerate() {
                if col.is_empty() {
                    continue;
                }
                let q = param.get(i).copied().unwrap_or(f64::NAN);
                let mut per: Vec<Vec<f64>> = vec![Vec::new(); groups.len()];
                for &(j, v) in col {
                    per[group_of[j]].push(v);
                }
                for (g, mut vals) in per.into_iter().enumerate() {
                    if !vals.is_empty() {
                        out.push(&groups[g], group_drop[g], i, quantile(q, &mut vals));
                    }
                }
            }
        }
        op => {
            for (i, col) in cols.iter().enumerate() {
                if i % 64 == 0 {
                    ctx.check("aggregation")?;
                }
                if col.is_empty() {
                    continue;
                }
                let mut accs = vec![Acc::default(); groups.len()];
                let mut order = Vec::new();
                for &(j, v) in col {
                    let g = group_of[j];
                    let acc = &mut accs[g];
                    if !acc.seen {
                        acc.seen = true;
                        acc.value = v;
                        order.push(g);
                    } else {
                        let replace = match op {
                            AggregateOp::Min => acc.value > v || acc.value.is_nan(),
                            AggregateOp::Max => acc.value < v || acc.value.is_nan(),
                            _ => false,
                        };
                        if replace {
                            acc.value = v;
                        }
                    }
                    acc.n += 1.0;
                    acc.sum.add(v);
                    acc.imean += v / acc.n - acc.imean / acc.n;
                    let delta = v - acc.mean;
                    acc.mean += delta / acc.n;
                    acc.m2 += delta * (v - acc.mean);
                }
                for g in order {
                    let acc = &accs[g];
                    let v = match op {
                        AggregateOp::Sum => acc.sum.value(),
                        AggregateOp::Avg => {
                            let s = acc.sum.value();
                            if s.is_infinite() && acc.imean.is_finite() {
                                acc.imean
                            } else {
                                s / acc.n
                            }
                        }
                        AggregateOp::Count => acc.n,
                        AggregateOp::Group => 1.0,
                        AggregateOp::Min | AggregateOp::Max => acc.value,
                        AggregateOp::Stdvar => acc.m2 / acc.n,
                        AggregateOp::Stddev => (acc.m2 / acc.n).sqrt(),
                        _ => f64::NAN,
                    };
                    out.push(&groups[g], group_drop[g], i, v);
                }
            }
        }
    }
    Ok(Val::Vector(out.series))
}

fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_keeps_small_terms() {
        let mut k = Kahan::default();
        for v in [1e16, 1.0, 1.0, -1e16] {
            k.add(v);
        }
        assert_eq!(k.value(), 2.0);
        let mut k = Kahan::default();
        k.add(f64::MAX);
        k.add(f64::MAX);
        assert_eq!(k.value(), f64::INFINITY);
    }
}
