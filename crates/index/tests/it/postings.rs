//! Every postings cursor and set operation against a `BTreeSet` model, including the cursor
//! contract: `seek` never moves backwards, and after the end everything returns false.

use std::collections::BTreeSet;

use prom_index::Postings;
use prom_index::postings::{
    BTreeSetPostings, BitmapPostings, ListPostings, PostingsList, VecPostings, collect, empty,
    intersect, merge, without,
};
use proptest::prelude::*;

/// A cursor operation.
#[derive(Debug, Clone, Copy)]
enum Op {
    Next,
    Seek(u64),
}

/// The contract, executed on a sorted vector.
struct Model<'a> {
    e: &'a [u64],
    pos: Option<usize>,
    done: bool,
}

impl<'a> Model<'a> {
    fn new(e: &'a [u64]) -> Self {
        Model {
            e,
            pos: None,
            done: false,
        }
    }

    fn apply(&mut self, op: Op) -> Option<u64> {
        if self.done {
            return None;
        }
        let from = match (op, self.pos) {
            (Op::Next, None) => 0,
            (Op::Next, Some(p)) => p + 1,
            (Op::Seek(v), Some(p)) if self.e[p] >= v => return Some(self.e[p]),
            (Op::Seek(_), None) => 0,
            (Op::Seek(_), Some(p)) => p + 1,
        };
        let i = match op {
            Op::Next => from,
            Op::Seek(v) => from + self.e[from..].partition_point(|&x| x < v),
        };
        if i < self.e.len() {
            self.pos = Some(i);
            Some(self.e[i])
        } else {
            self.done = true;
            None
        }
    }
}

/// Runs `ops` (then drains) on `p` and on the model of `want`; they must agree at every step.
fn check(mut p: impl Postings, want: &BTreeSet<u64>, ops: &[Op]) -> Result<(), TestCaseError> {
    let want: Vec<u64> = want.iter().copied().collect();
    let mut model = Model::new(&want);
    let drain = std::iter::repeat_n(Op::Next, want.len() + 2);
    let tail = [Op::Seek(0), Op::Next, Op::Seek(u64::MAX)];
    for (i, op) in ops.iter().copied().chain(drain).chain(tail).enumerate() {
        let expected = model.apply(op);
        let moved = match op {
            Op::Next => p.next(),
            Op::Seek(v) => p.seek(v),
        };
        prop_assert_eq!(moved, expected.is_some(), "step {} {:?}", i, op);
        if let Some(v) = expected {
            prop_assert_eq!(p.at(), v, "step {} {:?}", i, op);
        }
    }
    Ok(())
}

fn set() -> impl Strategy<Value = BTreeSet<u64>> {
    prop_oneof![
        proptest::collection::btree_set(0u64..64, 0..40),
        proptest::collection::btree_set(0u64..2000, 0..200),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![Just(Op::Next), (0u64..2100).prop_map(Op::Seek)],
        0..40,
    )
}

fn vec_of(s: &BTreeSet<u64>) -> Vec<u64> {
    s.iter().copied().collect()
}

fn inter(a: &BTreeSet<u64>, b: &BTreeSet<u64>) -> BTreeSet<u64> {
    a.intersection(b).copied().collect()
}

fn uni(a: &BTreeSet<u64>, b: &BTreeSet<u64>) -> BTreeSet<u64> {
    a.union(b).copied().collect()
}

fn diff(a: &BTreeSet<u64>, b: &BTreeSet<u64>) -> BTreeSet<u64> {
    a.difference(b).copied().collect()
}

const WIDE: u64 = 1 << 40;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn leaves_follow_the_contract(s in set(), ops in ops()) {
        let v = vec_of(&s);
        check(ListPostings::new(&v), &s, &ops)?;
        check(VecPostings::new(v.clone()), &s, &ops)?;
        check(BTreeSetPostings::new(&s), &s, &ops)?;
        let narrow: Vec<u32> = v.iter().map(|&x| x as u32).collect();
        check(ListPostings::new(&narrow), &s, &ops)?;

        let list: PostingsList = v.iter().copied().collect();
        prop_assert!(list.is_narrow());
        check(list.postings(), &s, &ops)?;
        let mut built = PostingsList::new();
        for &x in v.iter().rev() {
            built.insert(x);
        }
        prop_assert_eq!(&built, &list);

        let (lo, hi) = (s.first().copied().unwrap_or(0), s.last().copied().unwrap_or(0));
        let mut b = BitmapPostings::with_range(lo, hi);
        v.iter().for_each(|&x| b.insert(x));
        prop_assert_eq!(b.count(), s.len());
        check(b, &s, &ops)?;
    }

    #[test]
    fn wide_lists_follow_the_contract(s in set(), ops in ops()) {
        let shifted: BTreeSet<u64> = s.iter().map(|x| x + WIDE).collect();
        let mut list = PostingsList::new();
        for &x in &s {
            list.insert(x);
        }
        for &x in &s {
            list.insert(x + WIDE);
        }
        let all = uni(&s, &shifted);
        prop_assert_eq!(list.len(), all.len());
        prop_assert!(list.is_empty() || !list.is_narrow() || s.is_empty());
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|op| match op { Op::Seek(v) if v % 2 == 0 => Op::Seek(v + WIDE), o => o })
            .collect();
        check(list.postings(), &all, &ops)?;
    }

    #[test]
    fn set_operations_match_the_model(a in set(), b in set(), c in set(), ops in ops()) {
        let (va, vb, vc) = (vec_of(&a), vec_of(&b), vec_of(&c));
        fn l(v: &[u64]) -> ListPostings<'_> {
            ListPostings::new(v)
        }

        check(intersect(vec![l(&va), l(&vb)]), &inter(&a, &b), &ops)?;
        check(intersect(vec![l(&vc), l(&va), l(&vb)]), &inter(&inter(&a, &b), &c), &ops)?;
        check(intersect(vec![l(&va)]), &a, &ops)?;
        check(intersect(Vec::<ListPostings<'_>>::new()), &BTreeSet::new(), &ops)?;

        check(merge(vec![l(&va), l(&vb)]), &uni(&a, &b), &ops)?;
        check(merge(vec![l(&va), l(&vb), l(&vc), l(&va)]), &uni(&uni(&a, &b), &c), &ops)?;
        check(merge(Vec::<ListPostings<'_>>::new()), &BTreeSet::new(), &ops)?;
        // Beyond MERGE_LINEAR_MAX cursors the merge runs on a heap.
        let six = vec![l(&va), l(&vb), l(&vc), l(&vb), l(&va), l(&vc)];
        check(merge(six), &uni(&uni(&a, &b), &c), &ops)?;

        check(without(l(&va), l(&vb)), &diff(&a, &b), &ops)?;
        check(without(l(&va), empty()), &a, &ops)?;
        check(without(empty(), l(&va)), &BTreeSet::new(), &ops)?;

        // Compositions, boxed as the planner builds them.
        let nested: Box<dyn Postings> = Box::new(without(
            merge(vec![
                Box::new(intersect(vec![l(&va), l(&vb)])) as Box<dyn Postings>,
                Box::new(l(&vc)),
            ]),
            intersect(vec![l(&vb), l(&vc)]),
        ));
        let want = diff(&uni(&inter(&a, &b), &c), &inter(&b, &c));
        check(nested, &want, &ops)?;

        let mut via_ref = l(&va);
        prop_assert_eq!(collect(&mut via_ref), va);
    }
}
