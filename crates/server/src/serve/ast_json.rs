//! `/api/v1/parse_query`: a parsed query as the JSON tree Prometheus's API returns for it (the
//! shape its web UI's tree view reads): one object per node with a `type` and the node's parts.

use prom_promql::ast::{AtModifier, Cardinality, Duration, Expr, ValueType, VectorSelector};
use serde_json::{Value as Json, json};

fn value_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
        ValueType::String => "string",
    }
}

/// A duration in milliseconds; an expression (`step()`) is written as its text.
fn millis(d: Option<&Duration>) -> Json {
    match d {
        None => json!(0),
        Some(Duration::Millis(ms)) => json!(ms),
        Some(Duration::Expr(e)) => json!(e.to_string()),
    }
}

fn at(at: Option<&AtModifier>) -> (Json, Json) {
    match at {
        None => (Json::Null, Json::Null),
        Some(AtModifier::Timestamp(t)) => (json!(t), Json::Null),
        Some(AtModifier::Start) => (Json::Null, json!("start")),
        Some(AtModifier::End) => (Json::Null, json!("end")),
    }
}

fn matchers(v: &VectorSelector) -> Json {
    Json::Array(
        v.matchers
            .iter()
            .map(|m| json!({"type": m.kind().as_str(), "name": m.name(), "value": m.value()}))
            .collect(),
    )
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: plain decimal, shortest round-trip digits.
fn plain_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        // Rust's Display for f64 is the shortest round-trip text, never in exponent form.
        format!("{v}")
    }
}

/// The JSON tree of `expr`.
pub fn translate(expr: &Expr) -> Json {
    match expr {
        Expr::Number(n) => json!({"type": "numberLiteral", "val": plain_float(n.value)}),
        Expr::String(s) => json!({"type": "stringLiteral", "val": s.value}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": translate(&p.expr)}),
        Expr::Unary(u) => {
            json!({"type": "unaryExpr", "op": u.op.as_str(), "expr": translate(&u.expr)})
        }
        Expr::VectorSelector(v) => {
            let (ts, soe) = at(v.at.as_ref());
            json!({
                "type": "vectorSelector",
                "name": v.name.clone().unwrap_or_default(),
                "offset": millis(v.offset.as_ref()),
                "matchers": matchers(v),
                "timestamp": ts,
                "startOrEnd": soe,
            })
        }
        Expr::MatrixSelector(m) => {
            let v = &m.selector;
            let (ts, soe) = at(v.at.as_ref());
            json!({
                "type": "matrixSelector",
                "name": v.name.clone().unwrap_or_default(),
                "range": millis(Some(&m.range)),
                "offset": millis(v.offset.as_ref()),
                "matchers": matchers(v),
                "timestamp": ts,
                "startOrEnd": soe,
            })
        }
        Expr::Subquery(s) => {
            let (ts, soe) = at(s.at.as_ref());
            json!({
                "type": "subquery",
                "expr": translate(&s.expr),
                "range": millis(Some(&s.range)),
                "offset": millis(s.offset.as_ref()),
                "step": millis(s.step.as_ref()),
                "timestamp": ts,
                "startOrEnd": soe,
            })
        }
        Expr::Binary(b) => {
            let matching = match &b.matching {
                None => Json::Null,
                Some(m) => json!({
                    "card": match m.card {
                        Cardinality::OneToOne => "one-to-one",
                        Cardinality::ManyToOne => "many-to-one",
                        Cardinality::OneToMany => "one-to-many",
                        Cardinality::ManyToMany => "many-to-many",
                    },
                    "labels": m.labels,
                    "on": m.on,
                    "include": m.include,
                }),
            };
            json!({
                "type": "binaryExpr",
                "op": b.op.as_str(),
                "lhs": translate(&b.lhs),
                "rhs": translate(&b.rhs),
                "matching": matching,
                "bool": b.return_bool,
            })
        }
        Expr::Aggregate(a) => json!({
            "type": "aggregation",
            "op": a.op.as_str(),
            "expr": translate(&a.expr),
            "param": a.param.as_ref().map(translate).unwrap_or(Json::Null),
            "grouping": a.grouping,
            "without": a.without,
        }),
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(|t| value_type(*t)).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": value_type(c.func.return_type),
            },
            "args": c.args.iter().map(translate).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> Json {
        translate(&prom_promql::parse(q).unwrap())
    }

    #[test]
    fn nodes_have_prometheus_shapes() {
        assert_eq!(
            tree("sum by (job) (rate(x{a=\"b\"}[5m] offset 1m))"),
            json!({
                "type": "aggregation", "op": "sum", "param": null, "grouping": ["job"], "without": false,
                "expr": {
                    "type": "call",
                    "func": {"name": "rate", "argTypes": ["matrix"], "variadic": 0, "returnType": "vector"},
                    "args": [{
                        "type": "matrixSelector", "name": "x", "range": 300000, "offset": 60000,
                        "matchers": [
                            {"type": "=", "name": "a", "value": "b"},
                            {"type": "=", "name": "__name__", "value": "x"}
                        ],
                        "timestamp": null, "startOrEnd": null
                    }]
                }
            })
        );
        assert_eq!(
            tree("a + on(b) group_left(c) -d @ end()")["matching"],
            json!({"card": "many-to-one", "labels": ["b"], "on": true, "include": ["c"]})
        );
        assert_eq!(tree("1e21")["val"], "1000000000000000000000");
        assert_eq!(tree("x[5m:1m]")["step"], 60000);
        assert_eq!(tree("-x")["type"], "unaryExpr");
    }
}
