#!/usr/bin/env bash
# Throughput of `rpcscope calls --json` next to tshark on the same capture, in the same run.
#
#   tests/bench/throughput.sh [CAPTURE ...]
#
# Without arguments it measures the largest capture of ../shared/corpus and a concatenation of
# the whole corpus. For each capture it reports the best of N runs (N=5, or $RUNS) of:
#   floor    reading the file (cat > /dev/null)
#   rpcscope rpcscope calls --json (release build)
#   tshark   tshark -n -r CAPTURE -Y dcerpc (TCP and DCE/RPC reassembly on, its defaults)
# and the ratio tshark / rpcscope. Needs tshark; mergecap for the corpus concatenation.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-5}
cargo build --release --quiet
bin=target/release/rpcscope
shared=../shared/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

captures=("$@")
if [ ${#captures[@]} -eq 0 ]; then
  largest=$(find "$shared" -maxdepth 2 -type f \( -name '*.pcap' -o -name '*.pcapng' \) -printf '%s %p\n' \
    | sort -rn | awk 'NR == 1 { print $2 }')
  captures=("$largest")
  if command -v mergecap >/dev/null 2>&1; then
    # -a concatenates: frame numbers and streams stay distinct.
    all=()
    while read -r f; do
      # Some corpus files are cut short; mergecap would stop at the first of them.
      capinfos -c "$f" >/dev/null 2>&1 && all+=("$f")
    done < <(find "$shared" -maxdepth 2 -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
    mergecap -a -F pcapng -w "$tmp/corpus-all.pcapng" "${all[@]}"
    [ -s "$tmp/corpus-all.pcapng" ] && captures+=("$tmp/corpus-all.pcapng")
  fi
fi

best() { # best wall time in seconds of "$@" over $runs runs
  local best=""
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    best=$(echo "$t0 $t1 ${best:-999999}" | awk '{d=$2-$1; print (d<$3)?d:$3}')
  done
  echo "$best"
}

printf '%-48s %9s %10s %10s %10s %12s %9s\n' capture MB floor_s rpcscope_s tshark_s rpcscope_MB/s tshark/rs
for c in "${captures[@]}"; do
  mb=$(awk -v b="$(stat -c %s "$c")" 'BEGIN{printf "%.1f", b/1048576}')
  floor=$(best cat "$c")
  ours=$(best "$bin" calls --json "$c")
  theirs=$(best tshark -n -r "$c" -Y dcerpc)
  calls=$("$bin" calls --json "$c" | wc -l)
  printf '%-48s %9s %10.3f %10.3f %10.3f %12.1f %9.1f   (%s calls)\n' "$(basename "$c")" "$mb" "$floor" "$ours" "$theirs" \
    "$(awk -v m="$mb" -v t="$ours" 'BEGIN{print m/t}')" "$(awk -v a="$theirs" -v b="$ours" 'BEGIN{print a/b}')" "$calls"
done
