//! Target-group documents: the files `file_sd_configs` reads and the bodies `http_sd_configs`
//! fetches, a list of `{targets, labels}` in JSON or YAML.

use std::path::Path;

use crate::config::TargetGroup;
use crate::yaml::{self, Fields, Node};

/// Decodes a JSON list of target groups (what file_sd `.json` files and HTTP SD bodies hold).
pub fn groups_from_json(text: &str) -> Result<Vec<TargetGroup>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = v
        .as_array()
        .ok_or("expected a JSON array of target groups")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        if item.is_null() {
            return Err(format!("nil target group item found (index {i})"));
        }
        let obj = item
            .as_object()
            .ok_or_else(|| format!("target group {i}: expected an object"))?;
        let mut g = TargetGroup::default();
        if let Some(t) = obj.get("targets").filter(|t| !t.is_null()) {
            for x in t
                .as_array()
                .ok_or_else(|| format!("target group {i}: targets must be a list"))?
            {
                g.targets.push(
                    x.as_str()
                        .ok_or_else(|| format!("target group {i}: targets must be strings"))?
                        .to_owned(),
                );
            }
        }
        if let Some(l) = obj.get("labels").filter(|l| !l.is_null()) {
            for (k, v) in l
                .as_object()
                .ok_or_else(|| format!("target group {i}: labels must be an object"))?
            {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("target group {i}: label {k:?} must be a string"))?;
                g.labels.push((k.clone(), v.to_owned()));
            }
        }
        crate::config::validate_labels(&g.labels, 0).map_err(|e| e.msg)?;
        out.push(g);
    }
    Ok(out)
}

/// Decodes a YAML list of target groups, strictly (unknown keys are errors).
pub fn groups_from_yaml(text: &str) -> Result<Vec<TargetGroup>, String> {
    let root = yaml::parse(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, item) in root
        .seq("*targetgroup.Group")
        .map_err(|e| e.to_string())?
        .iter()
        .enumerate()
    {
        if item.is_null() {
            return Err(format!("nil target group item found (index {i})"));
        }
        let mut f = Fields::new(item, "struct { Targets []string \"yaml:\\\"targets\\\"\"; Labels model.LabelSet \"yaml:\\\"labels\\\"\" }")
            .map_err(|e| e.to_string())?;
        let targets = f
            .get("targets")
            .map(Node::strings)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let labels = f
            .get("labels")
            .map(Node::string_map)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        f.finish().map_err(|e| e.to_string())?;
        crate::config::validate_labels(&labels, item.line).map_err(|e| e.to_string())?;
        out.push(TargetGroup {
            targets,
            labels,
            source: String::new(),
        });
    }
    Ok(out)
}

/// Reads one file_sd file: its groups with `__meta_filepath` and sources `path:index`.
pub fn read_sd_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut groups = match ext.as_str() {
        "json" => groups_from_json(&text),
        "yml" | "yaml" => groups_from_yaml(&text),
        _ => return Err(format!("invalid file extension: \".{ext}\"")),
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let shown = path.to_string_lossy().into_owned();
    for (i, g) in groups.iter_mut().enumerate() {
        g.source = format!("{shown}:{i}");
        g.labels.retain(|(k, _)| k != "__meta_filepath");
        g.labels.push(("__meta_filepath".into(), shown.clone()));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_files_in_json_and_yaml_decode_alike() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("a.json");
        std::fs::write(
            &j,
            r#"[{"targets": ["h:1", "h:2"], "labels": {"env": "prod"}}, {"targets": ["x:9"]}]"#,
        )
        .unwrap();
        let y = dir.path().join("a.yml");
        std::fs::write(
            &y,
            "- targets: ['h:1', 'h:2']\n  labels:\n    env: prod\n- targets: ['x:9']\n",
        )
        .unwrap();
        let gj = read_sd_file(&j).unwrap();
        let gy = read_sd_file(&y).unwrap();
        assert_eq!(gj.len(), 2);
        assert_eq!(gj[0].targets, gy[0].targets);
        assert_eq!(gj[0].source, format!("{}:0", j.display()));
        assert!(
            gj[0]
                .labels
                .contains(&("__meta_filepath".into(), j.to_string_lossy().into_owned()))
        );
        assert!(gy[0].labels.contains(&("env".into(), "prod".into())));
        let bad = dir.path().join("b.yml");
        std::fs::write(&bad, "- targats: ['x']\n").unwrap();
        assert!(
            read_sd_file(&bad)
                .unwrap_err()
                .contains("field targats not found")
        );
        std::fs::write(&bad, "- targets: ['x']\n- null\n").unwrap();
        assert!(read_sd_file(&bad).unwrap_err().contains("nil target group"));
        let ext = dir.path().join("c.nonexistent");
        std::fs::write(&ext, "").unwrap();
        assert_eq!(
            read_sd_file(&ext).unwrap_err(),
            "invalid file extension: \".nonexistent\""
        );
    }
}
