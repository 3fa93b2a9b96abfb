#!/usr/bin/env bash
# Throughput and memory of rpcscope against the header-walk floor and tshark, in one run on the
# same file: builds a mix of captures/ and ../shared/corpus (make-big-capture, distinct client
# addresses per copy), then times each tool ROUNDS times and prints medians of wall time, user
# time and peak RSS, and the ratios to the floor. A benchmark, not a test: absolute times on
# shared machines are noisy, the ratios are what to compare.
#
#   tools/bench-mix.sh [SIZE] [ROUNDS]      (defaults: 256M, 5; the mix is kept in target/bench/)
#
# BENCH_TSHARK=0 leaves tshark out (on a 2G mix it needs minutes and gigabytes).
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-256M}"
rounds="${2:-5}"
perf=../shared/tools/perf
if [ ! -d "$perf" ]; then
  echo "bench-mix: $perf is absent (it holds the floor and make-big-capture); nothing measured" >&2
  exit 0
fi
mkdir -p target/bench
mix="target/bench/mix-$size.pcap"
if [ ! -s "$mix" ]; then
  mapfile -t inputs < <(find captures/real ../shared/corpus -name '*.pcap' -o -name '*.pcapng' | sort)
  "$perf/make-big-capture" --size "$size" --whole-replicas -o "$mix" "${inputs[@]}" >&2
fi
cargo build --release --quiet --manifest-path "$perf/floor/Cargo.toml"
cargo build --release --quiet
floor="$perf/floor/target/release/floor"
rpcscope=target/release/rpcscope

# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # NAME COMMAND...
  local name=$1
  shift
  local walls=() users=() rss=()
  for _ in $(seq "$rounds"); do
    local t
    /usr/bin/time -o target/bench/time.txt -f '%e %U %M' "$@" >/dev/null 2>/dev/null || true
    t=$(tail -n 1 target/bench/time.txt)
    walls+=("$(echo "$t" | cut -d' ' -f1)")
    users+=("$(echo "$t" | cut -d' ' -f2)")
    rss+=("$(echo "$t" | cut -d' ' -f3)")
  done
  printf '%s %s %s %s\n' "$name" \
    "$(printf '%s\n' "${walls[@]}" | median)" \
    "$(printf '%s\n' "${users[@]}" | median)" \
    "$(printf '%s\n' "${rss[@]}" | median)"
}

{
  measure floor "$floor" "$mix"
  measure calls-1t "$rpcscope" --threads 1 calls --json "$mix"
  measure calls-2t "$rpcscope" --threads 2 calls --json "$mix"
  measure decode-1t "$rpcscope" --threads 1 calls --json --decode "$mix"
  measure decode-2t "$rpcscope" --threads 2 calls --json --decode "$mix"
  measure summary-1t "$rpcscope" --threads 1 summary --json "$mix"
  measure summary-2t "$rpcscope" --threads 2 summary --json "$mix"
  if [ "${BENCH_TSHARK:-1}" != 0 ] && command -v tshark >/dev/null 2>&1; then
    measure tshark tshark -r "$mix" -Y dcerpc -T fields -e frame.number
  fi
} >target/bench/results.txt

echo "mix: $mix ($(du -h "$mix" | cut -f1)), $rounds rounds, medians"
awk 'NR == 1 {floor = $2}
     {printf "%-10s wall %6.2f s  user %6.2f s  peak %5.0f MiB  %5.1fx the floor\n",
             $1, $2, $3, $4 / 1024, (floor > 0 ? $2 / floor : 0)}' target/bench/results.txt
