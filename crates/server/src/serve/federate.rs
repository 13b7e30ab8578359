//! `/federate`: the latest sample of every series the `match[]` selectors pick, in the text
//! format, with timestamps and the external labels, as Prometheus serves it to another server.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prom_exposition::encode::write_float;
use prom_model::value::is_stale_nan;
use prom_model::{Labels, Matcher, Queryable, SampleIterator, SelectHints};

use super::selfmetrics::label_value;

/// Renders the federation page at `now` (ms): for each selected series the newest sample in
/// `(now - lookback, now]` that is not a staleness marker.
pub fn render(
    storage: &dyn Queryable,
    sets: &[Vec<Matcher>],
    now: i64,
    lookback: i64,
    external: &[(String, String)],
) -> prom_model::Result<String> {
    let mint = now - lookback + 1;
    let querier = storage.querier(mint, now)?;
    let hints = SelectHints {
        start: mint,
        end: now,
        func: "series".into(),
        ..SelectHints::default()
    };
    // Metric name → labels → (t, v); sorted, each series once even if several sets pick it.
    let mut out: BTreeMap<String, BTreeMap<Labels, (i64, f64)>> = BTreeMap::new();
    for m in sets {
        let mut set = querier.select(false, Some(&hints), m);
        while let Some(mut s) = set.next() {
            let mut last = None;
            while s.samples.next() {
                let smp = s.samples.at();
                if smp.t > now {
                    break;
                }
                if smp.t >= mint {
                    last = Some(smp);
                }
            }
            let Some(last) = last else { continue };
            if is_stale_nan(last.v) {
                continue;
            }
            let name = s.labels.metric_name().unwrap_or_default().to_owned();
            let mut b = s.labels.to_builder();
            for (k, v) in external {
                if b.get(k).is_none() {
                    b.set(k, v);
                }
            }
            out.entry(name)
                .or_default()
                .insert(b.build(), (last.t, last.v));
        }
        if let Some(e) = set.err() {
            return Err(prom_model::Error::Storage(e.to_string().into()));
        }
    }
    let mut text = String::new();
    for (name, series) in &out {
        let _ = writeln!(text, "# TYPE {name} untyped");
        for (labels, (t, v)) in series {
            text.push_str(name);
            let mut first = true;
            for l in labels.iter() {
                if l.name == "__name__" {
                    continue;
                }
                text.push(if first { '{' } else { ',' });
                first = false;
                text.push_str(l.name);
                text.push('=');
                text.push_str(&label_value(l.value));
            }
            if !first {
                text.push('}');
            }
            text.push(' ');
            write_float(&mut text, *v);
            let _ = writeln!(text, " {t}");
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_model::value::STALE_NAN_BITS;
    use prom_model::{Appendable, MemoryStorage};

    #[test]
    fn latest_samples_with_external_labels() {
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        let up_a = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let up_b = Labels::from_pairs(&[("__name__", "up"), ("job", "b")]);
        let other = Labels::from_pairs(&[("__name__", "x"), ("job", "a"), ("site", "mine")]);
        app.append(None, &up_a, 1_000, 0.0).unwrap();
        app.append(None, &up_a, 2_000, 1.0).unwrap();
        app.append(None, &up_b, 1_000, 1.0).unwrap();
        app.append(None, &up_b, 2_000, f64::from_bits(STALE_NAN_BITS))
            .unwrap();
        app.append(None, &other, 2_000, 2.5).unwrap();
        app.commit().unwrap();
        let sets = vec![
            vec![Matcher::equal("job", "a")],
            vec![Matcher::equal("__name__", "up")],
        ];
        let ext = vec![("site".to_owned(), "eu".to_owned())];
        let text = render(&storage, &sets, 3_000, 300_000, &ext).unwrap();
        assert_eq!(
            text,
            "# TYPE up untyped\nup{job=\"a\",site=\"eu\"} 1 2000\n# TYPE x untyped\nx{job=\"a\",site=\"mine\"} 2.5 2000\n"
        );
    }
}
