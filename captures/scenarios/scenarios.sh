# Scenario list, sourced by captures/generate.sh inside the lab namespace.
# capture NAME COMMAND... records COMMAND's loopback TCP traffic into real/NAME.pcap
# (without the SMB ports); capture_smb and derive are described further down.
# The client functions chain their commands with && because set -e does not
# apply inside them (capture runs them as the left side of ||).
# Available: IMPY (python3 with impacket), SAPY (Debian python3 with samba),
# RPCCLIENT (rpcclient with the lab's smb.conf), $SCEN, $LAB_* variables.

AUTH=(-U "$LAB_DOMAIN/$LAB_USER%$LAB_PASS")
ANON=(-U% -N)

# rpcclient resolves each interface through the endpoint mapper (ept_map) and
# then connects to the dynamic port; with the options below it authenticates
# with NTLMSSP (or SPNEGO) at the given level.
rpcclient_calls() {  # rpcclient_calls BINDING AUTHARGS...
    local binding=$1; shift
    "${RPCCLIENT[@]}" "$@" "$binding" \
        -c 'srvinfo; enumdomains; querydominfo; netshareenumall'
}
rpcclient_twice() {  # rpcclient_twice OPT1 OPT2: two rpcclient runs with NTLMSSP
    rpcclient_calls "ncacn_ip_tcp:$LAB_HOST4[$1]" "${AUTH[@]}" &&
        rpcclient_calls "ncacn_ip_tcp:$LAB_HOST4[$2]" "${AUTH[@]}"
}
both_clients() {  # both_clients RPCCLIENT_OPT IMPACKET_LEVEL
    rpcclient_calls "ncacn_ip_tcp:$LAB_HOST4[$1]" "${AUTH[@]}" &&
        "${IMPY[@]}" "$SCEN/impacket_auth.py" "$2"
}
alter_context() {
    "${SAPY[@]}" "$SCEN/samba_alter_context.py" &&
        "${IMPY[@]}" "$SCEN/impacket_alter.py"
}
ipv6() {
    "${IMPY[@]}" "$SCEN/ipv6.py" &&
        "${RPCCLIENT[@]}" "${ANON[@]}" "ncacn_ip_tcp:$LAB_HOST6" -c 'srvinfo; enumdomains'
}

capture 01-epm-lookup        "${IMPY[@]}" "$SCEN/epm_lookup.py"
capture 02-epm-map-samr      "${IMPY[@]}" "$SCEN/epm_map_samr.py"
capture 03-anonymous         rpcclient_calls "ncacn_ip_tcp:$LAB_HOST4" "${ANON[@]}"
capture 04-ntlm-connect      rpcclient_calls "ncacn_ip_tcp:$LAB_HOST4[connect]" "${AUTH[@]}"
capture 05-ntlm-sign         both_clients sign integrity
capture 06-ntlm-seal         both_clients seal privacy
capture 07-spnego            rpcclient_twice spnego spnego,seal
capture 08-frag-request      "${IMPY[@]}" "$SCEN/samr_frag.py" request
capture 09-frag-response     "${IMPY[@]}" "$SCEN/samr_frag.py" response
capture 10-frag-sealed       "${IMPY[@]}" "$SCEN/samr_frag.py" sealed
capture 11-alter-context     alter_context
capture 12-faults            "${IMPY[@]}" "$SCEN/faults.py"
capture 13-bind-reject       "${IMPY[@]}" "$SCEN/bind_reject.py"
capture 14-bind-nak          "${IMPY[@]}" "$SCEN/bind_nak.py"
capture 15-bigendian         "${SAPY[@]}" "$SCEN/samba_bigendian.py"
capture 16-ipv6              ipv6
capture 17-pipelined         "${IMPY[@]}" "$SCEN/pipelined.py"
capture 18-interleaved-frags "${IMPY[@]}" "$SCEN/interleaved.py"

# DCE/RPC over SMB named pipes (ncacn_np). capture_smb NAME SETTINGS COMMAND...
# records only ports 445 and 139, with smbd running with SETTINGS (separated by
# ";") added to the base smb.conf's [global] section; "" = the base settings:
# SMB2_02 and up, signing offered but not required, encryption only if the
# client asks for it.
# derive NAME SOURCE POINT cuts real/SOURCE.pcap with editcap so that it starts
# after the last CREATE (after-create) or the last bind_ack (after-bind).
RPCCLIENT_NP=("${RPCCLIENT[@]}" "${AUTH[@]}")
NP_COMMANDS='srvinfo; enumdomusers; lsaquery; netshareenumall; getusername'
# LSA LookupNames for 200 names: a request of several fragments.
NP_NAMES="$(printf 'user%03d ' $(seq 1 200))"

smb1_pipes() {
    "${RPCCLIENT_NP[@]}" --option='client ipc min protocol = NT1' \
        --option='client ipc max protocol = NT1' "$LAB_HOST4" \
        -c "$NP_COMMANDS; lookupnames $NP_NAMES" &&
        "${IMPY[@]}" "$SCEN/np_smb1.py"
}
encrypted_pipes() {
    "${RPCCLIENT_NP[@]}" --option='client smb encrypt = required' "$LAB_HOST4" \
        -c 'srvinfo; enumdomusers; lsaquery' &&
        "${IMPY[@]}" "$SCEN/np_session.py" default 445 samr lsarpc
}
# 63: the SMB 3.0 and 3.0.2 key derivation (no pre-authentication hash, AES-128-CCM): Samba's
# client held to each dialect, then impacket with SMB 3.0.
encrypted_pipes_smb30() {
    "${RPCCLIENT_NP[@]}" --option='client smb encrypt = required' \
        --option='client ipc max protocol = SMB3_00' "$LAB_HOST4" -c 'srvinfo; lsaquery' &&
        "${RPCCLIENT_NP[@]}" --option='client smb encrypt = required' \
            --option='client ipc max protocol = SMB3_02' "$LAB_HOST4" -c 'srvinfo; enumdomusers' &&
        "${IMPY[@]}" "$SCEN/np_session.py" 3.0 445 samr
}
# 65: SMB 3.1.1 with the AES-256 ciphers, which Samba's client offers only when asked.
encrypted_pipes_aes256() {
    "${RPCCLIENT_NP[@]}" --option='client smb encrypt = required' \
        --option='client smb3 encryption algorithms = aes-256-gcm' "$LAB_HOST4" \
        -c 'srvinfo; lsaquery' &&
        "${RPCCLIENT_NP[@]}" --option='client smb encrypt = required' \
            --option='client smb3 encryption algorithms = aes-256-ccm' "$LAB_HOST4" \
            -c 'srvinfo; enumdomusers'
}
port139_pipes() {
    "${RPCCLIENT_NP[@]}" --option='disable netbios = no' -p 139 "$LAB_HOST4" \
        -c 'srvinfo; lsaquery; getusername' &&
        "${IMPY[@]}" "$SCEN/np_session.py" NT1 139 samr srvsvc
}
signed_pipes() {
    "${IMPY[@]}" "$SCEN/np_session.py" 2.0.2 445 samr &&
        "${IMPY[@]}" "$SCEN/np_session.py" 3.0 445 lsarpc srvsvc
}

capture_smb 20-np-rpcclient       "" "${RPCCLIENT_NP[@]}" "$LAB_HOST4" -c "$NP_COMMANDS"
capture_smb 21-np-impacket        "" "${IMPY[@]}" "$SCEN/np_impacket.py"
capture_smb 22-np-smb1            'server min protocol = NT1' smb1_pipes
capture_smb 23-np-small-reads     "" "${IMPY[@]}" "$SCEN/np_small_reads.py"
capture_smb 24-np-multi-pipe      "" "${IMPY[@]}" "$SCEN/np_multi_pipe.py"
capture_smb 25-np-smb3-encrypted  'server smb encrypt = required' encrypted_pipes
capture_smb 63-np-smb30-encrypted 'server smb encrypt = required' encrypted_pipes_smb30
capture_smb 65-np-smb3-aes256-encrypted 'server smb encrypt = required' encrypted_pipes_aes256
capture_smb 26-np-port139         'smb ports = 445 139; server min protocol = NT1' port139_pipes
capture_smb 27-np-signed          'server signing = mandatory' signed_pipes
derive      28-np-after-create    24-np-multi-pipe after-create
derive      29-np-after-bind      24-np-multi-pipe after-bind

# Endpoint resolution (30-35), DCE/RPC over TCP like 01-18. The clients find the
# dynamic ports through the endpoint mapper on port 135 (ept_map, ept_lookup).
# 33 and 34 are cut from 30 with editcap (see derive above): 33 from the first
# SYN to a dynamic port (no ept_map for SAMR), 34 without the frames that carry
# the bind and bind_ack on the dynamic ports (the EPM exchanges stay).
samba_resolve() {
    "${SAPY[@]}" "$SCEN/samba_epm_resolve.py" &&
        "${RPCCLIENT[@]}" "${ANON[@]}" "ncacn_ip_tcp:$LAB_HOST4" -c 'srvinfo; enumdomains'
}

capture 30-epm-resolve-three     "${IMPY[@]}" "$SCEN/epm_resolve.py"
capture 31-epm-resolve-samba     samba_resolve
capture 32-epm-lookup-paged      "${IMPY[@]}" "$SCEN/epm_enumerate.py"
derive  33-epm-after-map         30-epm-resolve-three dynamic-connect
derive  34-epm-no-bind           30-epm-resolve-three no-dynamic-bind
capture 35-epm-ipv6              "${IMPY[@]}" "$SCEN/epm_ipv6.py"

# NDR pipes (40-49), DCE/RPC over TCP like 01-18, but no Samba: the impacket
# client and the PipeTest server (pipeserver.py, impacket's DCERPCServer with
# reassembly, per-fragment frag_len, NDR64 and chosen faults) run in one
# process and talk over 127.0.0.1:9123. The interface is captures/idl/pipetest.idl.
# 47 is cut from 41 with editcap after the middle response fragment. 48 and 49
# came later than 40-47 (a fault during an [in] pipe; a pipe of 9-byte structures
# aligned to 8); they do not change the calls of 40-47.
PIPES=("${IMPY[@]}" "$SCEN/pipe_scenarios.py")

capture 40-pipe-in-1mib          "${PIPES[@]}" in-1mib
capture 41-pipe-out-small-chunks "${PIPES[@]}" out-small-chunks
capture 42-pipe-both             "${PIPES[@]}" both
capture 43-pipe-empty            "${PIPES[@]}" empty
capture 44-pipe-struct           "${PIPES[@]}" struct
capture 45-pipe-ndr64            "${PIPES[@]}" ndr64
capture 46-pipe-fault-mid        "${PIPES[@]}" fault-mid
derive  47-pipe-truncated        41-pipe-out-small-chunks half-response
capture 48-pipe-in-fault         "${PIPES[@]}" in-fault
capture 49-pipe-hyper-struct     "${PIPES[@]}" hyper-struct

# Return codes and parameters (50-58): calls that fail as well as calls that
# work, with stubs in clear (no DCE/RPC authentication over SMB pipes, or
# NTLMSSP at pkt_integrity over TCP), except DRSUAPI, which Samba serves only
# sealed. Each impacket or Samba Python script checks the outcome of every call
# (scenarios/outcomes.py) and fails when one differs from what
# captures/README.md documents; the shell helpers below do the same for rpcclient,
# net and secretsdump.
# capture_lab NAME SETTINGS COMMAND... records all TCP traffic with the file
# server (SMB and ncacn_ip_tcp), with smbd and samba-dcerpcd both running with
# SETTINGS, after adding the lab administrator (LAB_ADMIN: unix uid 0, group
# mapped to BUILTIN\Administrators, password LAB_PASS).
# capture_dc NAME COMMAND... records all TCP traffic with the AD DC on DC_HOST,
# which it provisions and starts first (about 15 s).
RPCCLIENT_TCP_SIGN=("${RPCCLIENT[@]}" "${AUTH[@]}" "ncacn_ip_tcp:$LAB_HOST4[sign]")
# Samba's net tool (net rpc service / registry) as the lab administrator; it
# opens a new SMB connection for each command.
NET_ADMIN=(net "${SMBOPT[@]}" --option='client use kerberos = off' -S "$LAB_HOST4"
           -U "$LAB_DOMAIN/$LAB_ADMIN%$LAB_PASS")
SECRETSDUMP=${SECRETSDUMP:-$(command -v secretsdump.py || true)}

# fails_with TEXT COMMAND...: COMMAND must fail and print TEXT (its error).
fails_with() {
    local text=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$out"
    [[ $rc != 0 ]] || { echo "unexpected success: $*"; return 1; }
    grep -qF -- "$text" <<<"$out" || { echo "expected \"$text\" from: $*"; return 1; }
}
# prints TEXT COMMAND...: COMMAND must succeed and print TEXT.
prints() {
    local text=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$out"
    [[ $rc == 0 ]] || { echo "failed (rc=$rc): $*"; return 1; }
    grep -qF -- "$text" <<<"$out" || { echo "expected \"$text\" from: $*"; return 1; }
}

# rpcclient runs every command of -c, whatever their results, and exits with
# the status of the last one; so each list ends with a command that works.
samr_outcomes() {
    "${IMPY[@]}" "$SCEN/rc_samr.py" &&
        "${RPCCLIENT_TCP_SIGN[@]}" -c "samlookupnames domain $LAB_USER no-such-user;
            samlookupnames domain no-such-user; samlookuprids domain 99999;
            queryuser 99999; querygroup 99999; samlookupnames domain $LAB_USER"
}
lsarpc_outcomes() {
    "${IMPY[@]}" "$SCEN/rc_lsarpc.py" &&
        "${RPCCLIENT_NP[@]}" "$LAB_HOST4" -c "lookupnames $LAB_USER no-such-user;
            lookupnames no-such-user; lookupsids S-1-5-32-544 S-1-5-21-1-2-3-500;
            lookupsids S-1-5-21-1-2-3-500; lsaenumsid; lsaquery"
}
svcctl_outcomes() {
    "${IMPY[@]}" "$SCEN/rc_svcctl.py" &&
        fails_with WERR_SERVICE_DOES_NOT_EXIST "${NET_ADMIN[@]}" rpc service status PSEXESVC &&
        fails_with NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE \
            "${NET_ADMIN[@]}" rpc service create PSEXESVC PSEXESVC '%SystemRoot%\PSEXESVC.EXE' &&
        "${NET_ADMIN[@]}" rpc service status Spooler
}
winreg_outcomes() {
    "${IMPY[@]}" "$SCEN/rc_winreg.py" &&
        fails_with NT_STATUS_NO_SUCH_DEVICE "${NET_ADMIN[@]}" rpc registry getvalue \
            'HKLM\SYSTEM\CurrentControlSet\Services\PSEXESVC' ImagePath &&
        "${NET_ADMIN[@]}" rpc registry enumerate 'HKLM\SOFTWARE\Samba'
}
srvsvc_wkssvc_outcomes() {
    "${IMPY[@]}" "$SCEN/rc_srvsvc_wkssvc.py" &&
        "${RPCCLIENT_NP[@]}" "$LAB_HOST4" -c "netsharegetinfo nosuchshare; netsharegetinfo lab 2;
            wkssvc_wkstagetinfo 102; wkssvc_enumerateusers 1; netsharegetinfo lab; wkssvc_wkstagetinfo"
}
spoolss_outcomes() {
    "${IMPY[@]}" "$SCEN/rc_spoolss.py" &&
        "${RPCCLIENT_NP[@]}" "$LAB_HOST4" -c "getprinter no-such-printer; getprinter labprinter;
            getdriverdir; enumprinters"
}
# impacket's secretsdump fails against Samba 4.17: Samba cannot decode the
# prefix table in its DsGetNCChanges requests and answers with an empty reply
# (return value 0, the error inside the reply); secretsdump then gives up and
# still exits with 0. Samba's own client (rc_dc_drsuapi.py) then replicates.
# secretsdump runs in the lab directory, where it leaves its session resume file.
dcsync() {
    [[ -n "$SECRETSDUMP" ]] || { echo "secretsdump.py (impacket) not found; set SECRETSDUMP"; return 1; }
    (cd "$LAB_DIR" && prints "Something went wrong with the DRSUAPI approach" \
        "$SECRETSDUMP" -just-dc "$DC_DOMAIN/Administrator:$LAB_PASS@$DC_HOST") &&
        "${SAPY[@]}" "$SCEN/rc_dc_drsuapi.py"
}

# lab_keytab NAME [OPTION...]: the lab domain's keys (every principal's, or those the
# samba-tool options select; lab-only) in real/NAME.keytab.
lab_keytab() {
    local name=$1; shift
    samba-tool domain exportkeytab "$OUT/$name.keytab" "$@" --configfile="$DC_CONF" \
        || { echo "samba-tool domain exportkeytab failed"; return 1; }
    chmod 0644 "$OUT/$name.keytab"
}

# krb5_conf FILE [LINE...]: a private krb5.conf naming the KDC on DC_HOST, with LINEs added to
# its [libdefaults].
krb5_conf() {
    local file=$1 extra="" line; shift
    for line in "$@"; do extra+=" $line\n"; done
    printf "[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n$extra[realms]\n %s = {\n  kdc = %s\n }\n" \
        "$DC_REALM" "$DC_REALM" "$DC_HOST" >"$file"
}
DC_FQDN="${DC_NETBIOS,,}.${DC_REALM,,}"

# 59: the same DCSync as Administrator sealed with Kerberos. The lab domain's keys are exported
# beside the capture first, and the client finds the KDC on DC_HOST through a private krb5.conf.
kerberos_dcsync() {
    lab_keytab 59-dc-kerberos && krb5_conf "$LAB_DIR/krb5.conf" &&
        KRB5_CONFIG="$LAB_DIR/krb5.conf" DC_FQDN="$DC_FQDN" "${SAPY[@]}" "$SCEN/rc_dc_drsuapi.py" krb5
}

# 61: the same DCSync with the client's tickets asked over UDP port 88 (the client's default for
# small messages, kept for every message here), and only the krbtgt key exported beside it: the
# ticket session keys must be learned from the TGS exchange.
kerberos_udp_dcsync() {
    lab_keytab 61-dc-kerberos-udp.krbtgt --principal=krbtgt &&
        krb5_conf "$LAB_DIR/krb5-udp.conf" "udp_preference_limit = 65535" "large_message_size = 65535" &&
        KRB5_CONFIG="$LAB_DIR/krb5-udp.conf" DC_FQDN="$DC_FQDN" "${SAPY[@]}" "$SCEN/rc_dc_drsuapi.py" krb5
}

# 69: 61 with the KDC asked at its IPv6 address (the krb5.conf names [DC_HOST6]) on the lab's
# 1,500-byte loopback: the UDP messages that do not fit go in IPv6 fragments (RFC 8200 §4.5);
# the DRSUAPI calls stay on IPv4 TCP. Only the krbtgt key is exported beside it.
kerberos_udp6_dcsync() {
    lab_keytab 69-dc-kerberos-udp6.krbtgt --principal=krbtgt &&
        krb5_conf "$LAB_DIR/krb5-udp6.conf" "udp_preference_limit = 65535" "large_message_size = 65535" &&
        sed -i "s/kdc = $DC_HOST\$/kdc = [$DC_HOST6]/" "$LAB_DIR/krb5-udp6.conf" &&
        KRB5_CONFIG="$LAB_DIR/krb5-udp6.conf" DC_FQDN="$DC_FQDN" "${SAPY[@]}" "$SCEN/rc_dc_drsuapi.py" krb5
}

# 62: Kerberos signing and RC4-HMAC: LSARPC at pkt_integrity with an AES session key, the same
# with an RC4-HMAC one (a krb5.conf listing only arcfour-hmac-md5, under Heimdal's option names,
# which Samba's client library reads), then 59's DCSync sealed with RC4-HMAC; the domain's keytab
# exported beside it.
kerberos_lsa() {
    local rc4=arcfour-hmac-md5
    lab_keytab 62-dc-kerberos-lsa && krb5_conf "$LAB_DIR/krb5.conf" &&
        krb5_conf "$LAB_DIR/krb5-rc4.conf" "default_etypes = $rc4" "default_as_etypes = $rc4" \
            "default_tgs_etypes = $rc4" "permitted_enctypes = $rc4" &&
        KRB5_CONFIG="$LAB_DIR/krb5.conf" DC_FQDN="$DC_FQDN" "${SAPY[@]}" "$SCEN/rc_dc_krb_lsa.py" &&
        KRB5_CONFIG="$LAB_DIR/krb5-rc4.conf" DC_FQDN="$DC_FQDN" "${SAPY[@]}" "$SCEN/rc_dc_krb_lsa.py" &&
        KRB5_CONFIG="$LAB_DIR/krb5-rc4.conf" DC_FQDN="$DC_FQDN" "${SAPY[@]}" "$SCEN/rc_dc_drsuapi.py" krb5
}

# 64: RPC over SMB 3.1.1 encrypted, the session authenticated with Kerberos (its session key is
# the Kerberos one, not NTLM's): Samba's rpcclient with the DC's name as SPN, the domain's keytab
# exported beside it.
kerberos_smb3() {
    lab_keytab 64-dc-smb3-kerberos-encrypted && krb5_conf "$LAB_DIR/krb5.conf" &&
        KRB5_CONFIG="$LAB_DIR/krb5.conf" rpcclient --configfile="$CONF" --use-kerberos=required \
            --option='client smb encrypt = required' --option="realm = $DC_REALM" \
            -U "$DC_DOMAIN/Administrator%$LAB_PASS" -I "$DC_HOST" "$DC_FQDN" \
            -c 'srvinfo; lsaquery; enumdomusers; getusername'
}

# Printing on (for 55 only): spoolss, one printer from a private printcap, a
# print$ share, and print commands that do nothing.
PRINTING="disable spoolss = no; load printers = yes; printing = bsd"
PRINTING+="; printcap name = $LAB_DIR/printcap; print command = /bin/true"
PRINTING+="; lpq command = /bin/true; lprm command = /bin/true"
PRINTING+="; [labprinter]; path = $LAB_DIR/spool; printable = yes; comment = rpcscope lab printer"
PRINTING+="; [print\$]; path = $LAB_DIR/drivers; read only = yes"
mkdir -p "$LAB_DIR/spool" "$LAB_DIR/drivers"
chmod 1777 "$LAB_DIR/spool"
echo 'labprinter|rpcscope lab printer:' >"$LAB_DIR/printcap"

capture_lab 50-samr-lookups          "" samr_outcomes
capture_lab 51-lsarpc-lookups        "" lsarpc_outcomes
capture_lab 52-svcctl-psexec         "" svcctl_outcomes
capture_lab 53-winreg                "" winreg_outcomes
capture_lab 54-srvsvc-wkssvc         "" srvsvc_wkssvc_outcomes
capture_lab 55-rprn-printerbug       "$PRINTING" spoolss_outcomes
capture_lab 56-efsr-tsch-unsupported "" "${IMPY[@]}" "$SCEN/rc_no_server.py"
capture_dc  57-dc-netlogon-lsarpc       "${IMPY[@]}" "$SCEN/rc_dc_netlogon.py"
capture_dc  58-dc-dcsync                dcsync
capture_dc  59-dc-kerberos              kerberos_dcsync
capture_dc  60-dc-schannel              "${IMPY[@]}" "$SCEN/rc_dc_schannel.py"
capture_dc_udp 61-dc-kerberos-udp       kerberos_udp_dcsync
capture_dc_udp6 69-dc-kerberos-udp6     kerberos_udp6_dcsync
capture_dc  62-dc-kerberos-lsa          kerberos_lsa
capture_dc_with 64-dc-smb3-kerberos-encrypted 'server smb encrypt = required' kerberos_smb3
capture_http 66-http-v1                 "${IMPY[@]}" "$SCEN/http_calls.py" v1
capture_http 67-http-v2                 "${IMPY[@]}" "$SCEN/http_calls.py" v2
capture_smb 68-np-overflow              "" "${IMPY[@]}" "$SCEN/np_overflow.py"
