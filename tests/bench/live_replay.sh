#!/usr/bin/env bash
# Live capture under load: the Ethernet captures of ../shared/corpus (or the captures given),
# concatenated, are replayed with tcpreplay onto the loopback of a private network namespace
# while `rpcscope live -i lo --json` and tcpdump capture side by side. For each replay speed it
# reports the packets each saw and dropped (kernel, and rpcscope's own queue), and the calls
# rpcscope printed live against `rpcscope calls --json` of the replayed file.
#
#   sudo tests/bench/live_replay.sh [CAPTURE ...]
#
# Speeds: $SPEEDS (default "--mbps=100 --mbps=1000 --topspeed"); $LIVE_OPTIONS go to
# `rpcscope live` (e.g. "--buffer 256"). Needs root, tcpreplay,
# tcpdump, capinfos and mergecap (wireshark-common), and libpcap-dev for the `live` build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
cargo build --release --quiet --features live
bin=$PWD/target/release/rpcscope
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

captures=("$@")
if [ ${#captures[@]} -eq 0 ]; then
  while read -r f; do
    # Loopback carries Ethernet frames: replay only Ethernet captures that read to their end.
    capinfos -E "$f" 2>/dev/null | grep -q 'Ethernet$' && capinfos -c "$f" >/dev/null 2>&1 \
      && captures+=("$f")
  done < <(find ../shared/corpus -maxdepth 2 -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
fi
mergecap -a -F pcap -w "$tmp/replay.pcap" "${captures[@]}"
offline=$("$bin" calls --json "$tmp/replay.pcap" | wc -l)
packets=$(capinfos -c -M "$tmp/replay.pcap" | awk '/Number of packets/ { print $NF }')
bytes=$(stat -c %s "$tmp/replay.pcap")
echo "replayed: ${#captures[@]} captures, $packets packets, $bytes bytes, $offline calls offline"
echo
printf '| speed | replay | tcpdump captured / kernel drops | rpcscope captured / kernel drops / queue drops | calls live / offline |\n'
printf '|---|---:|---:|---:|---:|\n'

for speed in ${SPEEDS:---mbps=100 --mbps=1000 --topspeed}; do
  unshare --net bash -s "$bin" "$tmp" "$speed" <<'INNER'
set -euo pipefail
bin=$1; tmp=$2; speed=$3
ip link set lo up
rm -f "$tmp"/live.* "$tmp"/td.*
tcpdump -i lo -n -s 0 -B 16384 -w /dev/null 2>"$tmp/td.err" &
td=$!
"$bin" live -i lo ${LIVE_OPTIONS:-} --json >"$tmp/live.jsonl" 2>"$tmp/live.err" &
live=$!
for _ in $(seq 100); do
  grep -q 'listening on' "$tmp/td.err" && grep -q 'capturing on' "$tmp/live.err" && break
  sleep 0.05
done
sleep 0.3
start=$(date +%s.%N)
tcpreplay -q -i lo "$speed" "$tmp/replay.pcap" >"$tmp/replay.out" 2>&1
end=$(date +%s.%N)
sleep 1
kill -INT "$live" "$td"
wait "$live" || true
wait "$td" || true
echo "$start $end" >"$tmp/replay.time"
INNER
  read -r start end <"$tmp/replay.time"
  secs=$(echo "$end - $start" | bc -l)
  td_cap=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$tmp/td.err")
  td_drop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$tmp/td.err")
  stats=$(grep 'packets captured (' "$tmp/live.err")
  rs_cap=$(echo "$stats" | sed -n 's/^ *\([0-9]*\) packets captured.*/\1/p')
  rs_kdrop=$(echo "$stats" | sed -n 's/.*dropped: \([0-9]*\) by the kernel.*/\1/p')
  rs_qdrop=$(echo "$stats" | sed -n 's/.* \([0-9]*\) by rpcscope.*/\1/p')
  live_calls=$(wc -l <"$tmp/live.jsonl")
  printf '| %s | %.2f s | %s / %s | %s / %s / %s | %s / %s |\n' "${speed#--}" "$secs" \
    "$td_cap" "$td_drop" "$rs_cap" "$rs_kdrop" "$rs_qdrop" "$live_calls" "$offline"
done
