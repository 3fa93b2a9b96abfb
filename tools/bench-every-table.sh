#!/usr/bin/env bash
# Peak memory with every bounded table full at once: the crafted captures of
# tools/adversarial.py (100,000 whole connections, 300 connections holding out-of-order data,
# 3,000 holding a PDU that never ends, 3,000 unanswered endpoint-mapper requests with 64 KiB
# stubs, 10^6 unanswered requests over 10^4 connections) merged into one capture (mergecap),
# then each command on one and two threads. The budget is 256 MiB (docs/robustness.md).
# A benchmark, not a test.
#
#   tools/bench-every-table.sh            (captures kept in target/bench/adversarial/)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
dir=target/bench/adversarial
mkdir -p "$dir"
parts=()
for shape_n in connections:100000 held-bytes:300 partial-pdus:3000 kept-stubs:3000 open-calls:1000000; do
  shape=${shape_n%%:*} n=${shape_n##*:}
  file="$dir/$shape-$n.pcap"
  [ -s "$file" ] && [ "$file" -nt tools/adversarial.py ] || python3 tools/adversarial.py "$shape" "$n" "$file"
  parts+=("$file")
done
all="$dir/every-table.pcap"
[ -s "$all" ] && [ "$all" -nt tools/adversarial.py ] || mergecap -w "$all" "${parts[@]}"
printf '%-28s %8s %9s %10s\n' command threads seconds 'peak MiB'
for cmd in "summary --json" "calls --json" "calls --json --decode" "endpoints --json" "pdus --json"; do
  for threads in 1 2; do
    # shellcheck disable=SC2086
    /usr/bin/time -o "$dir/time.txt" -f '%e %M' \
      target/release/rpcscope --threads "$threads" $cmd "$all" >/dev/null
    read -r secs kib <"$dir/time.txt"
    awk -v c="$cmd" -v t="$threads" -v s="$secs" -v m="$kib" \
      'BEGIN { printf "%-28s %8d %9.2f %10.0f\n", c, t, s, m / 1024 }'
  done
done
