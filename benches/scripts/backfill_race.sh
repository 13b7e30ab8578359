#!/usr/bin/env bash
# Backfill race: the same generated OpenMetrics input through `prom tsdb create-blocks-from
# openmetrics` and `promtool tsdb create-blocks-from openmetrics`, side by side in one run.
# Prints each tool's wall time (best of RUNS), the ratio, and bytes per sample of both
# output directories, and checks that both dumps are identical.
#
#   bash benches/scripts/backfill_race.sh            # 10k series x 2h at 15 s
#   SERIES=1000 RUNS=1 bash benches/scripts/backfill_race.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SERIES=${SERIES:-10000}
SAMPLES=${SAMPLES:-480}   # 2h at 15 s
RUNS=${RUNS:-3}
command -v promtool >/dev/null || { echo "promtool not found (Debian package prometheus)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q --release -p prom-server
prom=target/release/prom

# Deterministic input: counters with integer steps and gauges with 3 decimals, ten metric
# names, labels job/instance; timestamps in seconds as OpenMetrics has them.
python3 - "$SERIES" "$SAMPLES" > "$work/in.om" <<'PY'
import sys, random
series, samples = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(42)
names = [f"bench_metric_{i}" for i in range(10)]
out = sys.stdout
start = 1_700_000_000
per = series // len(names)
for n, name in enumerate(names):
    kind = "counter" if n % 2 == 0 else "gauge"
    out.write(f"# HELP {name} Generated.\n# TYPE {name} {kind}\n")
    sample_name = name + ("_total" if kind == "counter" else "")
    for s in range(per):
        labels = f'{{job="job-{s % 100}",instance="10.0.{s // 256}.{s % 256}:9100"}}'
        v = rnd.random() * 100
        lines = []
        for k in range(samples):
            if kind == "counter":
                v += rnd.randint(0, 10)
                lines.append(f"{sample_name}{labels} {int(v)} {start + 15 * k}\n")
            else:
                v = round(rnd.random() * 1000, 3)
                lines.append(f"{sample_name}{labels} {v} {start + 15 * k}\n")
        out.write("".join(lines))
out.write("# EOF\n")
PY
total=$((SERIES / 10 * 10 * SAMPLES))
echo "input: $(du -h "$work/in.om" | cut -f1), $SERIES series x $SAMPLES samples = $total samples"

best() { # best wall time in seconds of RUNS runs of "$@" into a fresh dir $out
  local b=""
  for _ in $(seq "$RUNS"); do
    rm -rf "$out"
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
    local t; t=$(echo "$t1 - $t0" | bc)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
out=$work/prom; tp=$(best "$prom" tsdb create-blocks-from openmetrics -q "$work/in.om" "$out")
out=$work/promtool; tt=$(best promtool tsdb create-blocks-from openmetrics "$work/in.om" "$out")
bp=$(du -sb "$work/prom" | cut -f1); bt=$(du -sb "$work/promtool" | cut -f1)
printf 'prom     %6.2f s  %10d bytes  %.3f bytes/sample\n' "$tp" "$bp" "$(echo "$bp / $total" | bc -l)"
printf 'promtool %6.2f s  %10d bytes  %.3f bytes/sample\n' "$tt" "$bt" "$(echo "$bt / $total" | bc -l)"
printf 'speedup (promtool / prom): %.2fx\n' "$(echo "$tt / $tp" | bc -l)"
# Same samples both ways (promtool's dump needs a wal/ directory).
mkdir -p "$work/prom/wal" "$work/promtool/wal"
"$prom" tsdb dump "$work/promtool" | sort > "$work/a"
promtool tsdb dump "$work/prom" | sort > "$work/b"
cmp -s "$work/a" "$work/b" && echo "dumps identical ($(wc -l < "$work/a") lines)" || { echo "DUMPS DIFFER"; exit 1; }
