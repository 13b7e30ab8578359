//! The on-disk index: hand-derived golden bytes, write → read round trips of random indexes
//! checked against brute force, corrupted and truncated copies, writer misuse, and interop with
//! promtool in both directions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use prom_index::Error;
use prom_index::Postings;
use prom_index::disk::{ChunkMeta, IndexReader, IndexWriter, Section, TOC_LEN, Toc, WriteError};
use prom_model::Labels;
use proptest::prelude::*;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "prom-index-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What an index holds, sorted by labels.
type Model = BTreeMap<Labels, Vec<ChunkMeta>>;

fn symbols_of(model: &Model) -> BTreeSet<String> {
    model
        .keys()
        .flat_map(|ls| {
            ls.iter()
                .flat_map(|l| [l.name.to_owned(), l.value.to_owned()])
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Writes `model` and returns each series' reference, in model order.
fn write_model(path: &Path, model: &Model) -> (Vec<u64>, Toc) {
    let mut w = IndexWriter::create(path).unwrap();
    for s in symbols_of(model) {
        w.add_symbol(&s).unwrap();
    }
    let refs = model
        .iter()
        .map(|(ls, chunks)| w.add_series(ls, chunks).unwrap())
        .collect();
    (refs, w.finish().unwrap())
}

fn drain(mut p: impl Postings) -> Vec<u64> {
    let mut out = Vec::new();
    while p.next() {
        out.push(p.at());
    }
    out
}

/// Every read API of `r` against the model it was written from.
fn check_against_model(r: &IndexReader, model: &Model, refs: &[u64]) {
    // Symbols: iteration, lookup both ways.
    let syms: Vec<String> = symbols_of(model).into_iter().collect();
    let got: Vec<&str> = r.symbols().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, syms);
    assert_eq!(r.symbol_count() as usize, syms.len());
    for (i, s) in syms.iter().enumerate() {
        assert_eq!(r.symbol(i as u32).unwrap(), s);
        assert_eq!(r.symbol_ref(s).unwrap(), Some(i as u32));
    }
    assert_eq!(r.symbol_ref("\u{10ffff}-absent").unwrap(), None);
    assert_eq!(r.symbol_ref("").unwrap(), None);
    assert!(r.symbol(syms.len() as u32).is_err());

    // Series, through the all-series postings.
    assert_eq!(drain(r.all_postings().unwrap()), refs);
    let (mut labels_buf, mut chunks_buf) = (Vec::new(), Vec::new());
    for ((ls, chunks), &sref) in model.iter().zip(refs) {
        assert_eq!(&r.series(sref).unwrap(), &(ls.clone(), chunks.clone()));
        r.series_into(sref, &mut labels_buf, &mut chunks_buf)
            .unwrap();
        assert_eq!(Labels::from_pairs(&labels_buf), *ls);
        assert_eq!(&chunks_buf, chunks);
    }

    // Label names, values and postings against brute force.
    let mut pairs: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
    for (ls, &sref) in model.keys().zip(refs) {
        for l in ls {
            pairs.entry((l.name, l.value)).or_default().push(sref);
        }
    }
    let names: BTreeSet<&str> = pairs.keys().map(|(n, _)| *n).collect();
    assert_eq!(r.label_names(), names.iter().copied().collect::<Vec<_>>());
    for &name in &names {
        let values: Vec<&str> = pairs
            .keys()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(r.label_values(name).unwrap(), values);
        let via_iter: Vec<&str> = r.label_values_iter(name).collect::<Result<_, _>>().unwrap();
        assert_eq!(via_iter, values);

        let per_value = r.label_value_postings(name).unwrap();
        assert_eq!(per_value.len(), values.len());
        let mut union = BTreeSet::new();
        let mut even = BTreeSet::new();
        for (v, p) in per_value {
            let want = &pairs[&(name, v)];
            assert_eq!(&drain(p), want);
            union.extend(want.iter().copied());
            if v.len() % 2 == 0 {
                even.extend(want.iter().copied());
            }
        }
        assert_eq!(
            drain(r.postings_for_name(name).unwrap()),
            union.into_iter().collect::<Vec<_>>()
        );
        let matching = r
            .postings_for_label_matching(name, |v| v.len() % 2 == 0)
            .unwrap();
        assert_eq!(drain(matching), even.into_iter().collect::<Vec<_>>());
        assert!(drain(r.postings(name, "\u{10ffff}-absent").unwrap()).is_empty());
    }
    for (&(n, v), want) in &pairs {
        assert_eq!(&drain(r.postings(n, v).unwrap()), want, "{n}={v:?}");
        // Seeks land where a search of the brute-force list says.
        let mut p = r.postings(n, v).unwrap();
        let mut floor = 0u64;
        for &target in want.iter().step_by(2) {
            let t = target.saturating_sub(1).max(floor);
            let expect = want.iter().copied().find(|&x| x >= t);
            assert_eq!(p.seek(t), expect.is_some());
            if let Some(e) = expect {
                assert_eq!(p.at(), e);
                floor = e;
            }
        }
        assert!(!p.seek(u64::MAX) && !p.next());
    }
    assert!(drain(r.postings("absent-name", "x").unwrap()).is_empty());
    assert!(drain(r.postings_for_name("absent-name").unwrap()).is_empty());
    assert!(r.label_values("absent-name").unwrap().is_empty());
    r.verify().unwrap();
}

fn label_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "__name__", "a", "instance", "job", "zone", "ünï", "le",
    ])
    .prop_map(str::to_owned)
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-c]{1,2}",
        // Many distinct values per name: more than the reader's sampling interval.
        4 => (0u32..300).prop_map(|n| n.to_string()),
        1 => "\\PC{1,3}",
        // Longer than 127 bytes: two-byte length varints.
        1 => "[x-z]{130,140}",
    ]
}

fn chunks() -> impl Strategy<Value = Vec<ChunkMeta>> {
    (
        -2_000_000_000_000i64..2_000_000_000_000,
        prop::collection::vec((1i64..100_000, 0i64..100_000, any::<u64>()), 0..5),
    )
        .prop_map(|(mut t, specs)| {
            let mut out = Vec::new();
            for (gap, len, chunk_ref) in specs {
                let min_time = t + gap;
                out.push(ChunkMeta {
                    min_time,
                    max_time: min_time + len,
                    chunk_ref,
                });
                t = min_time + len;
            }
            out
        })
}

fn model() -> impl Strategy<Value = Model> {
    let labels = prop::collection::btree_map(label_name(), label_value(), 1..5)
        .prop_map(|m| m.into_iter().collect::<Labels>());
    prop::collection::vec((labels, chunks()), 0..80).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_indexes_round_trip(model in model()) {
        let dir = TempDir::new("rt");
        let path = dir.join("index");
        let (refs, toc) = write_model(&path, &model);
        let r = IndexReader::open(&path).unwrap();
        prop_assert_eq!(*r.toc(), toc);
        check_against_model(&r, &model, &refs);
    }

    #[test]
    fn flipped_bytes_error_cleanly(
        model in model(),
        picks in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 8),
    ) {
        let dir = TempDir::new("flip");
        let path = dir.join("index");
        let (_, toc) = write_model(&path, &model);
        let good = std::fs::read(&path).unwrap();
        for ((section, range), (pick, mask)) in sections(&toc, good.len()).into_iter().zip(&picks) {
            if range.is_empty() {
                continue;
            }
            let at = range.start + pick.index(range.len());
            let mut bad = good.clone();
            bad[at] ^= mask;
            let bad_path = dir.join("bad");
            std::fs::write(&bad_path, &bad).unwrap();
            exercise(&bad_path);
            let err = IndexReader::open(&bad_path).and_then(|r| r.verify());
            let Err(e) = err else {
                panic!("flip of byte {at} ({section:?}) went unnoticed");
            };
            assert_corrupt(&e, &bad_path);
        }
    }

    #[test]
    fn truncated_copies_error_cleanly(model in model(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 6)) {
        let dir = TempDir::new("trunc");
        let path = dir.join("index");
        write_model(&path, &model);
        let good = std::fs::read(&path).unwrap();
        for cut in cuts {
            let len = cut.index(good.len());
            let bad_path = dir.join("short");
            std::fs::write(&bad_path, &good[..len]).unwrap();
            exercise(&bad_path);
            let Err(e) = IndexReader::open(&bad_path) else {
                panic!("truncation to {len} bytes went unnoticed");
            };
            assert_corrupt(&e, &bad_path);
        }
    }
}

/// The byte ranges of the file's parts, padding counted with the part before it.
fn sections(toc: &Toc, len: usize) -> Vec<(Section, std::ops::Range<usize>)> {
    let toc_start = len - TOC_LEN;
    let u = |v: u64| v as usize;
    vec![
        (Section::Header, 0..5),
        (Section::Symbols, u(toc.symbols)..u(toc.series)),
        (Section::Series, u(toc.series)..u(toc.label_indices)),
        (Section::LabelIndices, u(toc.label_indices)..u(toc.postings)),
        (
            Section::Postings,
            u(toc.postings)..u(toc.label_offset_table),
        ),
        (
            Section::LabelOffsetTable,
            u(toc.label_offset_table)..u(toc.postings_offset_table),
        ),
        (
            Section::PostingsOffsetTable,
            u(toc.postings_offset_table)..toc_start,
        ),
        (Section::Toc, toc_start..len),
    ]
}

fn assert_corrupt(e: &Error, path: &Path) {
    assert!(matches!(e, Error::IndexCorrupt { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains("at offset"), "{msg}");
}

/// Calls every read API on a possibly corrupt file: errors are fine, panics are not.
fn exercise(path: &Path) {
    let Ok(r) = IndexReader::open(path) else {
        return;
    };
    let _ = r.symbols().count();
    let _ = r.symbol_ref("a");
    let mut refs = Vec::new();
    if let Ok(p) = r.all_postings() {
        refs = drain(p);
    }
    for sref in refs
        .iter()
        .copied()
        .chain([0, 1, 2, u64::MAX / 16, u64::MAX])
    {
        let _ = r.series(sref);
    }
    for name in r.label_names() {
        for v in r.label_values_iter(name).flatten() {
            if let Ok(p) = r.postings(name, v) {
                drain(p);
            }
        }
        if let Ok(p) = r.postings_for_name(name) {
            drain(p);
        }
    }
    let _ = r.verify();
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// Appends `len <4b> | body | CRC32C(body)`.
fn framed(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
}

/// Appends a series entry: its body length as a one-byte uvarint (bodies here are short), the
/// body, and the body's CRC32C.
fn series_entry(out: &mut Vec<u8>, body: &[u8]) {
    assert!(body.len() < 0x80, "a one-byte uvarint length");
    out.push(body.len() as u8);
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
}

/// An index whose bytes were laid out by hand from docs/formats/index.md.
#[test]
fn golden_bytes() {
    let mut want = vec![0xba, 0xaa, 0xd7, 0x00, 0x02];
    // 5: symbol table "a" "x" "y".
    framed(&mut want, &[0, 0, 0, 3, 1, b'a', 1, b'x', 1, b'y']);
    assert_eq!(want.len(), 23);
    // The TOC's series offset is 23, before the padding, as Prometheus writes it.
    want.resize(32, 0);
    // 32 (ref 2): {a="x"}, one chunk 1000..=2000 at ref 8.
    series_entry(&mut want, &[1, 0, 1, 1, 0xd0, 0x0f, 0xe8, 0x07, 0x08]);
    want.resize(48, 0);
    // 48 (ref 3): {a="y"}, no chunks.
    series_entry(&mut want, &[1, 0, 2, 0]);
    assert_eq!(want.len(), 57);
    want.resize(60, 0);
    // 60: label index of "a": one name, values "x" "y".
    framed(&mut want, &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
    assert_eq!(want.len(), 84);
    // 84: postings: all series, a="x", a="y".
    framed(&mut want, &[0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]);
    framed(&mut want, &[0, 0, 0, 1, 0, 0, 0, 2]);
    framed(&mut want, &[0, 0, 0, 1, 0, 0, 0, 3]);
    assert_eq!(want.len(), 136);
    // 136: label offset table: "a" → 60.
    framed(&mut want, &[0, 0, 0, 1, 1, 1, b'a', 60]);
    // 152: postings offset table: ("","") → 84, a=x → 104, a=y → 120.
    framed(
        &mut want,
        &[
            0, 0, 0, 3, 2, 0, 0, 84, 2, 1, b'a', 1, b'x', 104, 2, 1, b'a', 1, b'y', 120,
        ],
    );
    assert_eq!(want.len(), 180);
    let toc_start = want.len();
    for v in [5u64, 23, 57, 136, 84, 152] {
        want.extend_from_slice(&v.to_be_bytes());
    }
    let crc = crc32c::crc32c(&want[toc_start..]);
    want.extend_from_slice(&crc.to_be_bytes());

    let dir = TempDir::new("golden");
    let path = dir.join("index");
    let model: Model = [
        (
            ls(&[("a", "x")]),
            vec![ChunkMeta {
                min_time: 1000,
                max_time: 2000,
                chunk_ref: 8,
            }],
        ),
        (ls(&[("a", "y")]), vec![]),
    ]
    .into_iter()
    .collect();
    let (refs, _) = write_model(&path, &model);
    assert_eq!(refs, [2, 3]);
    assert_eq!(std::fs::read(&path).unwrap(), want);
    let r = IndexReader::open(&path).unwrap();
    check_against_model(&r, &model, &refs);
}

/// Prometheus 3 writes no label indices: the TOC's label indices and postings offsets are both
/// the end of the series, and the label offset table's equals the postings offset table's.
#[test]
fn prometheus3_layout_without_label_indices() {
    let mut f = vec![0xba, 0xaa, 0xd7, 0x00, 0x02];
    framed(&mut f, &[0, 0, 0, 3, 1, b'a', 1, b'x', 1, b'y']);
    f.resize(32, 0);
    series_entry(&mut f, &[1, 0, 1, 1, 0xd0, 0x0f, 0xe8, 0x07, 0x08]);
    f.resize(48, 0);
    series_entry(&mut f, &[1, 0, 2, 0]);
    assert_eq!(f.len(), 57);
    f.resize(60, 0);
    framed(&mut f, &[0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]);
    framed(&mut f, &[0, 0, 0, 1, 0, 0, 0, 2]);
    framed(&mut f, &[0, 0, 0, 1, 0, 0, 0, 3]);
    assert_eq!(f.len(), 112);
    framed(
        &mut f,
        &[
            0, 0, 0, 3, 2, 0, 0, 60, 2, 1, b'a', 1, b'x', 80, 2, 1, b'a', 1, b'y', 96,
        ],
    );
    let toc_start = f.len();
    for v in [5u64, 23, 57, 112, 57, 112] {
        f.extend_from_slice(&v.to_be_bytes());
    }
    let crc = crc32c::crc32c(&f[toc_start..]);
    f.extend_from_slice(&crc.to_be_bytes());

    let dir = TempDir::new("prom3");
    let path = dir.join("index");
    std::fs::write(&path, &f).unwrap();
    let model: Model = [
        (
            ls(&[("a", "x")]),
            vec![ChunkMeta {
                min_time: 1000,
                max_time: 2000,
                chunk_ref: 8,
            }],
        ),
        (ls(&[("a", "y")]), vec![]),
    ]
    .into_iter()
    .collect();
    check_against_model(&IndexReader::open(&path).unwrap(), &model, &[2, 3]);
}

#[test]
fn empty_index() {
    let dir = TempDir::new("empty");
    let path = dir.join("index");
    IndexWriter::create(&path).unwrap().finish().unwrap();
    let r = IndexReader::open(&path).unwrap();
    assert_eq!(r.symbol_count(), 0);
    assert!(r.label_names().is_empty());
    assert!(drain(r.all_postings().unwrap()).is_empty());
    r.verify().unwrap();
    check_against_model(&r, &Model::new(), &[]);
}

#[test]
fn extreme_chunk_times_and_refs() {
    let dir = TempDir::new("extreme");
    let path = dir.join("index");
    let c = |min_time, max_time, chunk_ref| ChunkMeta {
        min_time,
        max_time,
        chunk_ref,
    };
    let model: Model = [
        (ls(&[("a", "1")]), vec![c(i64::MIN, i64::MAX, u64::MAX)]),
        (
            ls(&[("a", "2")]),
            vec![
                c(i64::MIN, i64::MIN, u64::MAX),
                c(-1, 0, 0),
                c(i64::MAX, i64::MAX, u64::MAX),
            ],
        ),
    ]
    .into_iter()
    .collect();
    let (refs, _) = write_model(&path, &model);
    check_against_model(&IndexReader::open(&path).unwrap(), &model, &refs);
}

/// A flipped byte in a series is reported with the file, the section and an offset inside the
/// series section, and only when that series is read.
#[test]
fn corruption_error_names_file_section_offset() {
    let dir = TempDir::new("where");
    let path = dir.join("index");
    let model: Model = (0..10)
        .map(|i| (ls(&[("a", &i.to_string())]), vec![]))
        .collect();
    let (refs, toc) = write_model(&path, &model);
    let mut bytes = std::fs::read(&path).unwrap();
    let victim = refs[3] * 16;
    bytes[victim as usize + 2] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let r = IndexReader::open(&path).unwrap();
    assert!(r.series(refs[2]).is_ok());
    let e = r.series(refs[3]).unwrap_err();
    match &e {
        Error::IndexCorrupt {
            path: p,
            section,
            offset,
            ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*section, Section::Series);
            assert!((toc.series..toc.label_indices).contains(offset), "{offset}");
            assert!((victim..victim + 16).contains(offset), "{offset}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("series at offset"), "{e}");
    assert!(matches!(r.verify(), Err(Error::IndexCorrupt { .. })));
}

#[test]
fn not_an_index() {
    let dir = TempDir::new("junk");
    let path = dir.join("index");
    for junk in [
        &b""[..],
        b"\xba\xaa\xd7",
        &[0u8; 100],
        b"\xba\xaa\xd7\x00\x01rest",
    ] {
        std::fs::write(&path, junk).unwrap();
        let e = IndexReader::open(&path).unwrap_err();
        assert_corrupt(&e, &path);
    }
    let e = IndexReader::open(dir.join("missing")).unwrap_err();
    assert!(matches!(e, Error::IndexIo { .. }), "{e:?}");
}

fn write_error(e: Error) -> WriteError {
    match e {
        Error::IndexWrite { source, .. } => source,
        other => panic!("{other:?}"),
    }
}

#[test]
fn writer_rejects_misuse() {
    let dir = TempDir::new("misuse");
    let path = dir.join("index");
    let new = |syms: &[&str]| {
        let mut w = IndexWriter::create(&path).unwrap();
        for s in syms {
            w.add_symbol(s).unwrap();
        }
        w
    };

    let mut w = new(&["b"]);
    assert!(matches!(
        write_error(w.add_symbol("a").unwrap_err()),
        WriteError::SymbolOutOfOrder { .. }
    ));
    assert!(matches!(
        write_error(w.add_symbol("b").unwrap_err()),
        WriteError::SymbolOutOfOrder { .. }
    ));

    let mut w = new(&["a", "b", "c"]);
    w.add_series(&ls(&[("a", "b")]), &[]).unwrap();
    assert!(matches!(
        write_error(w.add_symbol("d").unwrap_err()),
        WriteError::SymbolAfterSeries(_)
    ));
    for earlier in [ls(&[("a", "b")]), ls(&[("a", "a")])] {
        assert!(matches!(
            write_error(w.add_series(&earlier, &[]).unwrap_err()),
            WriteError::SeriesOutOfOrder { .. }
        ));
    }
    assert!(matches!(
        write_error(w.add_series(&ls(&[("a", "zz")]), &[]).unwrap_err()),
        WriteError::UnknownSymbol { symbol, .. } if symbol == "zz"
    ));
    assert!(matches!(
        write_error(w.add_series(&Labels::new(), &[]).unwrap_err()),
        WriteError::EmptyLabels
    ));
    let c = |min_time, max_time| ChunkMeta {
        min_time,
        max_time,
        chunk_ref: 0,
    };
    for bad in [
        vec![c(5, 4)],
        vec![c(0, 5), c(5, 6)],
        vec![c(0, 5), c(3, 9)],
    ] {
        assert!(matches!(
            write_error(w.add_series(&ls(&[("a", "c")]), &bad).unwrap_err()),
            WriteError::ChunkOutOfOrder { .. }
        ));
    }
    // Rejected calls leave the writer usable.
    w.add_series(&ls(&[("a", "c")]), &[c(0, 5), c(6, 6)])
        .unwrap();
    w.finish().unwrap();
    IndexReader::open(&path).unwrap().verify().unwrap();

    let mut w = new(&["", "a"]);
    assert!(matches!(
        write_error(w.add_series(&ls(&[("", "a")]), &[]).unwrap_err()),
        WriteError::EmptyLabelName(_)
    ));
}

/// Enough symbols and values to spread lookups over many sample blocks.
#[test]
fn large_index() {
    let dir = TempDir::new("large");
    let path = dir.join("index");
    let mut model = Model::new();
    for i in 0..3000u32 {
        let labels = ls(&[
            ("__name__", &format!("metric_{}", i % 7)),
            ("instance", &format!("host-{i:05}")),
            ("job", ["api", "db", "web"][(i % 3) as usize]),
        ]);
        let t = i64::from(i) * 1000;
        model.insert(
            labels,
            vec![ChunkMeta {
                min_time: t,
                max_time: t + 500,
                chunk_ref: u64::from(i) << 8,
            }],
        );
    }
    let (refs, _) = write_model(&path, &model);
    let r = IndexReader::open(&path).unwrap();
    check_against_model(&r, &model, &refs);
}

// ---------------------------------------------------------------------------------------------
// Interop with promtool.

/// promtool, or `None` when interop tests are not requested. With `PROM_INTEROP=1` a missing
/// promtool fails the test.
fn promtool() -> Option<PathBuf> {
    if std::env::var("PROM_INTEROP").as_deref() != Ok("1") {
        println!("skipped: set PROM_INTEROP=1 to run the promtool interop test");
        return None;
    }
    let candidates = [
        std::env::var_os("PROMTOOL").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/promtool")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    assert!(
        found.is_some(),
        "PROM_INTEROP=1 but promtool was not found (install Debian's `prometheus` package)"
    );
    found
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Escapes a label value for the OpenMetrics text format.
fn om_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Series of several families, with more values per label than the reader samples, escaped
/// and non-ASCII values, and series that start late or stop early; each sample every 15 s.
fn interop_input() -> (String, BTreeMap<Labels, Vec<i64>>) {
    const START: i64 = 1_700_000_000; // seconds; the data stays inside one 2 h block
    let mut families: Vec<(&str, Vec<Labels>)> = Vec::new();
    let mut cpu = Vec::new();
    for c in 0..4 {
        for mode in ["idle", "system", "user"] {
            cpu.push(ls(&[
                ("__name__", "node_cpu_seconds"),
                ("cpu", &c.to_string()),
                ("mode", mode),
            ]));
        }
    }
    families.push(("node_cpu_seconds", cpu));
    let mut http = Vec::new();
    for code in ["200", "404", "500"] {
        for path in ["/", "/api/v1/query", "/ünïcode \"quoted\" \\ path"] {
            http.push(ls(&[
                ("__name__", "http_requests"),
                ("code", code),
                ("path", path),
            ]));
        }
    }
    families.push(("http_requests", http));
    let many = (0..45)
        .map(|i| {
            ls(&[
                ("__name__", "many"),
                ("id", &format!("{i:03}")),
                ("job", "x"),
            ])
        })
        .collect();
    families.push(("many", many));

    let mut text = String::new();
    let mut samples: BTreeMap<Labels, Vec<i64>> = BTreeMap::new();
    for (family, series) in &families {
        text.push_str(&format!("# TYPE {family} gauge\n"));
        for step in 0..200i64 {
            for (i, s) in series.iter().enumerate() {
                // Some series start late, some stop early.
                let (from, to) = match i % 3 {
                    0 => (0, 200),
                    1 => (30, 200),
                    _ => (0, 50 + i as i64),
                };
                if step < from || step >= to {
                    continue;
                }
                let t = START + step * 15;
                let labels: Vec<String> = s
                    .iter()
                    .filter(|l| l.name != "__name__")
                    .map(|l| format!("{}=\"{}\"", l.name, om_escape(l.value)))
                    .collect();
                text.push_str(&format!(
                    "{family}{{{}}} {} {t}\n",
                    labels.join(","),
                    (step * 7 + i as i64) % 100
                ));
                samples.entry(s.clone()).or_default().push(t * 1000);
            }
        }
    }
    text.push_str("# EOF\n");
    (text, samples)
}

/// The directories of the blocks under `dir`.
fn blocks(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("index").is_file())
        .collect();
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// promtool writes a block from OpenMetrics text; our reader must find exactly the input's
/// series, postings and time ranges. Then our writer rewrites that index from what the reader
/// read, and promtool must read the block back unchanged.
#[test]
fn promtool_interop() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = TempDir::new("interop");
    let (text, samples) = interop_input();
    let input = dir.join("input.om");
    std::fs::write(&input, text).unwrap();
    let db = dir.join("db");
    run(Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&db));
    let found = blocks(&db);
    assert_eq!(found.len(), 1, "{found:?}");
    let block = &found[0];
    let r = IndexReader::open(block.join("index")).unwrap();
    r.verify().unwrap();

    // Every series, in label order, with chunks covering exactly its samples.
    let refs = drain(r.all_postings().unwrap());
    let mut by_ref: BTreeMap<u64, Labels> = BTreeMap::new();
    let mut read: Vec<(Labels, Vec<ChunkMeta>)> = Vec::new();
    for &sref in &refs {
        let (labels, chunks) = r.series(sref).unwrap();
        let ts = &samples[&labels];
        assert_eq!(chunks.first().unwrap().min_time, ts[0], "{labels}");
        assert_eq!(
            chunks.last().unwrap().max_time,
            *ts.last().unwrap(),
            "{labels}"
        );
        for w in chunks.windows(2) {
            assert!(w[0].max_time < w[1].min_time, "{labels}: {chunks:?}");
        }
        for t in ts {
            assert!(
                chunks.iter().any(|c| (c.min_time..=c.max_time).contains(t)),
                "{labels}: sample at {t} outside {chunks:?}"
            );
        }
        by_ref.insert(sref, labels.clone());
        read.push((labels, chunks));
    }
    let got: Vec<&Labels> = read.iter().map(|(l, _)| l).collect();
    let want: Vec<&Labels> = samples.keys().collect();
    assert_eq!(got, want, "series, in label order");
    assert!(
        read.iter().any(|(_, c)| c.len() > 1),
        "some series span several chunks"
    );

    // Label names, values and the postings of every pair against brute force.
    let mut pairs: BTreeMap<(String, String), BTreeSet<Labels>> = BTreeMap::new();
    for ls in samples.keys() {
        for l in ls {
            pairs
                .entry((l.name.to_owned(), l.value.to_owned()))
                .or_default()
                .insert(ls.clone());
        }
    }
    let names: BTreeSet<&str> = pairs.keys().map(|(n, _)| n.as_str()).collect();
    assert_eq!(r.label_names(), names.into_iter().collect::<Vec<_>>());
    for ((n, v), want) in &pairs {
        let got: BTreeSet<Labels> = drain(r.postings(n, v).unwrap())
            .into_iter()
            .map(|sref| by_ref[&sref].clone())
            .collect();
        assert_eq!(&got, want, "postings of {n}={v:?}");
        assert!(r.label_values(n).unwrap().contains(&v.as_str()));
    }
    let many = r.label_values("id").unwrap();
    assert_eq!(many.len(), 45);
    println!(
        "interop: read {} series, {} label pairs from promtool's block",
        read.len(),
        pairs.len()
    );

    // The other direction: our writer, fed what our reader read (symbols included, so the
    // table matches promtool's), and the chunk references kept.
    let copy_db = dir.join("copy");
    let copy_block = copy_db.join(block.file_name().unwrap());
    copy_dir(block, &copy_block);
    let ours = copy_block.join("index");
    std::fs::remove_file(&ours).unwrap();
    let mut w = IndexWriter::create(&ours).unwrap();
    for s in r.symbols() {
        w.add_symbol(s.unwrap()).unwrap();
    }
    for (labels, chunks) in &read {
        w.add_series(labels, chunks).unwrap();
    }
    w.finish().unwrap();
    let r2 = IndexReader::open(&ours).unwrap();
    r2.verify().unwrap();
    let theirs_bytes = std::fs::read(block.join("index")).unwrap();
    let ours_bytes = std::fs::read(&ours).unwrap();
    println!(
        "interop: our writer reproduced promtool's {}-byte index: {}",
        theirs_bytes.len(),
        theirs_bytes == ours_bytes
    );
    assert!(
        theirs_bytes == ours_bytes,
        "our writer should reproduce promtool's index byte for byte"
    );

    // promtool dump needs a WAL directory even for a read-only open.
    for d in [&db, &copy_db] {
        std::fs::create_dir_all(d.join("wal")).unwrap();
    }
    let dump = |d: &Path| run(Command::new(&promtool).args(["tsdb", "dump"]).arg(d));
    let theirs = dump(&db);
    let ours_dump = dump(&copy_db);
    let total: usize = samples.values().map(Vec::len).sum();
    assert_eq!(theirs.lines().count(), total);
    assert!(theirs == ours_dump, "promtool dump differs on our index");
    let analyze = run(Command::new(&promtool)
        .args(["tsdb", "analyze", "--extended"])
        .arg(&copy_db));
    assert!(
        analyze.contains(&format!("Series: {}", read.len())),
        "{analyze}"
    );
    assert!(analyze.contains(&format!("Postings (unique label pairs): {}", pairs.len())));
    println!("interop: promtool dump ({total} samples) and analyze agree on our index");
}
