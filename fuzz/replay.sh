#!/usr/bin/env bash
# Replays every committed corpus input through its fuzz target once, and the upstream
# conformance samples through the exposition targets, with plain stable cargo: no sanitizer,
# no nightly flags, no cargo-fuzz.
# libFuzzer runs inputs given as file arguments once each and exits non-zero on a crash.
#
#   fuzz/replay.sh                 # from anywhere
#   fuzz/replay.sh --regressions   # also regressions/<target>/: reproducers of open bugs,
#                                  # which fail until the bugs are fixed
#
# Prints one line per target ("parse_text: 143 inputs, 0 crashes") and exits non-zero if any
# input crashed, after listing the crashing files and the panic of each.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
conformance="$here/../../shared/conformance/exposition"
targets=(parse_text parse_openmetrics roundtrip decode_chunk read_index parse_config)
# The targets that also replay the conformance samples (exposition text).
exposition=(parse_text parse_openmetrics roundtrip)
dirs=(corpus)
case "${1:-}" in
    "") ;;
    --regressions) dirs+=(regressions) ;;
    *) echo "usage: $0 [--regressions]" >&2; exit 2 ;;
esac

cd "$here"
# The release profile of this crate keeps debug assertions and overflow checks, so this build
# catches what a `cargo fuzz` build does, short of the sanitizer.
# The binaries are looked up below, so the target directory is pinned here whatever the
# caller's CARGO_TARGET_DIR says.
export CARGO_TARGET_DIR="$here/target"
env -u RUSTC_BOOTSTRAP -u RUSTFLAGS cargo build --release --bins --quiet
bin_dir="$here/target/release"
for t in "${targets[@]}"; do
    if [ ! -x "$bin_dir/$t" ]; then
        echo "error: $bin_dir/$t was not built" >&2
        exit 1
    fi
done
log_dir="$here/target/replay"
mkdir -p "$log_dir"

extra=()
if [ -d "$conformance" ]; then
    while IFS= read -r -d '' f; do extra+=("$f"); done \
        < <(find "$conformance" -type f -print0 | sort -z)
else
    echo "note: $conformance not found; replaying the committed corpus only"
fi

failed=0
for t in "${targets[@]}"; do
    inputs=()
    for d in "${dirs[@]}"; do
        if [ -d "$d/$t" ]; then
            while IFS= read -r -d '' f; do inputs+=("$f"); done \
                < <(find "$d/$t" -type f -print0 | sort -z)
        fi
    done
    if [[ " ${exposition[*]} " == *" $t "* ]]; then
        inputs+=("${extra[@]}")
    fi
    crashes=0
    log="$log_dir/$t.log"
    # Fast path: one process for all inputs. On failure, run each input alone to count and
    # name the crashing ones (libFuzzer stops at the first crash).
    if ! "$bin_dir/$t" -timeout=30 "${inputs[@]}" > "$log" 2>&1; then
        for f in "${inputs[@]}"; do
            if ! "$bin_dir/$t" -timeout=30 "$f" > "$log_dir/one.log" 2>&1; then
                crashes=$((crashes + 1))
                echo "CRASH $t: $f"
                grep -m1 -A2 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" \
                    "$log_dir/one.log" | sed 's/^/    /' || true
            fi
        done
        if [ "$crashes" -eq 0 ]; then
            # The batch failed but no single input does: report the batch as one crash.
            crashes=1
            echo "CRASH $t: the batch run failed; see $log"
        fi
    fi
    echo "$t: ${#inputs[@]} inputs, $crashes crashes"
    if [ "$crashes" -gt 0 ]; then
        failed=1
    fi
done
exit "$failed"
