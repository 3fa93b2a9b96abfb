#!/usr/bin/env bash
# Regenerate the real-traffic captures in captures/real/.
#
# Runs a private Samba server (smbd + samba-dcerpcd) and several independent
# DCE/RPC clients (impacket, rpcclient, Samba's Python bindings) inside a fresh
# network namespace, and records one pcap per scenario on its loopback:
# 01-18 and 30-35 DCE/RPC over TCP, 20-27 over SMB named pipes; 28-29 are cut
# from 24, 33-34 from 30. 40-46 and 48-49 are NDR pipe calls between impacket
# and a PipeTest server (scenarios/pipeserver.py) over TCP; 47 is cut from 41.
# 50-56 are calls whose return codes and parameters matter (SAMR, LSARPC,
# SVCCTL, WINREG, SRVSVC, WKSSVC, SPOOLSS, and EFSR/TSCH, which Samba lacks)
# against the same file server; 57-59 are NETLOGON, LSARPC, DRSUAPI and SAMR
# against a Samba AD DC that the script provisions in the namespace on 127.0.0.2
# (59 sealed with Kerberos, the domain's keytab exported beside it).
#
#   sudo captures/generate.sh                  # all scenarios
#   sudo captures/generate.sh 03 09-frag-resp  # only scenarios whose name starts so
#   sudo captures/generate.sh 2                # only 20-29 (SMB named pipes)
#   sudo captures/generate.sh 3                # only 30-35 (endpoint resolution)
#   sudo captures/generate.sh 4                # only 40-49 (NDR pipes)
#   sudo captures/generate.sh 48 49            # only 48 and 49
#   sudo captures/generate.sh 5                # only 50-58 (return codes, parameters)
#   sudo captures/generate.sh --exec CMD...    # set the lab up, run CMD inside it
#
# Needs: samba, smbclient (rpcclient), samba-common-bin, python3-samba,
# tcpdump, iproute2, util-linux (unshare), impacket (PyPI) for a python3 on PATH
# or in IMPACKET_PYTHON; editcap (wireshark-common) for 28-29, 33-34 and 47;
# samba-ad-dc and samba-ad-provision for 57-58; tshark and ethtool are optional.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCEN="$HERE/scenarios"
OUT="$HERE/real"

# Passwords and names are lab-only and documented in captures/README.md, so that
# sealed stubs can be decrypted with tshark -o ntlmssp.nt_password:...
LAB_DOMAIN=RPCLAB
LAB_NETBIOS=RPCLAB-SRV
LAB_HOSTNAME=rpclab-client
LAB_USER=rpcuser
LAB_PASS='Rpcscope-Lab-1'
LAB_HOST4=127.0.0.1
LAB_HOST6=::1
EXTRA_USERS=300
# Lab administrator for 50-56 (unix uid 0, in a group mapped to
# BUILTIN\Administrators), added only when the first of those scenarios runs so
# that the user lists of 01-47 stay as they are. Same password as LAB_USER.
LAB_ADMIN=rpcadmin
# Samba AD DC for 57-58, provisioned when the first of those scenarios runs.
# Administrator and rpcuser have the password LAB_PASS; the machine account
# LAB-WS$ has the password of an "old join" (samba-tool computer create
# --prepare-oldjoin): its name in lower case, lab-ws.
DC_HOST=127.0.0.2
# The DC's IPv6 address, where it listens only for captures that use it (69).
DC_HOST6=fd00:2::2
DC_REALM=RPCLAB.TEST
DC_DOMAIN=RPCLABAD
DC_NETBIOS=RPCLAB-DC
DC_MACHINE=LAB-WS

log() { printf '[generate] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------
# Stage 1: outside the namespace. Check requirements, then re-execute inside a
# new network/mount/pid/uts namespace; the kernel removes everything left over
# when the namespace's init (our inner shell) exits.
# --------------------------------------------------------------------------
if [[ "${RPCSCOPE_LAB_INNER:-}" != 1 ]]; then
    [[ $(id -u) == 0 ]] || die "must run as root (sudo $0)"
    for tool in unshare ip tcpdump smbd pdbedit rpcclient; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done
    [[ -x /usr/libexec/samba/samba-dcerpcd ]] || die "samba-dcerpcd not found (package samba)"
    if [[ -z "${IMPACKET_PYTHON:-}" ]]; then
        for py in python3 /root/.pyenv/shims/python3 /usr/bin/python3; do
            if command -v "$py" >/dev/null && "$py" -c 'import impacket' 2>/dev/null; then
                IMPACKET_PYTHON="$(command -v "$py")"; break
            fi
        done
    fi
    [[ -n "${IMPACKET_PYTHON:-}" ]] || die "no python3 with impacket found (pip install impacket, or set IMPACKET_PYTHON)"
    SAMBA_PYTHON="${SAMBA_PYTHON:-/usr/bin/python3}"
    "$SAMBA_PYTHON" -c 'import samba.dcerpc.lsa' 2>/dev/null \
        || die "$SAMBA_PYTHON cannot import samba.dcerpc (package python3-samba, or set SAMBA_PYTHON)"
    export IMPACKET_PYTHON SAMBA_PYTHON RPCSCOPE_LAB_INNER=1
    # One CPU for servers, clients and tcpdump keeps the captures in order.
    PIN=()
    if command -v taskset >/dev/null; then PIN=(taskset -c "$(taskset -cp $$ | sed 's/.*: *//; s/[,-].*//')"); fi
    exec "${PIN[@]}" unshare --net --mount --pid --uts --fork --mount-proc --propagation private \
        /usr/bin/env bash "$HERE/generate.sh" "$@"
fi

# --------------------------------------------------------------------------
# Stage 2: inside the namespace.
# --------------------------------------------------------------------------
hostname "$LAB_HOSTNAME"

# Loopback that behaves like Ethernet: 1500-byte MTU, no segmentation offload,
# so that PDUs larger than one MSS span several TCP segments.
ip link set lo mtu 1500
ip link set lo gso_max_size 1500 2>/dev/null || true
ip link set lo gro_max_size 1500 2>/dev/null || true
ip link set lo up
if command -v ethtool >/dev/null; then
    ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
fi
sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 2>/dev/null || true
# No tail-loss probes / early retransmits: they make spurious retransmissions
# on an idle loopback and the captures are meant to be clean.
sysctl -qw net.ipv4.tcp_early_retrans=0 2>/dev/null || true
for _ in $(seq 50); do ip -6 addr show dev lo | grep -q '::1/128' && break; sleep 0.1; done

LAB="$(mktemp -d /tmp/rpcscope-lab.XXXXXX)"
DAEMON_PIDS=()
TCPDUMP_PID=
cleanup() {
    local rc=$?
    if [[ -n "$TCPDUMP_PID" ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null || true; fi
    # Stop the daemons by PID (reverse start order) and wait for them.
    local i
    for (( i=${#DAEMON_PIDS[@]}-1; i>=0; i-- )); do
        kill -TERM "${DAEMON_PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${DAEMON_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ $rc != 0 && -d "$LAB/log" ]]; then
        log "failed (rc=$rc); Samba logs kept in $LAB/log"
    else
        rm -rf "$LAB"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$LAB"/{private,lock,state,cache,pid,ncalrpc,log,share,etc}
chmod 0755 "$LAB" "$LAB/share"

# Private users: copies of passwd/group bind-mounted over the originals in this
# mount namespace only.
cp /etc/passwd "$LAB/etc/passwd"
cp /etc/group "$LAB/etc/group"
{
    echo "rpclab:x:20000:"
} >>"$LAB/etc/group"
{
    echo "$LAB_USER:x:20000:20000:RPC Test User:$LAB/share:/usr/sbin/nologin"
    for i in $(seq 1 "$EXTRA_USERS"); do
        printf 'user%03d:x:%d:20000:Lab user number %d of the rpcscope capture set:/nonexistent:/usr/sbin/nologin\n' \
            "$i" $((20000 + i)) "$i"
    done
} >>"$LAB/etc/passwd"
mount --bind "$LAB/etc/passwd" /etc/passwd
mount --bind "$LAB/etc/group" /etc/group

CONF="$LAB/smb.conf"
cat >"$CONF" <<EOF
[global]
    workgroup = $LAB_DOMAIN
    netbios name = $LAB_NETBIOS
    server role = standalone server
    interfaces = $LAB_HOST4 $LAB_HOST6
    bind interfaces only = yes
    private dir = $LAB/private
    lock directory = $LAB/lock
    state directory = $LAB/state
    cache directory = $LAB/cache
    pid directory = $LAB/pid
    ncalrpc dir = $LAB/ncalrpc
    passdb backend = tdbsam:$LAB/private/passdb.tdb
    log file = $LAB/log/log.%m
    log level = 1
    max log size = 0
    rpc start on demand helpers = no
    rpc server dynamic port range = 49152-49300
    server smb encrypt = off
    server min protocol = SMB2_02
    allow dcerpc auth level connect = yes
    restrict anonymous = 0
    map to guest = Bad User
    ntlm auth = ntlmv2-only
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    disable netbios = yes
    usershare max shares = 0

[lab]
    path = $LAB/share
    comment = rpcscope lab share
    read only = no
EOF
# A few more shares make srvsvc share enumerations longer.
for i in $(seq 1 40); do
    mkdir -p "$LAB/share/s$i"
    printf '\n[share%02d]\n    path = %s\n    comment = lab share %d with a reasonably long comment text\n    read only = yes\n' \
        "$i" "$LAB/share/s$i" "$i" >>"$CONF"
done

SMBOPT=(--configfile="$CONF")

# Users: the test user with a password, the extra users imported in one go.
{
    printf '%s:%d:%s:%s:[U          ]:LCT-00000000:\n' "$LAB_USER" 20000 \
        XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX
    for i in $(seq 1 "$EXTRA_USERS"); do
        printf 'user%03d:%d:%s:%s:[UX         ]:LCT-00000000:\n' "$i" $((20000 + i)) \
            XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX
    done
} >"$LAB/users.smbpasswd"
pdbedit "${SMBOPT[@]}" -i "smbpasswd:$LAB/users.smbpasswd" -e "tdbsam:$LAB/private/passdb.tdb" >/dev/null 2>&1 \
    || die "pdbedit import failed"
printf '%s\n%s\n' "$LAB_PASS" "$LAB_PASS" | smbpasswd -c "$CONF" -s -a "$LAB_USER" >/dev/null \
    || die "smbpasswd failed"
smbpasswd -c "$CONF" -e "$LAB_USER" >/dev/null
n=$(pdbedit "${SMBOPT[@]}" -L 2>/dev/null | wc -l)
log "lab in $LAB: $n Samba users"

smbd "${SMBOPT[@]}" -F --debug-stdout -d 1 >"$LAB/log/smbd.out" 2>&1 &
DAEMON_PIDS+=($!)
/usr/libexec/samba/samba-dcerpcd "${SMBOPT[@]}" -F --libexec-rpcds --debug-stdout -d 1 \
    >"$LAB/log/samba-dcerpcd.out" 2>&1 &
DAEMON_PIDS+=($!)

# port_open PORT [HOST]: something listens on HOST (default LAB_HOST4):PORT.
port_open() { ss -Htln "src ${2:-$LAB_HOST4}:$1" | grep -q .; }
for _ in $(seq 150); do
    if port_open 135 && port_open 445 \
        && [[ $(ss -Htln4 '( sport >= :49152 and sport <= :49300 )' | wc -l) -ge 3 ]]; then
        break
    fi
    for pid in "${DAEMON_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "a daemon died; see $LAB/log"; done
    sleep 0.2
done
port_open 135 || die "endpoint mapper did not come up; see $LAB/log"
log "listening: $(ss -Htln | awk '{print $4}' | sort -u | tr '\n' ' ')"

export LAB_DOMAIN LAB_NETBIOS LAB_USER LAB_PASS LAB_HOST4 LAB_HOST6 LAB_CONF="$CONF" LAB_DIR="$LAB"
export LAB_ADMIN DC_HOST DC_HOST6 DC_REALM DC_DOMAIN DC_NETBIOS DC_MACHINE
export PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$SCEN${PYTHONPATH:+:$PYTHONPATH}"
"$IMPACKET_PYTHON" "$SCEN/wait_ready.py" || die "endpoint mapper not ready; see $LAB/log"

if [[ "${1:-}" == --exec ]]; then
    shift
    "$@"
    exit $?
fi

# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------
mkdir -p "$OUT"
SELECT=("$@")
FAILED=()

selected() {
    local name=$1 s
    [[ ${#SELECT[@]} == 0 ]] && return 0
    for s in "${SELECT[@]}"; do [[ $name == "$s"* ]] && return 0; done
    return 1
}

# settings_conf "SETTING; SETTING...": set SETTINGS_CONF to the smb.conf for
# these settings on top of the base file (the base file itself for ""): a copy
# of the base file with a second [global] section at its end, one setting per
# line, written once per distinct settings. A "[name]" item starts a share
# section, so settings can add shares too.
SETTINGS_CONFS=()
SETTINGS_CONF=
settings_conf() {
    local settings=$1 i
    SETTINGS_CONF=$CONF
    [[ -z "$settings" ]] && return 0
    for i in "${!SETTINGS_CONFS[@]}"; do
        if [[ "${SETTINGS_CONFS[i]}" == "$settings" ]]; then
            SETTINGS_CONF="$LAB/smb-$((i + 1)).conf"
            return 0
        fi
    done
    SETTINGS_CONFS+=("$settings")
    SETTINGS_CONF="$LAB/smb-${#SETTINGS_CONFS[@]}.conf"
    {
        cat "$CONF"
        printf '\n# settings for the following scenarios\n[global]\n'
        tr ';' '\n' <<<"$settings" | sed 's/^ */    /'
    } >"$SETTINGS_CONF"
}

# stop_daemon INDEX NAME: stop DAEMON_PIDS[INDEX] and wait until it is gone.
stop_daemon() {
    local pid=${DAEMON_PIDS[$1]}
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$2 $pid does not stop"; return 1; }
    return 0
}

# smbd_settings "SETTING; SETTING...": make smbd run with these settings (see
# settings_conf; "" for the base file alone). smbd is restarted only when the
# settings change. samba-dcerpcd keeps running; smbd reaches it through the
# sockets in the shared ncalrpc directory.
SMBD_SETTINGS=
smbd_settings() {
    local settings=$1 conf ports port
    [[ "$settings" == "$SMBD_SETTINGS" ]] && return 0
    stop_daemon 0 smbd || return 1
    settings_conf "$settings"
    conf=$SETTINGS_CONF
    ports=$(sed -n 's/^ *smb ports *= *//p' "$conf" | tail -n 1)
    ports=${ports:-445}
    log "smbd with ${settings:-the base settings}"
    smbd --configfile="$conf" -F --debug-stdout -d 1 >>"$LAB/log/smbd.out" 2>&1 &
    DAEMON_PIDS[0]=$!
    SMBD_SETTINGS=$settings
    for port in $ports; do
        for _ in $(seq 100); do port_open "$port" && break; sleep 0.1; done
        port_open "$port" || { log "smbd does not listen on $port; see $LAB/log"; return 1; }
    done
}

# rpcd_settings "SETTING; SETTING...": the same for samba-dcerpcd (and so for
# every RPC server and the endpoint mapper); restarted only when the settings
# change, then the endpoint mapper is waited for again.
RPCD_SETTINGS=
rpcd_settings() {
    local settings=$1 conf
    [[ "$settings" == "$RPCD_SETTINGS" ]] && return 0
    stop_daemon 1 samba-dcerpcd || return 1
    for _ in $(seq 100); do port_open 135 || break; sleep 0.1; done
    settings_conf "$settings"
    conf=$SETTINGS_CONF
    log "samba-dcerpcd with ${settings:-the base settings}"
    /usr/libexec/samba/samba-dcerpcd --configfile="$conf" -F --libexec-rpcds --debug-stdout -d 1 \
        >>"$LAB/log/samba-dcerpcd.out" 2>&1 &
    DAEMON_PIDS[1]=$!
    RPCD_SETTINGS=$settings
    "$IMPACKET_PYTHON" "$SCEN/wait_ready.py" || { log "endpoint mapper not ready; see $LAB/log"; return 1; }
}

# lab_admin: add the lab administrator LAB_ADMIN (once): a second unix user
# with uid 0 whose group is mapped to BUILTIN\Administrators, with LAB_PASS.
LAB_ADMIN_DONE=
lab_admin() {
    [[ -n "$LAB_ADMIN_DONE" ]] && return 0
    echo "rpcadmins:x:20900:" >>/etc/group
    echo "$LAB_ADMIN:x:0:20900:RPC lab administrator:/nonexistent:/usr/sbin/nologin" >>/etc/passwd
    printf '%s\n%s\n' "$LAB_PASS" "$LAB_PASS" | smbpasswd -c "$CONF" -s -a "$LAB_ADMIN" >/dev/null \
        || { log "smbpasswd $LAB_ADMIN failed"; return 1; }
    net --configfile="$CONF" groupmap add sid=S-1-5-32-544 unixgroup=rpcadmins type=builtin >/dev/null \
        || { log "net groupmap add failed"; return 1; }
    log "lab administrator $LAB_ADMIN added"
    LAB_ADMIN_DONE=1
}

# dc_start: provision a Samba AD DC (realm DC_REALM, domain DC_DOMAIN) under
# $LAB/dc and run it on DC_HOST beside the file server (once). It serves
# NETLOGON, DRSUAPI, LSARPC and SAMR itself (ncacn_ip_tcp through its own
# endpoint mapper on DC_HOST:135, and ncacn_np through its smbd on DC_HOST:445).
# No DNS server, DNS or SPN updates, so it makes no traffic of its own.
DC_STARTED=
dc_start() {
    [[ -n "$DC_STARTED" ]] && return 0
    local dc="$LAB/dc"
    [[ -e "$dc" ]] && { log "an earlier attempt to start the AD DC failed"; return 1; }
    command -v samba >/dev/null && command -v samba-tool >/dev/null \
        || { log "samba (package samba-ad-dc) or samba-tool not found"; return 1; }
    ip addr add "$DC_HOST/8" dev lo 2>/dev/null || true
    local interfaces=$DC_HOST
    if selected 69; then
        ip -6 addr add "$DC_HOST6/128" dev lo nodad 2>/dev/null || true
        interfaces+=" $DC_HOST6"
    fi
    mkdir -p "$dc"/{pid,ncalrpc,log}
    log "provisioning the AD DC $DC_NETBIOS ($DC_REALM) on $DC_HOST"
    samba-tool domain provision --targetdir="$dc" --realm="$DC_REALM" --domain="$DC_DOMAIN" \
        --server-role=dc --dns-backend=NONE --adminpass="$LAB_PASS" \
        --host-name="${DC_NETBIOS,,}" --host-ip="$DC_HOST" \
        --option="netbios name = $DC_NETBIOS" \
        --option="interfaces = $interfaces" --option="bind interfaces only = yes" \
        >"$dc/log/provision.out" 2>&1 || { log "provision failed; see $dc/log/provision.out"; return 1; }
    export DC_CONF="$dc/etc/smb.conf"
    # provision writes only settings that differ from the defaults, so the
    # lab's own go into a second [global] section: no encryption offered (or
    # impacket encrypts SMB3), no DNS server, no DNS or SPN updates, the file
    # server's dynamic port range, printing off, everything under $dc.
    cat >>"$DC_CONF" <<EOF

# rpcscope lab settings
[global]
    server smb encrypt = off
    server services = -dns
    dns update command = /bin/true
    spn update command = /bin/true
    rpc server dynamic port range = 49152-49300
    disable netbios = yes
    load printers = no
    disable spoolss = yes
    pid directory = $dc/pid
    ncalrpc dir = $dc/ncalrpc
    log file = $dc/log/log.%m
    log level = 1
    # LAB-RC4\$ keeps the RC4 (MD5 strong key) secure channel of older members, and may use
    # it signed only (capture 60)
    server reject md5 schannel:LAB-RC4\$ = no
    server schannel require seal:LAB-RC4\$ = no
    # one capture's own settings (capture_dc_with), empty otherwise
    include = $dc/etc/capture.conf
EOF
    : >"$dc/etc/capture.conf"
    samba-tool user create "$LAB_USER" "$LAB_PASS" --configfile="$DC_CONF" >/dev/null \
        && samba-tool computer create "$DC_MACHINE" --prepare-oldjoin --configfile="$DC_CONF" >/dev/null \
        && samba-tool computer create LAB-RC4 --prepare-oldjoin --configfile="$DC_CONF" >/dev/null \
        || { log "samba-tool user/computer create failed"; return 1; }
    samba --configfile="$DC_CONF" -F --debug-stdout -d 1 >"$dc/log/samba.out" 2>&1 &
    DAEMON_PIDS+=($!)
    for _ in $(seq 300); do
        port_open 135 "$DC_HOST" && port_open 445 "$DC_HOST" && port_open 49152 "$DC_HOST" && break
        kill -0 "${DAEMON_PIDS[-1]}" 2>/dev/null || { log "samba died; see $dc/log"; return 1; }
        sleep 0.2
    done
    LAB_HOST4=$DC_HOST "$IMPACKET_PYTHON" "$SCEN/wait_ready.py" dc \
        || { log "the AD DC's endpoint mapper is not ready; see $dc/log"; return 1; }
    log "AD DC listening: $(ss -Htln "src $DC_HOST" | awk '{print $4}' | sort -u | tr '\n' ' ')"
    DC_STARTED=1
}

# record NAME FILTER CMD...: record CMD's traffic matching FILTER into real/NAME.pcap.
record() {
    local name=$1 filter=$2; shift 2
    local pcap="$OUT/$name.pcap" tmp="$LAB/$name.pcap" err="$LAB/$name.tcpdump"
    log "scenario $name"
    tcpdump --immediate-mode -i lo -n -s 0 -U -Z root -w "$tmp" "$filter" 2>"$err" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$err" && break; sleep 0.05; done
    sleep 0.2
    local rc=0
    "$@" >"$LAB/log/$name.client" 2>&1 || rc=$?
    sleep 0.5
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    if [[ $rc != 0 ]]; then
        log "  client failed (rc=$rc):"
        sed 's/^/    /' "$LAB/log/$name.client" >&2
        FAILED+=("$name")
        return 0
    fi
    local packets
    packets=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$err")
    if [[ -z "$packets" || "$packets" == 0 ]]; then
        log "  tcpdump captured nothing"; FAILED+=("$name"); return 0
    fi
    mv -f "$tmp" "$pcap"
    chmod 0644 "$pcap"
    log "  $packets packets -> real/$name.pcap"
    sed -n '1,12s/^/    | /p' "$LAB/log/$name.client" >&2
}

# capture NAME CMD...: record CMD's DCE/RPC-over-TCP traffic (no SMB ports).
capture() {
    local name=$1; shift
    selected "$name" || return 0
    smbd_settings "" && rpcd_settings "" || { FAILED+=("$name"); return 0; }
    record "$name" 'tcp and not port 445 and not port 139' "$@"
}

# capture_smb NAME SETTINGS CMD...: record CMD's SMB traffic (ports 445 and
# 139 only) with smbd running with SETTINGS (see smbd_settings).
# capture_http NAME CMD...: record CMD's RPC over HTTP traffic: only the ports of
# scenarios/http_relay.py (593 and 59300 for version 1, 80 for version 2's proxy), not the
# relay's own connections to Samba behind them.
capture_http() {
    local name=$1; shift
    selected "$name" || return 0
    smbd_settings "" && rpcd_settings "" || { FAILED+=("$name"); return 0; }
    record "$name" 'tcp port 593 or tcp port 59300 or tcp port 80' "$@"
}

capture_smb() {
    local name=$1 settings=$2; shift 2
    selected "$name" || return 0
    smbd_settings "$settings" && rpcd_settings "" || { FAILED+=("$name"); return 0; }
    record "$name" 'tcp port 445 or tcp port 139' "$@"
}

# capture_lab NAME SETTINGS CMD...: record all of CMD's TCP traffic with the
# file server (SMB and ncacn_ip_tcp, endpoint mapper included), with smbd and
# samba-dcerpcd both running with SETTINGS and the lab administrator added.
capture_lab() {
    local name=$1 settings=$2; shift 2
    selected "$name" || return 0
    lab_admin && smbd_settings "$settings" && rpcd_settings "$settings" \
        || { FAILED+=("$name"); return 0; }
    record "$name" "tcp and not host $DC_HOST" "$@"
}

# capture_dc NAME CMD...: record all of CMD's TCP traffic with the AD DC
# (started by dc_start when needed).
capture_dc() {
    local name=$1; shift
    selected "$name" || return 0
    dc_start || { FAILED+=("$name"); return 0; }
    record "$name" "tcp and host $DC_HOST" "$@"
}

# capture_dc_udp NAME CMD...: as capture_dc, with Kerberos over UDP port 88 too, and every IPv4
# fragment (a fragment after the first has no UDP header for the port to match).
capture_dc_udp() {
    local name=$1; shift
    selected "$name" || return 0
    dc_start || { FAILED+=("$name"); return 0; }
    record "$name" "host $DC_HOST and (tcp or udp port 88 or (ip[6:2] & 0x3fff != 0))" "$@"
}

# capture_dc_udp6 NAME CMD...: as capture_dc, with everything to and from the DC's IPv6 address
# too (Kerberos over UDP and TCP port 88, and the IPv6 fragments of its UDP messages).
capture_dc_udp6() {
    local name=$1; shift
    selected "$name" || return 0
    dc_start || { FAILED+=("$name"); return 0; }
    record "$name" "(host $DC_HOST and tcp) or host $DC_HOST6" "$@"
}

# capture_dc_with NAME SETTINGS CMD...: as capture_dc, with the AD DC's smbd given SETTINGS
# ("SETTING; SETTING...") for this capture only (an included file, reloaded before and after).
capture_dc_with() {
    local name=$1 settings=$2; shift 2
    selected "$name" || return 0
    dc_start || { FAILED+=("$name"); return 0; }
    tr ';' '\n' <<<"$settings" >"$LAB/dc/etc/capture.conf"
    smbcontrol --configfile="$DC_CONF" smbd reload-config >/dev/null \
        || { log "smbcontrol reload-config failed"; FAILED+=("$name"); return 0; }
    sleep 0.5
    record "$name" "tcp and host $DC_HOST" "$@"
    : >"$LAB/dc/etc/capture.conf"
    smbcontrol --configfile="$DC_CONF" smbd reload-config >/dev/null || true
}

# derive NAME SOURCE POINT: real/NAME.pcap holds the frames of real/SOURCE.pcap
# that cut_capture.py selects for POINT (one or more ranges), cut with editcap.
derive() {
    local name=$1 source="$OUT/$2.pcap" point=$3 range ranges
    selected "$name" || return 0
    log "scenario $name (from real/$2.pcap)"
    if ! command -v editcap >/dev/null; then
        log "  editcap not found (package wireshark-common)"; FAILED+=("$name"); return 0
    fi
    if ! range=$("$IMPACKET_PYTHON" "$SCEN/cut_capture.py" "$point" "$source"); then
        FAILED+=("$name"); return 0
    fi
    read -ra ranges <<<"$range"
    if ! editcap -F pcap -r "$source" "$LAB/$name.pcap" "${ranges[@]}"; then
        FAILED+=("$name"); return 0
    fi
    mv -f "$LAB/$name.pcap" "$OUT/$name.pcap"
    chmod 0644 "$OUT/$name.pcap"
    log "  frames $range -> real/$name.pcap"
}

IMPY=("$IMPACKET_PYTHON" -u)
SAPY=("$SAMBA_PYTHON" -u)
RPCCLIENT=(rpcclient "${SMBOPT[@]}" --option='client use kerberos = off')

# shellcheck source=scenarios/scenarios.sh
source "$SCEN/scenarios.sh"

if [[ ${#FAILED[@]} != 0 ]]; then
    die "scenarios failed: ${FAILED[*]}"
fi
log "done"
