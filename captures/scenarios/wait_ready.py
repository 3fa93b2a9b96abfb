"""Wait until the endpoint mapper resolves the interfaces the scenarios use,
over IPv4 and IPv6 (run before any capture starts). With the argument "dc":
the AD DC's NETLOGON, DRSUAPI, SAMR and LSARPC, over IPv4 (LAB_HOST4 is then
the DC's address)."""
import sys
import time

from impacket.dcerpc.v5 import drsuapi, lsat, nrpc, samr, srvs

import lab

if sys.argv[1:] == ["dc"]:
    hosts = (lab.HOST4,)
    ifaces = (nrpc.MSRPC_UUID_NRPC, drsuapi.MSRPC_UUID_DRSUAPI, samr.MSRPC_UUID_SAMR,
              lsat.MSRPC_UUID_LSAT)
else:
    hosts = (lab.HOST4, lab.HOST6)
    ifaces = (samr.MSRPC_UUID_SAMR, lsat.MSRPC_UUID_LSAT, srvs.MSRPC_UUID_SRVS)

deadline = time.time() + 30
while True:
    try:
        for host in hosts:
            for iface in ifaces:
                lab.epm.hept_map(host, iface, protocol="ncacn_ip_tcp")
        break
    except Exception as exc:
        if time.time() > deadline:
            sys.exit("endpoint mapper not ready: %s" % exc)
        time.sleep(0.3)
