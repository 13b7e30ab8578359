//! The storage traits from the outside: trait objects, blanket impls, and a storage implemented
//! in another crate.

use std::sync::Arc;

use prom_model::storage::{ListSampleIterator, ListSeriesSet, SampleIter};
use prom_model::{
    AppendError, Appendable, Appender, Error, Labels, MatchType, Matcher, MemoryStorage, Querier,
    Queryable, Result, Sample, SampleIterator, SelectHints, Series, SeriesRef, SeriesSet,
    Timestamp, labels,
};

/// What a scrape loop does: append a batch, count rejections by kind, commit.
fn scrape_into(db: &dyn Appendable, rows: &[(Labels, Timestamp, f64)]) -> (usize, usize) {
    let mut app = db.appender();
    let (mut ok, mut out_of_order) = (0, 0);
    for (l, t, v) in rows {
        match app.append(None, l, *t, *v) {
            Ok(_) => ok += 1,
            Err(AppendError::OutOfOrder) => out_of_order += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    app.commit().expect("commit");
    (ok, out_of_order)
}

/// What a query engine does: select, collect every series, then read samples.
fn sum_at_or_after(q: &dyn Queryable, t: Timestamp, matchers: &[Matcher]) -> Result<f64> {
    let querier = q.querier(t, Timestamp::MAX)?;
    let hints = SelectHints {
        start: t,
        func: "sum".into(),
        ..SelectHints::default()
    };
    let mut set = querier.select(false, Some(&hints), matchers);
    let mut series = Vec::new();
    while let Some(s) = set.next() {
        series.push(s);
    }
    if let Some(e) = set.err() {
        return Err(Error::storage(e.to_string()));
    }
    let mut sum = 0.0;
    for mut s in series {
        if s.samples.seek(t) {
            sum += s.samples.at().v;
        }
    }
    Ok(sum)
}

#[test]
fn shared_storage_through_arc_dyn() {
    let db = Arc::new(MemoryStorage::new());
    let writer: Arc<dyn Appendable> = db.clone();
    let reader: Arc<dyn Queryable> = db;
    let a = labels!("__name__" => "x", "i" => "a");
    let b = labels!("__name__" => "x", "i" => "b");
    let rows = [
        (a.clone(), 10, 1.0),
        (b.clone(), 10, 2.0),
        (a.clone(), 5, 9.0),
        (a.clone(), 20, 4.0),
    ];
    assert_eq!(scrape_into(&*writer, &rows), (3, 1));
    let all = Matcher::new(MatchType::RegexMatch, "__name__", "x").expect("valid");
    assert_eq!(
        sum_at_or_after(&*reader, 10, std::slice::from_ref(&all)).expect("sum"),
        3.0
    );
    assert_eq!(sum_at_or_after(&*reader, 11, &[all]).expect("sum"), 4.0);
    // The blanket impls let references and boxes stand in for the storage.
    assert_eq!(sum_at_or_after(&&*reader, 15, &[]).expect("sum"), 4.0);
}

/// A storage written in another crate: one constant series, with an appender that rejects all.
struct Constant;

struct RejectAll;

impl Appender for RejectAll {
    fn append(
        &mut self,
        _: Option<SeriesRef>,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> std::result::Result<SeriesRef, AppendError> {
        Err(AppendError::OutOfBounds)
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        Ok(())
    }
}

impl Appendable for Constant {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(RejectAll)
    }
}

/// Counts from a start up to an end, without storing samples.
struct Counter {
    t: Timestamp,
    end: Timestamp,
    started: bool,
}

impl SampleIterator for Counter {
    fn next(&mut self) -> bool {
        if self.started && self.t <= self.end {
            self.t += 1;
        }
        self.started = true;
        self.t <= self.end
    }

    fn seek(&mut self, t: Timestamp) -> bool {
        self.started = true;
        self.t = self.t.max(t);
        self.t <= self.end
    }

    fn at(&self) -> Sample {
        Sample::new(self.t, self.t as f64)
    }
}

struct ConstantQuerier {
    mint: Timestamp,
    maxt: Timestamp,
}

impl Querier for ConstantQuerier {
    fn select(
        &self,
        _: bool,
        _: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_> {
        let ls = labels!("__name__" => "counter");
        if !matchers
            .iter()
            .all(|m| m.matches(ls.get(m.name()).unwrap_or("")))
        {
            return Box::new(ListSeriesSet::new(Vec::new()));
        }
        let it = Counter {
            t: self.mint,
            end: self.maxt,
            started: false,
        };
        Box::new(ListSeriesSet::new(vec![Series::new(ls, it)]))
    }

    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>> {
        Ok(vec!["__name__".into()])
    }

    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>> {
        Err(Error::storage("not supported"))
    }
}

impl Queryable for Constant {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(ConstantQuerier { mint, maxt }))
    }
}

#[test]
fn foreign_storage_plugs_into_the_same_consumers() {
    let c = Arc::new(Constant);
    assert_eq!(scrape_into(&Constant, &[]), (0, 0));
    let mut app = c.appender();
    assert_eq!(
        app.append(None, &labels!("a" => "b"), 0, 0.0),
        Err(AppendError::OutOfBounds)
    );
    assert_eq!(sum_at_or_after(&c, 7, &[]).expect("sum"), 7.0);
    assert_eq!(
        sum_at_or_after(&c, 7, &[Matcher::equal("__name__", "other")]).expect("sum"),
        0.0
    );
    let q = c.querier(0, 3).expect("querier");
    assert!(q.label_values("x", &[]).is_err());
    let mut set = q.select(true, None, &[]);
    let s = set.next().expect("series");
    let samples: Vec<Sample> = SampleIter::new(s.samples).collect();
    assert_eq!(samples.len(), 4);
}

#[test]
fn list_iterator_over_borrowed_samples() {
    let data = [Sample::new(1, 1.0), Sample::new(3, 3.0)];
    let mut it = ListSampleIterator::new(&data[..]);
    assert!(it.seek(2));
    assert_eq!(it.at(), Sample::new(3, 3.0));
    assert!(!it.next());
}
