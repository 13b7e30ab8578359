//! Interop with Prometheus: promtool backfills an OpenMetrics file into a block, we decode
//! every chunk of its segment files and re-encode the samples to the same bytes.
//!
//! Runs only with `PROM_INTEROP=1` (as `.ci/run` sets it), and then fails if `promtool` is
//! missing rather than passing vacuously. Without it the test prints that it skipped.
//!
//! The block's `chunks/NNNNNN` segment files (magic `0x85BD40DD`, version 1, 3 padding bytes,
//! then chunks of `uvarint len | encoding byte | data | CRC32C(encoding + data)`) are parsed
//! here; the index is not needed: each decoded chunk is matched against the input series, and
//! together the chunks must cover every input sample exactly once.
//!
//! promtool 2.42 writes chunks with Prometheus 2's padding (see `Padding::Prometheus2`), so
//! re-encoding with that padding must give identical bytes, and the default padding the same
//! bytes minus, sometimes, one trailing zero byte.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Rng;
use prom_chunk::{ENCODING_XOR, Padding, XorAppender, XorChunk};

/// Magic number of a block's chunk segment file.
const SEGMENT_MAGIC: u32 = 0x85BD_40DD;

struct Series {
    name: String,
    kind: &'static str,
    /// The exposed timestamps (seconds) and values, as text.
    lines: Vec<(String, String)>,
    /// What Prometheus makes of them: `int64(seconds * 1000)` and the parsed value.
    samples: Vec<(i64, f64)>,
}

impl Series {
    fn new(name: &str, kind: &'static str) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            lines: Vec::new(),
            samples: Vec::new(),
        }
    }

    fn push(&mut self, ts: String, v: f64) {
        let text = if v.is_nan() {
            "NaN".to_owned()
        } else if v.is_infinite() {
            if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
        } else {
            format!("{v:e}")
        };
        let t = (ts.parse::<f64>().expect("timestamp") * 1000.0) as i64;
        self.samples.push((t, v));
        self.lines.push((ts, text));
    }
}

const T0: i64 = 1_700_000_000;

fn input() -> Vec<Series> {
    let mut rng = Rng(0x5eed);
    let mut out = Vec::new();

    let mut s = Series::new("counter_int", "counter");
    let mut v = 0.0;
    for i in 0..400 {
        v += rng.below(50) as f64;
        s.push((T0 + 15 * i).to_string(), v);
    }
    out.push(s);

    let mut s = Series::new("counter_float", "counter");
    let mut v = 0.0;
    for i in 0..400 {
        v += rng.below(1000) as f64 * 0.013;
        s.push((T0 + 15 * i).to_string(), v);
    }
    out.push(s);

    let mut s = Series::new("gauge_random_walk", "gauge");
    let mut v = 50.0;
    for i in 0..400 {
        v += (rng.below(2001) as f64 - 1000.0) / 997.0;
        s.push((T0 + 15 * i).to_string(), v);
    }
    out.push(s);

    let mut s = Series::new("constant", "gauge");
    for i in 0..300 {
        s.push((T0 + 15 * i).to_string(), 42.0);
    }
    out.push(s);

    let mut s = Series::new("jittered_ts", "gauge");
    for i in 0..300 {
        let ms = (T0 + 15 * i) * 1000 + rng.below(1000) as i64 - 500;
        s.push(format!("{}.{:03}", ms / 1000, ms % 1000), (i % 7) as f64);
    }
    out.push(s);

    // Gaps that reach every timestamp bucket, and awkward values.
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        1e-300,
        f64::MAX,
        f64::from_bits(1),
        -1.5,
        0.1,
    ];
    let gaps = [15, 15, 1, 80, 15, 700, 15, 15, 3000, 2];
    let mut s = Series::new("specials", "gauge");
    let mut t = T0;
    for i in 0..60 {
        t += gaps[i % gaps.len()];
        s.push(t.to_string(), specials[i % specials.len()]);
    }
    out.push(s);

    // One sample: Prometheus 2 pads it with an extra zero byte.
    let mut s = Series::new("single", "gauge");
    s.push((T0 + 30).to_string(), 7.0);
    out.push(s);

    // Three samples whose stream ends on a byte boundary after an 8-bit value field: an extra
    // zero byte in Prometheus 2 too (the golden test `prometheus2_padding` has the bits).
    let v1 = 0x00ff_0000_0000_0000u64;
    let mut s = Series::new("byte_aligned_end", "gauge");
    for (i, v) in [0, v1, v1 ^ 0x0081_0000_0000_0000].into_iter().enumerate() {
        s.push((T0 + i as i64).to_string(), f64::from_bits(v));
    }
    out.push(s);

    // Many gauges of various scales, for many chunk endings.
    for k in 0..40u32 {
        let mut s = Series::new(&format!("gauge_{k}"), "gauge");
        let scale = [1.0, 0.001, 1e6, 0.25][k as usize % 4];
        let mut v = f64::from(k) * scale;
        for i in 0..250 {
            if rng.below(3) > 0 {
                v += (rng.below(201) as f64 - 100.0) * scale;
            }
            s.push((T0 + 10 * i).to_string(), v);
        }
        out.push(s);
    }

    out
}

fn openmetrics(series: &[Series]) -> String {
    let mut text = String::new();
    for s in series {
        let sample_name = if s.kind == "counter" {
            format!("{}_total", s.name)
        } else {
            s.name.clone()
        };
        writeln!(text, "# TYPE {} {}", s.name, s.kind).unwrap();
        for (ts, v) in &s.lines {
            writeln!(text, "{sample_name} {v} {ts}").unwrap();
        }
    }
    text.push_str("# EOF\n");
    text
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

/// The chunks of one segment file, as `(encoding, data)`, after checking magic, version and
/// every CRC.
fn segment_chunks(path: &Path) -> Vec<(u8, Vec<u8>)> {
    let file = std::fs::read(path).expect("read segment");
    assert!(file.len() >= 8, "{}: short segment header", path.display());
    let magic = u32::from_be_bytes(file[..4].try_into().unwrap());
    assert_eq!(magic, SEGMENT_MAGIC, "{}: magic", path.display());
    assert_eq!(file[4], 1, "{}: version", path.display());
    assert_eq!(&file[5..8], &[0, 0, 0], "{}: padding", path.display());
    let mut chunks = Vec::new();
    let mut at = 8;
    while at < file.len() {
        let (len, n) = uvarint(&file[at..]).expect("chunk length");
        let start = at + n;
        let end = start + 1 + len as usize;
        let covered = &file[start..end];
        let crc = u32::from_be_bytes(file[end..end + 4].try_into().unwrap());
        assert_eq!(
            crc32c::crc32c(covered),
            crc,
            "{}: CRC at {at}",
            path.display()
        );
        chunks.push((covered[0], covered[1..].to_vec()));
        at = end + 4;
    }
    chunks
}

fn promtool_enabled() -> bool {
    if std::env::var("PROM_INTEROP").as_deref() != Ok("1") {
        println!("skipped promtool_blocks: set PROM_INTEROP=1 to compare with promtool");
        return false;
    }
    match Command::new("promtool").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => panic!("PROM_INTEROP=1 but `promtool --version` failed: {o:?}"),
        Err(e) => panic!(
            "PROM_INTEROP=1 but promtool cannot be run ({e}); install the Debian package \
             `prometheus`"
        ),
    }
}

fn same(a: &(i64, f64), b: &(i64, f64)) -> bool {
    // promtool reads "NaN" as its own NaN payload; any NaN matches.
    a.0 == b.0 && (a.1.to_bits() == b.1.to_bits() || (a.1.is_nan() && b.1.is_nan()))
}

#[test]
fn promtool_blocks() {
    if !promtool_enabled() {
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("prom-chunk-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let series = input();
    let input_path = dir.join("input.om");
    std::fs::write(&input_path, openmetrics(&series)).unwrap();
    let out_dir = dir.join("blocks");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input_path)
        .arg(&out_dir)
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool failed: {out:?}");

    let mut segments: Vec<PathBuf> = Vec::new();
    for block in std::fs::read_dir(&out_dir).unwrap() {
        let chunks_dir = block.unwrap().path().join("chunks");
        for seg in std::fs::read_dir(&chunks_dir).unwrap() {
            segments.push(seg.unwrap().path());
        }
    }
    segments.sort();
    assert!(!segments.is_empty(), "promtool wrote no chunk segments");

    let mut covered: Vec<Vec<u32>> = series.iter().map(|s| vec![0; s.samples.len()]).collect();
    let (mut n_chunks, mut n_samples, mut n_extra_byte) = (0, 0, 0);
    for seg in &segments {
        for (encoding, data) in segment_chunks(seg) {
            assert_eq!(
                encoding,
                ENCODING_XOR,
                "{}: only float samples were written",
                seg.display()
            );
            n_chunks += 1;

            // Decode with prom-chunk.
            let chunk = XorChunk::new(&data).unwrap();
            let decoded: Vec<(i64, f64)> = chunk.samples().collect::<Result<_, _>>().unwrap();
            assert_eq!(decoded.len(), usize::from(chunk.num_samples()));
            n_samples += decoded.len();

            // Find the run of an input series it holds.
            let found = series.iter().enumerate().find_map(|(si, s)| {
                let start = s.samples.iter().position(|x| same(x, &decoded[0]))?;
                let run = s.samples.get(start..start + decoded.len())?;
                run.iter()
                    .zip(&decoded)
                    .all(|(a, b)| same(a, b))
                    .then_some((si, start))
            });
            let (si, start) =
                found.unwrap_or_else(|| panic!("chunk {decoded:?} matches no input series"));
            for c in &mut covered[si][start..start + decoded.len()] {
                *c += 1;
            }

            // Re-encode: same bytes as Prometheus.
            let mut app = XorAppender::new().with_padding(Padding::Prometheus2);
            for &(t, v) in &decoded {
                app.append(t, v).unwrap();
            }
            assert_eq!(
                app.bytes(),
                &data[..],
                "re-encoded chunk of {}",
                series[si].name
            );
            let minimal = app.with_padding(Padding::Minimal);
            if minimal.bytes().len() + 1 == data.len() {
                assert_eq!(data.last(), Some(&0));
                n_extra_byte += 1;
            } else {
                assert_eq!(minimal.bytes(), &data[..]);
            }
        }
    }
    for (s, cov) in series.iter().zip(&covered) {
        assert!(
            cov.iter().all(|&c| c == 1),
            "{}: samples not covered exactly once: {cov:?}",
            s.name
        );
    }
    let total: usize = series.iter().map(|s| s.samples.len()).sum();
    assert_eq!(n_samples, total);
    println!(
        "promtool interop: {} segment file(s), {n_chunks} chunks, {n_samples} samples decoded and \
         re-encoded bit-exact ({n_extra_byte} with Prometheus 2's extra zero byte)",
        segments.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
