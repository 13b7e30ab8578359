//! Aggregation operators.

use std::collections::HashMap;

use prom_model::Labels;

use super::error::{EvalError, Result};
use super::eval::{
    Ctx, FastHash, Grid, Out, Sv, Val, eval_scalar, eval_string, eval_vector, is_name_label,
};
use super::functions::quantile;
use super::value::format_float;
use crate::ast::{AggregateExpr, AggregateOp};

fn group_labels(base: &Labels, a: &AggregateExpr) -> Labels {
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
    // The folding operators over a range function or a selector take each series' points
    // as they are produced, without the whole input at once.
    if param.is_none()
        && label.is_none()
        && let Some(series) = super::fused::fold_while_reading(ctx, a, grid)?
    {
        return Ok(Val::Vector(series));
    }
    let input = eval_vector(ctx, &a.expr, grid)?;
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
    let groups = Groups::new(input.iter().map(|s| (&s.labels, s.drop_name)), a);
    let n = grid.n;
    let series = match a.op {
        AggregateOp::Sum => fold::<SumAcc>(ctx, &input, &groups, n)?,
        AggregateOp::Avg => fold::<AvgAcc>(ctx, &input, &groups, n)?,
        AggregateOp::Count => fold::<CountAcc>(ctx, &input, &groups, n)?,
        AggregateOp::Group => fold::<GroupAcc>(ctx, &input, &groups, n)?,
        AggregateOp::Min => fold::<MinAcc>(ctx, &input, &groups, n)?,
        AggregateOp::Max => fold::<MaxAcc>(ctx, &input, &groups, n)?,
        AggregateOp::Stdvar => fold::<VarAcc<false>>(ctx, &input, &groups, n)?,
        AggregateOp::Stddev => fold::<VarAcc<true>>(ctx, &input, &groups, n)?,
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
            select_k(ctx, a.op, &input, &groups, n, &param.unwrap_or_default())?
        }
        AggregateOp::LimitRatio => limit_ratio(&input, &param.unwrap_or_default()),
        AggregateOp::Quantile => quantiles(ctx, &input, &groups, n, &param.unwrap_or_default())?,
        AggregateOp::CountValues => {
            count_values(ctx, &input, &groups, n, &label.unwrap_or_default())?
        }
    };
    Ok(Val::Vector(series))
}

/// How often (in input series walked) aggregation checks for cancellation and timeout.
pub(crate) const CHECK_EVERY: usize = 1024;

/// The output group of each input series, computed once per series.
#[derive(Debug)]
pub(crate) struct Groups {
    /// The group index of each input series.
    pub of: Vec<u32>,
    /// Each group's labels, in order of first appearance in the input.
    pub labels: Vec<Labels>,
    /// Whether any series of the group has its name dropped at the end.
    pub drop: Vec<bool>,
    /// The input series of each group, in input order: group `g` is
    /// `members[start[g]..start[g + 1]]`.
    start: Vec<u32>,
    members: Vec<u32>,
}

impl Groups {
    /// The groups of the input series, given as (labels, whether the name is dropped).
    pub fn new<'a>(
        input: impl ExactSizeIterator<Item = (&'a Labels, bool)>,
        a: &AggregateExpr,
    ) -> Groups {
        // The key is the grouping labels' names and values, each followed by a 0xff byte (which
        // never occurs in UTF-8), so equal keys mean equal group label sets; the `Labels` of a
        // group is only built for its first series.
        let mut index: HashMap<Box<[u8]>, u32, FastHash> = HashMap::default();
        let mut key: Vec<u8> = Vec::new();
        let mut of = Vec::with_capacity(input.len());
        let mut groups: Vec<Labels> = Vec::new();
        let mut drop: Vec<bool> = Vec::new();
        for (labels, drop_name) in input {
            key.clear();
            for l in labels.iter() {
                let listed = a.grouping.iter().any(|g| g == l.name);
                let keep = if a.without {
                    !listed && !is_name_label(l.name)
                } else {
                    listed
                };
                if keep {
                    key.extend_from_slice(l.name.as_bytes());
                    key.push(0xff);
                    key.extend_from_slice(l.value.as_bytes());
                    key.push(0xff);
                }
            }
            let gi = match index.get(key.as_slice()) {
                Some(&g) => g,
                None => {
                    let g = groups.len() as u32;
                    groups.push(group_labels(labels, a));
                    drop.push(false);
                    index.insert(key.as_slice().into(), g);
                    g
                }
            };
            drop[gi as usize] |= drop_name;
            of.push(gi);
        }
        // Counting sort of the series by group, stable.
        let mut start = vec![0u32; groups.len() + 2];
        for &g in &of {
            start[g as usize + 2] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut members = vec![0u32; of.len()];
        for (j, &g) in of.iter().enumerate() {
            let at = &mut start[g as usize + 1];
            members[*at as usize] = j as u32;
            *at += 1;
        }
        start.pop();
        Groups {
            of,
            labels: groups,
            drop,
            start,
            members,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The input series of group `g`, in input order.
    pub fn members(&self, g: usize) -> &[u32] {
        &self.members[self.start[g] as usize..self.start[g + 1] as usize]
    }
}

/// The running state of one group at one step for the operators that fold values in input
/// order (`sum`, `avg`, `count`, `group`, `min`, `max`, `stddev`, `stdvar`).
pub(crate) trait StepAcc: Copy + Default + Send {
    /// Adds the next value; `first` for the group's first value at this step.
    fn add(&mut self, v: f64, first: bool);
    /// The aggregate of the values added.
    fn value(&self) -> f64;
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SumAcc(Kahan);

impl StepAcc for SumAcc {
    #[inline]
    fn add(&mut self, v: f64, _: bool) {
        self.0.add(v);
    }
    fn value(&self) -> f64 {
        self.0.value()
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AvgAcc {
    n: f64,
    sum: Kahan,
    /// The incremental mean, used when the sum overflows.
    imean: f64,
}

impl StepAcc for AvgAcc {
    #[inline]
    fn add(&mut self, v: f64, _: bool) {
        self.n += 1.0;
        self.sum.add(v);
        self.imean += v / self.n - self.imean / self.n;
    }
    fn value(&self) -> f64 {
        let s = self.sum.value();
        if s.is_infinite() && self.imean.is_finite() {
            self.imean
        } else {
            s / self.n
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CountAcc(f64);

impl StepAcc for CountAcc {
    #[inline]
    fn add(&mut self, _: f64, _: bool) {
        self.0 += 1.0;
    }
    fn value(&self) -> f64 {
        self.0
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct GroupAcc;

impl StepAcc for GroupAcc {
    #[inline]
    fn add(&mut self, _: f64, _: bool) {}
    fn value(&self) -> f64 {
        1.0
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MinAcc(f64);

impl StepAcc for MinAcc {
    #[inline]
    fn add(&mut self, v: f64, first: bool) {
        if first || self.0 > v || self.0.is_nan() {
            self.0 = v;
        }
    }
    fn value(&self) -> f64 {
        self.0
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MaxAcc(f64);

impl StepAcc for MaxAcc {
    #[inline]
    fn add(&mut self, v: f64, first: bool) {
        if first || self.0 < v || self.0.is_nan() {
            self.0 = v;
        }
    }
    fn value(&self) -> f64 {
        self.0
    }
}

/// Welford's running variance; `SQRT` gives the standard deviation.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct VarAcc<const SQRT: bool> {
    n: f64,
    mean: f64,
    m2: f64,
}

impl<const SQRT: bool> StepAcc for VarAcc<SQRT> {
    #[inline]
    fn add(&mut self, v: f64, _: bool) {
        self.n += 1.0;
        let delta = v - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (v - self.mean);
    }
    fn value(&self) -> f64 {
        let var = self.m2 / self.n;
        if SQRT { var.sqrt() } else { var }
    }
}

/// Output series with the key that orders them as a step-by-step evaluation would have
/// created them.
pub(crate) type Keyed<K> = Vec<(K, Sv)>;

pub(crate) fn sorted_by_key<K: Ord>(mut v: Keyed<K>) -> Vec<Sv> {
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, s)| s).collect()
}

/// Folds each group's series, in input order, into one accumulator per step: the values of a
/// step meet in the same order as a step-by-step walk over the input would add them, so
/// results are the same to the bit, without transposing the input into per-step columns.
fn fold<A: StepAcc>(ctx: &Ctx<'_>, input: &[Sv], groups: &Groups, n: usize) -> Result<Vec<Sv>> {
    let mut acc = vec![A::default(); n];
    let mut seen = vec![false; n];
    let mut touched: Vec<usize> = Vec::new();
    let mut out: Keyed<(usize, u32)> = Vec::with_capacity(groups.len());
    let mut walked = 0usize;
    for g in 0..groups.len() {
        let members = groups.members(g);
        // A step-by-step walk creates the groups' output series in order of (first step with
        // a value, first input series with a value at that step).
        let mut first = (usize::MAX, u32::MAX);
        for &j in members {
            if walked.is_multiple_of(CHECK_EVERY) {
                ctx.check("aggregation")?;
            }
            walked += 1;
            if let Some(&(i0, _)) = input[j as usize].pts.first()
                && (i0, j) < first
            {
                first = (i0, j);
            }
        }
        if first.0 == usize::MAX {
            continue;
        }
        let pts: Vec<(usize, f64)> = if let [j] = members {
            input[*j as usize]
                .pts
                .iter()
                .map(|&(i, v)| {
                    let mut a = A::default();
                    a.add(v, true);
                    (i, a.value())
                })
                .collect()
        } else {
            for &j in members {
                for &(i, v) in &input[j as usize].pts {
                    if seen[i] {
                        acc[i].add(v, false);
                    } else {
                        seen[i] = true;
                        touched.push(i);
                        let mut a = A::default();
                        a.add(v, true);
                        acc[i] = a;
                    }
                }
            }
            touched.sort_unstable();
            let pts = touched
                .iter()
                .map(|&i| {
                    seen[i] = false;
                    (i, acc[i].value())
                })
                .collect();
            touched.clear();
            pts
        };
        out.push((
            first,
            Sv {
                labels: groups.labels[g].clone(),
                drop_name: groups.drop[g],
                pts,
            },
        ));
    }
    Ok(sorted_by_key(out))
}

/// One group's (or the whole input's) points bucketed by step, each bucket in input order:
/// step `i` is `items[start[i]..start[i + 1]]` as `(input series, value)`.
#[derive(Debug, Default)]
struct StepBuckets {
    start: Vec<u32>,
    items: Vec<(u32, f64)>,
}

impl StepBuckets {
    /// Buckets the points of `series` (input indexes, increasing) for a grid of `n` steps.
    fn fill(&mut self, input: &[Sv], series: impl Iterator<Item = u32> + Clone, n: usize) {
        self.start.clear();
        self.start.resize(n + 2, 0);
        for j in series.clone() {
            for &(i, _) in &input[j as usize].pts {
                self.start[i + 2] += 1;
            }
        }
        for i in 1..self.start.len() {
            self.start[i] += self.start[i - 1];
        }
        self.items.clear();
        self.items.resize(self.start[n + 1] as usize, (0, 0.0));
        for j in series {
            for &(i, v) in &input[j as usize].pts {
                let at = &mut self.start[i + 1];
                self.items[*at as usize] = (j, v);
                *at += 1;
            }
        }
        self.start.pop();
    }

    fn step(&self, i: usize) -> &[(u32, f64)] {
        &self.items[self.start[i] as usize..self.start[i + 1] as usize]
    }
}

/// Output series that keep input series' labels (`topk`, `bottomk`, `limitk`, `limit_ratio`),
/// each created once per input series, with the smallest key it was pushed with.
#[derive(Debug)]
struct Picked<K> {
    out: Out,
    keys: Vec<K>,
    /// The output series of each input series, `u32::MAX` before its first point.
    of: Vec<u32>,
}

impl<K: Ord + Copy> Picked<K> {
    fn new(inputs: usize) -> Self {
        Picked {
            out: Out::default(),
            keys: Vec::new(),
            of: vec![u32::MAX; inputs],
        }
    }

    fn push(&mut self, input: &[Sv], j: u32, step: usize, v: f64, key: K) {
        let mut o = self.of[j as usize];
        if o == u32::MAX {
            let s = &input[j as usize];
            o = self.out.index(&s.labels, s.drop_name) as u32;
            self.of[j as usize] = o;
        }
        let o = o as usize;
        if o == self.keys.len() {
            self.keys.push(key);
        } else if key < self.keys[o] {
            self.keys[o] = key;
        }
        self.out.series[o].pts.push((step, v));
    }

    fn finish(self) -> Vec<Sv> {
        let mut series = self.out.series;
        for s in &mut series {
            if !s.pts.is_sorted_by_key(|p| p.0) {
                s.pts.sort_by_key(|p| p.0);
            }
        }
        sorted_by_key(self.keys.into_iter().zip(series).collect())
    }
}

/// `topk`, `bottomk` and `limitk`: per group and step, the first `k` values in value order
/// (ties in input order, NaN last) or, for `limitk`, in input order.
fn select_k(
    ctx: &Ctx<'_>,
    op: AggregateOp,
    input: &[Sv],
    groups: &Groups,
    n: usize,
    param: &[f64],
) -> Result<Vec<Sv>> {
    let mut picked: Picked<(usize, u32, usize)> = Picked::new(input.len());
    let mut buckets = StepBuckets::default();
    let mut scratch: Vec<(u32, f64)> = Vec::new();
    let cmp = |a: &(u32, f64), b: &(u32, f64)| {
        let by_value = if op == AggregateOp::Topk {
            desc_nan_last(a.1, b.1)
        } else {
            asc_nan_last(a.1, b.1)
        };
        by_value.then(a.0.cmp(&b.0))
    };
    for g in 0..groups.len() {
        ctx.check("aggregation")?;
        buckets.fill(input, groups.members(g).iter().copied(), n);
        for i in 0..n {
            let c = buckets.step(i);
            if c.is_empty() {
                continue;
            }
            let k = param.get(i).copied().unwrap_or(f64::NAN) as i64;
            if k < 1 {
                continue;
            }
            let k = (k as u64).min(c.len() as u64) as usize;
            scratch.clear();
            if op == AggregateOp::Limitk {
                scratch.extend_from_slice(&c[..k]);
            } else {
                scratch.extend_from_slice(c);
                if k < scratch.len() {
                    scratch.select_nth_unstable_by(k - 1, cmp);
                    scratch.truncate(k);
                }
                scratch.sort_unstable_by(cmp);
            }
            for (rank, &(j, v)) in scratch.iter().enumerate() {
                picked.push(input, j, i, v, (i, g as u32, rank));
            }
        }
    }
    Ok(picked.finish())
}

/// `limit_ratio`: the series whose label hash, scaled to [0, 1), falls in the ratio's range.
fn limit_ratio(input: &[Sv], param: &[f64]) -> Vec<Sv> {
    let mut picked: Picked<(usize, u32)> = Picked::new(input.len());
    for (j, s) in input.iter().enumerate() {
        if s.pts.is_empty() {
            continue;
        }
        let off = s.labels.hash64() as f64 / u64::MAX as f64;
        for &(i, v) in &s.pts {
            let r = param.get(i).copied().unwrap_or(f64::NAN).clamp(-1.0, 1.0);
            if (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r) {
                picked.push(input, j as u32, i, v, (i, j as u32));
            }
        }
    }
    picked.finish()
}

/// `quantile`: per group and step, the φ-quantile of the values.
fn quantiles(
    ctx: &Ctx<'_>,
    input: &[Sv],
    groups: &Groups,
    n: usize,
    param: &[f64],
) -> Result<Vec<Sv>> {
    let mut buckets = StepBuckets::default();
    let mut vals: Vec<f64> = Vec::new();
    let mut out: Keyed<(usize, usize)> = Vec::new();
    for g in 0..groups.len() {
        ctx.check("aggregation")?;
        buckets.fill(input, groups.members(g).iter().copied(), n);
        let mut pts = Vec::new();
        for i in 0..n {
            let c = buckets.step(i);
            if c.is_empty() {
                continue;
            }
            let q = param.get(i).copied().unwrap_or(f64::NAN);
            vals.clear();
            vals.extend(c.iter().map(|x| x.1));
            pts.push((i, quantile(q, &mut vals)));
        }
        if let Some(&(i0, _)) = pts.first() {
            // A step-by-step walk creates them in group order within the first step.
            out.push((
                (i0, g),
                Sv {
                    labels: groups.labels[g].clone(),
                    drop_name: groups.drop[g],
                    pts,
                },
            ));
        }
    }
    Ok(sorted_by_key(out))
}

/// `count_values`: per step, how many series of each group have each value. Values are told
/// apart by their bits (all NaNs alike), which is the same as by their printed form; each
/// distinct (group, value) gets its printed value and output labels once per query.
///
/// The distinct keys are numbered series by series first (a series' value often repeats from
/// one step to the next, so its previous key is tried before the table), then each step
/// counts its keys in input order through a dense slot per key, without hashing.
fn count_values(
    ctx: &Ctx<'_>,
    input: &[Sv],
    groups: &Groups,
    n: usize,
    label: &str,
) -> Result<Vec<Sv>> {
    ctx.check("aggregation")?;
    let total: usize = input.iter().map(|s| s.pts.len()).sum();
    let mut ids: HashMap<(u32, u64), u32, FastHash> = HashMap::default();
    let mut keys: Vec<(u32, u64)> = Vec::new();
    let mut point_ids: Vec<u32> = Vec::with_capacity(total);
    for (j, s) in input.iter().enumerate() {
        let g = groups.of[j];
        let mut last: Option<(u64, u32)> = None;
        for &(_, v) in &s.pts {
            let bits = if v.is_nan() {
                f64::NAN.to_bits()
            } else {
                v.to_bits()
            };
            let id = match last {
                Some((b, id)) if b == bits => id,
                _ => {
                    let id = *ids.entry((g, bits)).or_insert_with(|| {
                        keys.push((g, bits));
                        (keys.len() - 1) as u32
                    });
                    last = Some((bits, id));
                    id
                }
            };
            point_ids.push(id);
        }
    }
    drop(ids);
    // Counting sort of the keys by step, each step's in input order.
    let mut start = vec![0u32; n + 2];
    for s in input {
        for &(i, _) in &s.pts {
            start[i + 2] += 1;
        }
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut items = vec![0u32; total];
    let mut p = 0usize;
    for s in input {
        for &(i, _) in &s.pts {
            let at = &mut start[i + 1];
            items[*at as usize] = point_ids[p];
            *at += 1;
            p += 1;
        }
    }
    drop(point_ids);
    let mut out = Out::default();
    let mut series_of = vec![usize::MAX; keys.len()];
    let mut slot = vec![u32::MAX; keys.len()];
    let mut counts: Vec<(u32, f64)> = Vec::new();
    for i in 0..n {
        if i % 64 == 63 {
            ctx.check("aggregation")?;
        }
        counts.clear();
        for &id in &items[start[i] as usize..start[i + 1] as usize] {
            let sl = &mut slot[id as usize];
            if *sl == u32::MAX {
                *sl = counts.len() as u32;
                counts.push((id, 1.0));
            } else {
                counts[*sl as usize].1 += 1.0;
            }
        }
        for &(id, count) in &counts {
            let id = id as usize;
            slot[id] = u32::MAX;
            if series_of[id] == usize::MAX {
                let (g, bits) = keys[id];
                let g = g as usize;
                let mut b = groups.labels[g].to_builder();
                b.set(label, &format_float(f64::from_bits(bits)));
                series_of[id] = out.index(&b.build(), groups.drop[g]);
            }
            out.series[series_of[id]].pts.push((i, count));
        }
    }
    Ok(out.series)
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
