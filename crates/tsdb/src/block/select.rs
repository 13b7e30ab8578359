//! Selecting series of an on-disk index with matchers.

use prom_index::IndexReader;
use prom_index::Postings;
use prom_index::planner::{Plan, Term, Values};
use prom_index::postings::{collect, intersect, merge, without};
use prom_model::Matcher;

/// The references of the series in `index` that every one of `matchers` selects, in
/// increasing order (which is label order for an index written in label order).
///
/// Prometheus's semantics: a matcher that matches the empty string also selects the series
/// without its label, and no matchers select every series. The matchers are planned by
/// [`prom_index::planner::Plan`] and run over the index's postings lists lazily.
pub fn postings_for_matchers(
    index: &IndexReader,
    matchers: &[Matcher],
) -> prom_index::Result<Vec<u64>> {
    let plan = Plan::new(matchers);
    let mut include: Vec<Box<dyn Postings + '_>> = Vec::with_capacity(plan.intersect.len());
    for t in &plan.intersect {
        include.push(Box::new(term_postings(index, t)?));
    }
    let base: Box<dyn Postings + '_> = if include.is_empty() {
        Box::new(index.all_postings()?)
    } else if include.len() == 1 {
        include
            .pop()
            .unwrap_or_else(|| Box::new(prom_index::postings::empty()))
    } else {
        Box::new(intersect(include))
    };
    if plan.subtract.is_empty() {
        return Ok(collect(base));
    }
    let mut exclude = Vec::with_capacity(plan.subtract.len());
    for t in &plan.subtract {
        exclude.push(term_postings(index, t)?);
    }
    Ok(collect(without(base, merge(exclude))))
}

/// The union of the postings of the values of one term.
fn term_postings<'a>(
    index: &'a IndexReader,
    t: &Term<'_>,
) -> prom_index::Result<prom_index::postings::Merge<prom_index::disk::DiskPostings<'a>>> {
    let name = t.name;
    match &t.values {
        Values::List(vs) => {
            let mut lists = Vec::with_capacity(vs.len());
            for v in vs {
                lists.push(index.postings(name, v)?);
            }
            Ok(merge(lists))
        }
        Values::All => index.postings_for_name(name),
        Values::Range(prefix) => index.postings_for_label_matching(name, |v| v.starts_with(prefix)),
        Values::Prefix {
            prefix,
            matcher,
            keep,
        } => index.postings_for_label_matching(name, |v| {
            v.starts_with(prefix) && matcher.matches(v) == *keep
        }),
        Values::Filter { matcher, keep } => {
            index.postings_for_label_matching(name, |v| matcher.matches(v) == *keep)
        }
        // `Values` is non-exhaustive. A kind of term added to the planner later must be taught
        // here; until then, fail loudly rather than select the wrong series.
        #[allow(unreachable_patterns)]
        other => Err(prom_index::Error::Model(prom_model::Error::storage(
            format!("block index: unsupported matcher plan term {other:?}"),
        ))),
    }
}
