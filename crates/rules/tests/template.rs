//! Template expansion against expected strings derived from Go's `text/template` and
//! Prometheus's template reference, and (with `PROM_INTEROP=1`) against real Prometheus:
//! every case marked `go` is expanded by `promtool test rules`, which must agree byte for byte.

use std::path::Path;
use std::process::Command;

use prom_model::Labels;
use prom_rules::template::{
    AlertTemplateData, FuncMap, Limits, Template, TemplateError, TemplateQuery, Ty, Value, check,
    check_alert, expand_alert,
};

/// The series the interop test feeds promtool, and what the fake query engine returns for `up`.
const INSTANCE: &str = "db-1.example.com:9100";
const VALUE: f64 = 1234567.0;
/// promtool evaluates at 5m.
const AT_MS: i64 = 300_000;

struct FakeQuery;

impl TemplateQuery for FakeQuery {
    fn query(&self, expr: &str, _at_ms: i64) -> Result<Vec<(Labels, f64)>, String> {
        match expr {
            "up" => Ok(vec![(
                Labels::from_pairs(&[("__name__", "up"), ("instance", INSTANCE), ("job", "node")]),
                VALUE,
            )]),
            "nothing" => Ok(vec![]),
            "scalar(vector(3))" => Ok(vec![(Labels::new(), 3.0)]),
            "sum(up)" => Ok(vec![(Labels::new(), VALUE)]),
            r#"up{instance="db-1.example.com:9100"}"# => Ok(vec![(
                Labels::from_pairs(&[("__name__", "up"), ("instance", INSTANCE), ("job", "node")]),
                VALUE,
            )]),
            _ => Err(format!("unknown expression {expr:?}")),
        }
    }
}

fn alert_labels() -> Labels {
    Labels::from_pairs(&[("__name__", "up"), ("instance", INSTANCE), ("job", "node")])
}

fn expand(text: &str) -> String {
    let labels = alert_labels();
    let ext = Labels::new();
    let data = AlertTemplateData {
        labels: &labels,
        external_labels: &ext,
        external_url: "",
        value: VALUE,
    };
    expand_alert("T", text, &data, AT_MS, Some(&FakeQuery))
}

fn exec_err(col: usize, at: &str, msg: &str) -> String {
    format!(
        "<error expanding template: error executing template __alert_T: template: __alert_T:1:{col}: executing \"__alert_T\" at <{at}>: {msg}>"
    )
}

fn parse_err(line: usize, msg: &str) -> String {
    format!(
        "<error expanding template: error parsing template __alert_T: template: __alert_T:{line}: {msg}>"
    )
}

/// Column of an offset in the user's text: Prometheus's variable definitions come first.
const P: usize = 112;

/// (template, expected, also checked against promtool 2.42).
fn cases() -> Vec<(&'static str, String, bool)> {
    let s = |x: &str| x.to_string();
    vec![
        // Data and variables.
        ("{{ $value }}", s("1.234567e+06"), true),
        (
            "{{ .Value }}|{{ $.Value }}",
            s("1.234567e+06|1.234567e+06"),
            true,
        ),
        ("{{ $labels.instance }}", s(INSTANCE), true),
        ("{{ .Labels.job }}", s("node"), true),
        ("[{{ $labels.missing }}]", s("[]"), true),
        (
            "{{ $labels }}",
            s("map[__name__:up instance:db-1.example.com:9100 job:node]"),
            true,
        ),
        (
            "{{ $.Labels.job }} {{ index $labels \"job\" }} {{ index .Labels \"nope\" }}|",
            s("node node |"),
            true,
        ),
        (
            "[{{ $externalURL }}][{{ $externalLabels }}][{{ .ExternalURL }}]",
            s("[][map[]][]"),
            true,
        ),
        (
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            s("2"),
            true,
        ),
        (
            "{{ $x := \"outer\" }}{{ with $labels.job }}{{ $x := . }}{{ $x }}{{ end }} {{ $x }}",
            s("node outer"),
            true,
        ),
        // Trim markers and comments.
        ("a  {{- \"b\" -}}  c", s("abc"), true),
        ("a\n\t{{- /* gone */ -}}\n  b", s("ab"), true),
        ("{{/* comment */}}x{{- 3 }}", s("x3"), true),
        ("{{ 3 -}} \n {{- 4 }} {{-3}}", s("34 -3"), true),
        // Control structures.
        (
            "{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}",
            s("big"),
            true,
        ),
        (
            "{{ if eq $labels.job \"api\" }}a{{ else if eq $labels.job \"node\" }}n{{ else }}o{{ end }}",
            s("n"),
            true,
        ),
        (
            "{{ if $labels.nope }}x{{ end }}{{ if not $labels.nope }}y{{ end }}",
            s("y"),
            true,
        ),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            s("__name__=up;instance=db-1.example.com:9100;job=node;"),
            true,
        ),
        (
            "{{ range $labels }}{{ . }},{{ end }}",
            s("up,db-1.example.com:9100,node,"),
            true,
        ),
        (
            "{{ range $v := $labels }}{{ $v }}.{{ end }}",
            s("up.db-1.example.com:9100.node."),
            true,
        ),
        (
            "{{ range query \"nothing\" }}x{{ else }}none{{ end }}",
            s("none"),
            true,
        ),
        (
            "{{ range $k, $v := $labels }}{{ if eq $k \"__name__\" }}{{ continue }}{{ end }}{{ if eq $k \"job\" }}{{ break }}{{ end }}{{ $k }};{{ end }}",
            s("instance;"),
            true,
        ),
        (
            "{{ with $labels.job }}job={{ . }}{{ end }}",
            s("job=node"),
            true,
        ),
        (
            "{{ with $labels.nope }}x{{ else }}empty{{ end }}",
            s("empty"),
            true,
        ),
        (
            "{{ with $j := $labels.job }}{{ $j }}{{ . }}{{ end }}",
            s("nodenode"),
            true,
        ),
        (
            "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" $labels.job }}{{ template \"t\" }}",
            s("[node][<no value>]"),
            true,
        ),
        (
            "{{ block \"b\" $value }}<{{ humanize . }}>{{ end }}",
            s("<1.235M>"),
            true,
        ),
        (
            "{{ template \"x\" args 1 \"a\" }}{{ define \"x\" }}{{ .arg0 }}-{{ .arg1 }}-{{ .arg2 }}{{ end }}",
            s("1-a-<no value>"),
            true,
        ),
        (
            "{{ (index $labels \"job\") | toUpper }} {{ $labels.job | printf \"%s!\" }}",
            s("NODE node!"),
            true,
        ),
        ("{{ (query \"up\" | first).Labels.job }}", s("node"), true),
        // Literals.
        (
            "{{ \"a\\tb\" }}|{{ `raw\\n` }}|{{ 'a' }}|{{ 1.5 }}|{{ 0x10 }}|{{ 1e3 }}|{{ true }}|{{ -2 }}|{{ 1_000 }}|{{ 010 }}",
            s("a\tb|raw\\n|97|1.5|16|1000|true|-2|1000|8"),
            true,
        ),
        (
            "{{ print nil }}|{{ printf \"%v\" nil }}",
            s("<nil>|<nil>"),
            true,
        ),
        // Builtins.
        (
            "{{ and 1 0 }} {{ or 0 \"\" \"x\" }} {{ not true }} {{ and 1 2 }} {{ or 0 false }}",
            s("0 x false 2 false"),
            true,
        ),
        (
            "{{ len $labels }} {{ len \"héllo\" }} {{ len (query \"up\") }}",
            s("3 6 1"),
            true,
        ),
        (
            "{{ slice \"abcdef\" 1 3 }} {{ slice \"abc\" 1 }} {{ index \"abc\" 1 }}",
            s("bc bc 98"),
            true,
        ),
        (
            "{{ print 1 2 \"a\" 3 \"b\" \"c\" }}|{{ println \"a\" 1 }}|",
            s("1 2a3bc|a 1\n|"),
            true,
        ),
        (
            "{{ printf \"%s=%d %5.1f|%-4s|%x %X %o %t %%\" \"a\" 42 3.14159 \"b\" 255 255 8 true }}",
            s("a=42   3.1|b   |ff FF 10 true %"),
            true,
        ),
        (
            "{{ printf \"%.2f %e %g %v %.3g %G %08.2f %+d\" $value $value $value $value $value 1e-7 -3.14159 5 }}",
            s("1234567.00 1.234567e+06 1.234567e+06 1.234567e+06 1.23e+06 1E-07 -0003.14 +5"),
            true,
        ),
        (
            "{{ printf \"%d %s\" \"x\" }}",
            s("%!d(string=x) %!s(MISSING)"),
            true,
        ),
        (
            "{{ printf \"a\" 1 \"b\" }}",
            s("a%!(EXTRA int=1, string=b)"),
            true,
        ),
        (
            "{{ printf \"%q|%x|% x|%5s|%-5s|%.2s|%c|%U\" \"a\\\"b\\n\" \"hi\" \"hi\" \"ab\" \"ab\" \"abc\" 65 65 }}",
            s("\"a\\\"b\\n\"|6869|68 69|   ab|ab   |ab|A|U+0041"),
            true,
        ),
        (
            "{{ printf \"%v %s %d\" $labels.job $labels 1.5 }}",
            s("node map[__name__:up instance:db-1.example.com:9100 job:node] %!d(float64=1.5)"),
            true,
        ),
        (
            "{{ printf \"%5.2f%%\" 99.5 }}|{{ printf \"%*d\" 4 7 }}|{{ printf \"%T %T\" 1 $labels }}",
            s("99.50%|   7|int map[string]string"),
            true,
        ),
        (
            "{{ eq $labels.job \"a\" \"node\" }} {{ eq 1 1 }} {{ eq $labels.nope \"\" }}",
            s("true true true"),
            true,
        ),
        (
            "{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }} {{ ne 1 2 }}",
            s("true true true false true"),
            true,
        ),
        (
            "{{ html \"<a href='x'>&</a>\" }}|{{ js \"it's <b>\" }}|{{ urlquery \"a b&c=d/é\" }}|{{ html 1 2 }}",
            s(
                "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;|it\\'s \\u003Cb\\u003E|a+b%26c%3Dd%2F%C3%A9|1 2",
            ),
            true,
        ),
        // More of Go's fmt.
        (
            "{{ printf \"%6.2v|%5t|%s|%d|%x|%08.3f|%+q|%5v|%-6d|%o|%X|%e\" 3.14159 true 1 true -255 -3.14159 \"é\" $labels.job -42 -8 \"hi\" 0.0 }}",
            s(
                "   3.1| true|%!s(int=1)|%!d(bool=true)|-ff|-003.142|\"\\u00e9\"| node|-42   |-10|6869|0.000000e+00",
            ),
            true,
        ),
        (
            "{{ printf \"%5v|%q\" $labels (index $labels \"job\") }}",
            s("map[__name__:   up instance:db-1.example.com:9100   job: node]|\"node\""),
            true,
        ),
        (
            "{{ printf \"%v %v %.1f %g\" 100000000.0 0.000001 2.25 2.5e-10 }}",
            s("1e+08 1e-06 2.2 2.5e-10"),
            true,
        ),
        (
            "{{ with $x := 0 }}yes{{ else }}no {{ $x }}{{ end }}",
            s("no 0"),
            true,
        ),
        (
            "{{ index $labels }}|{{ not 0 }}|{{ and 1 }}|{{ or \"\" }}|",
            s("map[__name__:up instance:db-1.example.com:9100 job:node]|true|1||"),
            true,
        ),
        (
            "{{ range $i, $e := $labels }}{{ $i }}{{ end }}",
            s("__name__instancejob"),
            true,
        ),
        ("{{ $labels.job | len | printf \"%03d\" }}", s("004"), true),
        (
            "{{ eq }}",
            exec_err(
                P + 3,
                "eq",
                "wrong number of args for eq: want at least 1 got 0",
            ),
            true,
        ),
        (
            "{{ eq 1 }}",
            exec_err(
                P + 3,
                "eq 1",
                "error calling eq: missing argument for comparison",
            ),
            true,
        ),
        (
            "{{ slice $labels 1 }}",
            exec_err(
                P + 3,
                "slice $labels 1",
                "error calling slice: can't slice item of type map[string]string",
            ),
            true,
        ),
        (
            "{{ index \"abc\" 3 }}",
            exec_err(
                P + 3,
                "index \"abc\" 3",
                "error calling index: reflect: string index out of range",
            ),
            true,
        ),
        (
            "{{ index \"abc\" 4 }}",
            exec_err(
                P + 3,
                "index \"abc\" 4",
                "error calling index: index out of range: 4",
            ),
            true,
        ),
        (
            "{{ $labels.job 1 }}",
            exec_err(
                P + 10,
                "$labels.job",
                "job is not a method but has arguments",
            ),
            true,
        ),
        (
            "{{ .Labels 1 }}",
            exec_err(
                P + 3,
                ".Labels",
                "Labels has arguments but cannot be invoked as function",
            ),
            true,
        ),
        (
            "{{ humanize }}",
            exec_err(
                P + 3,
                "humanize",
                "wrong number of args for humanize: want 1 got 0",
            ),
            true,
        ),
        (
            "{{ first 1 }}",
            exec_err(
                P + 9,
                "1",
                "can't handle 1 for arg of type template.queryResult",
            ),
            true,
        ),
        (
            "{{ toUpper nil }}",
            exec_err(P + 11, "nil", "cannot assign nil to string"),
            true,
        ),
        (
            "{{ 1 | print }}|{{ \"a\" | printf \"%s-%s\" \"b\" }}",
            s("1|b-a"),
            true,
        ),
        (
            "{{ printf \"%.70000e\" 2.5 | len }}|{{ printf \"%.1100f\" 1e-300 | len }}",
            s("70006|1102"),
            true,
        ),
        (
            "{{ printf \"a%100000000d\" 1 }}|{{ printf \"%.*d|%*d|%.8d\" 10000000 1 -3 2 5 }}",
            s("a%!(NOVERB)%!(EXTRA int=1)|%!(BADPREC)1|2  |00000005"),
            true,
        ),
        ("{{ printf \"%200000d\" 1 | len }}", s("200000"), true),
        (
            "{{ range query \"up\" }}{{ . }}{{ end }}|{{ query \"up\" | first }}|{{ printf \"%v\" (query \"up\" | first) }}",
            s(
                "{map[__name__:up instance:db-1.example.com:9100 job:node] 1.234567e+06}|{map[__name__:up instance:db-1.example.com:9100 job:node] 1.234567e+06}|&{map[__name__:up instance:db-1.example.com:9100 job:node] 1.234567e+06}",
            ),
            true,
        ),
        (
            "{{ title \"élan vital\" }}|{{ toUpper \"straße\" }}|{{ toLower \"İSTANBUL\" }}",
            s("Élan Vital|STRAßE|istanbul"),
            true,
        ),
        // Prometheus 3 title-cases with golang.org/x/text/cases; promtool 2.42 used strings.Title
        // ("O'Neil Mc-D X.Y 1st").
        (
            "{{ title \"o'neil mc-d x.y 1st\" }}",
            s("O'neil Mc-D X.y 1St"),
            false,
        ),
        (
            "{{ printf \"%q|%+q|%#q|%x|% X\" \"é\\u0001\" \"日本\" \"a`b\" \"é\" \"ab\" }}",
            s("\"é\\x01\"|\"\\u65e5\\u672c\"|\"a`b\"|c3a9|61 62"),
            true,
        ),
        (
            "{{ with printf \"up{instance=%q}\" $labels.instance | query }}{{ . | first | value | humanize }}{{ end }}|{{ query \"scalar(vector(3))\" | first | value }}|{{ with query \"sum(up)\" }}{{ (index . 0).Labels }} {{ (index . 0).Value }}{{ end }}",
            s("1.235M|3|map[] 1.234567e+06"),
            true,
        ),
        (
            "{{ with toTime 1435065584.128 }}{{ .Year }} {{ .Month }} {{ .Day }} {{ .Weekday }} {{ .Hour }}:{{ .Minute }}:{{ .Second }} {{ .YearDay }} {{ .UnixMilli }} {{ .UTC }}{{ end }}",
            s("2015 June 23 Tuesday 13:19:44 174 1435065584128 2015-06-23 13:19:44.128 +0000 UTC"),
            true,
        ),
        (
            "{{ printf \"%[2]s %[1]s|%[1]d%[1]d|%[3]d|%[0]d|%[x]d|%[2]*[1]d|%[1]\" \"a\" 5 }}",
            s(
                "%!s(int=5) a|%!d(string=a)%!d(string=a)|%!d(BADINDEX)|%!d(BADINDEX)|%!d(BADINDEX)|%!d(string=    a)|%!(NOVERB)",
            ),
            true,
        ),
        (
            "{{ printf \"%d %d %[1]d %d|%-[2]*[1]d|%.[2]*[1]f\" 1 2 3 }}",
            s("1 2 1 2|1 |%!f(int=01)"),
            true,
        ),
        // prometheus/common's humanizeTimestamp vectors.
        (
            "{{ humanizeTimestamp -1 }}|{{ humanizeTimestamp 1234567 }}|{{ humanizeTimestamp 9223372036 }}|{{ humanizeTimestamp \"+Inf\" }}|{{ humanizeTimestamp \"1435065584.128\" }}",
            s(
                "1969-12-31 23:59:59 +0000 UTC|1970-01-15 06:56:07 +0000 UTC|2262-04-11 23:47:16 +0000 UTC|+Inf|2015-06-23 13:19:44.128 +0000 UTC",
            ),
            true,
        ),
        (
            "{{ humanizeTimestamp 9223372037 }}",
            exec_err(
                P + 3,
                "humanizeTimestamp 9223372037",
                "error calling humanizeTimestamp: 9.223372037e+09 cannot be represented as a nanoseconds timestamp since it overflows int64",
            ),
            true,
        ),
        // Prometheus functions.
        (
            "{{ humanize 1234567.0 }} {{ humanize 0.001234 }} {{ humanize 0 }} {{ humanize \"2048\" }} {{ humanize 1e30 }} {{ humanize -1500 }}",
            s("1.235M 1.234m 0 2.048k 1e+06Y -1.5k"),
            true,
        ),
        // Prometheus's own humanizeDuration vectors (prometheus/common helpers/templates).
        (
            "{{ humanizeDuration 60 }}|{{ humanizeDuration 86400 }}|{{ humanizeDuration -183845 }}|{{ humanizeDuration 899.99 }}|{{ humanizeDuration .1 }}|{{ humanizeDuration .0001 }}|{{ humanizeDuration .12345 }}|{{ humanizeDuration 60.5 }}|{{ humanizeDuration 12.345 }}|{{ humanizeDuration \"1.2345\" }}|{{ humanizeDuration 1234567 }}",
            s(
                "1m 0s|1d 0h 0m 0s|-2d 3h 4m 5s|14m 59s|100ms|100us|123.5ms|1m 0s|12.35s|1.234s|14d 6h 56m 7s",
            ),
            true,
        ),
        (
            "{{ humanize1024 1048576.0 }} {{ humanize1024 512 }} {{ humanize1024 1.5e9 }}",
            s("1Mi 512 1.397Gi"),
            true,
        ),
        (
            "{{ humanizeDuration 3661 }}|{{ humanizeDuration 90061.5 }}|{{ humanizeDuration 0.0012 }}|{{ humanizeDuration 1.5 }}|{{ humanizeDuration 0 }}|{{ humanizeDuration -65 }}",
            s("1h 1m 1s|1d 1h 1m 1s|1.2ms|1.5s|0s|-1m 5s"),
            true,
        ),
        (
            "{{ humanizePercentage 0.1234 }} {{ humanizePercentage 1 }} {{ humanizePercentage \"0.5\" }}",
            s("12.34% 100% 50%"),
            true,
        ),
        (
            "{{ humanizeTimestamp 1435065584.128 }}|{{ humanizeTimestamp 0 }}|{{ humanizeTimestamp \"NaN\" }}",
            s("2015-06-23 13:19:44.128 +0000 UTC|1970-01-01 00:00:00 +0000 UTC|NaN"),
            true,
        ),
        (
            "{{ toTime 1435065584.128 }}|{{ (toTime 1435065584).Format \"2006-01-02T15:04:05Z07:00 Mon Jan\" }}|{{ (toTime 1435065584).Unix }}",
            s("2015-06-23 13:19:44.128 +0000 UTC|2015-06-23T13:19:44Z Tue Jun|1435065584"),
            true,
        ),
        (
            "{{ title \"hello wORLD-foo_bar\" }} {{ toUpper \"abc\" }} {{ toLower \"ABC\" }}",
            s("Hello WORLD-Foo_bar ABC abc"),
            true,
        ),
        (
            "{{ stripPort $labels.instance }} {{ stripPort \"[::1]:80\" }} {{ stripPort \"host\" }}",
            s("db-1.example.com ::1 host"),
            true,
        ),
        (
            "{{ reReplaceAll \"(.*):(.*)\" \"$2/$1\" $labels.instance }}",
            s("9100/db-1.example.com"),
            true,
        ),
        (
            "{{ match \"^db-\" $labels.instance }} {{ match \"^x\" \"y\" }}",
            s("true false"),
            true,
        ),
        (
            "{{ graphLink \"rate(x[5m])\" }}|{{ tableLink \"up\" }}",
            s("/graph?g0.expr=rate%28x%5B5m%5D%29&g0.tab=0|/graph?g0.expr=up&g0.tab=1"),
            true,
        ),
        ("{{ safeHtml \"<b>\" }}", s("<b>"), true),
        (
            "{{ range query \"up\" }}{{ .Labels.instance }}={{ .Value }}{{ end }}",
            s("db-1.example.com:9100=1.234567e+06"),
            true,
        ),
        (
            "{{ with query \"up\" }}{{ . | first | label \"job\" }} {{ . | first | value | humanize }}{{ end }}",
            s("node 1.235M"),
            true,
        ),
        (
            "{{ range sortByLabel \"job\" (query \"up\") }}{{ .Labels.job }}{{ end }}",
            s("node"),
            true,
        ),
        ("{{ query \"up\" | first | strvalue }}|", s("|"), true),
        (
            "{{ label \"x\" nil }}",
            exec_err(
                P + 3,
                "label \"x\" nil",
                "error calling label: runtime error: invalid memory address or nil pointer dereference",
            ),
            true,
        ),
        // promtool has no external URL (pathPrefix fails on its nil URL), so ours only.
        ("[{{ pathPrefix }}][{{ externalURL }}]", s("[][]"), false),
        // Errors: execution.
        (
            "{{ toUpper 1 }}",
            exec_err(P + 11, "1", "expected string; found 1"),
            true,
        ),
        (
            "{{ toUpper $value }}",
            exec_err(
                P + 11,
                "$value",
                "wrong type for value; expected string; got float64",
            ),
            true,
        ),
        (
            "{{ $value | toUpper }}",
            exec_err(
                P + 12,
                "toUpper",
                "wrong type for value; expected string; got float64",
            ),
            true,
        ),
        (
            "{{ query \"nothing\" | first }}",
            exec_err(
                P + 21,
                "first",
                "error calling first: first() called on vector with no elements",
            ),
            true,
        ),
        (
            "{{ template \"nope\" }}",
            exec_err(
                P + 12,
                "{{template \"nope\"}}",
                "template \"nope\" not defined",
            ),
            true,
        ),
        (
            "{{ index $labels 1 }}",
            exec_err(
                P + 3,
                "index $labels 1",
                "error calling index: value has type int; should be string",
            ),
            true,
        ),
        (
            "{{ humanize \"abc\" }}",
            exec_err(
                P + 3,
                "humanize \"abc\"",
                "error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax",
            ),
            true,
        ),
        (
            "{{ eq 1 \"a\" }}",
            exec_err(
                P + 3,
                "eq 1 \"a\"",
                "error calling eq: incompatible types for comparison",
            ),
            true,
        ),
        (
            "{{ lt $labels 1 }}",
            exec_err(
                P + 3,
                "lt $labels 1",
                "error calling lt: invalid type for comparison",
            ),
            true,
        ),
        (
            "{{ len 3 }}",
            exec_err(P + 3, "len 3", "error calling len: len of type int"),
            true,
        ),
        (
            "{{ label \"x\" }}",
            exec_err(
                P + 3,
                "label",
                "wrong number of args for label: want 2 got 1",
            ),
            true,
        ),
        (
            "{{ printf }}",
            exec_err(
                P + 3,
                "printf",
                "wrong number of args for printf: want at least 1 got 0",
            ),
            true,
        ),
        (
            "{{ $labels.job.x }}",
            exec_err(
                P + 10,
                "$labels.job.x",
                "can't evaluate field x in type string",
            ),
            true,
        ),
        (
            "{{ nil }}",
            exec_err(P + 3, "nil", "nil is not a command"),
            true,
        ),
        (
            "{{ \"a\" 1 }}",
            exec_err(P + 3, "\"a\"", "can't give argument to non-function \"a\""),
            true,
        ),
        (
            "{{ range $value }}{{ end }}",
            exec_err(P + 9, "$value", "range can't iterate over 1.234567e+06"),
            true,
        ),
        (
            "{{ index (query \"up\") 5 }}",
            exec_err(
                P + 3,
                "index (query \"up\") 5",
                "error calling index: index out of range: 5",
            ),
            true,
        ),
        (
            "{{ .Foo }}",
            exec_err(
                P + 3,
                ".Foo",
                "can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }",
            ),
            false,
        ),
        (
            "line1\n{{ toUpper 1 }}",
            s(
                "<error expanding template: error executing template __alert_T: template: __alert_T:2:11: executing \"__alert_T\" at <1>: expected string; found 1>",
            ),
            true,
        ),
        // Errors: parsing.
        (
            "{{ nope }}",
            parse_err(1, "function \"nope\" not defined"),
            true,
        ),
        ("{{ if }}", parse_err(1, "missing value for if"), true),
        ("{{ .X ", parse_err(1, "unclosed action"), true),
        ("{{ $x }}", parse_err(1, "undefined variable \"$x\""), true),
        ("{{ end }}", parse_err(1, "unexpected {{end}}"), true),
        ("{{ if 1 }}\nx", parse_err(2, "unexpected EOF"), true),
        (
            "{{ break }}",
            parse_err(1, "{{break}} outside {{range}}"),
            true,
        ),
        (
            "{{ .X | 1 }}",
            parse_err(1, "non executable command in pipeline stage 2"),
            true,
        ),
        (
            "{{ \"a }}",
            parse_err(1, "unterminated quoted string"),
            true,
        ),
        ("{{ 3x }}", parse_err(1, "bad number syntax: \"3x\""), true),
        // Go 1.20+ wording (Prometheus 3); promtool 2.42 was built with Go 1.19, which said
        // `unexpected ")" in command`.
        ("{{ .X ) }}", parse_err(1, "unexpected right paren"), false),
        ("{{ (.X }}", parse_err(1, "unclosed left paren"), true),
        ("{{ else }}", parse_err(1, "unexpected {{else}}"), true),
        (
            "{{ .X \"a\"\"b\" }}",
            parse_err(1, "unexpected \"\\\"b\\\"\" in operand"),
            true,
        ),
        (
            "{{ /* x */ }}",
            parse_err(1, "unexpected \"/\" in command"),
            true,
        ),
        ("{{ .X }", parse_err(1, "unexpected \"}\" in operand"), true),
        (
            "{{ define \"__alert_T\" }}x{{ end }}y\n",
            parse_err(2, "template: multiple definition of template \"__alert_T\""),
            true,
        ),
        (
            "{{ define \"a\" }}x{{ end }}{{ define \"a\" }}y{{ end }}",
            parse_err(1, "template: multiple definition of template \"a\""),
            true,
        ),
        (
            "{{ template .X }}",
            parse_err(1, "unexpected \".X\" in template clause"),
            true,
        ),
    ]
}

#[test]
fn table() {
    let mut failures = Vec::new();
    for (tmpl, want, _) in cases() {
        let got = expand(tmpl);
        if got != want {
            failures.push(format!(
                "template {tmpl:?}\n   got {got:?}\n  want {want:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
}

fn data_with(url: &'static str) -> String {
    let labels = alert_labels();
    let ext = Labels::from_pairs(&[("cluster", "eu1")]);
    let data = AlertTemplateData {
        labels: &labels,
        external_labels: &ext,
        external_url: url,
        value: 0.5,
    };
    expand_alert(
        "T",
        "{{ $externalLabels.cluster }} {{ $externalURL }} {{ pathPrefix }} {{ externalURL }} {{ $value }} {{ now }}",
        &data,
        1_500,
        None,
    )
}

#[test]
fn external_data_and_now() {
    assert_eq!(
        data_with("http://prom.example:9090/prom"),
        "eu1 http://prom.example:9090/prom /prom http://prom.example:9090/prom 0.5 1.5"
    );
}

#[test]
fn prometheus_3_functions() {
    for (tmpl, want) in [
        (
            "{{ toDuration 3661 }}|{{ toDuration 1.5 }}|{{ (toDuration 90).Seconds }}",
            "1h1m1s|1.5s|90",
        ),
        (
            "{{ parseDuration \"1h30m\" }} {{ parseDuration \"500ms\" }}",
            "5400 0.5",
        ),
        (
            "{{ stripDomain \"foo.example.com:9090\" }} {{ stripDomain \"10.0.0.1:80\" }} {{ stripDomain \"a.b\" }}",
            "foo:9090 10.0.0.1:80 a",
        ),
        (
            "{{ range $i, $e := query \"up\" }}{{ $i }}:{{ $e.Value }}{{ end }}",
            "0:1.234567e+06",
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        (
            "{{ $n := 0 }}{{ range $i := 10 }}{{ if eq $i 4 }}{{ break }}{{ end }}{{ $n = $i }}{{ end }}{{ $n }}",
            "3",
        ),
        (
            "{{ with $labels.nope }}a{{ else with $labels.job }}{{ . }}{{ end }}",
            "node",
        ),
        (
            "{{ query \"bad\" }}",
            "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <query \"bad\">: error calling query: unknown expression \"bad\">",
        ),
        (
            "{{ parseDuration \"1x\" }}",
            "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <parseDuration \"1x\">: error calling parseDuration: unknown unit \"x\" in duration \"1x\">",
        ),
        (
            "{{ toTime \"NaN\" }}",
            "<error expanding template: error executing template __alert_T: template: __alert_T:1:115: executing \"__alert_T\" at <toTime \"NaN\">: error calling toTime: value is NaN or Inf>",
        ),
    ] {
        assert_eq!(expand(tmpl), want, "template {tmpl:?}");
    }
}

#[test]
fn hostile_templates_are_bounded() {
    // Unbounded recursion stops at the depth limit, on a test thread's small stack.
    let r = expand("{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}");
    assert!(r.contains("exceeded maximum template depth (100)"), "{r}");
    // Exponential recursion stops at the depth limit too.
    let r = expand(
        "{{ define \"r\" }}x{{ template \"r\" . }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}",
    );
    assert!(r.contains("exceeded maximum template depth (100)"), "{r}");
    // Huge output stops at the output limit.
    let r = expand("{{ range 1000 }}{{ range 1000 }}{{ range 1000 }}xx{{ end }}{{ end }}{{ end }}");
    assert!(
        r.contains("output exceeds the limit of 1048576 bytes"),
        "{r}"
    );
    // Doubling a string stops at the size limit instead of exhausting memory.
    let r = expand(
        "{{ $x := \"abcdefgh\" }}{{ range 100 }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}{{ len $x }}",
    );
    assert!(
        r.contains("printf result exceeds the limit of 1048576 bytes"),
        "{r}"
    );
    // Huge widths and precisions are capped instead of allocating without bound.
    let r = expand("{{ printf \"%.*e|%*d|%.*f\" 1000000000000 1.5 1000000000000 1 1000000 0.1 }}");
    assert!(r.starts_with("%!(BADPREC)1.500000e+00|%!(BADWIDTH)1|0.1000000000000000055511151231257827021181583404541015625000"), "{}", &r[..100]);
    assert_eq!(
        r.len(),
        "%!(BADPREC)1.500000e+00|%!(BADWIDTH)1|0.".len() + 1_000_000
    );

    let r = expand("{{ printf \"%10000009d\" 1 }}");
    assert!(
        r.contains("printf result exceeds the limit of 1048576 bytes"),
        "{r}"
    );
    // A huge range stops at the step limit.
    let r = expand("{{ range 1000000000000 }}{{ end }}");
    assert!(
        r.contains("execution exceeded the limit of 10000000 steps"),
        "{r}"
    );
    // Deep nesting is a parse error, not a stack overflow.
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    let r = expand(&deep);
    assert!(r.contains("exceeded maximum nesting depth (100)"), "{r}");
    let deep_if = "{{ if 1 }}".repeat(5000);
    assert!(expand(&deep_if).contains("exceeded maximum nesting depth"));
}

#[test]
fn custom_limits_and_funcs() {
    let mut funcs = FuncMap::new();
    funcs.insert("double", &[Ty::Float], None, |a, _| match a[0] {
        Value::Float(f) => Ok(Value::Float(f * 2.0)),
        _ => Err("not a float".into()),
    });
    let t = Template::parse(
        "t",
        "{{ double 1.25 }} {{ range . }}{{ . }}{{ end }}",
        &funcs,
    )
    .unwrap();
    let data = Value::List(std::sync::Arc::new(vec![Value::Int(1), Value::string("a")]));
    assert_eq!(t.execute(&data, &funcs).unwrap(), "2.5 1a");
    let small = Limits {
        max_output: 4,
        ..Limits::default()
    };
    let err = t.execute_with_limits(&data, &funcs, &small).unwrap_err();
    assert!(matches!(err, TemplateError::Exec { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("output exceeds the limit of 4 bytes"),
        "{err}"
    );
    let err = Template::parse("t", "{{ triple 1 }}", &funcs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: t:1: function \"triple\" not defined"
    );
}

#[test]
fn check_reports_parse_errors_like_promtool() {
    assert_eq!(check("{{ $labels.x }} {{ humanize $value }}"), Ok(()));
    assert_eq!(
        check_alert("HighLoad", "{{ nope }}")
            .unwrap_err()
            .to_string(),
        "template: __alert_HighLoad:1: function \"nope\" not defined"
    );
    assert!(matches!(
        check("{{ if }}"),
        Err(TemplateError::Parse { line: 1, .. })
    ));
    // Execution errors are not parse errors.
    assert_eq!(check("{{ toUpper 1 }}"), Ok(()));
}

// ---- Interop: the same cases through promtool 2.42 -------------------------------------------

/// Go's quoted label value (`strconv.Quote` form) back to text.
fn go_unquote(s: &str) -> String {
    let mut out = String::new();
    let mut cs = s.chars();
    while let Some(c) = cs.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match cs.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('x') => {
                let h: String = cs.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&h, 16).map(char::from).unwrap_or('?'));
            }
            Some('u') => {
                let h: String = cs.by_ref().take(4).collect();
                out.push(
                    u32::from_str_radix(&h, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('?'),
                );
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The annotations promtool reports it got, from its failure output.
fn got_annotations(output: &str) -> Vec<(String, String)> {
    let Some(got) = output.split("got:[").nth(1) else {
        return Vec::new();
    };
    let Some(ann) = got.split("Annotations:{").nth(1) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut rest = ann;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches([',', ' ']).to_string();
        let body = &rest[eq + 2..];
        let mut end = 0;
        let bytes = body.as_bytes();
        while end < bytes.len() {
            match bytes[end] {
                b'\\' => end += 2,
                b'"' => break,
                _ => end += 1,
            }
        }
        out.push((key, go_unquote(&body[..end.min(body.len())])));
        rest = &body[(end + 1).min(body.len())..];
        if rest.starts_with('}') {
            break;
        }
    }
    out
}

/// Floats across magnitudes (and rounding ties) as literals, each through Go's float verbs and
/// Prometheus's humanizers: checked only against promtool.
fn generated_float_cases() -> Vec<String> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut xs: Vec<f64> = vec![
        0.0,
        -0.0,
        0.5,
        1.0,
        0.125,
        2.5,
        1.005,
        999.95,
        1023.9,
        1e21,
        123456789.0,
        1e-5,
        0.0001,
    ];
    for k in -12..=25 {
        let mantissa = (next() % 1_000_000) as f64 / 100_000.0 + 1.0;
        let sign = if next() % 3 == 0 { -1.0 } else { 1.0 };
        xs.push(sign * mantissa * 10f64.powi(k));
    }
    xs.into_iter()
        .map(|x| {
            let lit = format!("{x:e}");
            let lit = if lit.contains('.') || lit.contains('e') { lit } else { format!("{lit}.0") };
            let mut t = format!(
                "{{{{ {lit} }}}}|{{{{ printf \"%.4g|%g|%e|%.2f|%.0f|%8.3f|%-10.1e|%+.3g|%G|%v|%010.2f\" {lit} {lit} {lit} {lit} {lit} {lit} {lit} {lit} {lit} {lit} {lit} }}}}|{{{{ humanize {lit} }}}}|{{{{ humanize1024 {lit} }}}}|{{{{ humanizePercentage {lit} }}}}"
            );
            if x.abs() < 1e15 {
                t.push_str(&format!("|{{{{ humanizeDuration {lit} }}}}"));
            }
            if x.abs() < 1e11 {
                t.push_str(&format!("|{{{{ humanizeTimestamp {lit} }}}}|{{{{ (toTime {lit}).Format \"Mon Jan _2 15:04:05.000 2006\" }}}}"));
            }
            t
        })
        .collect()
}

#[test]
fn promtool_expands_the_same() {
    let promtool = Path::new("/usr/bin/promtool");
    if std::env::var("PROM_INTEROP").as_deref() != Ok("1") {
        eprintln!("skipped: set PROM_INTEROP=1 to compare templates with promtool");
        return;
    }
    assert!(
        promtool.exists(),
        "PROM_INTEROP=1 but /usr/bin/promtool is missing"
    );
    let cases: Vec<_> = cases().into_iter().filter(|c| c.2).collect();
    let dir = tempfile::tempdir().unwrap();
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut rules = String::from(
        "groups:\n- name: g\n  rules:\n  - alert: T\n    expr: up\n    annotations:\n",
    );
    let mut exp = String::new();
    // Parse errors make promtool reject the rule file, so they are checked one by one below.
    let (parse_cases, exec_cases): (Vec<_>, Vec<_>) = cases
        .iter()
        .partition(|c| c.1.starts_with("<error expanding template: error parsing"));
    let generated = generated_float_cases();
    let exec_cases: Vec<&str> = exec_cases
        .iter()
        .map(|c| c.0)
        .chain(generated.iter().map(String::as_str))
        .collect();
    for (i, tmpl) in exec_cases.iter().enumerate() {
        rules.push_str(&format!("      a{i}: {}\n", q(tmpl)));
        exp.push_str(&format!("          a{i}: {}\n", q(&expand(tmpl))));
    }
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n  - series: 'up{{job=\"node\", instance=\"{INSTANCE}\"}}'\n    values: '1234567x10'\n  alert_rule_test:\n  - eval_time: 5m\n    alertname: T\n    exp_alerts:\n    - exp_labels: {{job: node, instance: \"{INSTANCE}\"}}\n      exp_annotations:\n{exp}"
    );
    std::fs::write(dir.path().join("test.yml"), &test).unwrap();
    let out = Command::new(promtool)
        .args(["test", "rules", "test.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let got = got_annotations(&text);
        let mut diffs = Vec::new();
        for (k, v) in &got {
            let i: usize = k.trim_start_matches('a').parse().unwrap_or(usize::MAX);
            if let Some(tmpl) = exec_cases.get(i) {
                let ours = expand(tmpl);
                if &ours != v {
                    diffs.push(format!(
                        "template {tmpl:?}\n  prometheus {v:?}\n         ours {ours:?}"
                    ));
                }
            }
        }
        panic!(
            "promtool disagrees on {} templates:\n{}\n\nraw output:\n{}",
            diffs.len(),
            diffs.join("\n"),
            &text[..text.len().min(3000)]
        );
    }
    // Parse errors: promtool check rules names the same error.
    let n_parse = parse_cases.len();
    for (tmpl, want, _) in parse_cases {
        let rules = format!(
            "groups:\n- name: g\n  rules:\n  - alert: T\n    expr: up\n    annotations:\n      a: {}\n",
            q(tmpl)
        );
        std::fs::write(dir.path().join("bad.yml"), &rules).unwrap();
        let out = Command::new(promtool)
            .args(["check", "rules", "bad.yml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = check_alert("T", tmpl).unwrap_err().to_string();
        assert!(
            text.contains(&ours),
            "template {tmpl:?}: promtool says\n{text}\nours: {ours}"
        );
        assert!(want.contains(&ours), "{want} vs {ours}");
    }
    eprintln!(
        "promtool agrees on {} expansions and {} parse errors",
        exec_cases.len(),
        n_parse
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "if ",
        "else ",
        "end",
        "range ",
        "with ",
        "define ",
        "template ",
        "block ",
        "break",
        "continue",
        "$x",
        " := ",
        " = ",
        " | ",
        "(",
        ")",
        ".",
        ".A",
        ".L.job",
        "$",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2.5",
        "1e400",
        "0x",
        "nil",
        "true",
        "printf ",
        "\"%d %s %v\"",
        "index ",
        "slice ",
        "len ",
        "humanize ",
        "query \"up\"",
        "first ",
        "toTime ",
        "toDuration ",
        "and ",
        "or ",
        "eq ",
        "lt ",
        "call ",
        "args ",
        " ",
        "\n",
        "/*",
        "*/",
        ",",
        "%",
        "\\",
        "\"",
        "é",
        "}",
        "{",
    ];

    fn data() -> Value {
        let mut m = BTreeMap::new();
        m.insert(
            "L".to_string(),
            Value::labels([("job", "node"), ("instance", INSTANCE)]),
        );
        m.insert("V".to_string(), Value::Float(VALUE));
        m.insert(
            "A".to_string(),
            Value::List(Arc::new(vec![Value::Int(1), Value::string("x")])),
        );
        Value::Map(Arc::new(m))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any input parses or fails cleanly, and runs or fails cleanly: no panic (this calls the
        /// engine directly, without `expand_alert`'s panic guard).
        #[test]
        fn never_panics(pieces in prop::collection::vec(prop::sample::select(PIECES), 0..24), noise in ".{0,8}") {
            let funcs = FuncMap::prometheus(Some(&FakeQuery), AT_MS, "http://x/p");
            // Free-form, and inside one action (so more inputs get past the parser).
            let inner: String = pieces.iter().filter(|p| !p.contains(['{', '}'])).copied().collect();
            for text in [format!("{}{noise}", pieces.concat()), format!("{{{{ {inner} }}}}")] {
                if let Ok(t) = Template::parse("t", &text, &funcs) {
                    let _ = t.execute(&data(), &funcs);
                }
                let _ = check(&text);
            }
        }
    }
}
