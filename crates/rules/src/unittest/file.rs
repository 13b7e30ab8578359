//! Decoding promtool's rule unit-test files.

use std::path::{Path, PathBuf};

use prom_model::Labels;
use prom_promql::script::{SequenceValue, parse_series_desc};
use prom_scrape::config::Duration;
use prom_scrape::yaml::{self, Fields, Node};

/// A unit-test file: the rule files under test and the test groups.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    /// `rule_files`, resolved against the test file's directory (globs allowed in the last
    /// path element).
    pub rule_files: Vec<PathBuf>,
    /// `evaluation_interval`, 1m by default (milliseconds).
    pub evaluation_interval_ms: i64,
    /// `group_eval_order`: group names in the order they are evaluated.
    pub group_eval_order: Vec<String>,
    /// `fuzzy_compare`: compare sample values with a relative tolerance instead of exactly.
    pub fuzzy_compare: bool,
    /// `tests`.
    pub tests: Vec<TestGroup>,
}

/// One entry of `tests`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestGroup {
    /// `name`, possibly empty.
    pub name: String,
    /// `interval` between the samples of `input_series`, `evaluation_interval` by default.
    pub interval_ms: i64,
    /// `input_series`.
    pub input_series: Vec<InputSeries>,
    /// `alert_rule_test`.
    pub alert_rule_tests: Vec<AlertTestCase>,
    /// `promql_expr_test`.
    pub promql_expr_tests: Vec<PromqlTestCase>,
    /// `external_labels`.
    pub external_labels: Labels,
    /// `external_url`.
    pub external_url: String,
    /// The line of the entry.
    pub line: usize,
}

/// One `input_series` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSeries {
    /// The series' labels.
    pub labels: Labels,
    /// The expanded values, slot *i* at `i × interval`.
    pub values: Vec<SequenceValue>,
    /// The line of the entry.
    pub line: usize,
}

/// One `alert_rule_test` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTestCase {
    /// `eval_time` (milliseconds from 0).
    pub eval_time_ms: i64,
    /// `alertname`.
    pub alertname: String,
    /// `exp_alerts`: the firing alerts expected at that time.
    pub exp_alerts: Vec<ExpectedAlert>,
    /// The line of the entry.
    pub line: usize,
}

/// One `exp_alerts` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedAlert {
    /// `exp_labels` (the test adds `alertname`).
    pub labels: Labels,
    /// `exp_annotations`.
    pub annotations: Labels,
}

/// One `promql_expr_test` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PromqlTestCase {
    /// `expr`.
    pub expr: String,
    /// `eval_time` (milliseconds from 0).
    pub eval_time_ms: i64,
    /// `exp_samples`.
    pub exp_samples: Vec<ExpectedSample>,
    /// The line of the entry.
    pub line: usize,
}

/// One `exp_samples` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSample {
    /// `labels`, in series notation (`metric{a="b"}`).
    pub labels: Labels,
    /// `value`.
    pub value: f64,
    /// The line of the entry.
    pub line: usize,
}

/// A test file that cannot be used, with the line the problem is on (0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFileError {
    /// The line, from 1; 0 when the error is about the whole file.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl std::fmt::Display for TestFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.msg)
        } else {
            f.write_str(&self.msg)
        }
    }
}

impl From<yaml::Error> for TestFileError {
    fn from(e: yaml::Error) -> Self {
        TestFileError {
            line: e.line,
            msg: e.msg,
        }
    }
}

type Result<T> = std::result::Result<T, TestFileError>;

fn err(line: usize, msg: impl Into<String>) -> TestFileError {
    TestFileError {
        line,
        msg: msg.into(),
    }
}

/// Reads and decodes the unit-test file at `path`.
pub fn load_test_file(path: &Path) -> Result<TestFile> {
    let text = std::fs::read_to_string(path).map_err(|e| err(0, e.to_string()))?;
    parse_test_file(&text, path.parent().unwrap_or(Path::new("")))
}

/// Decodes a unit-test file; `base` resolves relative rule file paths.
pub fn parse_test_file(text: &str, base: &Path) -> Result<TestFile> {
    let root = yaml::parse(text)?;
    let mut f = Fields::new(&root, "main.unitTestFile")?;
    let mut file = TestFile {
        rule_files: Vec::new(),
        evaluation_interval_ms: 60_000,
        group_eval_order: Vec::new(),
        fuzzy_compare: false,
        tests: Vec::new(),
    };
    if let Some(n) = f.get("rule_files") {
        for (i, p) in n.strings()?.into_iter().enumerate() {
            let line = n.seq("string")?.get(i).map_or(n.line, |x| x.line);
            let path = if Path::new(&p).is_absolute() {
                PathBuf::from(&p)
            } else {
                base.join(&p)
            };
            let text = path.to_string_lossy().into_owned();
            if text.contains('*') {
                let found = prom_scrape::config::glob_files(&text);
                if found.is_empty() {
                    return Err(err(line, format!("no rule file matches {p:?}")));
                }
                file.rule_files.extend(found);
            } else {
                file.rule_files.push(path);
            }
        }
    }
    if let Some(n) = f.get("evaluation_interval") {
        file.evaluation_interval_ms = duration(n)?;
    }
    if let Some(n) = f.get("group_eval_order") {
        file.group_eval_order = n.strings()?;
    }
    if let Some(n) = f.get("fuzzy_compare") {
        file.fuzzy_compare = n.bool()?;
    }
    let tests = f.get("tests");
    f.finish()?;
    if let Some(n) = tests {
        for t in n.seq("main.testGroup")? {
            file.tests.push(test_group(t, file.evaluation_interval_ms)?);
        }
    }
    Ok(file)
}

fn duration(n: &Node) -> Result<i64> {
    let s = n.str()?;
    let d: Duration = s
        .parse()
        .map_err(|e: prom_scrape::config::units::DurationError| err(n.line, e.0))?;
    i64::try_from(d.0).map_err(|_| err(n.line, format!("duration {s:?} is too long")))
}

fn labels_map(n: &Node) -> Result<Labels> {
    let pairs = n.string_map()?;
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Ok(Labels::from_pairs(&refs))
}

fn test_group(n: &Node, default_interval: i64) -> Result<TestGroup> {
    let mut f = Fields::new(n, "main.testGroup")?;
    let mut g = TestGroup {
        name: String::new(),
        interval_ms: default_interval,
        input_series: Vec::new(),
        alert_rule_tests: Vec::new(),
        promql_expr_tests: Vec::new(),
        external_labels: Labels::new(),
        external_url: String::new(),
        line: n.line,
    };
    if let Some(x) = f.get("name") {
        g.name = x.str()?;
    }
    if let Some(x) = f.get("interval") {
        g.interval_ms = duration(x)?;
        if g.interval_ms <= 0 {
            return Err(err(x.line, "interval must be positive"));
        }
    }
    if let Some(x) = f.get("external_labels") {
        g.external_labels = labels_map(x)?;
    }
    if let Some(x) = f.get("external_url") {
        g.external_url = x.str()?;
    }
    if let Some(list) = f.get("input_series") {
        for s in list.seq("main.series")? {
            let mut sf = Fields::new(s, "main.series")?;
            let series = sf.get("series").map(Node::str).transpose()?;
            let values = sf.get("values").map(Node::str).transpose()?;
            sf.finish()?;
            let series = series.unwrap_or_default();
            let text = format!("{series} {}", values.unwrap_or_default());
            let (labels, values) = parse_series_desc(&text)
                .map_err(|e| err(s.line, format!("parse series {text:?}: {e}")))?;
            g.input_series.push(InputSeries {
                labels,
                values,
                line: s.line,
            });
        }
    }
    if let Some(list) = f.get("alert_rule_test") {
        for a in list.seq("main.alertTestCase")? {
            let mut af = Fields::new(a, "main.alertTestCase")?;
            let eval_time_ms = af.get("eval_time").map(duration).transpose()?.unwrap_or(0);
            let alertname = af
                .get("alertname")
                .map(Node::str)
                .transpose()?
                .unwrap_or_default();
            let mut exp_alerts = Vec::new();
            if let Some(exps) = af.get("exp_alerts") {
                for e in exps.seq("main.alert")? {
                    let mut ef = Fields::new(e, "main.alert")?;
                    let labels = ef.get("exp_labels").map(labels_map).transpose()?;
                    let annotations = ef.get("exp_annotations").map(labels_map).transpose()?;
                    ef.finish()?;
                    exp_alerts.push(ExpectedAlert {
                        labels: labels.unwrap_or_default(),
                        annotations: annotations.unwrap_or_default(),
                    });
                }
            }
            af.finish()?;
            g.alert_rule_tests.push(AlertTestCase {
                eval_time_ms,
                alertname,
                exp_alerts,
                line: a.line,
            });
        }
    }
    if let Some(list) = f.get("promql_expr_test") {
        for p in list.seq("main.promqlTestCase")? {
            let mut pf = Fields::new(p, "main.promqlTestCase")?;
            let expr = pf
                .get("expr")
                .map(Node::str)
                .transpose()?
                .unwrap_or_default();
            let eval_time_ms = pf.get("eval_time").map(duration).transpose()?.unwrap_or(0);
            let mut exp_samples = Vec::new();
            if let Some(exps) = pf.get("exp_samples") {
                for e in exps.seq("main.sample")? {
                    let mut ef = Fields::new(e, "main.sample")?;
                    let labels = ef.get("labels").map(Node::str).transpose()?;
                    let value = ef.get("value").map(Node::f64).transpose()?;
                    if ef.has("histogram") {
                        return Err(err(
                            e.line,
                            "native histogram samples in exp_samples are not supported",
                        ));
                    }
                    ef.finish()?;
                    let labels = match labels.as_deref() {
                        None | Some("") => Labels::new(),
                        Some(text) => {
                            let (l, v) = parse_series_desc(text)
                                .map_err(|m| err(e.line, format!("parse labels {text:?}: {m}")))?;
                            if !v.is_empty() {
                                return Err(err(e.line, format!("labels {text:?} carry values")));
                            }
                            l
                        }
                    };
                    exp_samples.push(ExpectedSample {
                        labels,
                        value: value.unwrap_or(0.0),
                        line: e.line,
                    });
                }
            }
            pf.finish()?;
            g.promql_expr_tests.push(PromqlTestCase {
                expr,
                eval_time_ms,
                exp_samples,
                line: p.line,
            });
        }
    }
    f.finish()?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_field() {
        let text = r#"
rule_files: [a.yml]
evaluation_interval: 30s
group_eval_order: [g2, g1]
tests:
  - name: one
    interval: 15s
    external_labels: {cluster: eu}
    external_url: http://prom
    input_series:
      - series: 'up{job="x"}'
        values: '1+1x2 _ stale'
    alert_rule_test:
      - eval_time: 5m
        alertname: Down
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations: {summary: down}
    promql_expr_test:
      - expr: up
        eval_time: 1m
        exp_samples:
          - labels: 'up{job="x"}'
            value: 3
"#;
        let f = parse_test_file(text, Path::new("/base")).unwrap();
        assert_eq!(f.rule_files, vec![PathBuf::from("/base/a.yml")]);
        assert_eq!(f.evaluation_interval_ms, 30_000);
        assert_eq!(f.group_eval_order, vec!["g2", "g1"]);
        let g = &f.tests[0];
        assert_eq!((g.name.as_str(), g.interval_ms), ("one", 15_000));
        assert_eq!(g.external_labels.get("cluster"), Some("eu"));
        assert_eq!(g.input_series[0].values.len(), 5);
        assert_eq!(g.alert_rule_tests[0].eval_time_ms, 300_000);
        assert_eq!(
            g.alert_rule_tests[0].exp_alerts[0]
                .annotations
                .get("summary"),
            Some("down")
        );
        let s = &g.promql_expr_tests[0].exp_samples[0];
        assert_eq!((s.labels.get("job"), s.value), (Some("x"), 3.0));
    }

    #[test]
    fn the_interval_defaults_to_the_evaluation_interval() {
        let f = parse_test_file("evaluation_interval: 2m\ntests: [{}]\n", Path::new("")).unwrap();
        assert_eq!(f.tests[0].interval_ms, 120_000);
    }

    #[test]
    fn unknown_fields_and_bad_series_are_errors_with_lines() {
        let e = parse_test_file("tests:\n  - intervall: 1m\n", Path::new("")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("field intervall not found"), "{e}");
        let e = parse_test_file(
            "tests:\n  - input_series:\n    - series: 'up'\n      values: '1 2 x'\n",
            Path::new(""),
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.msg.starts_with("parse series"), "{e}");
    }
}
