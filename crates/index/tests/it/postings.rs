//! Every postings cursor and set operation against a `BTreeSet` model, including the cursor
//! contract: `seek` never moves backwards, and after the end everything returns false.

use std::collections::BTreeSet;

use prom_index::Postings;
use prom_index::postings::{
    BTreeSetPostings, BitmapPostings, DENSE_MIN_LEN, INLINE_CAP, ListPostings, PostingsList,
    VecPostings, collect, empty, intersect, merge, without,
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

/// A change to a [`PostingsList`].
#[derive(Debug, Clone)]
enum ListOp {
    /// Inserts `len` references from `start`, `stride` apart (runs, as a head assigns them).
    Run { start: u64, len: u64, stride: u64 },
    /// Inserts one reference.
    One(u64),
    /// Keeps the references `r` with `r % modulus != rem`.
    Drop { modulus: u64, rem: u64 },
}

fn list_ops() -> impl Strategy<Value = Vec<ListOp>> {
    let op = prop_oneof![
        4 => (0u64..20_000, 1u64..3_000, 1u64..4)
            .prop_map(|(start, len, stride)| ListOp::Run { start, len, stride }),
        3 => prop_oneof![0u64..25_000, Just(1 << 31), Just(WIDE + 7)].prop_map(ListOp::One),
        1 => (1u64..6, 0u64..6).prop_map(|(modulus, rem)| ListOp::Drop { modulus, rem }),
    ];
    proptest::collection::vec(op, 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Lists move between their forms (inline, plain, with a bitmap, 64-bit) as they grow,
    /// stretch and shrink; in every form they hold exactly the model's references.
    #[test]
    fn list_forms_match_the_model(script in list_ops(), ops in ops()) {
        let mut list = PostingsList::new();
        let mut model = BTreeSet::new();
        for op in &script {
            match *op {
                ListOp::Run { start, len, stride } => {
                    for k in 0..len {
                        let r = start + k * stride;
                        prop_assert_eq!(list.insert(r), model.insert(r));
                    }
                }
                ListOp::One(r) => prop_assert_eq!(list.insert(r), model.insert(r)),
                ListOp::Drop { modulus, rem } => {
                    let removed = list.retain(|r| r % modulus != rem);
                    let before = model.len();
                    model.retain(|r| r % modulus != rem);
                    prop_assert_eq!(removed, before - model.len());
                }
            }
            prop_assert_eq!(list.len(), model.len());
            prop_assert!(list.iter().eq(model.iter().copied()));
            prop_assert_eq!(list.first(), model.first().copied());
            prop_assert_eq!(list.last(), model.last().copied());
            if list.is_narrow() {
                prop_assert_eq!(list.is_inline(), list.len() <= INLINE_CAP, "{:?}", op);
            }
            if list.has_bitmap() {
                prop_assert!(list.len() >= DENSE_MIN_LEN);
            }
            // Membership, through the bitmap when there is one.
            for r in model.iter().step_by(97).copied().chain([0, 1, 5_000, 19_999, 1 << 31, WIDE]) {
                prop_assert_eq!(list.contains(r), model.contains(&r), "contains {}", r);
                prop_assert!(!list.contains(r + 1) || model.contains(&(r + 1)));
            }
        }
        let collected: PostingsList = model.iter().copied().collect();
        prop_assert_eq!(&collected, &list, "equal whatever the form");
        check(list.postings(), &model, &ops)?;
    }
}

/// The forms a list takes, step by step.
#[test]
fn list_forms_follow_length_and_density() {
    let mut l = PostingsList::new();
    assert!(l.is_inline() && l.heap_bytes() == 0);
    for r in 0..INLINE_CAP as u64 {
        l.insert(r * 3);
    }
    assert!(l.is_inline(), "{INLINE_CAP} references fit inline");
    l.insert(1000);
    assert!(!l.is_inline() && l.heap_bytes() > 0);
    for r in 0..4096u64 {
        l.insert(r * 3);
    }
    assert!(
        l.has_bitmap(),
        "4,096 references, one in three of their range"
    );
    l.insert(1 << 30);
    assert!(
        !l.has_bitmap(),
        "stretched: the bitmap would be far larger than the list"
    );
    assert!(l.contains(1 << 30) && l.contains(3 * 4095) && !l.contains(3 * 4095 + 1));
    l.retain(|r| r < 1 << 30);
    assert!(l.has_bitmap(), "dense again after the far reference goes");
    let sparse: PostingsList = (0..4096u64).map(|r| r * 100).collect();
    assert!(
        !sparse.has_bitmap(),
        "one in a hundred: the bitmap would be larger"
    );
    l.retain(|r| r < 30);
    assert!(l.is_inline() && l.len() == 10);
    assert_eq!(
        l.iter().collect::<Vec<_>>(),
        (0..10).map(|r| r * 3).collect::<Vec<_>>()
    );
    l.insert(WIDE);
    assert!(!l.is_narrow() && l.len() == 11);
    assert!(std::mem::size_of::<PostingsList>() <= 48);
}
