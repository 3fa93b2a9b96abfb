#!/usr/bin/env bash
# The live terminal interface inside the capture lab (run by tests/live.rs
# through `captures/generate.sh --exec`): `rpcscope live -i lo -w` in a tmux
# pane while impacket resolves SAMR through the endpoint mapper and calls it;
# the screen is captured while capturing and after `q`.
#
#   tests/live/tui_session.sh OUT_DIR RPCSCOPE_BINARY
#
# Leaves in OUT_DIR: during.txt (calls view), connections.txt (connections
# view), after.txt (the terminal after q: the summary and the exit status),
# tui.pcapng (the -w file).
set -euo pipefail
OUT=$1
RPCSCOPE=$2
SCEN="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../captures/scenarios" && pwd)"
SOCKET="rpcscope-live-$$"
TMUX=(tmux -L "$SOCKET")
trap '"${TMUX[@]}" kill-server 2>/dev/null || true' EXIT

"${TMUX[@]}" new-session -d -x 160 -y 30 \
    "$RPCSCOPE live -i lo -f tcp -w $OUT/tui.pcapng; echo EXIT=\$?; sleep 60"
for _ in $(seq 100); do
    "${TMUX[@]}" capture-pane -p | grep -q capturing && break
    sleep 0.05
done
"$IMPACKET_PYTHON" -u "$SCEN/epm_map_samr.py" >"$OUT/clients.log" 2>&1
for _ in $(seq 100); do
    "${TMUX[@]}" capture-pane -p | grep -q SamrCloseHandle && break
    sleep 0.05
done
sleep 0.6 # a statistics refresh
"${TMUX[@]}" capture-pane -p >"$OUT/during.txt"
"${TMUX[@]}" send-keys 2
sleep 0.3
"${TMUX[@]}" capture-pane -p >"$OUT/connections.txt"
"${TMUX[@]}" send-keys q
for _ in $(seq 100); do
    "${TMUX[@]}" capture-pane -p | grep -q EXIT= && break
    sleep 0.05
done
"${TMUX[@]}" capture-pane -p -S -100 >"$OUT/after.txt"
