"""Wait until the endpoint mapper resolves the interfaces the scenarios use,
over IPv4 and IPv6 (run before any capture starts)."""
import sys
import time

from impacket.dcerpc.v5 import lsat, samr, srvs

import lab

deadline = time.time() + 30
while True:
    try:
        for host in (lab.HOST4, lab.HOST6):
            for iface in (samr.MSRPC_UUID_SAMR, lsat.MSRPC_UUID_LSAT, srvs.MSRPC_UUID_SRVS):
                lab.epm.hept_map(host, iface, protocol="ncacn_ip_tcp")
        break
    except Exception as exc:
        if time.time() > deadline:
            sys.exit("endpoint mapper not ready: %s" % exc)
        time.sleep(0.3)
