#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ with cargo-fuzz (libFuzzer, AddressSanitizer), each for a fixed
# time, and prints one line per target: executions, seconds, corpus size, and whether it found
# anything. Usage: tools/fuzz.sh SECONDS_PER_TARGET [TARGET...]   (default: every target)
#
# Seeds are rebuilt from captures/ and, when present, ../shared/corpus and the IDL of
# ../shared/reference/ms-idl (tools/fuzz-seeds.py) into fuzz/seeds/; what libFuzzer finds
# grows fuzz/corpus/ (kept between runs, not committed). A crashing input is saved under
# fuzz/artifacts/TARGET/ and the script exits 1 after the other targets ran; turn it into a
# named regression test (docs/robustness.md).
#
# Needs cargo-fuzz (installed here when missing) and a nightly toolchain; without one, the
# stable toolchain is used with RUSTC_BOOTSTRAP=1 for the sanitizer flags. FUZZ_SANITIZER=none
# drops AddressSanitizer for long runs that want executions (several times more per second;
# Rust's own bounds checks still catch what matters in safe code). FUZZ_MAX_LEN caps the input
# size of every target (default 64 KiB, 512 KiB for capture_file, 128 KiB for engine): the
# targets that parse a whole capture or IDL file run several times faster on 8 KiB inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:?usage: tools/fuzz.sh SECONDS_PER_TARGET [TARGET...]}
shift
# Memory and time limits of one input: far above what any capture needs, so that a finding
# is a real blow-up (the engine's documented budget is 256 MiB).
RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-1024}
TIMEOUT_SECONDS=${FUZZ_TIMEOUT_SECONDS:-10}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
fi

seeds=(captures)
idl=(--idl captures/idl)
if [ -d ../shared/corpus ]; then seeds+=(../shared/corpus); fi
if [ -d ../shared/reference/ms-idl ]; then idl+=(--idl ../shared/reference/ms-idl); fi
rm -rf fuzz/seeds
python3 tools/fuzz-seeds.py fuzz/seeds "${seeds[@]}" "${idl[@]}" >/dev/null

sanitizer=(--sanitizer "${FUZZ_SANITIZER:-address}")
"${fuzz[@]}" build -O "${sanitizer[@]}" --fuzz-dir fuzz

dict_of() {
  case "$1" in
    capture_file|link_ip|engine) echo fuzz/dicts/capture.dict ;;
    idl_parser|ndr_described) echo fuzz/dicts/idl.dict ;;
    expect_file) echo fuzz/dicts/expect.dict ;;
    filter_expr) echo fuzz/dicts/filter.dict ;;
    *) echo fuzz/dicts/rpc.dict ;;
  esac
}

failed=0
printf '%-16s %12s %8s %8s %s\n' target executions seconds corpus result
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/last-run.log"
  max_len=65536
  case "$t" in capture_file) max_len=524288 ;; engine) max_len=131072 ;; esac
  max_len=${FUZZ_MAX_LEN:-$max_len}
  if "${fuzz[@]}" run -O "${sanitizer[@]}" --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT_SECONDS" \
      -max_len="$max_len" -dict="$(dict_of "$t")" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="FOUND (see $log and fuzz/artifacts/$t/)"
    failed=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  printf '%-16s %12s %8s %8s %s\n' "$t" "${runs:-?}" "${secs:-$seconds}" \
    "$(find "fuzz/corpus/$t" -type f | wc -l)" "$result"
done
exit "$failed"
