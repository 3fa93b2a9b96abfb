"""Multi-fragment SAMR calls from impacket (no authentication unless 'sealed'):
    samr_frag.py request   LookupNamesInDomain for 120 names, request fragments of 512 bytes
    samr_frag.py response  EnumerateUsersInDomain and QueryDisplayInformation over 301 users
    samr_frag.py sealed    both at pkt_privacy, request fragments of 1024 bytes"""
import sys

from impacket.dcerpc.v5 import samr
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_NONE,
                                      RPC_C_AUTHN_LEVEL_PKT_PRIVACY)

import lab

mode = sys.argv[1]
level = RPC_C_AUTHN_LEVEL_PKT_PRIVACY if mode == "sealed" else RPC_C_AUTHN_LEVEL_NONE
max_frag = {"request": 512, "sealed": 1024}.get(mode)

dce = lab.connect(samr.MSRPC_UUID_SAMR, level, max_frag=max_frag)
server = samr.hSamrConnect2(dce)["ServerHandle"]
domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
sid = samr.hSamrLookupDomainInSamServer(dce, server, domains[0]["Name"])["DomainId"]
domain = samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]

if mode in ("request", "sealed"):
    names = ["user%03d" % i for i in range(1, 121)]
    resp = samr.hSamrLookupNamesInDomain(dce, domain, names)
    lab.say("LookupNamesInDomain: %d names -> %d rids" % (len(names), resp["RelativeIds"]["Count"]))

if mode in ("response", "sealed"):
    resp = samr.hSamrEnumerateUsersInDomain(dce, domain, enumerationContext=0,
                                            preferedMaximumLength=0xffffffff)
    lab.say("EnumerateUsersInDomain: %d users" % resp["CountReturned"])
if mode == "response":
    resp = samr.hSamrQueryDisplayInformation3(
        dce, domain, samr.DOMAIN_DISPLAY_INFORMATION.DomainDisplayUser, 0, 1000, 0xffffffff)
    lab.say("QueryDisplayInformation3: %d entries" % resp["Buffer"]["UserInformation"]["EntriesRead"])

samr.hSamrCloseHandle(dce, domain)
samr.hSamrCloseHandle(dce, server)
dce.disconnect()
