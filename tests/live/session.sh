#!/usr/bin/env bash
# A live session inside the capture lab (run by tests/live.rs through
# `captures/generate.sh --exec`): `rpcscope live -i lo --json -w` and tcpdump
# capture side by side while real clients (impacket, rpcclient) call Samba over
# TCP (through the endpoint mapper) and over SMB named pipes; then both are
# stopped with SIGINT, as Ctrl-C would.
#
#   tests/live/session.sh OUT_DIR RPCSCOPE_BINARY
#
# Leaves in OUT_DIR: live.jsonl (what rpcscope printed), live.err (its summary),
# live.pcapng (its -w file), tcpdump.pcap, printed-before-stop (lines printed
# while the capture was still running), clients.log.
set -euo pipefail
OUT=$1
RPCSCOPE=$2
SCEN="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../captures/scenarios" && pwd)"
RPCCLIENT=(rpcclient --configfile="$LAB_CONF" --option='client use kerberos = off')
AUTH=(-U "$LAB_DOMAIN/$LAB_USER%$LAB_PASS")

wait_for() {  # wait_for FILE TEXT: until FILE contains TEXT (10 s at most)
    for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    echo "timed out waiting for '$2' in $1" >&2
    cat "$1" >&2 || true
    return 1
}

tcpdump --immediate-mode -B 16384 -i lo -n -s 0 -U -w "$OUT/tcpdump.pcap" tcp 2>"$OUT/tcpdump.err" &
TCPDUMP=$!
"$RPCSCOPE" live -i lo -f tcp --json -w "$OUT/live.pcapng" >"$OUT/live.jsonl" 2>"$OUT/live.err" &
LIVE=$!
wait_for "$OUT/tcpdump.err" 'listening on'
wait_for "$OUT/live.err" 'capturing on lo'
sleep 0.3

{
    "$IMPACKET_PYTHON" -u "$SCEN/epm_map_samr.py"
    "${RPCCLIENT[@]}" -U% -N "ncacn_ip_tcp:$LAB_HOST4" -c 'srvinfo; enumdomains'
    "${RPCCLIENT[@]}" "${AUTH[@]}" "ncacn_ip_tcp:$LAB_HOST4[sign]" -c 'srvinfo; querydominfo'
    "${RPCCLIENT[@]}" "${AUTH[@]}" "ncacn_np:$LAB_HOST4" -c 'srvinfo; enumdomains; netshareenumall'
} >"$OUT/clients.log" 2>&1

# The calls printed while the capture still runs are the live output proper.
sleep 1
wc -l <"$OUT/live.jsonl" >"$OUT/printed-before-stop"
kill -INT "$LIVE" "$TCPDUMP"
status=0
wait "$LIVE" || status=$?
wait "$TCPDUMP" || true
exit "$status"
