//! `prom tsdb dump`: every sample of the selected series as a line of text, in promtool's
//! `tsdb dump` format, so the two outputs can be compared with `diff`:
//!
//! ```text
//! {__name__="up", instance="a:9100", job="node"} 1 1700000000000
//! ```
//!
//! The labels are Go's `labels.String()` (names bare, values as `strconv.Quote` writes them),
//! the value is Go's `%g` and the timestamp is in milliseconds. Series come in label order,
//! each with its samples in time order.
//!
//! Like promtool, which opens the directory as a read-only database, the dump reads the blocks
//! and the head: the directory is opened as a [`Db`] (which takes its lock and creates
//! `prom-wal/` if missing, but compacts and deletes nothing). When another process holds the
//! lock, the blocks are read directly and a note says the head was left out.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use prom_model::{Labels, Matcher, Querier, SampleIterator as _};
use prom_tsdb::{Db, Options};

use super::blocks::BlockSet;
use super::{Error, Result, gofmt, selector};

/// Arguments of `prom tsdb dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The data directory.
    #[arg(value_name = "DIR", default_value = "data/")]
    pub dir: PathBuf,
    /// Only series matching this selector, e.g. `up{job="api"}` or `{__name__=~"http_.*"}`.
    #[arg(long = "match", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// The earliest timestamp to dump, in milliseconds since the epoch (inclusive).
    #[arg(long, value_name = "MS", default_value_t = i64::MIN, allow_hyphen_values = true)]
    pub min_time: i64,
    /// The latest timestamp to dump, in milliseconds since the epoch (inclusive).
    #[arg(long, value_name = "MS", default_value_t = i64::MAX, allow_hyphen_values = true)]
    pub max_time: i64,
}

/// What a dump wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Series with at least one sample written.
    pub series: u64,
    /// Sample lines written.
    pub samples: u64,
}

/// Appends `labels` as Go's `labels.Labels.String()` prints them:
/// `{__name__="up", job="a\"b"}`, names bare, values quoted by Go's `strconv.Quote`.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(l.name);
        out.push('=');
        gofmt::quote(out, l.value);
    }
    out.push('}');
}

/// Appends one dump line: the series text as [`write_labels`] renders it, the value as Go's
/// `%g`, the timestamp in milliseconds.
pub fn write_sample(out: &mut String, series: &str, t: i64, v: f64) {
    out.push_str(series);
    out.push(' ');
    prom_exposition::encode::write_float(out, v);
    out.push(' ');
    // i64's Display is exact and allocation-free.
    let _ = std::fmt::Write::write_fmt(out, format_args!("{t}\n"));
}

/// Writes every sample of the series `querier` selects with `matchers`, sorted by labels, to
/// `out`. Fails on the first read error of the storage or write error of `out`.
pub fn dump(querier: &dyn Querier, matchers: &[Matcher], out: &mut dyn Write) -> Result<DumpStats> {
    let mut stats = DumpStats::default();
    let mut set = querier.select(true, None, matchers);
    let mut series_text = String::new();
    let mut buf = String::with_capacity(64 << 10);
    while let Some(mut s) = set.next() {
        series_text.clear();
        write_labels(&mut series_text, &s.labels);
        let mut any = false;
        while s.samples.next() {
            let sample = s.samples.at();
            write_sample(&mut buf, &series_text, sample.t, sample.v);
            stats.samples += 1;
            any = true;
            if buf.len() >= 60 << 10 {
                out.write_all(buf.as_bytes()).map_err(Error::Write)?;
                buf.clear();
            }
        }
        if let Some(e) = s.samples.err() {
            return Err(Error::Query {
                what: format!("reading the samples of {}", s.labels),
                message: e.to_string(),
            });
        }
        stats.series += u64::from(any);
    }
    if let Some(e) = set.err() {
        return Err(Error::Query {
            what: "selecting series".to_owned(),
            message: e.to_string(),
        });
    }
    out.write_all(buf.as_bytes()).map_err(Error::Write)?;
    Ok(stats)
}

/// The matchers of `--match`, or none (every series) without it.
pub fn matchers(selector: Option<&str>) -> Result<Vec<Matcher>> {
    match selector {
        None => Ok(Vec::new()),
        Some(s) => selector::parse(s).map_err(|error| Error::Selector {
            input: s.to_owned(),
            error,
        }),
    }
}

/// What a dump reads: the data directory opened as a database (blocks and the head that its
/// WAL holds), or, when that is not possible, its blocks alone.
#[derive(Debug)]
pub enum Source {
    /// The database, opened without background compaction or retention.
    Db(Db),
    /// The blocks only.
    Blocks(BlockSet),
}

impl Source {
    /// Opens `dir` as a [`Db`] with background compaction and retention off and without
    /// verifying every block up front (chunks are checked as they are read). A block the
    /// database could not read is an error naming it, not a silent gap in the dump.
    ///
    /// If the directory cannot be opened as a database (a running server holds its lock, or
    /// it is read-only) its blocks are read directly instead; the second value then says so,
    /// for the user.
    pub fn open(dir: &Path) -> Result<(Source, Option<String>)> {
        let read = |source| Error::Read {
            path: dir.to_owned(),
            source,
        };
        // `Db::open` would create a missing directory.
        if !std::fs::metadata(dir).map_err(read)?.is_dir() {
            return Err(read(io::Error::from(io::ErrorKind::NotADirectory)));
        }
        let mut opts = Options::default();
        opts.background_compaction = false;
        opts.retention_time = None;
        opts.retention_size = None;
        opts.verify_blocks_on_open = false;
        match Db::open(dir, opts) {
            Ok(db) => {
                if let Some((path, reason)) = db.open_report().skipped_blocks.first() {
                    return Err(Error::UnreadableBlock {
                        path: path.clone(),
                        reason: reason.clone(),
                    });
                }
                Ok((Source::Db(db), None))
            }
            Err(e) => {
                let note = format!(
                    "cannot open {} as a database ({e}); reading its blocks only, without the \
                     samples still in its WAL",
                    dir.display()
                );
                Ok((Source::Blocks(BlockSet::open(dir)?), Some(note)))
            }
        }
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(&self, mint: i64, maxt: i64) -> Box<dyn Querier + '_> {
        match self {
            Source::Db(db) => Box::new(db.querier(mint, maxt)),
            Source::Blocks(b) => Box::new(b.querier(mint, maxt)),
        }
    }
}

/// Runs `prom tsdb dump`: opens the data directory, dumps to stdout.
pub fn run(args: &DumpArgs) -> Result<u8> {
    let matchers = matchers(args.selector.as_deref())?;
    let (source, note) = Source::open(&args.dir)?;
    if let Some(note) = note {
        let _ = writeln!(io::stderr(), "prom: note: {note}");
    }
    let querier = source.querier(args.min_time, args.max_time);
    let mut out = io::stdout().lock();
    dump(&*querier, &matchers, &mut out)?;
    out.flush().map_err(Error::Write)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_model::storage::{Appendable, Queryable};
    use prom_model::{MemoryStorage, labels};

    fn line(labels: &Labels, t: i64, v: f64) -> String {
        let mut series = String::new();
        write_labels(&mut series, labels);
        let mut out = String::new();
        write_sample(&mut out, &series, t, v);
        out
    }

    #[test]
    fn lines_match_promtool() {
        let l = labels!("__name__" => "up", "job" => "x");
        assert_eq!(
            line(&l, 1_700_000_000_000, 1.0),
            "{__name__=\"up\", job=\"x\"} 1 1700000000000\n"
        );
        let l = labels!("__name__" => "temp", "path" => "/a\"b\\c\nd", "z" => "é\u{0}");
        assert_eq!(
            line(&l, -5, 20.014999437506),
            "{__name__=\"temp\", path=\"/a\\\"b\\\\c\\nd\", z=\"é\\x00\"} 20.014999437506 -5\n"
        );
        assert_eq!(line(&Labels::new(), 0, 0.0), "{} 0 0\n");
    }

    #[test]
    fn values_are_go_g() {
        let l = labels!("a" => "b");
        for (v, want) in [
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (-0.0, "-0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (prom_model::value::stale_nan(), "NaN"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(line(&l, 1, v), format!("{{a=\"b\"}} {want} 1\n"), "{v}");
        }
    }

    #[test]
    fn dump_writes_selected_series_in_label_order() {
        let db = MemoryStorage::new();
        let mut app = db.appender();
        let b = labels!("__name__" => "up", "job" => "b");
        let a = labels!("__name__" => "up", "job" => "a");
        let other = labels!("__name__" => "down");
        for t in [1_000, 2_000, 3_000] {
            app.append(None, &b, t, 1.5).unwrap();
            app.append(None, &a, t, 2.0).unwrap();
            app.append(None, &other, t, 0.0).unwrap();
        }
        app.commit().unwrap();
        let q = db.querier(2_000, 3_000).unwrap();
        let mut out = Vec::new();
        let stats = dump(&*q, &matchers(Some("up")).unwrap(), &mut out).unwrap();
        assert_eq!(
            stats,
            DumpStats {
                series: 2,
                samples: 4
            }
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{__name__=\"up\", job=\"a\"} 2 2000\n{__name__=\"up\", job=\"a\"} 2 3000\n\
             {__name__=\"up\", job=\"b\"} 1.5 2000\n{__name__=\"up\", job=\"b\"} 1.5 3000\n"
        );
        let err = matchers(Some("{a=b}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--match {a=b}: 1:4: expected quoted string, found \"b}\""
        );
    }

    fn dump_text(source: &Source) -> String {
        let mut out = Vec::new();
        dump(&*source.querier(i64::MIN, i64::MAX), &[], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn dump_reads_blocks_and_the_head_and_falls_back_to_blocks_when_locked() {
        let dir = tempfile::tempdir().unwrap();
        let om = b"# TYPE a gauge\na{x=\"1\"} 1 1\na{x=\"1\"} 2 2\n# EOF\n";
        let bf = crate::tsdb::backfill::Backfill::read(om, 7_200_000, |_| {}).unwrap();
        bf.write(dir.path(), 1, &|_| {}).unwrap();
        let block_lines = "{__name__=\"a\", x=\"1\"} 1 1000\n{__name__=\"a\", x=\"1\"} 2 2000\n";

        // Samples appended to the database stay in its head (and WAL).
        {
            let (source, note) = Source::open(dir.path()).unwrap();
            assert!(note.is_none());
            let Source::Db(db) = &source else {
                panic!("opened as a database");
            };
            let mut app = prom_model::Appendable::appender(db);
            app.append(None, &labels!("__name__" => "b"), 5_000, 7.0)
                .unwrap();
            app.commit().unwrap();
        }
        let (source, _) = Source::open(dir.path()).unwrap();
        let with_head = format!("{block_lines}{{__name__=\"b\"}} 7 5000\n");
        assert_eq!(dump_text(&source), with_head);

        // While it is open (locked), a second dump reads the blocks alone.
        let (second, note) = Source::open(dir.path()).unwrap();
        assert!(matches!(second, Source::Blocks(_)));
        assert!(note.unwrap().contains("reading its blocks only"));
        assert_eq!(dump_text(&second), block_lines);
        drop(source);

        let missing = dir.path().join("nope");
        let err = Source::open(&missing).unwrap_err();
        assert!(err.to_string().starts_with("cannot read"), "{err}");
        assert!(!missing.exists());
    }
}
