//! The write-ahead log on its own: record round trips, segment rollover, damage and repair,
//! checkpoints, sync policies.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use prom_model::Labels;
use prom_tsdb::interval::Interval;
use prom_tsdb::wal::{
    self, Error, HEADER_LEN, Reason, Record, RecordRef, RefSample, RefSeries, Stone, SyncPolicy,
    Wal, WalOptions,
};
use proptest::prelude::*;

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn never() -> WalOptions {
    WalOptions::default().sync(SyncPolicy::Never)
}

/// A record with its floats as bits, so NaNs compare equal to themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bits {
    Series(Vec<(u64, Labels)>),
    Samples(Vec<(u64, i64, u64)>),
    Tombstones(Vec<(u64, Vec<Interval>)>),
}

fn bits(r: &Record) -> Bits {
    match r {
        Record::Series(s) => Bits::Series(s.iter().map(|s| (s.r, s.labels.clone())).collect()),
        Record::Samples(s) => Bits::Samples(s.iter().map(|s| (s.r, s.t, s.v.to_bits())).collect()),
        Record::Tombstones(s) => {
            Bits::Tombstones(s.iter().map(|s| (s.r, s.intervals.clone())).collect())
        }
    }
}

fn all_bits(rs: &[Record]) -> Vec<Bits> {
    rs.iter().map(bits).collect()
}

fn replay_all(dir: &Path) -> (Vec<Record>, wal::ReplayStats) {
    let mut got = Vec::new();
    let stats = wal::replay(dir, &mut |r| got.push(r)).unwrap();
    (got, stats)
}

fn series(r: u64, pairs: &[(&str, &str)]) -> Record {
    Record::Series(vec![RefSeries {
        r,
        labels: Labels::from_pairs(pairs),
    }])
}

fn samples(list: &[(u64, i64, f64)]) -> Record {
    Record::Samples(
        list.iter()
            .map(|&(r, t, v)| RefSample { r, t, v })
            .collect(),
    )
}

fn stones(list: &[(u64, &[(i64, i64)])]) -> Record {
    Record::Tombstones(
        list.iter()
            .map(|(r, ivs)| Stone {
                r: *r,
                intervals: ivs.iter().map(|&(a, b)| Interval::new(a, b)).collect(),
            })
            .collect(),
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(wal::parse_segment_name)
                .is_some()
        })
        .collect();
    v.sort();
    v
}

fn len(p: &Path) -> u64 {
    fs::metadata(p).unwrap().len()
}

// ---- round trips -----------------------------------------------------------------------

#[test]
fn every_record_type_round_trips_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let recs = vec![
        series(1, &[("__name__", "up"), ("job", "node")]),
        Record::Series(vec![
            RefSeries {
                r: 2,
                labels: Labels::new(),
            },
            RefSeries {
                r: 3,
                labels: Labels::from_pairs(&[("名前", "値 ✓"), ("emoji", "🦀"), ("q", "\"\n\\")]),
            },
            RefSeries {
                r: u64::MAX,
                labels: Labels::from_pairs(&[("x", &"long".repeat(1000))]),
            },
        ]),
        samples(&[
            (1, 1000, f64::from_bits(STALE_NAN)),
            (2, 1000, f64::NAN),
            (3, 999, f64::from_bits(0xfff8_dead_beef_0001)),
            (1, -5, f64::INFINITY),
            (2, i64::MAX, f64::NEG_INFINITY),
            (3, i64::MIN, -0.0),
            (0, 0, 0.0),
            (7, 1, f64::MIN_POSITIVE),
            (7, 2, f64::from_bits(1)),
        ]),
        stones(&[
            (1, &[(0, 10), (20, 30)]),
            (3, &[(i64::MIN, i64::MAX)]),
            (4, &[]),
        ]),
        Record::Series(vec![]),
        Record::Samples(vec![]),
        Record::Tombstones(vec![]),
    ];
    let mut w = Wal::open(dir.path(), never()).unwrap();
    w.log(&recs).unwrap();
    drop(w);
    let (got, stats) = replay_all(dir.path());
    assert_eq!(all_bits(&got), all_bits(&recs));
    assert!(stats.corruption.is_none());
    assert_eq!((stats.series_records, stats.series), (3, 4));
    assert_eq!((stats.samples_records, stats.samples), (2, 9));
    assert_eq!((stats.tombstone_records, stats.tombstones), (2, 3));
    let Record::Samples(s) = &got[2] else {
        panic!("samples expected")
    };
    assert_eq!(s[0].v.to_bits(), STALE_NAN);
    assert_eq!(s[5].v.to_bits(), (-0.0f64).to_bits());

    // The borrowed replay sees the same records.
    let mut borrowed = Vec::new();
    wal::replay_borrowed(dir.path(), &mut |r: RecordRef<'_>| {
        borrowed.push(r.to_owned())
    })
    .unwrap();
    assert_eq!(all_bits(&borrowed), all_bits(&recs));
}

fn arb_labels() -> impl Strategy<Value = Labels> {
    let name = prop_oneof!["[a-z_]{1,8}", "\\PC{1,4}"];
    let value = prop_oneof!["[a-z0-9]{0,12}", "\\PC{0,6}"];
    prop::collection::vec((name, value), 0..6).prop_map(|pairs| {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        Labels::from_pairs(&refs)
    })
}

fn arb_ref() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..2000, any::<u64>()]
}

fn arb_t() -> impl Strategy<Value = i64> {
    prop_oneof![1_700_000_000_000i64..1_700_000_100_000, any::<i64>()]
}

fn arb_v() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::from_bits(STALE_NAN)),
        Just(-0.0),
        Just(f64::INFINITY),
        (0i32..1000).prop_map(f64::from),
    ]
}

fn arb_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        prop::collection::vec(
            (arb_ref(), arb_labels()).prop_map(|(r, labels)| RefSeries { r, labels }),
            0..5
        )
        .prop_map(Record::Series),
        prop::collection::vec(
            (arb_ref(), arb_t(), arb_v()).prop_map(|(r, t, v)| RefSample { r, t, v }),
            0..40
        )
        .prop_map(Record::Samples),
        prop::collection::vec(
            (
                arb_ref(),
                prop::collection::vec((any::<i64>(), any::<i64>()), 0..4)
            )
                .prop_map(|(r, ivs)| Stone {
                    r,
                    intervals: ivs.into_iter().map(|(a, b)| Interval::new(a, b)).collect()
                }),
            0..4
        )
        .prop_map(Record::Tombstones),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_batches_replay_equal(
        batches in prop::collection::vec(prop::collection::vec(arb_record(), 1..4), 0..20),
        segment_size in prop_oneof![Just(64u64), Just(1024), Just(128 << 20)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path(), never().segment_size(segment_size)).unwrap();
        for b in &batches {
            w.log(b).unwrap();
        }
        drop(w);
        let want: Vec<Bits> = batches.iter().flatten().map(bits).collect();
        let (got, stats) = replay_all(dir.path());
        prop_assert!(stats.corruption.is_none());
        prop_assert_eq!(all_bits(&got), want.clone());
        let mut borrowed = Vec::new();
        wal::replay_borrowed(dir.path(), &mut |r| borrowed.push(bits(&r.to_owned()))).unwrap();
        prop_assert_eq!(borrowed, want);
    }

    #[test]
    fn codec_round_trips(rec in arb_record()) {
        let mut buf = Vec::new();
        rec.encode(&mut buf);
        let back = Record::decode(&buf).unwrap();
        prop_assert_eq!(bits(&back), bits(&rec));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Record::decode(&bytes);
        let dir = tempfile::tempdir().unwrap();
        // Behind a valid header, and as a whole file.
        let mut seg = b"PWAL\x01\0\0\0".to_vec();
        seg.extend_from_slice(&bytes);
        fs::write(dir.path().join("00000000"), &seg).unwrap();
        fs::write(dir.path().join("00000001"), &bytes).unwrap();
        let _ = wal::replay(dir.path(), &mut |_| {});
    }

    #[test]
    fn any_single_bit_flip_is_caught(pos in 0usize..1000, bit in 0u8..8) {
        let dir = tempfile::tempdir().unwrap();
        let recs: Vec<Record> = (0..10)
            .map(|i| samples(&[(i, i as i64 * 1000, i as f64), (i + 1, 5, -1.5)]))
            .collect();
        let mut w = Wal::open(dir.path(), never()).unwrap();
        for r in &recs {
            w.log(std::slice::from_ref(r)).unwrap();
        }
        drop(w);
        let seg = dir.path().join("00000000");
        let mut data = fs::read(&seg).unwrap();
        // Past the segment header (damage there is a different error, tested apart).
        let pos = 8 + pos % (data.len() - 8);
        data[pos] ^= 1 << bit;
        fs::write(&seg, &data).unwrap();
        let (got, stats) = replay_all(dir.path());
        // Whatever was delivered is an exact prefix; the damage is always reported.
        prop_assert!(got.len() < recs.len());
        prop_assert_eq!(all_bits(&got), all_bits(&recs[..got.len()]));
        prop_assert!(stats.corruption.is_some());
    }
}

// ---- segments --------------------------------------------------------------------------

#[test]
fn tiny_segments_roll_over_and_frames_never_span_them() {
    let dir = tempfile::tempdir().unwrap();
    let size = 100;
    let mut w = Wal::open(dir.path(), never().segment_size(size)).unwrap();
    let mut logged = Vec::new();
    for i in 0..50u64 {
        let rec = samples(&[(i, i as i64, i as f64); 3]);
        w.log(std::slice::from_ref(&rec)).unwrap();
        logged.push(rec);
    }
    let (first, last) = w.segment_range();
    drop(w);
    let segs = segments(dir.path());
    assert_eq!(segs.len() as u32, last - first + 1);
    assert!(segs.len() > 10, "{} segments", segs.len());
    // Every segment reads on its own to a clean end, and within the size.
    let mut concat = Vec::new();
    for s in &segs {
        let stats = wal::read_segment(s, &mut |r| concat.push(r)).unwrap();
        assert!(stats.corruption.is_none(), "{s:?}: {:?}", stats.corruption);
        assert!(len(s) <= size, "{s:?} is {} bytes", len(s));
    }
    assert_eq!(all_bits(&concat), all_bits(&logged));
    let (got, stats) = replay_all(dir.path());
    assert_eq!(all_bits(&got), all_bits(&logged));
    assert_eq!(stats.segments, segs.len() as u64);
}

#[test]
fn reopening_starts_a_new_segment_and_replay_spans_all() {
    let dir = tempfile::tempdir().unwrap();
    for (round, seg) in [(0, 0), (1, 1), (2, 3)] {
        let mut w = Wal::open(dir.path(), never()).unwrap();
        assert_eq!(w.segment_range(), (0, seg));
        w.log(&[samples(&[(1, round as i64, 1.0)])]).unwrap();
        if round == 1 {
            assert_eq!(w.cut_segment().unwrap(), 2);
        }
    }
    // Segments 0, 1, 2 (cut, empty) and 3.
    let (got, _) = replay_all(dir.path());
    assert_eq!(
        all_bits(&got),
        all_bits(&[
            samples(&[(1, 0, 1.0)]),
            samples(&[(1, 1, 1.0)]),
            samples(&[(1, 2, 1.0)])
        ])
    );
}

#[test]
fn a_foreign_segment_is_rejected_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A Prometheus WAL record header: full-record type, big-endian length, CRC.
    fs::write(
        dir.path().join("00000000"),
        [0x01, 0x00, 0x0c, 0x3a, 0x1d, 0x55, 0x02, 0x01, 0x02, 0x03],
    )
    .unwrap();
    let e = wal::replay(dir.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, Error::NotASegment { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("00000000: offset 0: not a prom WAL segment"),
        "{msg}"
    );
    assert!(msg.contains("01 00 0c 3a"), "{msg}");
    assert!(msg.contains("Prometheus"), "{msg}");
}

#[test]
fn an_unknown_version_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000"), b"PWAL\x09\0\0\0").unwrap();
    let e = wal::replay(dir.path(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("version 9 is not supported"), "{e}");
}

#[test]
fn a_missing_segment_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    w.cut_segment().unwrap();
    w.cut_segment().unwrap();
    drop(w);
    fs::remove_file(dir.path().join("00000001")).unwrap();
    let e = wal::replay(dir.path(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingSegment {
                missing: 1,
                found: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn empty_and_torn_headers_read_as_empty_or_repairable() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    w.log(&[samples(&[(1, 1, 1.0)])]).unwrap();
    drop(w);
    // A crash right after creating the next segment: empty, or part of the header.
    fs::write(dir.path().join("00000001"), b"").unwrap();
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got.len(), 1);
    assert!(stats.corruption.is_none());
    fs::write(dir.path().join("00000002"), b"PWA").unwrap();
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got.len(), 1);
    let c = stats.corruption.unwrap();
    assert_eq!(c.offset, 0);
    assert_eq!(c.reason, Reason::TornHeader { len: 3 });
    wal::repair(dir.path(), &c).unwrap();
    assert_eq!(len(&dir.path().join("00000002")), 0);
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got.len(), 1);
    assert!(stats.corruption.is_none());
}

// ---- damage and repair -----------------------------------------------------------------

/// Ten batches of one record each in segment 0, then `cut` more in segment 1 when given.
/// Returns the records and the offset of each frame.
fn build(dir: &Path, more_in_next_segment: usize) -> (Vec<Record>, Vec<(PathBuf, u64)>) {
    let mut w = Wal::open(dir, never()).unwrap();
    let mut recs = Vec::new();
    let mut at = Vec::new();
    let mut seg = dir.join("00000000");
    for i in 0..10 + more_in_next_segment as u64 {
        if i == 10 {
            w.cut_segment().unwrap();
            seg = dir.join("00000001");
        }
        let rec = if i % 4 == 0 {
            series(i, &[("__name__", "m"), ("i", &i.to_string())])
        } else {
            samples(&[
                (i, 1000 * i as i64, i as f64),
                (i + 1, 1000, f64::from_bits(STALE_NAN)),
            ])
        };
        at.push((seg.clone(), len(&seg)));
        w.log(std::slice::from_ref(&rec)).unwrap();
        recs.push(rec);
    }
    (recs, at)
}

fn patch(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut data = fs::read(path).unwrap();
    f(&mut data);
    fs::write(path, &data).unwrap();
}

/// Replays the damaged WAL, checks what was delivered and what is reported, repairs, then
/// checks that logging resumes after the good records.
fn check_damage(dir: &Path, recs: &[Record], good: usize, bad_at: &(PathBuf, u64), why: &str) {
    let (got, stats) = replay_all(dir);
    assert_eq!(
        all_bits(&got),
        all_bits(&recs[..good]),
        "records before the damage"
    );
    let c = stats.corruption.clone().expect("corruption reported");
    assert_eq!((&c.segment, c.offset), (&bad_at.0, bad_at.1));
    let msg = c.to_string();
    assert!(
        msg.starts_with(&format!("{}: offset {}: ", bad_at.0.display(), bad_at.1)),
        "{msg}"
    );
    assert!(msg.contains(why), "{msg} lacks {why:?}");

    let rs = wal::repair(dir, &c).unwrap();
    assert_eq!(rs.truncated_to, bad_at.1);
    assert_eq!(len(&bad_at.0), bad_at.1);
    for later in segments(dir) {
        assert!(later <= bad_at.0, "{later:?} should have been deleted");
    }
    let (got, stats) = replay_all(dir);
    assert!(stats.corruption.is_none());
    assert_eq!(all_bits(&got), all_bits(&recs[..good]));

    let mut w = Wal::open(dir, never()).unwrap();
    let new = samples(&[(99, 99, 99.0)]);
    w.log(std::slice::from_ref(&new)).unwrap();
    drop(w);
    let (got, stats) = replay_all(dir);
    assert!(stats.corruption.is_none());
    let mut want = recs[..good].to_vec();
    want.push(new);
    assert_eq!(all_bits(&got), all_bits(&want));
}

#[test]
fn a_torn_last_frame_is_reported_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    let seg = &at[9].0;
    let l = len(seg);
    fs::OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(l - 3)
        .unwrap();
    check_damage(dir.path(), &recs, 9, &at[9], "torn frame");
}

#[test]
fn a_torn_frame_header_is_reported_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    let seg = &at[9].0;
    fs::OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(at[9].1 + 5)
        .unwrap();
    check_damage(dir.path(), &recs, 9, &at[9], "torn frame header");
}

#[test]
fn a_flipped_payload_byte_is_a_checksum_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    patch(&at[5].0, |d| d[at[5].1 as usize + 12] ^= 0x40);
    check_damage(dir.path(), &recs, 5, &at[5], "checksum mismatch (stored 0x");
}

#[test]
fn a_flipped_length_byte_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    // Shorter: the checksum no longer covers the right bytes.
    patch(&at[3].0, |d| d[at[3].1 as usize] ^= 0x01);
    check_damage(dir.path(), &recs, 3, &at[3], "checksum mismatch");

    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    // Longer than the file: indistinguishable from a torn write.
    patch(&at[3].0, |d| d[at[3].1 as usize + 2] ^= 0x10);
    check_damage(dir.path(), &recs, 3, &at[3], "torn frame");
}

#[test]
fn a_flipped_checksum_byte_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    patch(&at[7].0, |d| d[at[7].1 as usize + 5] ^= 0xff);
    check_damage(dir.path(), &recs, 7, &at[7], "checksum mismatch");
}

#[test]
fn a_flipped_type_byte_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    patch(&at[2].0, |d| d[at[2].1 as usize + 8] = 7);
    check_damage(dir.path(), &recs, 2, &at[2], "checksum mismatch");
}

#[test]
fn a_zero_filled_tail_is_reported_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    let end = len(&at[9].0);
    patch(&at[9].0, |d| d.extend(std::iter::repeat_n(0u8, 4096)));
    check_damage(
        dir.path(),
        &recs,
        10,
        &(at[9].0.clone(), end),
        "4096 zero bytes to the end of the file",
    );
}

#[test]
fn a_zeroed_frame_in_the_middle_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 0);
    let (a, b) = (at[4].1 as usize, at[5].1 as usize);
    patch(&at[4].0, |d| d[a..b].fill(0));
    check_damage(dir.path(), &recs, 4, &at[4], "checksum mismatch");
}

#[test]
fn damage_in_an_older_segment_drops_the_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, at) = build(dir.path(), 5);
    assert_eq!(segments(dir.path()).len(), 2);
    patch(&at[8].0, |d| d[at[8].1 as usize + 20] ^= 1);
    check_damage(dir.path(), &recs, 8, &at[8], "checksum mismatch");
    assert_eq!(
        segments(dir.path()).len(),
        2,
        "segment 1 deleted, segment 2 new"
    );
}

#[test]
fn a_valid_frame_with_an_undecodable_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, _) = build(dir.path(), 0);
    let seg = dir.path().join("00000000");
    let at = len(&seg);
    // A well-framed samples record that claims one sample and holds none.
    let body = [wal::TYPE_SAMPLES, 1, 0, 0];
    let mut frame = Vec::new();
    frame.extend_from_slice(&3u32.to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&frame)
        .unwrap();
    check_damage(dir.path(), &recs, 10, &(seg, at), "undecodable record");
}

#[test]
fn repair_refuses_a_file_outside_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let c = wal::Corruption {
        segment: other.path().join("00000000"),
        offset: 8,
        reason: Reason::ZeroTail { len: 1 },
    };
    let e = wal::repair(dir.path(), &c).unwrap_err();
    assert!(matches!(e, Error::NotRepairable { .. }), "{e}");
}

// ---- checkpoints -----------------------------------------------------------------------

/// What replay leaves in a head: series labels, samples (as bits) and tombstones per ref.
#[derive(Debug, Default, PartialEq, Eq)]
struct HeadState {
    labels: BTreeMap<u64, Labels>,
    samples: BTreeMap<u64, Vec<(i64, u64)>>,
    stones: BTreeMap<u64, Vec<Interval>>,
}

impl HeadState {
    fn apply(&mut self, r: &Record) {
        match r {
            Record::Series(s) => {
                for s in s {
                    self.labels.insert(s.r, s.labels.clone());
                }
            }
            Record::Samples(s) => {
                for s in s {
                    self.samples
                        .entry(s.r)
                        .or_default()
                        .push((s.t, s.v.to_bits()));
                }
            }
            Record::Tombstones(s) => {
                for s in s {
                    self.stones.entry(s.r).or_default().extend(&s.intervals);
                }
            }
        }
    }

    fn from_dir(dir: &Path) -> HeadState {
        let mut h = HeadState::default();
        let stats = wal::replay(dir, &mut |r| h.apply(&r)).unwrap();
        assert!(stats.corruption.is_none());
        h
    }

    /// What a checkpoint with `keep` and `mint` must leave.
    fn truncated(&self, keep: impl Fn(u64) -> bool, mint: i64) -> HeadState {
        HeadState {
            labels: self
                .labels
                .iter()
                .filter(|(r, _)| keep(**r))
                .map(|(r, l)| (*r, l.clone()))
                .collect(),
            samples: self
                .samples
                .iter()
                .filter(|(r, _)| keep(**r))
                .map(|(r, v)| {
                    (
                        *r,
                        v.iter()
                            .copied()
                            .filter(|(t, _)| *t >= mint)
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            stones: self
                .stones
                .iter()
                .filter(|(r, _)| keep(**r))
                .map(|(r, v)| {
                    (
                        *r,
                        v.iter()
                            .copied()
                            .filter(|iv| iv.max_time >= mint)
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        }
    }
}

/// Series 0..20, samples at t = 0, 100, … 1900 for all, a few tombstones; spread over
/// several segments.
fn fill(w: &mut Wal) {
    w.log(&[Record::Series(
        (0..20)
            .map(|r| RefSeries {
                r,
                labels: Labels::from_pairs(&[("__name__", "m"), ("r", &r.to_string())]),
            })
            .collect(),
    )])
    .unwrap();
    for k in 0..20i64 {
        let batch: Vec<RefSample> = (0..20)
            .map(|r| RefSample {
                r,
                t: k * 100,
                v: if k == 7 {
                    f64::from_bits(STALE_NAN)
                } else {
                    (k * r as i64) as f64
                },
            })
            .collect();
        w.log(&[Record::Samples(batch)]).unwrap();
        if k % 5 == 4 {
            w.cut_segment().unwrap();
        }
    }
    w.log(&[stones(&[
        (1, &[(0, 50), (900, 1200)]),
        (2, &[(0, 10)]),
        (15, &[(100, 2000)]),
    ])])
    .unwrap();
}

#[test]
fn checkpoint_keeps_what_the_head_needs_and_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    let before = HeadState::from_dir(dir.path());
    let (_, last) = w.segment_range();
    assert_eq!(last, 4);
    w.cut_segment().unwrap();
    let keep = |r: u64| !r.is_multiple_of(3);
    let mint = 1000;
    let st = w.checkpoint(last, &keep, mint).unwrap();
    assert_eq!(st.upto, Some(4));
    assert_eq!(st.segments_read, 5);
    assert_eq!(st.segments_deleted, 5);
    // Series 0, 3, … 18 dropped: 7 of 20.
    assert_eq!((st.series_kept, st.series_dropped), (13, 7));
    assert_eq!(
        (st.samples_kept, st.samples_dropped),
        (13 * 10, 400 - 13 * 10)
    );
    // Stone 1: [0,50] dropped, [900,1200] kept; stone 2 dropped; stone 15 dropped (not kept).
    assert_eq!((st.tombstones_kept, st.tombstones_dropped), (1, 3));
    assert!(dir.path().join("checkpoint.00000004").is_dir());
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(w.segment_range(), (5, 5));

    let after = HeadState::from_dir(dir.path());
    assert_eq!(after, before.truncated(keep, mint));

    // New records after the checkpoint replay after it.
    w.log(&[samples(&[(1, 5000, 5.0)])]).unwrap();
    let mut want = before.truncated(keep, mint);
    want.samples
        .get_mut(&1)
        .unwrap()
        .push((5000, 5f64.to_bits()));
    assert_eq!(HeadState::from_dir(dir.path()), want);

    // A second checkpoint reads the first and replaces it.
    let st = w.checkpoint(5, &|r| r == 1, 1500).unwrap();
    assert_eq!(st.upto, Some(5));
    assert_eq!(st.checkpoints_deleted, 1);
    assert!(!dir.path().join("checkpoint.00000004").exists());
    assert_eq!(
        w.segment_range(),
        (6, 6),
        "upto named the open segment: it was cut"
    );
    let h = HeadState::from_dir(dir.path());
    assert_eq!(h, want.truncated(|r| r == 1, 1500));
    assert_eq!(h.samples[&1].len(), 6);
    let (_, stats) = replay_all(dir.path());
    assert_eq!(stats.checkpoint, Some(5));
}

#[test]
fn checkpoint_past_the_open_segment_is_capped_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    let before = HeadState::from_dir(dir.path());
    let (_, open) = w.segment_range();
    let st = w.checkpoint(u32::MAX, &|_| true, i64::MIN).unwrap();
    assert_eq!(st.upto, Some(open));
    assert_eq!(w.segment_range(), (open + 1, open + 1));
    assert_eq!(HeadState::from_dir(dir.path()), before);
    w.log(&[samples(&[(3, 7, 7.0)])]).unwrap();
    let (got, _) = replay_all(dir.path());
    assert_eq!(bits(got.last().unwrap()), bits(&samples(&[(3, 7, 7.0)])));
}

#[test]
fn checkpoint_at_or_before_the_last_one_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    w.checkpoint(2, &|_| true, 0).unwrap();
    let st = w.checkpoint(1, &|_| false, 0).unwrap();
    assert_eq!(st.upto, None);
    assert!(dir.path().join("checkpoint.00000002").is_dir());
}

#[test]
fn checkpoint_segments_roll_at_the_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never().segment_size(2000)).unwrap();
    fill(&mut w);
    let before = HeadState::from_dir(dir.path());
    let (_, last) = w.segment_range();
    w.checkpoint(last - 1, &|_| true, i64::MIN).unwrap();
    let cp = dir.path().join(wal::checkpoint_name(last - 1));
    let files = segments(&cp);
    assert!(files.len() > 1, "{files:?}");
    for f in &files {
        assert!(len(f) <= 2000);
    }
    assert_eq!(HeadState::from_dir(dir.path()), before);
}

#[test]
fn an_unfinished_checkpoint_is_ignored_and_cleaned_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    drop(w);
    let before = HeadState::from_dir(dir.path());
    // A crash while writing checkpoint.00000003: half a segment of garbage.
    let tmp = dir.path().join("checkpoint.00000003.tmp");
    fs::create_dir(&tmp).unwrap();
    fs::write(tmp.join("00000000"), b"PWAL\x01\0\0\0\xff\xff\xff").unwrap();
    assert_eq!(HeadState::from_dir(dir.path()), before);
    let w = Wal::open(dir.path(), never()).unwrap();
    assert!(!tmp.exists());
    drop(w);
    assert_eq!(HeadState::from_dir(dir.path()), before);
}

#[test]
fn a_crash_after_the_checkpoint_rename_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    drop(w);
    let before = HeadState::from_dir(dir.path());
    // Keep copies of segments 0..=2, checkpoint them, then put the copies back: as if the
    // process died between the rename and the deletions.
    let saved: Vec<(PathBuf, Vec<u8>)> = (0..=2)
        .map(|n| {
            let p = dir.path().join(wal::segment_name(n));
            let d = fs::read(&p).unwrap();
            (p, d)
        })
        .collect();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    w.checkpoint(2, &|_| true, i64::MIN).unwrap();
    drop(w);
    for (p, d) in &saved {
        fs::write(p, d).unwrap();
    }
    // Replay skips the segments the checkpoint covers; open deletes them.
    assert_eq!(HeadState::from_dir(dir.path()), before);
    let w = Wal::open(dir.path(), never()).unwrap();
    assert!(!saved[0].0.exists());
    assert_eq!(w.segment_range().0, 3);
    drop(w);
    assert_eq!(HeadState::from_dir(dir.path()), before);
}

#[test]
fn a_damaged_checkpoint_is_an_error_not_a_repair() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    w.checkpoint(2, &|_| true, i64::MIN).unwrap();
    drop(w);
    let seg = dir.path().join("checkpoint.00000002").join("00000000");
    patch(&seg, |d| d[20] ^= 1);
    let e = wal::replay(dir.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("checkpoint.00000002"), "{e}");
}

#[test]
fn a_checkpoint_over_damaged_segments_fails_and_leaves_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    let seg = dir.path().join("00000001");
    patch(&seg, |d| d[30] ^= 1);
    let e = w.checkpoint(2, &|_| true, i64::MIN).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("00000001: offset "), "{e}");
    assert!(seg.exists());
    assert!(!dir.path().join("checkpoint.00000002").exists());
    assert!(!dir.path().join("checkpoint.00000002.tmp").exists());
}

#[test]
fn open_after_a_checkpoint_numbers_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    fill(&mut w);
    let (_, last) = w.segment_range();
    w.checkpoint(last, &|_| true, 0).unwrap();
    drop(w);
    // Even with every segment gone, the next one comes after the checkpoint.
    for s in segments(dir.path()) {
        fs::remove_file(s).unwrap();
    }
    let w = Wal::open(dir.path(), never()).unwrap();
    assert_eq!(w.segment_range(), (last + 1, last + 1));
}

// ---- durability ------------------------------------------------------------------------

#[test]
fn sync_always_logs_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(w.options().sync, SyncPolicy::Always);
    for i in 0..5 {
        w.log(&[samples(&[(1, i, 1.0)])]).unwrap();
    }
    w.cut_segment().unwrap();
    w.log(&[samples(&[(1, 5, 1.0)])]).unwrap();
    let (got, _) = replay_all(dir.path());
    assert_eq!(got.len(), 6);
}

#[test]
fn sync_never_still_writes_before_log_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::open(dir.path(), never()).unwrap();
    let seg = dir.path().join("00000000");
    for i in 0..5u64 {
        let rec = samples(&[(i, i as i64, i as f64)]);
        w.log(std::slice::from_ref(&rec)).unwrap();
        // Another handle sees the record while the WAL is still open.
        let mut got = Vec::new();
        let stats = wal::read_segment(&seg, &mut |r| got.push(r)).unwrap();
        assert!(stats.corruption.is_none());
        assert_eq!(got.len() as u64, i + 1);
        assert_eq!(bits(got.last().unwrap()), bits(&rec));
    }
    assert_eq!(w.size_bytes(), len(&seg));
    assert_eq!(w.dir(), dir.path());
}

#[test]
fn segment_files_have_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wal::open(dir.path(), never()).unwrap();
    let data = fs::read(dir.path().join("00000000")).unwrap();
    assert_eq!(data.len() as u64, HEADER_LEN);
    assert_eq!(&data[..5], b"PWAL\x01");
    drop(w);
}
