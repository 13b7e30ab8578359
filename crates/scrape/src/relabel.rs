//! Relabeling: applying `relabel_configs` (and `metric_relabel_configs`, …) to a label set.
//!
//! Each step reads its source labels joined by the separator and acts on the label set;
//! `keep`/`drop`-style steps may discard it. Regexes are anchored at both ends, and
//! `replacement`/`target_label` expand `$1`, `${1}`, `$name` and `${name}` (the longest
//! name wins, `$$` is a literal `$`), as Prometheus documents.
//!
//! ```
//! use prom_model::LabelsBuilder;
//! use prom_scrape::config::{Action, AnchoredRegex, RelabelConfig};
//! use prom_scrape::relabel::process;
//!
//! let rule = RelabelConfig {
//!     source_labels: vec!["__address__".into()],
//!     regex: AnchoredRegex::new("([^:]+):.*").unwrap(),
//!     target_label: "host".into(),
//!     ..RelabelConfig::default()
//! };
//! let mut lb = LabelsBuilder::new();
//! lb.set("__address__", "db-1:9100");
//! assert!(process(&mut lb, &[rule]));
//! assert_eq!(lb.get("host"), Some("db-1"));
//! ```

use md5::{Digest, Md5};
use prom_model::LabelsBuilder;

use crate::config::{Action, RelabelConfig};

/// Applies `rules` in order; false when a step drops the label set (the builder is then
/// left as the dropping step found it).
pub fn process(lb: &mut LabelsBuilder, rules: &[RelabelConfig]) -> bool {
    let mut buf = String::new();
    rules.iter().all(|r| step(lb, r, &mut buf))
}

/// The source labels' values joined by the separator.
fn source_value(lb: &LabelsBuilder, r: &RelabelConfig, buf: &mut String) {
    buf.clear();
    for (i, name) in r.source_labels.iter().enumerate() {
        if i > 0 {
            buf.push_str(&r.separator);
        }
        buf.push_str(lb.get(name).unwrap_or(""));
    }
}

fn names(lb: &LabelsBuilder) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(lb.len());
    let labels = lb.build();
    for l in labels.iter() {
        out.push((l.name.to_owned(), l.value.to_owned()));
    }
    out
}

fn step(lb: &mut LabelsBuilder, r: &RelabelConfig, buf: &mut String) -> bool {
    let re = &r.regex.regex;
    match r.action {
        Action::Drop => {
            source_value(lb, r, buf);
            !re.is_match(buf)
        }
        Action::Keep => {
            source_value(lb, r, buf);
            re.is_match(buf)
        }
        Action::DropEqual => {
            source_value(lb, r, buf);
            lb.get(&r.target_label).unwrap_or("") != buf.as_str()
        }
        Action::KeepEqual => {
            source_value(lb, r, buf);
            lb.get(&r.target_label).unwrap_or("") == buf.as_str()
        }
        Action::Replace => {
            source_value(lb, r, buf);
            let Some(caps) = re.captures(buf) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&r.target_label, &mut target);
            if target.is_empty() || !prom_model::is_valid_utf8_name(&target) {
                return true;
            }
            let mut value = String::new();
            caps.expand(&r.replacement, &mut value);
            if value.is_empty() {
                lb.del(&target);
            } else {
                lb.set(&target, &value);
            }
            true
        }
        Action::Lowercase => {
            source_value(lb, r, buf);
            let v = buf.to_lowercase();
            lb.set(&r.target_label, &v);
            true
        }
        Action::Uppercase => {
            source_value(lb, r, buf);
            let v = buf.to_uppercase();
            lb.set(&r.target_label, &v);
            true
        }
        Action::HashMod => {
            source_value(lb, r, buf);
            let v = hash_mod(buf, r.modulus);
            lb.set(&r.target_label, &v.to_string());
            true
        }
        Action::LabelMap => {
            for (name, value) in names(lb) {
                if re.is_match(&name) {
                    let new = re.replace_all(&name, r.replacement.as_str());
                    lb.set(&new, &value);
                }
            }
            true
        }
        Action::LabelDrop => {
            lb.retain(|n, _| !re.is_match(n));
            true
        }
        Action::LabelKeep => {
            lb.retain(|n, _| re.is_match(n));
            true
        }
    }
}

/// `hashmod`: the last 8 bytes of the MD5 of `value`, big-endian, modulo `modulus`.
pub fn hash_mod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AnchoredRegex;

    fn lb(pairs: &[(&str, &str)]) -> LabelsBuilder {
        let mut b = LabelsBuilder::new();
        for (k, v) in pairs {
            b.set(k, v);
        }
        b
    }

    fn rule(action: Action, src: &[&str], regex: &str, target: &str, repl: &str) -> RelabelConfig {
        RelabelConfig {
            source_labels: src.iter().map(|s| s.to_string()).collect(),
            regex: AnchoredRegex::new(regex).unwrap(),
            target_label: target.into(),
            replacement: repl.into(),
            action,
            ..RelabelConfig::default()
        }
    }

    fn text(b: &LabelsBuilder) -> String {
        b.build().to_string()
    }

    #[test]
    fn replace_expands_groups_and_names_and_is_anchored() {
        let mut b = lb(&[("a", "foo"), ("b", "bar")]);
        let r = rule(
            Action::Replace,
            &["a", "b"],
            "f(.*);(?P<x>.*)",
            "c",
            "${1}-$x-$$",
        );
        assert!(process(&mut b, &[r]));
        assert_eq!(b.get("c"), Some("oo-bar-$"));
        // Anchored: "oo" does not match the middle of "foo".
        let mut b = lb(&[("a", "foo")]);
        assert!(process(
            &mut b,
            &[rule(Action::Replace, &["a"], "oo", "c", "x")]
        ));
        assert_eq!(b.get("c"), None);
        // `$1x` names group "1x", which does not exist: empty, and the label is deleted.
        let mut b = lb(&[("a", "foo"), ("c", "old")]);
        assert!(process(
            &mut b,
            &[rule(Action::Replace, &["a"], "(.*)", "c", "$1x")]
        ));
        assert_eq!(b.get("c"), None);
        // Target label from the match; an invalid (empty) target changes nothing.
        let mut b = lb(&[("a", "foo")]);
        assert!(process(
            &mut b,
            &[rule(Action::Replace, &["a"], "(.*)", "t_$1", "v")]
        ));
        assert_eq!(b.get("t_foo"), Some("v"));
        let mut b = lb(&[("a", "")]);
        assert!(process(
            &mut b,
            &[rule(Action::Replace, &["a"], "(.*)", "$1", "v")]
        ));
        assert_eq!(text(&b), "{}");
    }

    #[test]
    fn defaults_copy_the_source_and_dot_matches_newlines() {
        let mut b = lb(&[("a", "line1\nline2")]);
        let r = RelabelConfig {
            source_labels: vec!["a".into()],
            target_label: "b".into(),
            ..RelabelConfig::default()
        };
        assert!(process(&mut b, &[r]));
        assert_eq!(b.get("b"), Some("line1\nline2"));
    }

    #[test]
    fn keep_drop_and_equal_variants() {
        let b0 = lb(&[("job", "api"), ("env", "prod"), ("copy", "prod")]);
        let mut b = b0.clone();
        assert!(process(
            &mut b,
            &[rule(Action::Keep, &["job"], "api|web", "", "$1")]
        ));
        assert!(!process(
            &mut b,
            &[rule(Action::Keep, &["job"], "web", "", "$1")]
        ));
        assert!(!process(
            &mut b,
            &[rule(Action::Drop, &["env"], "pr.*", "", "$1")]
        ));
        assert!(process(
            &mut b,
            &[rule(Action::Drop, &["env"], "pr", "", "$1")]
        ));
        assert!(process(
            &mut b,
            &[rule(Action::KeepEqual, &["env"], "(.*)", "copy", "$1")]
        ));
        assert!(!process(
            &mut b,
            &[rule(Action::KeepEqual, &["job"], "(.*)", "copy", "$1")]
        ));
        assert!(!process(
            &mut b,
            &[rule(Action::DropEqual, &["env"], "(.*)", "copy", "$1")]
        ));
        assert!(process(
            &mut b,
            &[rule(Action::DropEqual, &["job"], "(.*)", "copy", "$1")]
        ));
        // A missing source label reads as "": `keep` with `.+` drops it.
        assert!(!process(
            &mut b,
            &[rule(Action::Keep, &["nope"], ".+", "", "$1")]
        ));
    }

    #[test]
    fn case_hashmod_and_label_set_actions() {
        let mut b = lb(&[
            ("a", "MiXed"),
            ("__meta_x_y", "1"),
            ("__meta_x_z", "2"),
            ("keep_me", "k"),
        ]);
        let rules = [
            rule(Action::Lowercase, &["a"], "(.*)", "lower", "$1"),
            rule(Action::Uppercase, &["a"], "(.*)", "upper", "$1"),
            RelabelConfig {
                modulus: 7,
                ..rule(Action::HashMod, &["a"], "(.*)", "shard", "$1")
            },
            rule(Action::LabelMap, &[], "__meta_x_(.+)", "", "x_$1"),
            rule(Action::LabelDrop, &[], "__meta_.*", "", "$1"),
        ];
        assert!(process(&mut b, &rules));
        assert_eq!(b.get("lower"), Some("mixed"));
        assert_eq!(b.get("upper"), Some("MIXED"));
        assert_eq!(
            b.get("shard"),
            Some(hash_mod("MiXed", 7).to_string().as_str())
        );
        assert_eq!(b.get("x_y"), Some("1"));
        assert_eq!(b.get("x_z"), Some("2"));
        assert_eq!(b.get("__meta_x_y"), None);
        assert!(process(
            &mut b,
            &[rule(Action::LabelKeep, &[], "x_.*|a", "", "$1")]
        ));
        assert_eq!(text(&b), r#"{a="MiXed", x_y="1", x_z="2"}"#);
    }

    #[test]
    fn hashmod_is_md5_tail_mod() {
        // MD5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; tail 0xedef654fccc4a4d8.
        assert_eq!(hash_mod("foo", u64::MAX), 0xedef_654f_ccc4_a4d8);
        assert_eq!(hash_mod("foo", 10), 0xedef_654f_ccc4_a4d8 % 10);
    }
}
