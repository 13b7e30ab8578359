//! Parser, printer and type checker: golden canonical forms, Prometheus's error messages,
//! round trips over generated trees, robustness on arbitrary input.

use prom_model::{MatchType, Matcher};
use prom_promql::ast::*;
use prom_promql::functions::Function;
use prom_promql::parser::{ParseErrorKind, ParseOptions, parse_metric_selector};
use prom_promql::{ParseError, parse};
use proptest::prelude::*;

fn err(input: &str) -> String {
    match parse(input) {
        Ok(e) => panic!("{input:?} parsed as {e}"),
        Err(e) => e.to_string(),
    }
}

fn shape(mut e: Expr) -> Expr {
    e.clear_spans();
    e
}

/// Prints `e` and checks the canonical text round-trips (the matchers of `e` itself may be in
/// source order, which printing sorts).
fn assert_canonical_round_trip(e: &Expr) {
    let text = e.to_string();
    let canonical = parse(&text).unwrap_or_else(|err| panic!("{text:?} does not parse: {err}"));
    assert_round_trip(&canonical);
}

/// Prints, re-parses, and checks the tree and the text are stable.
fn assert_round_trip(e: &Expr) {
    let text = e.to_string();
    let again = parse(&text).unwrap_or_else(|err| panic!("{text:?} does not parse: {err}"));
    assert_eq!(again.to_string(), text, "printing is not stable");
    assert_eq!(shape(again), shape(e.clone()), "tree changed for {text}");
}

// ----- canonical printing -----

#[test]
fn canonical_forms_match_prometheus() {
    let cases: &[(&str, &str)] = &[
        // From Prometheus's printer tests.
        (
            r#"sum by() (task:errors:rate10s{job="s"})"#,
            r#"sum(task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"sum by(code) (task:errors:rate10s{job="s"})"#,
            r#"sum by (code) (task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"sum without() (task:errors:rate10s{job="s"})"#,
            r#"sum without () (task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"sum without(instance) (task:errors:rate10s{job="s"})"#,
            r#"sum without (instance) (task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"sum by("foo.bar") (task:errors:rate10s{job="s"})"#,
            r#"sum by ("foo.bar") (task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"topk(5, task:errors:rate10s{job="s"})"#,
            r#"topk(5, task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"count_values("value", task:errors:rate10s{job="s"})"#,
            r#"count_values("value", task:errors:rate10s{job="s"})"#,
        ),
        ("a - on() c", "a - on () c"),
        ("a - on(b) c", "a - on (b) c"),
        ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
        (
            "a - on(b) group_left(x, y) c",
            "a - on (b) group_left (x, y) c",
        ),
        ("a - on(b) group_left c", "a - on (b) group_left () c"),
        ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
        ("a - ignoring(b) c", "a - ignoring (b) c"),
        ("a - ignoring() c", "a - c"),
        (
            "a - ignoring() group_left(__metric__) c",
            "a - ignoring () group_left (__metric__) c",
        ),
        (
            "a - ignoring() group_left c",
            "a - ignoring () group_left () c",
        ),
        ("a + fill(-23) b", "a + fill (-23) b"),
        ("a + fill_left(-23) b", "a + fill_left (-23) b"),
        ("a + fill_right(42) b", "a + fill_right (42) b"),
        (
            "a + fill_left(-23) fill_right(42) b",
            "a + fill_left (-23) fill_right (42) b",
        ),
        (
            "a + on(b) group_left fill(-23) c",
            "a + on (b) group_left () fill (-23) c",
        ),
        ("up > bool 0", "up > bool 0"),
        ("a offset 1m", "a offset 1m"),
        ("a offset -7m", "a offset -7m"),
        (r#"a{c="d"}[5m] offset 1m"#, r#"a{c="d"}[5m] offset 1m"#),
        ("a[5m] offset 1m", "a[5m] offset 1m"),
        ("a[12m] offset -3m", "a[12m] offset -3m"),
        ("a[1h:5m] offset 1m", "a[1h:5m] offset 1m"),
        ("a anchored", "a anchored"),
        ("a[5m] anchored", "a[5m] anchored"),
        (
            r#"a{b="c"}[5m] anchored offset 1m"#,
            r#"a{b="c"}[5m] anchored offset 1m"#,
        ),
        (
            r#"a{b="c"}[5m] anchored @ start() offset 1m"#,
            r#"a{b="c"}[5m] anchored @ start() offset 1m"#,
        ),
        ("a smoothed", "a smoothed"),
        (
            r#"a{b="c"}[5m] smoothed @ start() offset 1m"#,
            r#"a{b="c"}[5m] smoothed @ start() offset 1m"#,
        ),
        (r#"{__name__="a"}"#, r#"{__name__="a"}"#),
        (r#"a{b!="c"}[1m]"#, r#"a{b!="c"}[1m]"#),
        (r#"a{b=~"c"}[1m]"#, r#"a{b=~"c"}[1m]"#),
        (r#"a{b!~"c"}[1m]"#, r#"a{b!~"c"}[1m]"#),
        ("a @ 10", "a @ 10.000"),
        ("a[1m] @ 10", "a[1m] @ 10.000"),
        ("a @ start()", "a @ start()"),
        ("a @ end()", "a @ end()"),
        ("a[1m] @ start()", "a[1m] @ start()"),
        (r#"{__name__="",a="x"}"#, r#"{__name__="",a="x"}"#),
        (r#"{"a.b"="c"}"#, r#"{"a.b"="c"}"#),
        (r#"{"0"="1"}"#, r#"{"0"="1"}"#),
        (r#"{"_0"="1"}"#, r#"{_0="1"}"#),
        (r#"{""="0"}"#, r#"{""="0"}"#),
        ("{``=\"0\"}", r#"{""="0"}"#),
        ("1048576", "1048576"),
        ("foo[step()]", "foo[step()]"),
        ("foo[-step()]", "foo[-step()]"),
        ("foo[(step())]", "foo[(step())]"),
        ("foo[-(step())]", "foo[-(step())]"),
        ("foo offset step()", "foo offset step()"),
        ("foo offset -step()", "foo offset -step()"),
        ("foo offset (step())", "foo offset (step())"),
        ("foo offset -(step())", "foo offset -(step())"),
        ("foo offset +(5*2)", "foo offset (5 * 2)"),
        (
            "foo offset +min_of(10s, 20s)",
            "foo offset min_of(10s, 20s)",
        ),
        (
            "foo offset -min_of(10s, 20s)",
            "foo offset -min_of(10s, 20s)",
        ),
        (
            "foo offset -min_of(10s, +max_of(step() ^ 2, 2))",
            "foo offset -min_of(10s, max_of(step() ^ 2, 2))",
        ),
        (
            "foo[200-min_of(-step()^+step(),1)]",
            "foo[200 - min_of(-step() ^ step(), 1)]",
        ),
        (
            "foo[200 - min_of(step() + 10s, -max_of(step() ^ 2, 3))]",
            "foo[200 - min_of(step() + 10s, -max_of(step() ^ 2, 3))]",
        ),
        ("foo[range()]", "foo[range()]"),
        ("foo[-range()]", "foo[-range()]"),
        ("foo offset range()", "foo offset range()"),
        ("foo[max_of(range(), 5s)]", "foo[max_of(range(), 5s)]"),
        (
            "predict_linear(foo[1h], 3000)",
            "predict_linear(foo[1h], 3000)",
        ),
        (r#"sum by("üüü") (foo)"#, r#"sum by ("üüü") (foo)"#),
        (
            r#"count by("ööö", job) (foo)"#,
            r#"count by ("ööö", job) (foo)"#,
        ),
        (
            r#"foo / on("äää") group_left("ööö") bar"#,
            r#"foo / on ("äää") group_left ("ööö") bar"#,
        ),
        (
            "foo / on(legacy, \"üüü\") bar",
            "foo / on (legacy, \"üüü\") bar",
        ),
        // Normalisation.
        ("foo[90m]", "foo[1h30m]"),
        ("foo[1800]", "foo[30m]"),
        ("foo[1.5]", "foo[1s500ms]"),
        ("foo[(5m)]", "foo[5m]"),
        ("foo offset (5m)", "foo offset 5m"),
        ("foo offset -(1h)", "foo offset -1h"),
        ("foo offset 0s", "foo"),
        ("foo offset 100", "foo offset 1m40s"),
        ("foo[5m+1m]", "foo[5m + 1m]"),
        ("foo[5m:]", "foo[5m:]"),
        ("foo[30m:1m]", "foo[30m:1m]"),
        ("rate(foo[5m])[30m:]", "rate(foo[5m])[30m:]"),
        ("1e3", "1000"),
        ("0x1F", "31"),
        ("017", "15"),
        ("1_000_000", "1000000"),
        (".5", "0.5"),
        ("Inf", "+Inf"),
        ("-inf", "-Inf"),
        ("NaN", "NaN"),
        ("-0", "-0"),
        ("5m", "5m"),
        ("-5m", "-5m"),
        ("90m", "1h30m"),
        ("foo * 1m", "foo * 1m"),
        ("'single'", r#""single""#),
        ("`raw\\n`", r#""raw\\n""#),
        (r#""tab\there""#, r#""tab\there""#),
        ("SUM(x) BY (job)", "sum by (job) (x)"),
        ("sum(x) without (a, b,)", "sum without (a, b) (x)"),
        (r#"x{b="2", a="1"}"#, r#"x{a="1",b="2"}"#),
        (r#"x{a="1",}"#, r#"x{a="1"}"#),
        (r#"{"my.metric", a="b"}"#, r#"{__name__="my.metric",a="b"}"#),
        ("x # a comment\n + y", "x + y"),
        ("foo @ 1.5", "foo @ 1.500"),
        ("foo @ -1", "foo @ -1.000"),
        ("foo @ 5m", "foo @ 300.000"),
        ("foo offset 5m @ 10", "foo @ 10.000 offset 5m"),
        ("foo[5m] @ 10 offset 1m", "foo[5m] @ 10.000 offset 1m"),
        ("foo offset 1m [5m:1m]", "foo offset 1m[5m:1m]"),
        ("a ^ b ^ c", "a ^ b ^ c"),
        ("-a ^ b", "-a ^ b"),
        ("- -a", "--a"),
        ("+a", "+a"),
        ("- - 5", "5"),
        ("a atan2 b", "a atan2 b"),
        ("step()", "step()"),
        ("STEP() * 2", "step() * 2"),
        ("start() + end()", "start() + end()"),
        ("min_of(1, 2)", "min_of(1, 2)"),
        ("time()", "time()"),
        ("fill", "fill"),
        ("a + fill", "a + fill"),
        ("sum", "sum"),
        ("sum{a=\"b\"}", r#"sum{a="b"}"#),
        ("by + offset", "by + offset"),
        ("and and and", "and and and"),
        ("a * sum", "a * sum"),
        ("start", "start"),
        ("offset offset 5m", "offset offset 5m"),
        ("anchored anchored", "anchored anchored"),
        (
            "sum by (sum, by, on, bool) (x)",
            "sum by (sum, by, on, bool) (x)",
        ),
        ("sum by (a:b) (x)", "sum by (a:b) (x)"),
        (r#"sum by ("inf") (x)"#, r#"sum by ("inf") (x)"#),
        (
            "histogram_quantiles(x, \"q\", 0.5, 0.9)",
            "histogram_quantiles(x, \"q\", 0.5, 0.9)",
        ),
        ("info(x, {data=~\".*\"})", "info(x, {data=~\".*\"})"),
        (
            "sort_by_label(x, \"a\", \"b\")",
            "sort_by_label(x, \"a\", \"b\")",
        ),
        ("limitk(2, x)", "limitk(2, x)"),
        ("topk by (a) (3, x)", "topk by (a) (3, x)"),
        (
            "quantile(0.9, x) without (a)",
            "quantile without (a) (0.9, x)",
        ),
        (
            "label_join(x, \"a\", \",\", \"b\", \"c\")",
            "label_join(x, \"a\", \",\", \"b\", \"c\")",
        ),
        ("day_of_week()", "day_of_week()"),
        ("Inf ^ 2", "Inf ^ 2"),
        ("h </ 1.5", "h </ 1.5"),
        ("h >/ on (le) x * 2", "h >/ on (le) x * 2"),
        (
            r#"count_values("a\xc5z", x)"#,
            r#"count_values("a\xc5z", x)"#,
        ),
        ("2 ^ Inf", "2 ^ +Inf"),
        ("x offset (1m) * 2", "x offset (1m * 2)"),
        ("x offset +(step()) + y", "x offset +(step()) + y"),
        ("(x offset (step())) + y", "(x offset (step())) + y"),
    ];
    let mut failures = Vec::new();
    for (input, want) in cases {
        match parse(input) {
            Ok(e) if e.to_string() == *want => assert_round_trip(&parse(want).unwrap()),
            Ok(e) => failures.push(format!("{input:?}: got {:?}, want {want:?}", e.to_string())),
            Err(e) => failures.push(format!("{input:?}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn conformance_duration_expressions_parse() {
    // Every expression of Prometheus's duration_expression.test.
    let cases = [
        "changes(http_requests[30m])",
        "changes(http_requests[26m+4m])",
        "changes(http_requests[30m+0s])",
        "changes(http_requests[1800])",
        "changes(http_requests[60*30])",
        "changes(http_requests[2m*15])",
        "changes(http_requests[2m*(10+5)])",
        "changes(http_requests[29m+60s])",
        "changes(http_requests[24m+((1.5*2m)+2m)])",
        "changes(http_requests[-5m+35m])",
        "changes(http_requests[1h/2])",
        "changes(http_requests[1h30m % 1h])",
        "changes(http_requests[30m1s-30m1s % 1m])",
        "changes(http_requests[(9m30s+30s)*3])",
        "sum_over_time(metric1_total[29s+1s:5s+5s])",
        "sum_over_time(metric1_total[29s+1s:((((8 - 2) / 3) * 7s) % 4) + 8000ms])",
        "sum_over_time(metric1_total[29s+1s:20*500ms] offset (20*(((((8 - 2) / 3) * 7s) % 4) + 8000ms)))",
        "sum_over_time(metric1_total[29s+1s:20*500ms] offset -(20*(((((8 - 2) / 3) * 7s) % 4) + 8000ms)))",
        "metric1_total offset (100 + 2)",
        "metric1_total offset 100 + 2",
        "(metric1_total offset 2) ^ 2",
        "metric1_total offset 2 ^ 2",
        "metric1_total offset -2 ^ 2",
        "metric1_total offset (2 ^ 2)",
        "metric1_total offset (2 * 2)",
        "metric1_total offset -2 * 2",
        "metric1_total offset (-2 * 2)",
        "metric1_total offset -4",
        "metric1_total offset (-2 ^ 2)",
        "count_over_time(metric1_total[step()])",
        "count_over_time(metric1_total[step()+1ms])",
        "count_over_time(metric1_total[(step())+1])",
        "count_over_time(metric1_total[1+(STep()-5)*2])",
        "count_over_time(metric1_total[min_of(step()+1,1h)])",
        "count_over_time(metric1_total[max_of(min_of(step()+1,1h),1ms)])",
        "count_over_time(metric1_total[((max_of(min_of((step()+1),((1h))),1ms)))])",
        "metric1_total offset STEP()",
        "metric1_total offset step()*0",
        "metric1_total offset (-step()*2)",
        "metric1_total offset -step()*2",
        "metric1_total offset step()^0",
        "metric1_total offset (STEP()/10)",
        "metric1_total offset min_of(step(), 1s)+8000",
        "metric1_total offset -min_of(step(), 1s)+8000",
        "metric1_total offset -(min_of(step(), 1s))+8000",
        "metric1_total offset -min_of(step(), 1s)^0",
        "metric1_total offset +min_of(step(), 1s)^0",
        "metric1_total offset max_of(3s,min_of(step(), 1s))+8000",
        "metric1_total offset -(min_of(step(), 2s)-5)+8000",
        "count_over_time(metric1_total[range()])",
        "metric1_total offset min_of(range(), 8s)",
        "vector(step())",
        "end() - start()",
        "(end() + start()) / 2",
        "metric * step()",
    ];
    for c in cases {
        let e = parse(c).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert_round_trip(&e);
    }
}

#[test]
fn offset_binds_only_its_operand() {
    // `x offset 100 + 2` adds 2 to the shifted selector; inside parentheses the sum is the
    // offset.
    let Expr::Binary(b) = parse("x offset 100 + 2").unwrap() else {
        panic!()
    };
    assert_eq!(b.op, BinaryOp::Add);
    let Expr::VectorSelector(v) = &b.lhs else {
        panic!()
    };
    assert_eq!(v.offset, Some(Duration::Millis(100_000)));

    let Expr::VectorSelector(v) = parse("x offset (100 + 2)").unwrap() else {
        panic!()
    };
    let Some(Duration::Expr(d)) = &v.offset else {
        panic!()
    };
    assert_eq!(d.constant_seconds(), Some(102.0));

    // `-2 ^ 2` is `(x offset -2) ^ 2`, `(-2 ^ 2)` an offset of -4s.
    assert!(matches!(parse("x offset -2 ^ 2").unwrap(), Expr::Binary(_)));
    let Expr::VectorSelector(v) = parse("x offset (-2 ^ 2)").unwrap() else {
        panic!()
    };
    let Some(Duration::Expr(d)) = &v.offset else {
        panic!()
    };
    assert_eq!(d.constant_seconds(), Some(-4.0));

    // After an unsigned parenthesis the duration goes on, as in Prometheus's grammar.
    let Expr::VectorSelector(v) = parse("x offset (1m) + 1m").unwrap() else {
        panic!()
    };
    let Some(Duration::Expr(d)) = &v.offset else {
        panic!()
    };
    assert_eq!(d.constant_seconds(), Some(120.0));
    assert_eq!(v.to_string(), "x offset (1m + 1m)");
}

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("a + b * c", "a + (b * c)"),
        ("a * b + c", "(a * b) + c"),
        ("a - b - c", "(a - b) - c"),
        ("a ^ b ^ c", "a ^ (b ^ c)"),
        ("-a ^ b", "-(a ^ b)"),
        ("-a * b", "(-a) * b"),
        ("a * -b ^ c", "a * (-(b ^ c))"),
        ("a ^ -b * c", "(a ^ (-b)) * c"),
        ("a or b and c", "a or (b and c)"),
        ("a and b unless c", "(a and b) unless c"),
        ("a == b + c", "a == (b + c)"),
        ("a > b or c < d", "(a > b) or (c < d)"),
        ("a atan2 b + c", "(a atan2 b) + c"),
        ("a % b * c", "(a % b) * c"),
        ("a + b offset 5m", "a + (b offset 5m)"),
        ("-a offset 5m", "-(a offset 5m)"),
    ];
    for (input, grouped) in cases {
        assert_eq!(
            shape(parse(input).unwrap()),
            shape(strip_parens(parse(grouped).unwrap())),
            "{input}"
        );
    }
}

/// Removes parentheses the grouping tests add for readability.
fn strip_parens(e: Expr) -> Expr {
    match e {
        Expr::Paren(p) => strip_parens(p.expr),
        Expr::Binary(mut b) => {
            b.lhs = strip_parens(b.lhs);
            b.rhs = strip_parens(b.rhs);
            Expr::Binary(b)
        }
        Expr::Unary(mut u) => {
            u.expr = strip_parens(u.expr);
            Expr::Unary(u)
        }
        other => other,
    }
}

#[test]
fn ast_shapes() {
    let Expr::MatrixSelector(m) = parse(r#"foo{a="b"}[5m] offset 1m @ 10"#).unwrap() else {
        panic!()
    };
    assert_eq!(m.range, Duration::Millis(300_000));
    assert_eq!(m.selector.name.as_deref(), Some("foo"));
    assert_eq!(
        m.selector.matchers,
        [Matcher::equal("a", "b"), Matcher::equal("__name__", "foo")]
    );
    assert_eq!(m.selector.offset, Some(Duration::Millis(60_000)));
    assert_eq!(m.selector.at, Some(AtModifier::Timestamp(10_000)));
    assert_eq!(m.span, Span::new(0, 29));
    assert_eq!(m.selector.span, Span::new(0, 10));

    let Expr::VectorSelector(v) = parse(r#"{"my.metric", "a.b"=~"x|y"}"#).unwrap() else {
        panic!()
    };
    assert_eq!(v.name, None);
    assert_eq!(v.matchers[0], Matcher::equal("__name__", "my.metric"));
    assert_eq!(
        v.matchers[1],
        Matcher::new(MatchType::RegexMatch, "a.b", "x|y").unwrap()
    );

    let Expr::Binary(b) = parse("a / on (x) group_right (y) b").unwrap() else {
        panic!()
    };
    let m = b.matching.unwrap();
    assert_eq!(m.card, Cardinality::OneToMany);
    assert!(m.on);
    assert_eq!(
        (m.labels, m.include),
        (vec!["x".to_string()], vec!["y".to_string()])
    );

    let Expr::Binary(b) = parse("a and b").unwrap() else {
        panic!()
    };
    assert_eq!(b.matching.unwrap().card, Cardinality::ManyToMany);
    let Expr::Binary(b) = parse("a + 1").unwrap() else {
        panic!()
    };
    assert_eq!(b.matching, None);
    let Expr::Binary(b) = parse("a + on () 1").unwrap() else {
        panic!()
    };
    assert_eq!(
        b.matching, None,
        "dropped with a scalar operand, as Prometheus does"
    );

    let Expr::Aggregate(a) = parse("topk(3, x) by (a)").unwrap() else {
        panic!()
    };
    assert_eq!(a.op, AggregateOp::Topk);
    assert!(matches!(&a.param, Some(Expr::Number(n)) if n.value == 3.0));
    assert_eq!(a.grouping, ["a"]);

    let Expr::Call(c) = parse("rate(x[5m])").unwrap() else {
        panic!()
    };
    assert_eq!(c.func, Function::lookup("rate").unwrap());
    assert_eq!(c.span, Span::new(0, 11));

    let Expr::Number(n) = parse(" -5m ").unwrap() else {
        panic!()
    };
    assert_eq!(
        (n.value, n.is_duration, n.span),
        (-300.0, true, Span::new(1, 4))
    );

    let Expr::Subquery(s) = parse("x[1h:step()] @ end()").unwrap() else {
        panic!()
    };
    assert_eq!(s.range, Duration::Millis(3_600_000));
    assert!(matches!(&s.step, Some(Duration::Expr(d)) if d.kind == DurationKind::Step));
    assert_eq!(s.at, Some(AtModifier::End));

    let Expr::Binary(b) = parse("a + fill_left(1) b").unwrap() else {
        panic!()
    };
    let fill = b.matching.unwrap().fill;
    assert_eq!((fill.lhs, fill.rhs), (Some(1.0), None));

    let Expr::VectorSelector(v) = parse("foo smoothed").unwrap() else {
        panic!()
    };
    assert_eq!(v.extension, Some(RangeExtension::Smoothed));
}

#[test]
fn value_types() {
    for (q, t) in [
        ("1", ValueType::Scalar),
        ("\"a\"", ValueType::String),
        ("x", ValueType::Vector),
        ("x[5m]", ValueType::Matrix),
        ("x[5m:]", ValueType::Matrix),
        ("(1 + 2)", ValueType::Scalar),
        ("-x", ValueType::Vector),
        ("x * 2", ValueType::Vector),
        ("scalar(x) * 2", ValueType::Scalar),
        ("sum(x)", ValueType::Vector),
        ("time()", ValueType::Scalar),
        ("step()", ValueType::Scalar),
    ] {
        assert_eq!(parse(q).unwrap().value_type(), t, "{q}");
    }
}

#[test]
fn duration_expressions_evaluate() {
    let Expr::MatrixSelector(m) = parse("x[2m*(10+5)]").unwrap() else {
        panic!()
    };
    let Duration::Expr(d) = &m.range else {
        panic!()
    };
    assert_eq!(d.constant_seconds(), Some(1800.0));
    let Expr::MatrixSelector(m) = parse("x[min_of(step()+1, 1h)]").unwrap() else {
        panic!()
    };
    let Duration::Expr(d) = &m.range else {
        panic!()
    };
    assert_eq!(d.constant_seconds(), None);
    assert_eq!(d.eval_seconds(Some(10.0), None), Some(11.0));
}

// ----- errors -----

#[test]
fn errors_match_prometheus() {
    let cases: &[(&str, &str)] = &[
        ("", "1:1: parse error: no expression found in input"),
        (
            "  # only a comment",
            "1:1: parse error: no expression found in input",
        ),
        ("1+", "1:3: parse error: unexpected end of input"),
        (".", "1:1: parse error: unexpected character: '.'"),
        (
            "2.5.",
            r#"1:1: parse error: bad number or duration syntax: "2.5.""#,
        ),
        (
            "100..4",
            r#"1:1: parse error: bad number or duration syntax: "100..""#,
        ),
        (
            "0deadbeef",
            r#"1:1: parse error: bad number or duration syntax: "0de""#,
        ),
        ("1 /", "1:4: parse error: unexpected end of input"),
        ("*1", "1:1: parse error: unexpected <op:*>"),
        ("(1))", "1:4: parse error: unexpected right parenthesis ')'"),
        ("((1)", "1:5: parse error: unclosed left parenthesis"),
        ("(", "1:2: parse error: unclosed left parenthesis"),
        (
            "1 and 1",
            r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#,
        ),
        (
            "1 == 1",
            "1:3: parse error: comparisons between scalars must use BOOL modifier",
        ),
        (
            "1 or on(bar) foo",
            "1:1: parse error: vector matching only allowed between instant vectors",
        ),
        (
            "foo == on(bar) 10",
            "1:1: parse error: vector matching only allowed between instant vectors",
        ),
        (
            "foo + group_left(baz) bar",
            "1:7: parse error: unexpected <group_left>",
        ),
        (
            "foo and on(bar) group_left(baz) bar",
            r#"1:1: parse error: no grouping allowed for "and" operation"#,
        ),
        (
            "foo and on(bar) group_right(baz) bar",
            r#"1:1: parse error: no grouping allowed for "and" operation"#,
        ),
        (
            r#"http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}"#,
            r#"1:35: parse error: label "instance" must not occur in ON and GROUP clause at once"#,
        ),
        (
            "foo + bool bar",
            "1:5: parse error: bool modifier can only be used on comparison operators",
        ),
        (
            "foo + bool 10",
            "1:5: parse error: bool modifier can only be used on comparison operators",
        ),
        (
            "foo and bool 10",
            "1:5: parse error: bool modifier can only be used on comparison operators",
        ),
        (
            "{}",
            "1:1: parse error: vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x=""}"#,
            "1:1: parse error: vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x=~".*"}"#,
            "1:1: parse error: vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x!~".+"}"#,
            "1:1: parse error: vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x!="a"}"#,
            "1:1: parse error: vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"foo{__name__="bar"}"#,
            r#"1:1: parse error: metric name must not be set twice: "foo" or "bar""#,
        ),
        (
            r#"foo{"bar"}"#,
            r#"1:1: parse error: metric name must not be set twice: "foo" or "bar""#,
        ),
        (
            r#"foo{__name__= =}"#,
            r#"1:15: parse error: unexpected "=" in label matching, expected string"#,
        ),
        (
            r#"foo{,}"#,
            r#"1:5: parse error: unexpected "," in label matching, expected identifier or "}""#,
        ),
        (
            r#"foo{__name__ == "bar"}"#,
            r#"1:15: parse error: unexpected "=" in label matching, expected string"#,
        ),
        (
            r#"foo{__name__="bar" lol}"#,
            r#"1:20: parse error: unexpected identifier "lol" in label matching, expected "," or "}""#,
        ),
        (
            r#"foo{a}"#,
            r#"1:6: parse error: unexpected "}" in label matching, expected label matching operator"#,
        ),
        (
            "foo{1}",
            "1:5: parse error: unexpected character inside braces: '1'",
        ),
        (
            "foo{a=\"b\"",
            "1:10: parse error: unexpected end of input inside braces",
        ),
        ("foo}", "1:4: parse error: unexpected right brace '}'"),
        ("foo[5m", "1:7: parse error: unclosed left bracket"),
        ("foo]", "1:4: parse error: unexpected right bracket ']'"),
        (
            "foo[0m]",
            "1:5: parse error: duration must be greater than 0",
        ),
        (
            "foo[-5m]",
            "1:5: parse error: duration must be greater than 0",
        ),
        (
            "foo[5m:0]",
            "1:8: parse error: duration must be greater than 0",
        ),
        (
            "foo[]",
            r#"1:5: parse error: unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#,
        ),
        (
            r#"foo["5m"]"#,
            r#"1:5: parse error: unexpected string "\"5m\"" in subquery or range selector, expected number, duration, step(), or range()"#,
        ),
        (
            "foo[5m 1m]",
            r#"1:8: parse error: unexpected duration "1m" in subquery or range, expected ":" or "]""#,
        ),
        (
            "foo[5m:1m 1m]",
            r#"1:11: parse error: unexpected duration "1m" in subquery selector, expected "]""#,
        ),
        (
            "foo[5m:foo]",
            r#"1:8: parse error: unexpected identifier "foo" in subquery selector, expected number, duration, step(), range(), or "]""#,
        ),
        (
            "foo[1.5h]",
            r#"1:5: parse error: unknown unit "." in duration "1.5h""#,
        ),
        (
            "foo[5m1h]",
            r#"1:5: parse error: not a valid duration string: "5m1h""#,
        ),
        ("foo[5m/0]", "1:7: parse error: division by zero"),
        ("foo[5m%(0)]", "1:7: parse error: modulo by zero"),
        (
            "foo offset",
            "1:11: parse error: unexpected end of input in offset, expected number, duration, step(), or range()",
        ),
        (
            "foo offset bar",
            r#"1:12: parse error: unexpected identifier "bar" in offset, expected number, duration, step(), or range()"#,
        ),
        (
            "foo offset 5m offset 1m",
            "1:1: parse error: offset may not be set multiple times",
        ),
        (
            "foo @ 1 @ 2",
            "1:1: parse error: @ <timestamp> may not be set multiple times",
        ),
        (
            "foo @ start() @ 2",
            "1:1: parse error: @ <timestamp> may not be set multiple times",
        ),
        (
            "foo @",
            "1:6: parse error: unexpected end of input in @, expected timestamp",
        ),
        (
            "foo @ bar",
            r#"1:7: parse error: unexpected identifier "bar" in @, expected timestamp"#,
        ),
        (
            "foo @ +Inf",
            "1:7: parse error: timestamp out of bounds for @ modifier: +Inf",
        ),
        (
            "foo @ NaN",
            "1:7: parse error: timestamp out of bounds for @ modifier: NaN",
        ),
        (
            "sum(foo) offset 1m",
            "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        (
            "rate(some_metric[5m]) @ 1234",
            "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        (
            "(foo + bar)[5m]",
            "1:12: parse error: ranges only allowed for vector selectors",
        ),
        (
            "foo offset 1m [5m]",
            "1:15: parse error: no offset modifiers allowed before range",
        ),
        (
            "foo @ 1 [5m]",
            "1:9: parse error: no @ modifiers allowed before range",
        ),
        (
            "foo[5m][5m]",
            "1:8: parse error: ranges only allowed for vector selectors",
        ),
        (
            "foo[5m][5m:1m]",
            "1:1: parse error: subquery is only allowed on instant vector, got matrix instead",
        ),
        (
            "rate(some_metric)",
            r#"1:6: parse error: expected type range vector in call to function "rate", got instant vector"#,
        ),
        (
            "label_replace(a, b, c)",
            r#"1:1: parse error: expected 5 argument(s) in call to "label_replace", got 3"#,
        ),
        (
            "floor()",
            r#"1:1: parse error: expected 1 argument(s) in call to "floor", got 0"#,
        ),
        (
            "round(foo, 1, 2)",
            r#"1:1: parse error: expected at most 2 argument(s) in call to "round", got 3"#,
        ),
        (
            "label_join(a, \"b\")",
            r#"1:1: parse error: expected at least 3 argument(s) in call to "label_join", got 2"#,
        ),
        (
            "non_existent_function_far_bar()",
            r#"1:1: parse error: unknown function with name "non_existent_function_far_bar""#,
        ),
        (
            "RATE(x[5m])",
            r#"1:1: parse error: unknown function with name "RATE""#,
        ),
        (
            "rate(x[5m],)",
            "1:11: parse error: trailing commas not allowed in function call args",
        ),
        (
            r#"sum by ("foo)(some_metric)"#,
            "1:9: parse error: unterminated quoted string",
        ),
        (
            "sum without(==)(some_metric)",
            "1:13: parse error: unexpected <op:==> in grouping opts, expected label",
        ),
        (
            "sum without(,)(some_metric)",
            r#"1:13: parse error: unexpected "," in grouping opts, expected label"#,
        ),
        (
            "sum without(foo,,)(some_metric)",
            r#"1:17: parse error: unexpected "," in grouping opts, expected label"#,
        ),
        (
            "sum some_metric by (test)",
            r#"1:5: parse error: unexpected identifier "some_metric""#,
        ),
        (
            "sum (some_metric) by test",
            r#"1:22: parse error: unexpected identifier "test" in grouping opts, expected "(""#,
        ),
        (
            "sum () by (test)",
            "1:1: parse error: no arguments for aggregate expression provided",
        ),
        (
            "MIN keep_common (some_metric)",
            r#"1:5: parse error: unexpected identifier "keep_common""#,
        ),
        (
            "MIN (some_metric) keep_common",
            r#"1:19: parse error: unexpected identifier "keep_common""#,
        ),
        (
            "sum (some_metric) without (test) by (test)",
            "1:34: parse error: unexpected <by>",
        ),
        (
            "sum without (test) (some_metric) by (test)",
            "1:34: parse error: unexpected <by>",
        ),
        (
            "topk(some_metric)",
            "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
        ),
        (
            "topk(some_metric, other_metric)",
            "1:6: parse error: expected type scalar in aggregation parameter, got instant vector",
        ),
        (
            "count_values(5, other_metric)",
            "1:14: parse error: expected type string in aggregation parameter, got scalar",
        ),
        (
            "sum(1)",
            "1:5: parse error: expected type instant vector in aggregation expression, got scalar",
        ),
        (
            "sum by (\"\") (x)",
            r#"1:9: parse error: invalid label name for grouping: """#,
        ),
        (
            "sum by (nan) (x)",
            r#"1:9: parse error: unexpected number "nan" in grouping opts, expected label"#,
        ),
        (
            r#""a" + 1"#,
            "1:1: parse error: binary expression must contain only scalar and instant vector types",
        ),
        (
            "x + y[5m]",
            "1:5: parse error: binary expression must contain only scalar and instant vector types",
        ),
        (
            "-x[5m]",
            r#"1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#,
        ),
        (
            "1[5m:]",
            "1:1: parse error: subquery is only allowed on instant vector, got scalar instead",
        ),
        (
            r#"foo{a=~"("}"#,
            r#"1:5: parse error: invalid regular expression "(": unclosed group at bytes 0..1"#,
        ),
        (
            r#""\q""#,
            "1:1: parse error: unknown escape sequence U+0071 'q'",
        ),
        (
            r#"x{a="\xff"}"#,
            r#"1:5: parse error: error unquoting string "\"\\xff\"": escapes do not form valid UTF-8"#,
        ),
        (
            "foo !x",
            "1:5: parse error: unexpected character after '!': 'x'",
        ),
        (
            "foo =~ bar",
            "1:5: parse error: unexpected character after '=': '~'",
        ),
        ("foo = bar", r#"1:5: parse error: unexpected "=""#),
        ("foo bool bar", "1:5: parse error: unexpected <bool>"),
        ("bool", "1:1: parse error: unexpected <bool>"),
        ("a:b(x)", r#"1:4: parse error: unexpected "(""#),
        (
            "1e400",
            r#"1:1: parse error: error parsing number: strconv.ParseFloat: parsing "1e400": value out of range"#,
        ),
        (
            "foo offset 9.5e10",
            "1:12: parse error: duration out of range",
        ),
        ("foo[9.5e10]", "1:5: parse error: duration out of range"),
        ("foo[300y]", "1:5: parse error: duration out of range"),
        (
            "sum(x) anchored",
            "1:1: parse error: anchored modifier must be preceded by an instant vector selector or range vector selector",
        ),
        (
            "x[5m:] anchored",
            "1:1: parse error: anchored modifier is not supported for subqueries",
        ),
        (
            "x anchored smoothed",
            "1:1: parse error: anchored and smoothed modifiers cannot be used together",
        ),
        (
            "a + fill(1) fill(2) b",
            "1:13: parse error: unexpected <fill> in binary modifiers",
        ),
        (
            "a + fill(x) b",
            r#"1:10: parse error: unexpected identifier "x" in fill modifier, expected number"#,
        ),
        (
            "a + fill(1) 2",
            "1:1: parse error: filling in missing series only allowed between instant vectors",
        ),
        (
            "a and fill(1) b",
            "1:1: parse error: filling in missing series not allowed for set operators",
        ),
        (
            "info(x, y)",
            "1:9: parse error: expected label selectors only, got vector selector instead",
        ),
        (
            "info(x, 1)",
            r#"1:9: parse error: expected type instant vector in call to function "info", got scalar"#,
        ),
        (
            "info(x, sum(y))",
            "1:9: parse error: expected label selectors only",
        ),
        ("x\n  + ", "2:5: parse error: unexpected end of input"),
        (
            "sum(x) by",
            r#"1:10: parse error: unexpected end of input in grouping opts, expected "(""#,
        ),
        (
            "a + on b",
            r#"1:8: parse error: unexpected identifier "b" in grouping opts, expected "(""#,
        ),
        (
            "min_of(1)",
            r#"1:1: parse error: expected 2 argument(s) in call to "min_of", got 1"#,
        ),
        ("foo(a b)", r#"1:7: parse error: unexpected identifier "b""#),
        (
            "histogram_quantiles(x, \"q\")",
            r#"1:1: parse error: expected at least 3 argument(s) in call to "histogram_quantiles", got 2"#,
        ),
    ];
    let mut failures = Vec::new();
    for (input, want) in cases {
        match parse(input) {
            Ok(e) => failures.push(format!("{input:?}: parsed as {e}")),
            Err(e) if e.to_string() == *want => {}
            Err(e) => failures.push(format!("{input:?}:\n   got {e}\n  want {want}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_details() {
    let e = parse("sum(x) +\n  rate(y)").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::Type);
    assert_eq!((e.line(), e.column()), (2, 8));
    assert_eq!(e.span().start, 16);
    assert_eq!(e.caret("sum(x) +\n  rate(y)"), "  rate(y)\n       ^");
    assert_eq!(
        e.message(),
        r#"expected type range vector in call to function "rate", got instant vector"#
    );
    assert_eq!(parse("(").unwrap_err().kind(), ParseErrorKind::Lex);
    assert_eq!(parse("a b").unwrap_err().kind(), ParseErrorKind::Syntax);
    assert_eq!(parse("{}").unwrap_err().kind(), ParseErrorKind::Invalid);
    // Columns count bytes, as Prometheus does.
    assert_eq!(
        err(r#"x{a="é"} +"#),
        "1:12: parse error: unexpected end of input"
    );
}

#[test]
fn feature_flags() {
    let strict = ParseOptions::prometheus_defaults();
    let e = |q: &str| strict.parse(q).unwrap_err().to_string();
    assert_eq!(
        e("info(x)"),
        r#"1:1: parse error: function "info" is not enabled"#
    );
    assert_eq!(
        e("limitk(1, x)"),
        "1:1: parse error: limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
    );
    assert_eq!(
        e("x[5m+1m]"),
        "1:3: parse error: experimental duration expression is not enabled"
    );
    assert_eq!(
        e("x offset step()"),
        "1:10: parse error: experimental duration expression is not enabled"
    );
    assert_eq!(
        e("step()"),
        "1:1: parse error: experimental duration expression is not enabled"
    );
    assert_eq!(
        e("x[5m] anchored"),
        "1:1: parse error: anchored modifier is experimental and not enabled"
    );
    assert_eq!(
        e("a + fill(0) b"),
        "1:1: parse error: binop fill modifiers are experimental and not enabled"
    );
    for ok in ["x[5m]", "x offset -5m", "x[1800]", "rate(x[5m] @ start())"] {
        strict.parse(ok).unwrap();
    }
    assert_eq!(strict.parse("a + fill").unwrap().to_string(), "a + fill");
}

#[test]
fn metric_selector_parser() {
    let v = parse_metric_selector(r#"{__name__=~"up|down", job="x"}"#).unwrap();
    assert_eq!(v.name, None);
    assert_eq!(v.matchers.len(), 2);
    assert!(parse_metric_selector("up offset 5m").is_err());
    assert!(parse_metric_selector("sum(up)").is_err());
    assert!(parse_metric_selector("{}").is_err());
    assert!(parse_metric_selector("").is_err());
}

// ----- nesting -----

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 100_000;
    let inputs = [
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}1", "-".repeat(n)),
        format!("{}x{}", "sum(".repeat(n), ")".repeat(n)),
        format!("{}x{}", "abs(".repeat(n), ")".repeat(n)),
        format!("1{}", "+1".repeat(n)),
        format!("1{}", "^1".repeat(n)),
        format!("x{}", "[1m:]".repeat(n)),
        format!("x[{}5m{}]", "(".repeat(n), ")".repeat(n)),
        format!("x[5m{}]", "+1m".repeat(n)),
        format!("x offset {}1{}", "-(".repeat(n), ")".repeat(n)),
        "(".repeat(n),
    ];
    for input in inputs {
        let e = parse(&input).unwrap_err();
        assert!(
            matches!(e.kind(), ParseErrorKind::TooDeep | ParseErrorKind::Lex),
            "{}: {e}",
            &input[..20]
        );
    }
    let e = parse(&format!("{}1{}", "(".repeat(300), ")".repeat(300))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:257: parse error: expression nested too deeply (more than 256 levels)"
    );
}

#[test]
fn deepest_accepted_trees_are_safe_to_use() {
    // The deepest trees the default limit lets through are parsed, checked, printed, cloned
    // and dropped on a thread with a small stack.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            for input in [
                format!("{}1{}", "(".repeat(250), ")".repeat(250)),
                format!("{}x{}", "sum(".repeat(120), ")".repeat(120)),
                format!("x{}", " + x".repeat(250)),
                format!("{}x{}", "-(".repeat(120), ")".repeat(120)),
                format!("{}x{}", "max_over_time(".repeat(80), "[1m:])".repeat(80)),
                format!("x[{}5m{}]", "(step()+".repeat(120), ")".repeat(120)),
            ] {
                let e = parse(&input).unwrap_or_else(|e| panic!("{e}"));
                let printed = e.to_string();
                let again = parse(&printed).unwrap();
                assert_eq!(shape(again), shape(e.clone()));
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

// ----- robustness -----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,60}") {
        let _ = parse(&s);
    }

    #[test]
    fn never_panics_on_token_soup(parts in proptest::collection::vec(prop::sample::select(vec![
        "(", ")", "[", "]", "{", "}", ",", ":", "=", "==", "!=", "=~", "!~", "+", "-", "*", "/",
        "%", "^", "@", "<", ">=", " ", "\n", "#c\n", "1", "0x1f", "1e3", ".5", "5m", "1h30m",
        "Inf", "NaN", "\"s\"", "'s'", "`s`", "\"\\x41\"", "x", "a:b", "sum", "by", "without",
        "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless",
        "atan2", "rate", "abs", "label_replace", "topk", "count_values", "start", "end", "step",
        "range", "min_of", "max_of", "anchored", "smoothed", "fill", "fill_left", "__name__",
        "info", "time", "vector", "histogram_quantile",
    ]), 0..30)) {
        let s = parts.concat();
        if let Ok(e) = parse(&s) {
            assert_round_trip(&e);
        }
    }
}

// ----- round trips over generated trees -----

fn sp() -> Span {
    Span::default()
}

fn num(v: f64) -> Expr {
    Expr::Number(NumberLiteral {
        value: v,
        is_duration: false,
        span: sp(),
    })
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(ParenExpr {
        expr: e,
        span: sp(),
    }))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(Box::new(Call {
        func: Function::lookup(name).unwrap(),
        args,
        span: sp(),
    }))
}

/// Whether the printed expression can be followed directly by `[`, `offset`, `@`.
fn is_postfix_safe(e: &Expr) -> bool {
    matches!(
        e,
        Expr::VectorSelector(_)
            | Expr::Call(_)
            | Expr::Aggregate(_)
            | Expr::Paren(_)
            | Expr::MatrixSelector(_)
            | Expr::Subquery(_)
    )
}

fn is_signed_literal(e: &Expr) -> bool {
    matches!(e, Expr::Number(n) if n.value.is_sign_negative() || n.value == f64::INFINITY)
}

/// Wraps operands in parentheses where the printed text would otherwise parse differently,
/// as the parser's own trees always have them.
fn binary(
    op: BinaryOp,
    mut lhs: Expr,
    mut rhs: Expr,
    return_bool: bool,
    matching: Option<VectorMatching>,
) -> Expr {
    let p = op.precedence();
    let needs_left = match &lhs {
        Expr::Binary(b) => {
            let lp = b.op.precedence();
            lp < p || (lp == p && op.is_right_associative())
        }
        Expr::Unary(_) => op == BinaryOp::Pow,
        e => op == BinaryOp::Pow && is_signed_literal(e),
    };
    if needs_left {
        lhs = paren(lhs);
    }
    let needs_right = match &rhs {
        Expr::Binary(b) => {
            let rp = b.op.precedence();
            rp < p || (rp == p && !op.is_right_associative())
        }
        _ => false,
    };
    if needs_right {
        rhs = paren(rhs);
    }
    Expr::Binary(Box::new(BinaryExpr {
        op,
        lhs,
        rhs,
        return_bool,
        matching,
        span: sp(),
    }))
}

fn unary(op: UnaryOp, e: Expr) -> Expr {
    let e = match e {
        Expr::Binary(b) if b.op != BinaryOp::Pow => paren(Expr::Binary(b)),
        Expr::Binary(b) if is_signed_literal(&b.lhs) || matches!(b.lhs, Expr::Unary(_)) => {
            paren(Expr::Binary(b))
        }
        n @ Expr::Number(_) => paren(n),
        other => other,
    };
    Expr::Unary(Box::new(UnaryExpr {
        op,
        expr: e,
        span: sp(),
    }))
}

const LABELS: &[&str] = &[
    "job",
    "instance",
    "a",
    "le",
    "code",
    "__name__x",
    "a.b",
    "ü",
    "by",
    "sum",
    "on",
    "bool",
    "offset",
    "x:y",
    "inf",
    "with space",
    "quote\"d",
    "0",
];
const NAMES: &[&str] = &[
    "up",
    "http_requests_total",
    "job:rate5m:sum",
    "sum",
    "by",
    "offset",
    "and",
    "start",
    "step",
    "anchored",
    "fill",
    "min_of",
    "x",
];
const REGEXES: &[&str] = &["a|b", ".*", ".+", "foo.*", "[0-9]+", "(x|y)z?", "", "é+"];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,6}",
        "\\PC{0,6}",
        Just("with \"quotes\" and \\ backslash\n\ttab".to_string()),
        Just("\u{1}\u{7f}\u{85}".to_string()),
    ]
}

fn arb_matcher() -> impl Strategy<Value = Matcher> {
    (
        prop::sample::select(LABELS),
        0..4u8,
        arb_string(),
        prop::sample::select(REGEXES),
    )
        .prop_map(|(name, kind, value, re)| match kind {
            0 => Matcher::equal(name, value),
            1 => Matcher::not_equal(name, value),
            2 => Matcher::new(MatchType::RegexMatch, name, re).unwrap(),
            _ => Matcher::new(MatchType::RegexNoMatch, name, re).unwrap(),
        })
}

fn arb_duration_expr(depth: u32) -> BoxedStrategy<DurationExpr> {
    let d = |kind| DurationExpr { kind, span: sp() };
    let leaf = prop_oneof![
        (1..100_000u32).prop_map(move |v| d(DurationKind::Number(f64::from(v) / 4.0))),
        (1..10_000_000i64).prop_map(move |ms| d(DurationKind::Duration(ms))),
        Just(d(DurationKind::Step)),
        Just(d(DurationKind::Range)),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let inner = arb_duration_expr(depth - 1);
    prop_oneof![
        2 => leaf,
        1 => inner.clone().prop_map(move |e| match e.kind {
            // The parser drops parentheses around a literal.
            DurationKind::Number(_) | DurationKind::Duration(_) => e,
            _ => d(DurationKind::Paren(Box::new(e))),
        }),
        1 => inner.clone().prop_map(move |e| {
            // As the parser builds it: a sign on a literal is folded, and `-` binds looser
            // than `^` only.
            match e.kind {
                DurationKind::Number(v) => d(DurationKind::Number(-v)),
                DurationKind::Duration(ms) => d(DurationKind::Duration(-ms)),
                DurationKind::Binary { op, .. } if op != BinaryOp::Pow => {
                    d(DurationKind::Neg(Box::new(d(DurationKind::Paren(Box::new(e))))))
                }
                _ => d(DurationKind::Neg(Box::new(e))),
            }
        }),
        1 => (inner.clone(), inner.clone(), any::<bool>()).prop_map(move |(a, b, min)| {
            if min {
                d(DurationKind::MinOf(Box::new(a), Box::new(b)))
            } else {
                d(DurationKind::MaxOf(Box::new(a), Box::new(b)))
            }
        }),
        2 => (inner.clone(), inner, prop::sample::select(vec![
            BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Pow,
        ]))
            .prop_map(move |(a, b, op)| duration_binary(op, a, b)),
    ]
    .boxed()
}

fn duration_binary(op: BinaryOp, mut a: DurationExpr, mut b: DurationExpr) -> DurationExpr {
    let wrap = |e: DurationExpr| DurationExpr {
        kind: DurationKind::Paren(Box::new(e)),
        span: sp(),
    };
    let p = op.precedence();
    let needs_left = match &a.kind {
        DurationKind::Binary { op: l, .. } => {
            l.precedence() < p || (l.precedence() == p && op.is_right_associative())
        }
        DurationKind::Neg(_) => op == BinaryOp::Pow,
        _ => false,
    };
    if needs_left {
        a = wrap(a);
    }
    let needs_right = match &b.kind {
        DurationKind::Binary { op: r, .. } => {
            r.precedence() < p || (r.precedence() == p && !op.is_right_associative())
        }
        _ => false,
    };
    if needs_right {
        b = wrap(b);
    }
    DurationExpr {
        kind: DurationKind::Binary {
            op,
            lhs: Box::new(a),
            rhs: Box::new(b),
        },
        span: sp(),
    }
}

/// A non-literal duration, as the parser leaves them (literals become `Millis`).
fn arb_expr_duration() -> impl Strategy<Value = Duration> {
    arb_duration_expr(2).prop_filter_map("literal", |e| match e.kind {
        DurationKind::Number(_) | DurationKind::Duration(_) => None,
        _ => Some(Duration::Expr(Box::new(e))),
    })
}

fn arb_positive_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![3 => (1..100_000_000i64).prop_map(Duration::Millis), 1 => arb_expr_duration()]
}

/// Offsets: a signed constant or an expression in the shapes `offset` reads without
/// parentheses (a call-like primary, optionally negated, or a parenthesised expression).
fn arb_offset() -> impl Strategy<Value = Option<Duration>> {
    let d = |kind| DurationExpr { kind, span: sp() };
    prop_oneof![
        2 => Just(None),
        2 => (-100_000_000i64..100_000_000).prop_map(|ms| (ms != 0).then_some(Duration::Millis(ms))),
        1 => (arb_duration_expr(2), any::<bool>()).prop_filter_map("literal", move |(e, neg)| {
            let e = match e.kind {
                DurationKind::Number(_) | DurationKind::Duration(_) => return None,
                DurationKind::Step | DurationKind::Range | DurationKind::MinOf(..)
                | DurationKind::MaxOf(..) | DurationKind::Paren(_) => e,
                _ => d(DurationKind::Paren(Box::new(e))),
            };
            let e = if neg { d(DurationKind::Neg(Box::new(e))) } else { e };
            Some(Some(Duration::Expr(Box::new(e))))
        }),
    ]
}

fn arb_at() -> impl Strategy<Value = Option<AtModifier>> {
    prop_oneof![
        3 => Just(None),
        1 => (-10_000_000_000_000i64..10_000_000_000_000).prop_map(|ms| Some(AtModifier::Timestamp(ms))),
        1 => Just(Some(AtModifier::Start)),
        1 => Just(Some(AtModifier::End)),
    ]
}

fn arb_extension() -> impl Strategy<Value = Option<RangeExtension>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(RangeExtension::Anchored)),
        1 => Just(Some(RangeExtension::Smoothed)),
    ]
}

/// A selector in the canonical shape: matchers sorted by their text, a name matcher last.
fn arb_selector() -> impl Strategy<Value = VectorSelector> {
    (
        prop::option::of(prop::sample::select(NAMES)),
        prop::collection::vec(arb_matcher(), 0..4),
        "[a-z]{1,5}",
    )
        .prop_map(|(name, mut matchers, fallback)| {
            matchers.retain(|m| m.name() != "__name__");
            if name.is_none() && matchers.iter().all(|m| m.matches_empty()) {
                matchers.push(Matcher::equal("job", fallback));
            }
            matchers.sort_by_key(|m| m.to_string());
            if let Some(n) = name {
                matchers.push(Matcher::equal("__name__", n));
            }
            VectorSelector {
                name: name.map(str::to_string),
                matchers,
                offset: None,
                at: None,
                extension: None,
                span: sp(),
            }
        })
}

fn arb_vector_leaf() -> impl Strategy<Value = Expr> {
    (arb_selector(), arb_offset(), arb_at(), arb_extension()).prop_map(
        |(mut v, offset, at, ext)| {
            v.offset = offset;
            v.at = at;
            v.extension = ext;
            Expr::VectorSelector(Box::new(v))
        },
    )
}

fn arb_matrix() -> impl Strategy<Value = Expr> {
    (
        arb_selector(),
        arb_positive_duration(),
        arb_offset(),
        arb_at(),
        arb_extension(),
    )
        .prop_map(|(mut v, range, offset, at, ext)| {
            v.offset = offset;
            v.at = at;
            v.extension = ext;
            Expr::MatrixSelector(Box::new(MatrixSelector {
                selector: v,
                range,
                span: sp(),
            }))
        })
}

fn arb_scalar_leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        4 => (0..1_000_000u32).prop_map(|v| num(f64::from(v))),
        2 => any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(num),
        1 => Just(num(f64::NAN)),
        1 => Just(num(f64::INFINITY)),
        1 => Just(num(f64::NEG_INFINITY)),
        1 => Just(num(-0.0)),
        1 => (-10_000_000i64..10_000_000).prop_map(|ms| Expr::Number(NumberLiteral {
            value: ms as f64 / 1000.0,
            is_duration: true,
            span: sp(),
        })),
        1 => prop::sample::select(vec!["time", "pi", "step", "range", "start", "end"])
            .prop_map(|f| call(f, vec![])),
    ]
}

fn arb_labels() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(LABELS).prop_map(str::to_string), 0..3)
}

fn arb_expr(ty: ValueType, depth: u32) -> BoxedStrategy<Expr> {
    match ty {
        ValueType::String => arb_string()
            .prop_map(|value| {
                Expr::String(StringLiteral {
                    value,
                    bytes: None,
                    span: sp(),
                })
            })
            .boxed(),
        ValueType::Matrix => {
            if depth == 0 {
                return arb_matrix().boxed();
            }
            let inner = arb_expr(ValueType::Vector, depth - 1);
            prop_oneof![
                2 => arb_matrix(),
                1 => (inner, arb_positive_duration(), prop::option::of(arb_positive_duration()), arb_offset(), arb_at())
                    .prop_map(|(e, range, step, offset, at)| {
                        let expr = if is_postfix_safe(&e) && !matches!(e, Expr::MatrixSelector(_) | Expr::Subquery(_)) { e } else { paren(e) };
                        Expr::Subquery(Box::new(SubqueryExpr { expr, range, step, offset, at, span: sp() }))
                    }),
            ]
            .boxed()
        }
        ValueType::Scalar => {
            if depth == 0 {
                return arb_scalar_leaf().boxed();
            }
            let s = arb_expr(ValueType::Scalar, depth - 1);
            let v = arb_expr(ValueType::Vector, depth - 1);
            prop_oneof![
                3 => arb_scalar_leaf(),
                1 => s.clone().prop_map(paren),
                1 => (s.clone(), any::<bool>()).prop_map(|(e, neg)| unary(if neg { UnaryOp::Neg } else { UnaryOp::Pos }, e)),
                2 => (s.clone(), s.clone(), arb_arith_or_cmp()).prop_map(|(a, b, (op, cmp))| {
                    binary(op, a, b, cmp, None)
                }),
                1 => v.prop_map(|e| call("scalar", vec![e])),
                1 => (s.clone(), s).prop_map(|(a, b)| call("min_of", vec![a, b])),
            ]
            .boxed()
        }
        ValueType::Vector => {
            if depth == 0 {
                return arb_vector_leaf().boxed();
            }
            let v = arb_expr(ValueType::Vector, depth - 1);
            let s = arb_expr(ValueType::Scalar, depth - 1);
            let m = arb_expr(ValueType::Matrix, depth - 1);
            let st = arb_expr(ValueType::String, 0);
            prop_oneof![
                3 => arb_vector_leaf(),
                1 => v.clone().prop_map(paren),
                1 => (v.clone(), any::<bool>()).prop_map(|(e, neg)| unary(if neg { UnaryOp::Neg } else { UnaryOp::Pos }, e)),
                3 => (v.clone(), v.clone(), arb_vector_op(), arb_matching()).prop_map(|(a, b, (op, cmp), m)| {
                    let m = fix_matching(op, m);
                    binary(op, a, b, cmp, Some(m))
                }),
                1 => (v.clone(), s.clone(), arb_arith_or_cmp(), any::<bool>()).prop_map(|(a, b, (op, cmp), swap)| {
                    let cmp = cmp && op.is_comparison();
                    if swap { binary(op, b, a, cmp, None) } else { binary(op, a, b, cmp, None) }
                }),
                2 => (v.clone(), arb_agg_op(), arb_labels(), any::<bool>(), s.clone(), st.clone()).prop_map(
                    |(e, op, grouping, without, sparam, stparam)| {
                        let param = match op.param_type() {
                            Some(ValueType::String) => Some(stparam),
                            Some(_) => Some(sparam),
                            None => None,
                        };
                        Expr::Aggregate(Box::new(AggregateExpr { op, expr: e, param, grouping, without, span: sp() }))
                    }
                ),
                2 => m.prop_map(|e| call("rate", vec![e])),
                1 => (v.clone(), s.clone(), s.clone()).prop_map(|(e, a, b)| call("clamp", vec![e, a, b])),
                1 => (v.clone(), st.clone()).prop_map(|(e, l)| call("label_replace", vec![e, l.clone(), l.clone(), l.clone(), l])),
                1 => (s.clone(), v.clone()).prop_map(|(q, e)| call("histogram_quantile", vec![q, e])),
                1 => s.prop_map(|e| call("vector", vec![e])),
                1 => v.prop_map(|e| call("abs", vec![e])),
            ]
            .boxed()
        }
    }
}

fn arb_arith_or_cmp() -> impl Strategy<Value = (BinaryOp, bool)> {
    prop::sample::select(vec![
        (BinaryOp::Add, false),
        (BinaryOp::Sub, false),
        (BinaryOp::Mul, false),
        (BinaryOp::Div, false),
        (BinaryOp::Mod, false),
        (BinaryOp::Pow, false),
        (BinaryOp::Atan2, false),
        (BinaryOp::Eql, true),
        (BinaryOp::Gte, true),
        (BinaryOp::Lss, true),
    ])
}

fn arb_vector_op() -> impl Strategy<Value = (BinaryOp, bool)> {
    prop::sample::select(vec![
        (BinaryOp::Add, false),
        (BinaryOp::Sub, false),
        (BinaryOp::Mul, false),
        (BinaryOp::Pow, false),
        (BinaryOp::Atan2, false),
        (BinaryOp::Eql, false),
        (BinaryOp::Neq, true),
        (BinaryOp::Gtr, false),
        (BinaryOp::Lte, true),
        (BinaryOp::TrimUpper, false),
        (BinaryOp::TrimLower, false),
        (BinaryOp::And, false),
        (BinaryOp::Or, false),
        (BinaryOp::Unless, false),
    ])
}

fn arb_agg_op() -> impl Strategy<Value = AggregateOp> {
    prop::sample::select(vec![
        AggregateOp::Sum,
        AggregateOp::Avg,
        AggregateOp::Count,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Group,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Topk,
        AggregateOp::Bottomk,
        AggregateOp::CountValues,
        AggregateOp::Quantile,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ])
}

fn arb_matching() -> impl Strategy<Value = VectorMatching> {
    (
        0..4u8,
        any::<bool>(),
        arb_labels(),
        arb_labels(),
        prop::option::of(prop_oneof![Just(f64::NAN), -10.0..10.0f64, Just(0.0)]),
        prop::option::of(-10.0..10.0f64),
        any::<bool>(),
    )
        .prop_map(|(card, on, labels, include, l, r, both)| {
            let card = match card {
                0 | 1 => Cardinality::OneToOne,
                2 => Cardinality::ManyToOne,
                _ => Cardinality::OneToMany,
            };
            let fill = if both {
                FillValues { lhs: l, rhs: l }
            } else {
                FillValues { lhs: l, rhs: r }
            };
            VectorMatching {
                card,
                on,
                labels,
                include,
                fill,
            }
        })
}

/// Makes generated matching valid for the operator, in the canonical shape.
fn fix_matching(op: BinaryOp, mut m: VectorMatching) -> VectorMatching {
    if op.is_set_operator() {
        m.card = Cardinality::ManyToMany;
        m.include.clear();
        m.fill = FillValues::default();
    }
    if m.card == Cardinality::OneToOne || m.card == Cardinality::ManyToMany {
        m.include.clear();
    }
    if m.on {
        let labels = m.labels.clone();
        m.include.retain(|l| !labels.contains(l));
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn printed_trees_parse_back_equal(e in prop_oneof![
        arb_expr(ValueType::Vector, 4),
        arb_expr(ValueType::Scalar, 3),
        arb_expr(ValueType::Matrix, 3),
        arb_expr(ValueType::String, 0),
    ]) {
        let text = e.to_string();
        let parsed = parse(&text).map_err(|err| TestCaseError::fail(format!("{text}\n{err}")))?;
        prop_assert_eq!(parsed.to_string(), text.clone());
        prop_assert_eq!(shape(parsed), e, "{}", text);
    }
}

#[test]
fn parse_error_is_a_std_error() {
    fn takes(_: &dyn std::error::Error) {}
    let e: ParseError = parse("(").unwrap_err();
    takes(&e);
}

// ----- real queries from ../shared/conformance -----

fn conformance_dir(sub: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not found", dir.display());
        None
    }
}

/// Every expression evaluated by Prometheus's PromQL test suite parses (the suite runs with
/// every optional feature on), and prints to text that parses back to the same tree.
#[test]
fn every_conformance_eval_expression_parses() {
    let Some(dir) = conformance_dir("promql") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let (mut total, mut failures) = (0, Vec::new());
    for file in &files {
        let script = prom_promql::script::parse_script_file(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let mut ok = 0;
        let mut n = 0;
        for eval in script.evals() {
            n += 1;
            match parse(&eval.expr) {
                Ok(e) => {
                    assert_canonical_round_trip(&e);
                    ok += 1;
                }
                Err(e) => failures.push(format!("{name}:{}: {:?}: {e}", eval.expr_line, eval.expr)),
            }
        }
        eprintln!("{name}: {ok}/{n} expressions parse");
        total += n;
    }
    assert!(total > 2000, "only {total} eval expressions found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The `expr:` values of a YAML file: `expr: text`, `expr: 'text'` and `expr: |` blocks.
fn yaml_exprs(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(at) = line.find("expr:") else {
            continue;
        };
        let key = line[..at].trim_start_matches(' ');
        if !(key.is_empty() || key == "- ") {
            continue;
        }
        let value = line[at + 5..].trim();
        if value.starts_with('|') || value.starts_with('>') {
            let mut block = Vec::new();
            while i < lines.len()
                && (lines[i].trim().is_empty() || lines[i].len() - lines[i].trim_start().len() > at)
            {
                block.push(lines[i].trim_end());
                i += 1;
            }
            out.push(block.join("\n"));
        } else if let Some(v) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            out.push(v.replace("''", "'"));
        } else if let Some(v) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            out.push(v.to_string());
        } else {
            out.push(value.to_string());
        }
    }
    out
}

/// The alerting and recording rules of kube-prometheus (real-world queries) parse and round-trip.
#[test]
fn kube_prometheus_rules_parse() {
    let Some(dir) = conformance_dir("kube-prometheus/manifests") else {
        return;
    };
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with("prometheusRule.yaml") {
            continue;
        }
        for expr in yaml_exprs(&std::fs::read_to_string(&path).unwrap()) {
            let e = parse(&expr).unwrap_or_else(|e| panic!("{}: {expr}\n{e}", path.display()));
            assert_canonical_round_trip(&e);
            n += 1;
        }
    }
    eprintln!("{n} kube-prometheus rule expressions parse");
    assert!(n > 200, "only {n} expressions found");
}

#[test]
fn duration_min_max_follow_go() {
    let Expr::MatrixSelector(m) = parse("x[max_of(step(), 1s)]").unwrap() else {
        panic!()
    };
    let Duration::Expr(d) = &m.range else {
        panic!()
    };
    assert_eq!(d.eval_seconds(Some(5.0), None), Some(5.0));
    assert!(d.eval_seconds(Some(f64::NAN), None).unwrap().is_nan());
    assert_eq!(parse("x[5m:step()]").unwrap().to_string(), "x[5m:step()]");
}
