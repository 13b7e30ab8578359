#!/usr/bin/env python3
"""Summarises the last `cargo bench -p prom-benches --bench promql` run from criterion's
estimates: per query and mode, the medians of prom_promql, Prometheus and VictoriaMetrics, the
ratios (peer / ours), and the queries that miss the targets (ours <= VictoriaMetrics on every
query; ours <= 1/4 of Prometheus on range queries).

Usage: python3 benches/scripts/promql_summary.py [target/criterion]
"""
import json
import os
import sys

QUERIES = ["rate", "sum_by", "topk", "histogram_quantile", "avg_over_time", "subquery",
           "group_left", "label_replace", "count_values", "regex_selectors"]
MODES = ["instant", "range_15s", "range_60s"]


def median_ns(root, bench, peer):
    path = os.path.join(root, bench, peer, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def fmt(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    print("| query | mode | prom_promql | Prometheus 2.42 | VictoriaMetrics 1.79 | Prometheus / ours | VictoriaMetrics / ours |")
    print("|---|---|---:|---:|---:|---:|---:|")
    vm_ok = prom_ok = ranges = total = 0
    misses = []
    for q in QUERIES:
        for m in MODES:
            bench = f"{q}_{m}"
            ours = median_ns(root, bench, "prom_promql")
            prom = median_ns(root, bench, "prometheus")
            vm = median_ns(root, bench, "victoriametrics")
            total += 1
            if ours <= vm:
                vm_ok += 1
            else:
                misses.append(f"{bench}: slower than VictoriaMetrics ({vm / ours:.2f}x)")
            if m != "instant":
                ranges += 1
                if ours * 4 <= prom:
                    prom_ok += 1
                else:
                    misses.append(f"{bench}: above 1/4 of Prometheus ({prom / ours:.2f}x)")
            print(f"| `{q}` | {m} | {fmt(ours)} | {fmt(prom)} | {fmt(vm)} | {prom / ours:.2f}x | {vm / ours:.2f}x |")
    print()
    print(f"at least as fast as VictoriaMetrics: {vm_ok}/{total}")
    print(f"at most 1/4 of Prometheus on range queries: {prom_ok}/{ranges}")
    for m in misses:
        print(f"missed: {m}")


if __name__ == "__main__":
    main()
