//! Planning: turning a selector's matchers into a composition of postings.
//!
//! # Semantics
//!
//! A series without label `n` is matched as if `n` were `""`. So a matcher that matches the
//! empty string also selects every series that lacks its label: `{a=""}` selects the series
//! without `a`, `{a!="x"}` includes them, and so do `{a=~"x|"}` and `{a!~".+"}`. A series is
//! selected when every matcher matches it; with no matchers, every series is.
//!
//! # The plan
//!
//! Each matcher on label `n` becomes one [`Term`]: a set of `n`'s values, standing for the
//! union of their postings.
//!
//! - A matcher that does not match `""` needs the label, so the series it selects are exactly
//!   the union of the postings of the values it matches: a term to **intersect**.
//! - A matcher that matches `""` selects every series except those whose value it rejects:
//!   a term of the rejected values to **subtract**. This is what makes `!=` and `!~` cheap: they
//!   never enumerate the series they keep.
//!
//! The value set of a term is found the cheapest way the matcher allows:
//!
//! | matcher | intersect or subtract | values |
//! |---|---|---|
//! | `n="v"` | intersect | `v` (one lookup) |
//! | `n=""` | subtract | every value ("has `n`") |
//! | `n!="v"` | subtract | `v` |
//! | `n!=""` | intersect | every value |
//! | `n=~"a\|b\|c"` ([`Matcher::set_matches`]) | intersect | `a`, `b`, `c` (one lookup each) |
//! | `n!~"a\|b\|c"` | subtract | `a`, `b`, `c` |
//! | `n=~".*"` | neither: dropped | — |
//! | `n=~".+"` | intersect | every value |
//! | `n!~".+"` | subtract | every value |
//! | `n=~"api-.*"` | intersect | the values in the sorted range of those starting with `api-` |
//! | `n!~"api-.*"` | subtract | the same values |
//! | `n=~"api-[0-9]+"` ([`Matcher::prefix`]) | intersect | the values in that range that the regex matches |
//! | `n!~"api-[0-9]+"` | subtract | the same values |
//! | any other regex | intersect if it does not match `""`, else subtract | every value, filtered by the matcher |
//!
//! Execution ([`crate::MemIndex`] runs it) then:
//!
//! 1. resolves every term to its postings lists and their total length, an exact size for a
//!    union of disjoint lists (the lists of one label's values are disjoint: a series has one
//!    value per label). "Every value" of a label that every series carries is the universe:
//!    dropped from the intersection, and a subtraction of it selects nothing;
//! 2. stops early with nothing if an intersect term resolves to no postings;
//! 3. intersects the intersect terms, smallest first (the smallest drives, the others seek),
//!    or starts from all postings when there are none;
//! 4. subtracts the union of the subtract terms from that, seeking only to the surviving
//!    candidates.
//!
//! A term over one list is that list's cursor. A term over several is either merged lazily
//! ([`merge`]) or materialised once into a [`BitmapPostings`] (a sorted vector when the
//! references are too sparse for a bitmap), whichever a simple cost model finds cheaper for how
//! the term will be read: the driving term is read in full, the other intersect terms and the
//! subtracted union only at the driver's candidates. So `job=~"a|b|c"` alone becomes a bitmap,
//! `{instance="x", job=~"a|b|c"}` a lazy merge seeked ten times, and a regex selecting more
//! than [`LAZY_MERGE_MAX`] values is always materialised, so that seeking into it costs O(1)
//! rather than a heap operation per list.
//!
//! Materialising a whole selection ([`crate::MemIndexReader::select`]) runs `select_narrow`
//! instead: loops over the stored `u32` slices and bitmaps that write straight into the result,
//! without cursors. The smallest intersect term drives; every other term and every subtracted
//! list becomes a filter of its candidates, a bit test where a list keeps a bitmap (see
//! [`PostingsList`]) or a union of many lists is dense enough to build one, seeks in sorted
//! lists otherwise. With only subtract terms, the rejected references are removed from all
//! series a run of consecutive references at a time. It declines, and the cursors above run,
//! for `u64` lists and when series are marked deleted.

use std::borrow::Cow;
use std::fmt;

use prom_model::{MatchType, Matcher};

use crate::postings::{
    BitmapPostings, Bits, Drain, Intersect, ListCursor, MERGE_LINEAR_MAX, Merge, Postings,
    PostingsList, VecPostings, Without, difference_bits_into, difference_into, extend_wide,
    intersect, intersect_into, merge, retain_in, retain_in_any, retain_not_in, union_interleaved,
    union_into, without,
};

/// Unions of at most this many lists are merged lazily; larger ones are materialised.
pub const LAZY_MERGE_MAX: usize = 8;

/// Which values of a label a [`Term`] stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Values<'m> {
    /// These values, looked up one by one.
    List(Vec<&'m str>),
    /// Every value: the series that have the label.
    All,
    /// Every value starting with `prefix`: a range of the sorted values (`=~"api-.*"`).
    Range(&'m str),
    /// The values starting with `prefix` (a range of the sorted values) for which
    /// `matcher.matches(value) == keep`.
    Prefix {
        /// The literal prefix every candidate starts with.
        prefix: &'m str,
        /// The matcher that filters the candidates.
        matcher: &'m Matcher,
        /// Keep the values the matcher matches (true) or those it rejects (false).
        keep: bool,
    },
    /// Every value for which `matcher.matches(value) == keep`.
    Filter {
        /// The matcher that filters the values.
        matcher: &'m Matcher,
        /// Keep the values the matcher matches (true) or those it rejects (false).
        keep: bool,
    },
}

/// The union of the postings of some values of one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term<'m> {
    /// The label name.
    pub name: &'m str,
    /// Which of its values.
    pub values: Values<'m>,
}

impl<'m> Term<'m> {
    fn new(name: &'m str, values: Values<'m>) -> Self {
        Term { name, values }
    }
}

/// The plan for one selector: intersect these terms (or start from every series if there are
/// none), then subtract those. See the [module docs](self).
///
/// ```
/// use prom_index::planner::Plan;
/// use prom_model::{MatchType, Matcher};
/// let ms = [
///     Matcher::equal("__name__", "up"),
///     Matcher::new(MatchType::RegexMatch, "job", "api|db")?,
///     Matcher::new(MatchType::RegexNoMatch, "instance", "test-.*")?,
///     Matcher::new(MatchType::RegexMatch, "env", ".*")?,
/// ];
/// assert_eq!(
///     Plan::new(&ms).to_string(),
///     r#"__name__="up" & job in {"api", "db"} - instance ~ "test-"*"#
/// );
/// # Ok::<(), prom_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan<'m> {
    /// The terms every selected series is in, in matcher order (execution orders them by size).
    pub intersect: Vec<Term<'m>>,
    /// The terms no selected series is in.
    pub subtract: Vec<Term<'m>>,
}

impl<'m> Plan<'m> {
    /// Plans `matchers`.
    pub fn new(matchers: &'m [Matcher]) -> Self {
        let mut plan = Plan::default();
        for m in matchers {
            let name = m.name();
            let value = m.value();
            let kind = m.kind();
            if m.matches_empty() {
                // Selects all but the series whose value the matcher rejects.
                let rejected = match kind {
                    MatchType::RegexMatch if value == ".*" => continue,
                    MatchType::Equal => Values::All,
                    MatchType::NotEqual => Values::List(vec![value]),
                    MatchType::RegexNoMatch if value == ".+" => Values::All,
                    // "" is not among the pattern's values (the matcher matches it), so the
                    // rejected values are exactly those the pattern covers.
                    MatchType::RegexNoMatch => pattern_values(m, value, false),
                    MatchType::RegexMatch => Values::Filter {
                        matcher: m,
                        keep: false,
                    },
                };
                plan.subtract.push(Term::new(name, rejected));
            } else {
                // Needs the label: the union of the values the matcher accepts.
                let accepted = match kind {
                    MatchType::Equal => Values::List(vec![value]),
                    MatchType::NotEqual => Values::All, // `n!=""`
                    MatchType::RegexMatch if value == ".+" => Values::All,
                    MatchType::RegexNoMatch if value.is_empty() => Values::All,
                    MatchType::RegexMatch => pattern_values(m, value, true),
                    MatchType::RegexNoMatch => Values::Filter {
                        matcher: m,
                        keep: true,
                    },
                };
                plan.intersect.push(Term::new(name, accepted));
            }
        }
        plan
    }
}

/// Whether `regex` is exactly `prefix` followed by `.*`, with no character of `prefix` special
/// in a regex: then it matches every string that starts with `prefix` and nothing else (`.`
/// matches newlines too), so a range of values needs no per-value check.
/// The values a regex matcher's pattern covers, as cheaply as the pattern allows: a literal set,
/// a sorted range for `prefix.*`, a prefix range filtered by the matcher, or a filter over all
/// values. `keep` is what `m.matches(v)` returns for a covered value: true for `=~`, false for
/// `!~`.
fn pattern_values<'a>(m: &'a Matcher, value: &'a str, keep: bool) -> Values<'a> {
    match (m.set_matches(), m.prefix()) {
        (Some(set), _) => Values::List(set.iter().map(String::as_str).collect()),
        (None, Some(prefix)) if is_prefix_regex(value, prefix) => Values::Range(prefix),
        (None, Some(prefix)) => Values::Prefix {
            prefix,
            matcher: m,
            keep,
        },
        (None, None) => Values::Filter { matcher: m, keep },
    }
}

fn is_prefix_regex(regex: &str, prefix: &str) -> bool {
    const SPECIAL: &str = "\\.+*?()|[]{}^$";
    regex.strip_prefix(prefix) == Some(".*") && !prefix.contains(|c| SPECIAL.contains(c))
}

impl fmt::Display for Term<'_> {
    /// `job="a"`, `job in {"a", "b"}`, `job=*` (every value), `job ~ "api-"* accepted by M`,
    /// `job ~ * rejected by M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name;
        let verdict = |keep: bool| if keep { "accepted" } else { "rejected" };
        match &self.values {
            Values::List(vs) if vs.len() == 1 => write!(f, "{name}={:?}", vs[0]),
            Values::List(vs) => {
                write!(f, "{name} in {{")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v:?}")?;
                }
                f.write_str("}")
            }
            Values::All => write!(f, "{name}=*"),
            Values::Range(prefix) => write!(f, "{name} ~ {prefix:?}*"),
            Values::Prefix {
                prefix,
                matcher,
                keep,
            } => write!(f, "{name} ~ {prefix:?}* {} by {matcher}", verdict(*keep)),
            Values::Filter { matcher, keep } => {
                write!(f, "{name} ~ * {} by {matcher}", verdict(*keep))
            }
        }
    }
}

impl fmt::Display for Plan<'_> {
    /// The intersect terms joined by ` & ` (or `all`), then ` - ` before each subtract term.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.intersect.is_empty() {
            f.write_str("all")?;
        }
        for (i, t) in self.intersect.iter().enumerate() {
            if i > 0 {
                f.write_str(" & ")?;
            }
            write!(f, "{t}")?;
        }
        for t in &self.subtract {
            write!(f, " - {t}")?;
        }
        Ok(())
    }
}

/// What the planner needs from an index held in memory.
pub(crate) trait Source {
    /// Every series.
    fn all(&self) -> &PostingsList;
    /// The number of series that have label `name`.
    fn label_series(&self, name: &str) -> usize;
    /// The postings of `name="value"`.
    fn lookup(&self, name: &str, value: &str) -> Option<&PostingsList>;
    /// Calls `f` with each value of `name` that starts with `prefix`, in order.
    fn scan<'a>(&'a self, name: &str, prefix: &str, f: &mut dyn FnMut(&str, &'a PostingsList));
}

/// A term resolved against an index.
enum Resolved<'a> {
    /// Every series.
    Universe,
    /// The union of these lists, `len` references in all.
    Lists(Vec<&'a PostingsList>, usize),
}

fn resolve<'a, S: Source>(src: &'a S, term: &Term<'_>) -> Resolved<'a> {
    let mut lists = Vec::new();
    match &term.values {
        Values::List(vs) => lists.extend(vs.iter().filter_map(|v| src.lookup(term.name, v))),
        Values::All => {
            if src.label_series(term.name) == src.all().len() {
                return Resolved::Universe;
            }
            src.scan(term.name, "", &mut |_, l| lists.push(l));
        }
        Values::Range(prefix) => src.scan(term.name, prefix, &mut |_, l| lists.push(l)),
        Values::Prefix {
            prefix,
            matcher,
            keep,
        } => src.scan(term.name, prefix, &mut |v, l| {
            if matcher.matches(v) == *keep {
                lists.push(l);
            }
        }),
        Values::Filter { matcher, keep } => src.scan(term.name, "", &mut |v, l| {
            if matcher.matches(v) == *keep {
                lists.push(l);
            }
        }),
    }
    lists.retain(|l| !l.is_empty());
    let len = lists.iter().map(|l| l.len()).sum();
    Resolved::Lists(lists, len)
}

/// The union of some postings lists, in the form that is cheapest for how it will be read.
///
/// The planner's cursors are enums rather than boxed trait objects, so a whole selection is one
/// statically dispatched type: the per-reference cost is a few predictable branches rather
/// than a chain of indirect calls.
#[derive(Debug)]
pub(crate) enum Union<'a> {
    /// No list.
    Empty,
    /// One list.
    One(ListCursor<'a>),
    /// A few lists, or a union read only at a few places: merged lazily.
    Lazy(Merge<ListCursor<'a>>),
    /// Many lists or a union read in full, with dense references: built once as a bitmap.
    Bitmap(BitmapPostings),
    /// The same with sparse references: built once as a sorted vector.
    Sorted(VecPostings),
}

impl Postings for Union<'_> {
    #[inline]
    fn next(&mut self) -> bool {
        match self {
            Union::Empty => false,
            Union::One(p) => p.next(),
            Union::Lazy(p) => p.next(),
            Union::Bitmap(p) => p.next(),
            Union::Sorted(p) => p.next(),
        }
    }

    #[inline]
    fn seek(&mut self, v: u64) -> bool {
        match self {
            Union::Empty => false,
            Union::One(p) => p.seek(v),
            Union::Lazy(p) => p.seek(v),
            Union::Bitmap(p) => p.seek(v),
            Union::Sorted(p) => p.seek(v),
        }
    }

    #[inline]
    fn at(&self) -> u64 {
        match self {
            Union::Empty => 0,
            Union::One(p) => p.at(),
            Union::Lazy(p) => p.at(),
            Union::Bitmap(p) => p.at(),
            Union::Sorted(p) => p.at(),
        }
    }
}

impl Drain for Union<'_> {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        match self {
            Union::Empty => {}
            Union::One(p) => p.drain(f),
            Union::Lazy(p) => p.drain(f),
            Union::Bitmap(p) => p.drain(f),
            Union::Sorted(p) => p.drain(f),
        }
    }
}

fn log2(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

/// A cursor over the union of `lists`, which hold `len` references in all within `range` (the
/// first and last reference of the whole index) and will be read at about `reads` places
/// (`len` when read in full).
///
/// Cost model, in units of one reference handled: merging lazily costs a comparison with every
/// list (a heap operation, log k, beyond [`MERGE_LINEAR_MAX`] lists) for every reference it
/// passes, at most `len` and at most k per read; building costs
/// one bit per reference plus a scan of the bitmap's words, or a sort when the references are
/// too sparse for a bitmap (fewer than one per 256 in the index's range). The bitmap spans the
/// whole index so that building it is one pass over the lists.
pub(crate) fn union(
    lists: Vec<&PostingsList>,
    len: usize,
    reads: usize,
    (min, max): (u64, u64),
) -> Union<'_> {
    let k = lists.len();
    match k {
        0 => return Union::Empty,
        1 => return Union::One(lists[0].postings()),
        _ => {}
    }
    let words = usize::try_from(max.saturating_sub(min) / 64 + 1).unwrap_or(usize::MAX);
    let dense = words / 4 <= len;
    let per_reference = if k <= MERGE_LINEAR_MAX {
        2
    } else {
        2 * log2(k)
    };
    let lazy = len
        .min(reads.saturating_mul(k))
        .saturating_mul(per_reference);
    let eager = if dense {
        len + words / 8
    } else {
        len.saturating_mul(log2(len))
    };
    if k <= LAZY_MERGE_MAX && lazy <= eager {
        Union::Lazy(merge(lists.iter().map(|l| l.postings()).collect()))
    } else if dense {
        let mut b = BitmapPostings::with_range(min, max);
        for l in &lists {
            b.insert_list(l);
        }
        Union::Bitmap(b)
    } else {
        let mut v = Vec::with_capacity(len);
        for l in &lists {
            l.for_each(|r| v.push(r));
        }
        Union::Sorted(VecPostings::from_unsorted(v))
    }
}

/// The positive side of a selection.
#[derive(Debug)]
pub(crate) enum Base<'a> {
    One(Union<'a>),
    Many(Intersect<Union<'a>>),
}

impl Postings for Base<'_> {
    #[inline]
    fn next(&mut self) -> bool {
        match self {
            Base::One(p) => p.next(),
            Base::Many(p) => p.next(),
        }
    }

    #[inline]
    fn seek(&mut self, v: u64) -> bool {
        match self {
            Base::One(p) => p.seek(v),
            Base::Many(p) => p.seek(v),
        }
    }

    #[inline]
    fn at(&self) -> u64 {
        match self {
            Base::One(p) => p.at(),
            Base::Many(p) => p.at(),
        }
    }
}

impl Drain for Base<'_> {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        match self {
            Base::One(p) => p.drain(f),
            Base::Many(p) => p.drain(f),
        }
    }
}

/// The cursor a plan executes to.
#[derive(Debug)]
pub(crate) enum Selection<'a> {
    Empty,
    Plain(Base<'a>),
    Minus(Without<Base<'a>, Union<'a>>),
}

impl Postings for Selection<'_> {
    #[inline]
    fn next(&mut self) -> bool {
        match self {
            Selection::Empty => false,
            Selection::Plain(p) => p.next(),
            Selection::Minus(p) => p.next(),
        }
    }

    #[inline]
    fn seek(&mut self, v: u64) -> bool {
        match self {
            Selection::Empty => false,
            Selection::Plain(p) => p.seek(v),
            Selection::Minus(p) => p.seek(v),
        }
    }

    #[inline]
    fn at(&self) -> u64 {
        match self {
            Selection::Empty => 0,
            Selection::Plain(p) => p.at(),
            Selection::Minus(p) => p.at(),
        }
    }
}

impl Drain for Selection<'_> {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        match self {
            Selection::Empty => {}
            Selection::Plain(p) => p.drain(f),
            Selection::Minus(p) => p.drain(f),
        }
    }
}

/// Runs `plan` against `src`. Also returns an upper bound on the number of references selected
/// (the driving term's size), for sizing a result vector.
pub(crate) fn execute<'a, S: Source>(src: &'a S, plan: &Plan<'_>) -> (Selection<'a>, usize) {
    let mut positive = Vec::with_capacity(plan.intersect.len());
    for t in &plan.intersect {
        match resolve(src, t) {
            Resolved::Universe => {}
            Resolved::Lists(_, 0) => return (Selection::Empty, 0),
            Resolved::Lists(lists, len) => positive.push((len, lists)),
        }
    }
    // The subtract terms are one union: every rejected series, whichever term rejects it.
    let mut negative = Vec::new();
    for t in &plan.subtract {
        match resolve(src, t) {
            Resolved::Universe => return (Selection::Empty, 0),
            Resolved::Lists(lists, _) => negative.extend(lists),
        }
    }

    let all = src.all();
    let range = (all.first().unwrap_or(0), all.last().unwrap_or(0));
    positive.sort_by_key(|(len, _)| *len);
    // The smallest term drives: it is read in full, the others about once per its element.
    let driver = positive.first().map_or(all.len(), |(len, _)| *len);
    let base = match positive.len() {
        0 => Base::One(Union::One(all.postings())),
        1 => {
            let (len, lists) = positive.pop().unwrap_or_default();
            Base::One(union(lists, len, len, range))
        }
        _ => Base::Many(intersect(
            positive
                .into_iter()
                .map(|(len, lists)| union(lists, len, driver, range))
                .collect(),
        )),
    };
    if negative.is_empty() {
        return (Selection::Plain(base), driver);
    }
    let len = negative.iter().map(|l| l.len()).sum();
    let minus = union(negative, len, driver, range);
    (Selection::Minus(without(base, minus)), driver)
}

/// Runs `plan` straight into a sorted vector with the slice kernels of [`crate::postings`];
/// `None` when a list involved is not in a 32-bit form (then [`execute`] runs it).
///
/// - Subtract terms only: the rejected references are removed from all series a run of
///   consecutive references at a time, copying the gaps between runs widened to `u64`. Several
///   rejected lists are first united: merged into a sorted list, or, when they are many or
///   dense, set in a bitmap over the index's range (a dense list's own bitmap is OR-ed in a
///   word at a time) whose runs are read straight from its words.
/// - Otherwise the smallest intersect term drives and every other term, and every subtracted
///   list, becomes a [`Filter`] of the candidates: a bit test where a list keeps a bitmap (or
///   a union of many lists is dense enough to build one), else seeks in sorted lists. Bit tests
///   run first. When the driver is a union of several lists and the first filter is a bit
///   test, the intersection is distributed, `(A ∪ B) ∩ N = (A ∩ N) ∪ (B ∩ N)`: each list is
///   filtered and only the survivors are united. (Distributing over a sorted `N` was measured
///   slower: it walks `N` once per list.)
pub(crate) fn select_narrow<S: Source>(src: &S, plan: &Plan<'_>) -> Option<Vec<u64>> {
    let all = src.all().as_narrow()?;
    let (Some(&lo), Some(&hi)) = (all.first(), all.last()) else {
        return Some(Vec::new());
    };
    let mut positive = Vec::with_capacity(plan.intersect.len());
    for t in &plan.intersect {
        match resolve(src, t) {
            Resolved::Universe => {}
            Resolved::Lists(_, 0) => return Some(Vec::new()),
            Resolved::Lists(lists, len) => positive.push((len, lists)),
        }
    }
    let mut negative = Vec::new();
    for t in &plan.subtract {
        match resolve(src, t) {
            Resolved::Universe => return Some(Vec::new()),
            Resolved::Lists(lists, _) => negative.extend(lists),
        }
    }
    let mut out = Vec::new();
    if positive.is_empty() {
        subtract_from_all(all, &negative, (lo, hi), &mut out)?;
        return Some(out);
    }

    // A term that is one list with a bitmap is best used as a filter: on a tie in size, it
    // does not drive.
    positive.sort_by_key(|(len, lists)| (*len, matches!(lists[..], [l] if l.bits().is_some())));
    let (driver, others) = positive.split_first()?;
    let reads = driver.0;
    let driver = narrow(&driver.1)?;
    let mut filters = Vec::with_capacity(others.len() + negative.len());
    for (len, lists) in others {
        filters.push(Filter::term(lists, *len, reads, (lo, hi), true)?);
    }
    let (with_bits, plain): (Vec<&PostingsList>, Vec<&PostingsList>) =
        negative.into_iter().partition(|l| l.bits().is_some());
    for l in with_bits {
        filters.push(Filter::term(&[l], l.len(), reads, (lo, hi), false)?);
    }
    if plain.len() <= LAZY_MERGE_MAX {
        for l in plain {
            filters.push(Filter::term(&[l], l.len(), reads, (lo, hi), false)?);
        }
    } else {
        let len = plain.iter().map(|l| l.len()).sum();
        filters.push(Filter::term(&plain, len, reads, (lo, hi), false)?);
    }
    filters.sort_by_key(Filter::rank);

    let mut filters = filters.iter();
    let Some(first) = filters.next() else {
        union_into(&driver, &mut out);
        return Some(out);
    };
    let mut cands: Vec<u32> = Vec::new();
    match driver[..] {
        [l] => first.apply_from(l, &mut cands),
        _ if matches!(first.test, Test::Bits(_)) => {
            let mut survivors = Vec::new();
            let mut ends = Vec::with_capacity(driver.len());
            for l in &driver {
                first.apply_from(l, &mut survivors);
                ends.push(survivors.len());
            }
            let mut start = 0;
            let parts: Vec<&[u32]> = ends
                .iter()
                .map(|&end| {
                    let part = &survivors[start..end];
                    start = end;
                    part
                })
                .collect();
            if parts.len() <= LAZY_MERGE_MAX {
                cands = union_interleaved(&parts);
            } else {
                union_into(&parts, &mut cands);
            }
        }
        _ => {
            union_into(&driver, &mut cands);
            first.apply(&mut cands);
        }
    }
    for f in filters {
        if cands.is_empty() {
            break;
        }
        f.apply(&mut cands);
    }
    extend_wide(&mut out, &cands);
    Some(out)
}

/// The 32-bit forms of `lists`, if all are in one.
fn narrow<'a>(lists: &[&'a PostingsList]) -> Option<Vec<&'a [u32]>> {
    lists.iter().map(|l| l.as_narrow()).collect()
}

/// Appends the references of `all` that are in none of `rejected` to `out`.
fn subtract_from_all(
    all: &[u32],
    rejected: &[&PostingsList],
    range: (u32, u32),
    out: &mut Vec<u64>,
) -> Option<()> {
    let slices = narrow(rejected)?;
    let len: usize = slices.iter().map(|l| l.len()).sum();
    match slices[..] {
        [] => extend_wide(out, all),
        [l] => difference_into(all, l, out),
        _ if dense(len, range) || rejected.iter().any(|l| l.bits().is_some()) => {
            difference_bits_into(all, &union_bits(rejected, range)?, out);
        }
        _ => {
            let mut sorted: Vec<u32> = Vec::new();
            union_into(&slices, &mut sorted);
            difference_into(all, &sorted, out);
        }
    }
    Some(())
}

/// Whether `len` references in `range` are dense enough to set in a bitmap over it, rather than
/// sort: at most two words per reference.
fn dense(len: usize, (lo, hi): (u32, u32)) -> bool {
    ((hi - (lo & !63)) / 64) as usize <= len.saturating_mul(2)
}

/// The union of `lists` as a bitmap over `range`, which covers them: a list's own bitmap is
/// OR-ed a word at a time, the others' references are set one by one.
fn union_bits(lists: &[&PostingsList], (lo, hi): (u32, u32)) -> Option<Bits> {
    let mut bits = Bits::with_range(lo, hi);
    for l in lists {
        match l.bits() {
            Some(b) => bits.or_with(b),
            None => bits.set_all(l.as_narrow()?),
        }
    }
    Some(bits)
}

/// How a [`Filter`] tests a candidate.
enum Test<'a> {
    /// One bit: a dense list's own bitmap, or a union built as one for the query.
    Bits(Cow<'a, Bits>),
    /// Seeks in one sorted list.
    Sorted(Cow<'a, [u32]>),
    /// Seeks in each of several sorted lists, for a few candidates: their union, not built.
    AnyOf(Vec<&'a [u32]>),
}

/// A test the candidates of [`select_narrow`] pass when it holds (`keep`) or when it does not
/// (`!keep`, for subtracted lists).
struct Filter<'a> {
    test: Test<'a>,
    keep: bool,
}

impl<'a> Filter<'a> {
    /// The test for the union of `lists` (`len` references in all, within `range`), which will
    /// be asked about `reads` candidates at most: a list's own bitmap; one list's seeks; seeks
    /// in each list when that costs less than building their union (a seek counted as four
    /// references set or merged); else the union built once, as a bitmap when dense, as a
    /// sorted list when not.
    fn term(
        lists: &[&'a PostingsList],
        len: usize,
        reads: usize,
        range: (u32, u32),
        keep: bool,
    ) -> Option<Filter<'a>> {
        let test = match lists {
            [l] => match l.bits() {
                Some(b) => Test::Bits(Cow::Borrowed(b)),
                None => Test::Sorted(Cow::Borrowed(l.as_narrow()?)),
            },
            _ if reads.saturating_mul(lists.len()).saturating_mul(4) <= len => {
                Test::AnyOf(narrow(lists)?)
            }
            _ if dense(len, range) => Test::Bits(Cow::Owned(union_bits(lists, range)?)),
            _ => {
                let mut sorted = Vec::with_capacity(len);
                union_into(&narrow(lists)?, &mut sorted);
                Test::Sorted(Cow::Owned(sorted))
            }
        };
        Some(Filter { test, keep })
    }

    /// Bit tests first (constant cost, and they shrink the candidates the seeks visit), then
    /// seeks; intersections before subtractions.
    fn rank(&self) -> (u8, bool) {
        let kind = match self.test {
            Test::Bits(_) => 0,
            Test::Sorted(_) => 1,
            Test::AnyOf(_) => 2,
        };
        (kind, !self.keep)
    }

    /// Appends the elements of the strictly increasing `src` that pass to `out`.
    fn apply_from(&self, src: &[u32], out: &mut Vec<u32>) {
        match (&self.test, self.keep) {
            (Test::Bits(b), keep) => b.select_into(src, keep, out),
            (Test::Sorted(l), true) if l.len() < src.len() => intersect_into(l, src, out),
            (Test::Sorted(l), true) => intersect_into(src, l, out),
            (Test::Sorted(l), false) if l.len() <= src.len() => difference_into(src, l, out),
            _ => {
                let mut v = src.to_vec();
                self.apply(&mut v);
                out.extend_from_slice(&v);
            }
        }
    }

    /// Keeps the elements of the strictly increasing `v` that pass.
    fn apply(&self, v: &mut Vec<u32>) {
        match (&self.test, self.keep) {
            (Test::Bits(b), keep) => b.retain(v, keep),
            (Test::Sorted(l), true) if l.len() < v.len() => {
                let mut kept = Vec::with_capacity(l.len());
                intersect_into(l, v, &mut kept);
                *v = kept;
            }
            (Test::Sorted(l), true) => retain_in(v, l),
            (Test::Sorted(l), false) => retain_not_in(v, l),
            (Test::AnyOf(ls), keep) => retain_in_any(v, ls, keep),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(ms: &[Matcher]) -> String {
        Plan::new(ms).to_string()
    }

    fn m(kind: MatchType, name: &str, value: &str) -> Matcher {
        Matcher::new(kind, name, value).expect("valid matcher")
    }

    #[test]
    fn each_matcher_shape_plans_as_documented() {
        use MatchType::*;
        let cases = [
            (m(Equal, "a", "x"), r#"a="x""#),
            (m(Equal, "a", ""), "all - a=*"),
            (m(NotEqual, "a", "x"), r#"all - a="x""#),
            (m(NotEqual, "a", ""), "a=*"),
            (m(RegexMatch, "a", "x|y"), r#"a in {"x", "y"}"#),
            (
                m(RegexMatch, "a", "x|"),
                r#"all - a ~ * rejected by a=~"x|""#,
            ),
            (m(RegexNoMatch, "a", "x|y"), r#"all - a in {"x", "y"}"#),
            (m(RegexNoMatch, "a", "x|"), r#"a ~ * accepted by a!~"x|""#),
            (m(RegexMatch, "a", ".*"), "all"),
            (m(RegexMatch, "a", ".+"), "a=*"),
            (m(RegexNoMatch, "a", ".+"), "all - a=*"),
            (m(RegexNoMatch, "a", ""), "a=*"),
            (m(RegexMatch, "a", "api-.*"), r#"a ~ "api-"*"#),
            (m(RegexNoMatch, "a", "api-.*"), r#"all - a ~ "api-"*"#),
            (
                m(RegexMatch, "a", "api-.+"),
                r#"a ~ "api-"* accepted by a=~"api-.+""#,
            ),
            (
                m(RegexNoMatch, "a", "api-[0-9]+"),
                r#"all - a ~ "api-"* rejected by a!~"api-[0-9]+""#,
            ),
            (
                m(RegexMatch, "a", r"a\.b.*"),
                r#"a ~ "a.b"* accepted by a=~"a\\.b.*""#,
            ),
            (m(RegexMatch, "a", ".*x"), r#"a ~ * accepted by a=~".*x""#),
            (
                m(RegexMatch, "a", ".*x|"),
                r#"all - a ~ * rejected by a=~".*x|""#,
            ),
        ];
        for (matcher, want) in cases {
            assert_eq!(plan_of(std::slice::from_ref(&matcher)), want, "{matcher}");
        }
        assert_eq!(plan_of(&[]), "all");
    }
}
