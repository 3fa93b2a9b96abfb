#!/usr/bin/env bash
# Time and peak memory of `summary --json` on crafted captures that fill rpcscope's bounded
# tables (tools/adversarial.py), at growing sizes: the time per element should stay flat (no
# quadratic path) and the memory should level off at the limits. A benchmark, not a test.
#
#   tools/bench-adversarial.sh            (captures kept in target/bench/adversarial/)
#
# OPEN_CALLS, CONNECTIONS, ANNOUNCED, ACKED_HOLES, HELD_BYTES, PARTIAL_PDUS and KEPT_STUBS
# override the sizes (unanswered requests; whole connections; endpoint-mapper answers for one
# endpoint and as many connections to it; calls behind an acknowledged hole that never fills;
# connections holding out-of-order data; connections holding a PDU that never ends; unanswered
# endpoint-mapper requests with 64 KiB stubs). SHAPES picks the shapes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
dir=target/bench/adversarial
mkdir -p "$dir"
printf '%-12s %9s %9s %8s %10s %12s\n' shape elements MB seconds 'peak MiB' 'µs/element'
for shape in ${SHAPES:-open-calls connections announced acked-holes held-bytes partial-pdus kept-stubs}; do
  case "$shape" in
    open-calls) sizes=${OPEN_CALLS:-10000 100000 1000000} ;;
    connections) sizes=${CONNECTIONS:-10000 100000 300000} ;;
    announced) sizes=${ANNOUNCED:-10000 100000 300000} ;;
    acked-holes) sizes=${ACKED_HOLES:-10000 100000 1000000} ;;
    held-bytes) sizes=${HELD_BYTES:-30 100 300} ;;
    partial-pdus) sizes=${PARTIAL_PDUS:-300 1000 3000} ;;
    kept-stubs) sizes=${KEPT_STUBS:-300 1000 3000} ;;
  esac
  for n in $sizes; do
    file="$dir/$shape-$n.pcap"
    [ -s "$file" ] && [ "$file" -nt tools/adversarial.py ] || python3 tools/adversarial.py "$shape" "$n" "$file"
    /usr/bin/time -o "$dir/time.txt" -f '%e %M' \
      target/release/rpcscope --threads 1 summary --json "$file" >/dev/null
    read -r secs kib <"$dir/time.txt"
    awk -v s="$shape" -v n="$n" -v b="$(stat -c %s "$file")" -v t="$secs" -v m="$kib" \
      'BEGIN { printf "%-12s %9d %9.0f %8.2f %10.0f %12.2f\n", s, n, b / 1e6, t, m / 1024, t * 1e6 / n }'
  done
done
