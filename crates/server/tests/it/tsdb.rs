//! `prom tsdb ...`: backfill an OpenMetrics file, then list, analyze and dump the blocks; and
//! the same against promtool (`tsdb create-blocks-from openmetrics`, `list`, `analyze`,
//! `dump`) on the same input and the same blocks.
//!
//! The promtool tests run when `promtool` is installed (Debian's `prometheus` package, 2.42).
//! Without it they print "skipped: promtool not found", unless `PROM_INTEROP=1`, where a
//! missing promtool fails them.
//!
//! promtool 2.42's `tsdb dump` opens the directory as a database and needs a `wal/`
//! directory there (it fails with "open <dir>/wal: no such file or directory" on a directory
//! holding only blocks), and it creates `chunks_head/` in it; so promtool gets a copy of the
//! blocks with an empty `wal/`. Its output order is the same as ours (series in label order,
//! samples in time order), so outputs are compared as they are, unsorted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{Output, prom, run};

/// The start of the generated data, in seconds (not on a 2h boundary).
const START: i64 = 1_700_000_000;
/// Samples per series: 5h at 15s.
const STEPS: i64 = 5 * 3600 / 15;
const TWO_HOURS_MS: i64 = 2 * 3600 * 1000;

/// An OpenMetrics input and the dump lines it must come back as, in dump order.
struct Generated {
    om: String,
    dump: Vec<String>,
}

/// A few series over 5h at 15s: a counter family with escapes in a label value, a gauge
/// cycling through values whose `%g` form is tricky, and a gauge with non-ASCII and a raw tab
/// in labels and half-second timestamps.
fn generate() -> Generated {
    let mut om = String::new();
    // Dump lines per series, keyed by the series' sorted label pairs (the dump's order).
    let mut series: BTreeMap<Vec<(&str, &str)>, Vec<String>> = BTreeMap::new();
    let mut add = |pairs: &[(&'static str, &'static str)], go: &str, value: &str, t_ms: i64| {
        let mut key = pairs.to_vec();
        key.sort();
        series
            .entry(key)
            .or_default()
            .push(format!("{go} {value} {t_ms}"));
    };

    om.push_str("# HELP http_requests Requests served.\n# TYPE http_requests counter\n");
    for (code, step) in [("200", 3), ("500", 1)] {
        let go =
            format!(r#"{{__name__="http_requests_total", code="{code}", path="/a\"b\\c\nd"}}"#);
        let pairs = [
            ("__name__", "http_requests_total"),
            ("code", code),
            ("path", "/a\"b\\c\nd"),
        ];
        for i in 0..STEPS {
            let t = START + i * 15;
            let v = (i * step).to_string();
            om.push_str(&format!(
                "http_requests_total{{code=\"{code}\",path=\"/a\\\"b\\\\c\\nd\"}} {v} {t}\n"
            ));
            add(&pairs, &go, &v, t * 1000);
        }
    }

    om.push_str("# TYPE temperature_celsius gauge\n# UNIT temperature_celsius celsius\n");
    // OpenMetrics text and Go's %g of the same value.
    let values = [
        ("20.5", "20.5"),
        ("-3.25", "-3.25"),
        ("0", "0"),
        ("0.00001", "1e-05"),
        ("1500000", "1.5e+06"),
        ("NaN", "NaN"),
        ("+Inf", "+Inf"),
        ("-Inf", "-Inf"),
        ("123456", "123456"),
        ("1e21", "1e+21"),
        ("0.1", "0.1"),
    ];
    for i in 0..STEPS {
        let t = START + i * 15;
        let (text, g) = values[(i as usize) % values.len()];
        om.push_str(&format!(
            "temperature_celsius{{room=\"kitchen\"}} {text} {t}\n"
        ));
        add(
            &[("__name__", "temperature_celsius"), ("room", "kitchen")],
            r#"{__name__="temperature_celsius", room="kitchen"}"#,
            g,
            t * 1000,
        );
    }

    om.push_str("# TYPE queue_depth gauge\n");
    for i in 0..STEPS {
        let t = START + i * 15;
        om.push_str(&format!(
            "queue_depth{{queue=\"ünïcödé ✓\",note=\"tab\there\"}} {i} {t}.5\n"
        ));
        add(
            &[
                ("__name__", "queue_depth"),
                ("note", "tab\there"),
                ("queue", "ünïcödé ✓"),
            ],
            r#"{__name__="queue_depth", note="tab\there", queue="ünïcödé ✓"}"#,
            &i.to_string(),
            t * 1000 + 500,
        );
    }
    om.push_str("# EOF\n");
    Generated {
        om,
        dump: series.into_values().flatten().collect(),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

/// The block directories of `dir`, sorted.
fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.len() == 26))
        .collect();
    v.sort();
    v
}

/// Asserts `a` and `b` have the same lines, showing the first difference rather than both
/// texts (dumps run to thousands of lines).
fn same_lines<A: AsRef<str>, B: AsRef<str>>(what: &str, a: &[A], b: &[B]) {
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.iter().map(AsRef::as_ref).collect(),
        b.iter().map(AsRef::as_ref).collect(),
    );
    if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        panic!(
            "{what}: first difference at line {}: {:?} vs {:?} ({} vs {} lines)",
            i + 1,
            a.get(i),
            b.get(i),
            a.len(),
            b.len()
        );
    }
}

fn check_ok(what: &str, out: &Output) {
    assert_eq!(out.code, 0, "{what}: {out:?}");
    assert!(!out.stderr.contains("panicked"), "{what}: {out:?}");
}

/// Backfills `om` into a fresh directory with prom, returning (tempdir, blocks dir).
fn backfill_with_prom(om: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("input.om");
    std::fs::write(&input, om).expect("write input");
    let out = tmp.path().join("blocks");
    let mut args = vec![
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        path_str(&input),
        path_str(&out),
    ];
    args.extend_from_slice(extra);
    let r = prom(&args, b"");
    check_ok("prom tsdb create-blocks-from openmetrics", &r);
    (tmp, out)
}

#[test]
fn backfill_then_dump_gives_back_every_sample() {
    let g = generate();
    let (_tmp, blocks) = backfill_with_prom(&g.om, &[]);

    let dirs = block_dirs(&blocks);
    assert_eq!(
        dirs.len(),
        3,
        "5h from a non-aligned start span three 2h blocks"
    );
    // Every block lies within one 2h slot.
    let list = prom(&["tsdb", "list", path_str(&blocks)], b"");
    check_ok("prom tsdb list", &list);
    let rows = lines(&list.stdout);
    assert!(rows[0].starts_with("BLOCK ULID  "), "{}", list.stdout);
    assert_eq!(rows.len(), 4);
    let mut samples = 0;
    for row in &rows[1..] {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let (min, max): (i64, i64) = (cols[1].parse().unwrap(), cols[2].parse().unwrap());
        assert_eq!(
            min.div_euclid(TWO_HOURS_MS),
            (max - 1).div_euclid(TWO_HOURS_MS),
            "{row}"
        );
        samples += cols[4].parse::<usize>().unwrap();
        assert_eq!(cols[6], "4", "every series in every block: {row}");
    }
    assert_eq!(samples, g.dump.len());

    let dump = prom(&["tsdb", "dump", path_str(&blocks)], b"");
    check_ok("prom tsdb dump", &dump);
    same_lines("prom tsdb dump", &lines(&dump.stdout), &g.dump);

    // A selector and a time range.
    let lo = (START + 3600) * 1000;
    let hi = lo + 60_000;
    let part = prom(
        &[
            "tsdb",
            "dump",
            "--match",
            r#"{__name__=~"http_.*", code!="500"}"#,
            "--min-time",
            &lo.to_string(),
            "--max-time",
            &hi.to_string(),
            path_str(&blocks),
        ],
        b"",
    );
    check_ok("prom tsdb dump --match", &part);
    let want: Vec<&String> = g
        .dump
        .iter()
        .filter(|l| l.contains("code=\"200\""))
        .filter(|l| {
            let t: i64 = l.rsplit(' ').next().unwrap().parse().unwrap();
            (lo..=hi).contains(&t)
        })
        .collect();
    assert_eq!(want.len(), 5);
    assert_eq!(lines(&part.stdout).iter().collect::<Vec<_>>(), want);
}

#[test]
fn backfill_prints_its_blocks_and_honours_the_block_duration() {
    let g = generate();
    let (_tmp, blocks) = backfill_with_prom(&g.om, &["--max-block-duration", "1d"]);
    // 1d allows 18h blocks: 5h fit in one 18h slot (1699970400000 + 18h > the last sample).
    assert_eq!(block_dirs(&blocks).len(), 1);

    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, &g.om).unwrap();
    let out = tmp.path().join("out");
    let r = prom(
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            path_str(&input),
            path_str(&out),
        ],
        b"",
    );
    check_ok("backfill", &r);
    let printed = lines(&r.stdout);
    assert_eq!(printed.len(), 4, "{}", r.stdout);
    assert!(printed[0].starts_with("BLOCK ULID"));
    for (row, dir) in printed[1..].iter().zip(block_dirs(&out)) {
        assert!(
            row.starts_with(dir.file_name().unwrap().to_str().unwrap()),
            "{row}"
        );
    }
    assert!(r.stderr.contains("created 3 blocks"), "{}", r.stderr);
    // The rows are `prom tsdb list`'s, each laid out on its own as promtool does.
    let list = prom(&["tsdb", "list", path_str(&out)], b"");
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(squeeze(&list.stdout), squeeze(&r.stdout));
}

#[test]
fn bad_inputs_fail_with_their_position_and_leave_no_block() {
    let cases: [(&str, &str, &str); 5] = [
        ("missing-eof", "a 1 1\n", "input.om:2:1: expected \"# EOF\""),
        (
            "no-timestamp",
            "# TYPE a gauge\na{b=\"c\"} 1\n# EOF\n",
            "input.om:2:11: sample of a{b=\"c\"} has no timestamp",
        ),
        (
            "some-timestamps",
            "# TYPE a gauge\na 1 1\na 2\n# EOF\n",
            "input.om:3:1: samples of one metric of a must all have a timestamp or none",
        ),
        (
            "syntax",
            "a 1 1\na{b=1} 1 2\n# EOF\n",
            "input.om:2:5: expected",
        ),
        (
            "conflicting-duplicate",
            "a 1 1\na 2 1\n# EOF\n",
            "input.om:2:6: series a has a second sample at the same timestamp",
        ),
    ];
    for (name, om, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("input.om");
        std::fs::write(&input, om).unwrap();
        let out = tmp.path().join("blocks");
        let r = prom(
            &[
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                path_str(&input),
                path_str(&out),
            ],
            b"",
        );
        assert_eq!(r.code, 1, "{name}: {r:?}");
        let first = r.stderr.lines().next().unwrap_or_default();
        let shown = first.replace(path_str(&input), "input.om");
        assert!(shown.starts_with(want), "{name}: {first}\n{}", r.stderr);
        assert!(
            r.stderr.contains('^'),
            "{name}: caret under the column: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{name}: {r:?}");
        // Nothing written: not even the output directory.
        assert!(!out.exists(), "{name}: {:?}", block_dirs(&out));
    }
}

#[test]
fn unreadable_directories_and_blocks_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    for cmd in ["list", "analyze", "dump"] {
        let r = prom(&["tsdb", cmd, path_str(&missing)], b"");
        assert_eq!(r.code, 1, "{cmd}: {r:?}");
        assert!(r.stderr.contains(path_str(&missing)), "{cmd}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{cmd}: {}", r.stderr);
    }

    let g = generate();
    let (_keep, blocks) = backfill_with_prom(&g.om, &["--quiet"]);
    let r = prom(
        &[
            "tsdb",
            "analyze",
            path_str(&blocks),
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        ],
        b"",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no block 01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        "{}",
        r.stderr
    );
    let r = prom(
        &["tsdb", "dump", "--match", "{a=b}", path_str(&blocks)],
        b"",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("--match: 1:4: expected quoted string"),
        "{}",
        r.stderr
    );

    // A block whose index is cut short.
    let victim = block_dirs(&blocks).remove(0);
    let index = victim.join("index");
    let len = std::fs::metadata(&index).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    for cmd in ["list", "analyze", "dump"] {
        let r = prom(&["tsdb", cmd, path_str(&blocks)], b"");
        assert_eq!(r.code, 1, "{cmd}: {r:?}");
        assert!(
            r.stderr.contains(path_str(&victim)),
            "{cmd} names the block: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{cmd}: {}", r.stderr);
    }
}

// ---- promtool ----

/// `promtool` when installed; `None` after printing that the test is skipped. Fails when
/// `PROM_INTEROP=1` and promtool cannot be run.
fn promtool(test: &str) -> Option<&'static str> {
    match std::process::Command::new("promtool")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => Some("promtool"),
        other => {
            if std::env::var("PROM_INTEROP").as_deref() == Ok("1") {
                panic!(
                    "PROM_INTEROP=1 but promtool cannot be run: {other:?}; install the Debian package `prometheus`"
                );
            }
            println!("skipped {test}: promtool not found");
            None
        }
    }
}

/// A copy of the blocks of `src` that promtool may open as a database (with an empty
/// `wal/`, and room for the `chunks_head/` it creates).
fn promtool_copy(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.join("wal")).unwrap();
    for b in block_dirs(src) {
        let to = dst.join(b.file_name().unwrap());
        std::fs::create_dir_all(to.join("chunks")).unwrap();
        for f in ["index", "meta.json", "tombstones"] {
            std::fs::copy(b.join(f), to.join(f)).unwrap();
        }
        for seg in std::fs::read_dir(b.join("chunks")).unwrap() {
            let seg = seg.unwrap().path();
            std::fs::copy(&seg, to.join("chunks").join(seg.file_name().unwrap())).unwrap();
        }
    }
}

/// promtool's `tsdb analyze` output with each section's lines sorted: promtool orders ties
/// at random (Go map order), so only the set of lines per section is comparable.
fn analyze_sections(s: &str) -> Vec<Vec<String>> {
    s.split("\n\n")
        .map(|sec| {
            let mut l = lines(sec);
            if l.len() > 1 {
                l[1..].sort();
            }
            l
        })
        .collect()
}

#[test]
fn promtool_reads_blocks_written_by_prom() {
    let Some(promtool) = promtool("promtool_reads_blocks_written_by_prom") else {
        return;
    };
    let g = generate();
    let (tmp, blocks) = backfill_with_prom(&g.om, &["--quiet"]);
    let copy = tmp.path().join("for-promtool");

    promtool_copy(&blocks, &copy);

    let theirs = run(promtool, &["tsdb", "dump", path_str(&copy)], b"");
    check_ok("promtool tsdb dump", &theirs);
    same_lines(
        "promtool's dump of prom's blocks",
        &lines(&theirs.stdout),
        &g.dump,
    );

    for b in block_dirs(&blocks) {
        let id = b.file_name().unwrap().to_str().unwrap();
        let theirs = run(
            promtool,
            &["tsdb", "analyze", "--limit=1000", path_str(&copy), id],
            b"",
        );
        check_ok("promtool tsdb analyze", &theirs);
        let ours = prom(
            &["tsdb", "analyze", "--limit=1000", path_str(&blocks), id],
            b"",
        );
        check_ok("prom tsdb analyze", &ours);
        assert_eq!(
            analyze_sections(&ours.stdout),
            analyze_sections(&theirs.stdout)
        );
    }
    let theirs = run(promtool, &["tsdb", "list", path_str(&copy)], b"");
    let ours = prom(&["tsdb", "list", path_str(&blocks)], b"");
    check_ok("promtool tsdb list", &theirs);
    assert_eq!(ours.stdout, theirs.stdout);
    let theirs = run(promtool, &["tsdb", "list", "-r", path_str(&copy)], b"");
    let ours = prom(&["tsdb", "list", "-r", path_str(&blocks)], b"");
    assert_eq!(ours.stdout, theirs.stdout);
}

/// `s` with the ULID that starts each line after the header replaced by `ULID`.
fn mask_ulids(s: &str) -> String {
    s.lines()
        .map(|l| match l.get(..26) {
            Some(u) if u.chars().all(|c| c.is_ascii_alphanumeric()) => {
                format!("ULID{}\n", &l[26..])
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn prom_and_promtool_create_the_same_blocks_from_sparse_input() {
    let Some(promtool) = promtool("prom_and_promtool_create_the_same_blocks_from_sparse_input")
    else {
        return;
    };
    // At most 120 samples per series and block (one a minute), so promtool's head cuts one
    // chunk per series and block, as we do: the blocks come out alike, sizes included, and so
    // do the tables both print (promtool lays each block's row out on its own).
    let mut om = String::from("# TYPE load gauge\n");
    for host in ["a", "b", "c"] {
        for i in 0..300 {
            om.push_str(&format!(
                "load{{host=\"{host}\"}} {}.5 {}\n",
                i % 7,
                START + i * 60
            ));
        }
    }
    om.push_str("# EOF\n");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input.om");
    std::fs::write(&input, &om).unwrap();
    let (ours_dir, theirs_dir) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    let args = |dir: &Path| {
        [
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            path_str(&input),
            path_str(dir),
        ]
        .map(str::to_owned)
    };
    let ours = prom(&args(&ours_dir).each_ref().map(String::as_str), b"");
    check_ok("prom tsdb create-blocks-from", &ours);
    let theirs = run(
        promtool,
        &args(&theirs_dir).each_ref().map(String::as_str),
        b"",
    );
    check_ok("promtool tsdb create-blocks-from", &theirs);
    assert_eq!(mask_ulids(&ours.stdout), mask_ulids(&theirs.stdout));
    for dir in [&ours_dir, &theirs_dir] {
        let a = prom(&["tsdb", "list", "-r", path_str(dir)], b"");
        let b = run(promtool, &["tsdb", "list", "-r", path_str(dir)], b"");
        assert_eq!(a.stdout, b.stdout);
    }
}

#[test]
fn prom_reads_blocks_written_by_promtool() {
    let Some(promtool) = promtool("prom_reads_blocks_written_by_promtool") else {
        return;
    };
    let g = generate();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input.om");
    std::fs::write(&input, &g.om).unwrap();
    let blocks = tmp.path().join("blocks");
    let made = run(
        promtool,
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            path_str(&input),
            path_str(&blocks),
        ],
        b"",
    );
    check_ok("promtool tsdb create-blocks-from openmetrics", &made);
    assert_eq!(block_dirs(&blocks).len(), 3);

    // Our list and analyze first, before promtool adds wal/ and chunks_head/.
    let list = prom(&["tsdb", "list", path_str(&blocks)], b"");
    check_ok("prom tsdb list", &list);
    let theirs = run(promtool, &["tsdb", "list", path_str(&blocks)], b"");
    check_ok("promtool tsdb list", &theirs);
    assert_eq!(list.stdout, theirs.stdout);
    let mut analyses = Vec::new();
    for b in block_dirs(&blocks) {
        let id = b.file_name().unwrap().to_str().unwrap().to_owned();
        let ours = prom(
            &["tsdb", "analyze", "--limit=1000", path_str(&blocks), &id],
            b"",
        );
        check_ok("prom tsdb analyze", &ours);
        analyses.push((id, ours.stdout));
    }

    let ours = prom(&["tsdb", "dump", path_str(&blocks)], b"");
    check_ok("prom tsdb dump", &ours);
    same_lines(
        "prom's dump of promtool's blocks",
        &lines(&ours.stdout),
        &g.dump,
    );

    std::fs::create_dir_all(blocks.join("wal")).unwrap();
    let theirs = run(promtool, &["tsdb", "dump", path_str(&blocks)], b"");
    check_ok("promtool tsdb dump", &theirs);
    same_lines(
        "dumps of promtool's blocks",
        &lines(&ours.stdout),
        &lines(&theirs.stdout),
    );
    for (id, ours) in analyses {
        let theirs = run(
            promtool,
            &["tsdb", "analyze", "--limit=1000", path_str(&blocks), &id],
            b"",
        );
        check_ok("promtool tsdb analyze", &theirs);
        assert_eq!(
            analyze_sections(&ours),
            analyze_sections(&theirs.stdout),
            "block {id}"
        );
    }
    // Default block: the newest.
    let ours_analyze = prom(&["tsdb", "analyze", path_str(&blocks)], b"");
    let theirs = run(promtool, &["tsdb", "analyze", path_str(&blocks)], b"");
    assert_eq!(
        analyze_sections(&ours_analyze.stdout),
        analyze_sections(&theirs.stdout)
    );
    // Our dump with wal/ and chunks_head/ present reads the same.
    let again = prom(&["tsdb", "dump", path_str(&blocks)], b"");
    same_lines(
        "prom tsdb dump, again",
        &lines(&again.stdout),
        &lines(&ours.stdout),
    );
}

#[test]
fn query_evaluates_promql_over_a_backfilled_directory_and_prints_api_json() {
    let mut om = String::from("# HELP q A counter.\n# TYPE q counter\n");
    // Two series, 10 minutes at 15 s: a/1 per step, b/2 per step.
    for (s, per) in [("a", 1), ("b", 2)] {
        for k in 0..=40 {
            let t = 1_700_000_000 + 15 * k;
            om.push_str(&format!("q_total{{s=\"{s}\"}} {} {t}\n", per * k));
        }
    }
    om.push_str("# EOF\n");
    let (_tmp, dir) = backfill_with_prom(&om, &[]);
    let d = path_str(&dir);

    let out = prom(
        &[
            "tsdb",
            "query",
            d,
            "sum(rate(q_total[5m]))",
            "--time",
            "1700000600",
        ],
        b"",
    );
    check_ok("prom tsdb query (instant)", &out);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["status"], "success");
    assert_eq!(json["data"]["resultType"], "vector");
    let v: f64 = json["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // 1/15 + 2/15 per second.
    assert!((v - 0.2).abs() < 1e-9, "{v}");
    assert_eq!(json["data"]["result"][0]["value"][0], 1_700_000_600);

    let out = prom(
        &[
            "tsdb",
            "query",
            d,
            "q_total{s=\"b\"}",
            "--start",
            "2023-11-14T22:13:20Z",
            "--end",
            "1700000060",
            "--step",
            "30s",
        ],
        b"",
    );
    check_ok("prom tsdb query (range)", &out);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["data"]["resultType"], "matrix");
    assert_eq!(
        json["data"]["result"][0]["values"],
        serde_json::json!([
            [1_700_000_000, "0"],
            [1_700_000_030, "4"],
            [1_700_000_060, "8"]
        ])
    );

    let out = prom(&["tsdb", "query", d, "sum(", "--time", "1700000600"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("parse error"), "{}", out.stderr);
}
