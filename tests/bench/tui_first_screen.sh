#!/usr/bin/env bash
# Time until the terminal interface shows its first screen, on a 1 GiB capture and on a small
# one (the floor, measured in the same run), until the 1 GiB analysis is done, and the peak
# memory of that session (it quits with q once the analysis is done). Runs the
# release binary in a detached tmux session (160x48) and polls its screen every 20 ms.
# Needs tmux, mergecap and ../shared/corpus; the 1 GiB file is made in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
bin=$PWD/target/release/rpcscope
shared=../shared/corpus
tmp=$(mktemp -d)
session=rpcscope-bench-$$
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$tmp"' EXIT

all=()
while read -r f; do
  capinfos -c "$f" >/dev/null 2>&1 && all+=("$f")
done < <(find "$shared" -maxdepth 2 -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
mergecap -a -F pcapng -w "$tmp/corpus.pcapng" "${all[@]}"
copies=()
size=$(stat -c %s "$tmp/corpus.pcapng")
for _ in $(seq $(( (1 << 30) / size + 1 ))); do copies+=("$tmp/corpus.pcapng"); done
mergecap -a -F pcapng -w "$tmp/big.pcapng" "${copies[@]}"
rm "$tmp/corpus.pcapng"

# seconds until the screen of a fresh session on $1 contains $2
until_shown() {
  tmux kill-session -t "$session" 2>/dev/null || true
  local t0 t1
  t0=$(date +%s.%N)
  tmux new-session -d -s "$session" -x 160 -y 48 \
    "/usr/bin/time -o '$tmp/peak' -f %M $bin $1; sleep 30"
  local deadline=$(( $(date +%s) + 300 ))
  until tmux capture-pane -p -t "$session" 2>/dev/null | grep -q -- "$2"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "no '$2' after 300 s" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

small=captures/real/02-epm-map-samr.pcap
floor=$(until_shown "$small" "1 Calls")
first=$(until_shown "$tmp/big.pcapng" "1 Calls")
rm -f "$tmp/peak"
done_at=$(until_shown "$tmp/big.pcapng" " calls — ")
tmux send-keys -t "$session" q
for _ in $(seq 300); do [ -s "$tmp/peak" ] && break; sleep 0.1; done
[ -s "$tmp/peak" ] || { echo "q did not end the session within 30 s" >&2; exit 1; }
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "capture                          MB  first screen  (x floor)"
printf '%-28s %7s %10s s\n' "$(basename "$small")" "$(mb "$small")" "$floor"
printf '%-28s %7s %10s s  %s\n' "1 GiB (corpus repeated)" "$(mb "$tmp/big.pcapng")" "$first" \
  "$(awk -v a="$first" -v b="$floor" 'BEGIN { printf "%.1fx", a / b }')"
echo "1 GiB analysed (the status line shows the call count): $done_at s"
echo "peak memory of that session: $(( $(tail -n 1 "$tmp/peak") / 1024 )) MiB"
