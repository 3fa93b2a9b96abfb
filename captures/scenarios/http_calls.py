"""Captures 66 and 67: RPC over HTTP (ncacn_http), impacket's HTTP transport against the lab's
Samba behind http_relay.py.

66 (`v1`): RPC over HTTP version 1, straight to the relay's ports: the endpoint mapper on 593
(Samba's port 135 behind it) enumerated with ept_lookup, then SAMR on 59300 (Samba's SAMR port
behind it) as the lab user, once signed (pkt_integrity) and once sealed (pkt_privacy).
67 (`v2`): the same calls over RPC over HTTP version 2 through the relay's RPC proxy on port
80: an IN and an OUT channel per connection, NTLM at the HTTP level, the connection-oriented
PDUs inside them.

The SAMR port is found with ept_map over plain TCP before the relay starts; the capture filter
(generate.sh's capture_http) keeps only the relay's listening ports, so neither that lookup nor
the relay's own connections to Samba are recorded."""
import os
import subprocess
import sys
import time

from impacket.dcerpc.v5 import epm, samr, transport
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
                                      RPC_C_AUTHN_WINNT)

import lab

EPM_PORT, SAMR_PORT, PROXY_PORT = 593, 59300, 80
EPT_S_NOT_REGISTERED = 0x16C9A0D6

version = sys.argv[1]
samr_target = lab.port_of(lab.resolve(samr.MSRPC_UUID_SAMR))
relay_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "http_relay.py")
if version == "v1":
    args = ["v1", str(EPM_PORT), "135", str(SAMR_PORT), str(samr_target)]
else:
    args = ["v2", str(PROXY_PORT), "135", "%d=135" % EPM_PORT, "%d=%d" % (SAMR_PORT, samr_target)]
relay = subprocess.Popen([sys.executable, "-u", relay_script] + args, stdout=subprocess.PIPE)
if relay.stdout.readline().strip() != b"ready":
    raise SystemExit("the relay did not start")


def binding(port):
    if version == "v1":
        return "ncacn_http:%s[%d]" % (lab.HOST4, port)
    return "ncacn_http:%s[%d,RpcProxy=%s:%d]" % (lab.HOST4, port, lab.HOST4, PROXY_PORT)


def connect(port, iface, level=None):
    t = transport.DCERPCTransportFactory(binding(port))
    if version == "v2":
        t.set_credentials(lab.USER, lab.PASS, lab.DOMAIN)
    elif level is not None:
        t.set_credentials(lab.USER, lab.PASS, lab.DOMAIN)
    dce = t.get_dce_rpc()
    if level is not None:
        dce.set_credentials(lab.USER, lab.PASS, lab.DOMAIN)
        dce.set_auth_type(RPC_C_AUTHN_WINNT)
        dce.set_auth_level(level)
    dce.connect()
    dce.bind(iface)
    return dce


try:
    dce = connect(EPM_PORT, epm.MSRPC_UUID_PORTMAP)
    req = epm.ept_lookup()
    req["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
    req["object"] = epm.NULL
    req["Ifid"] = epm.NULL
    req["vers_option"] = epm.RPC_C_VERS_ALL
    req["entry_handle"] = epm.ept_lookup_handle_t()
    req["max_ents"] = 500
    resp = dce.request(req, checkError=False)
    lab.say("ept_lookup over ncacn_http: %d entries, status 0x%08x"
            % (resp["num_ents"], resp["status"]))
    dce.disconnect()

    for level in (RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY):
        dce = connect(SAMR_PORT, samr.MSRPC_UUID_SAMR, level)
        server = samr.hSamrConnect2(dce)["ServerHandle"]
        domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
        lab.say("level %d: domains %s" % (level, ", ".join(d["Name"] for d in domains)))
        sid = samr.hSamrLookupDomainInSamServer(dce, server, lab.NETBIOS)["DomainId"]
        domain = samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]
        rids = samr.hSamrLookupNamesInDomain(dce, domain, [lab.USER])["RelativeIds"]
        lab.say("  %s has RID %d" % (lab.USER, rids["Element"][0]["Data"]))
        samr.hSamrCloseHandle(dce, domain)
        samr.hSamrCloseHandle(dce, server)
        dce.disconnect()
finally:
    time.sleep(0.3)
    relay.terminate()
    relay.wait()
