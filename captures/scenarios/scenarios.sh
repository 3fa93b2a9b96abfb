# Scenario list, sourced by captures/generate.sh inside the lab namespace.
# capture NAME COMMAND... records COMMAND's loopback TCP traffic into real/NAME.pcap.
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
