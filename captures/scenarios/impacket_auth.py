"""SAMR and SRVSVC calls from impacket with NTLMSSP at a given auth level:
    impacket_auth.py integrity|privacy"""
import sys

from impacket.dcerpc.v5 import samr, srvs
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
                                      RPC_C_AUTHN_LEVEL_PKT_PRIVACY)

import lab

level = {"integrity": RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
         "privacy": RPC_C_AUTHN_LEVEL_PKT_PRIVACY}[sys.argv[1]]

dce = lab.connect(samr.MSRPC_UUID_SAMR, level)
server = samr.hSamrConnect2(dce)["ServerHandle"]
domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
sid = samr.hSamrLookupDomainInSamServer(dce, server, domains[0]["Name"])["DomainId"]
domain = samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]
rid = samr.hSamrLookupNamesInDomain(dce, domain, [lab.USER])["RelativeIds"]["Element"][0]["Data"]
user = samr.hSamrOpenUser(dce, domain, samr.MAXIMUM_ALLOWED, rid)["UserHandle"]
info = samr.hSamrQueryInformationUser2(dce, user, samr.USER_INFORMATION_CLASS.UserAllInformation)
lab.say("user %s: full name %r" % (lab.USER, info["Buffer"]["All"]["FullName"]))
for handle in (user, domain, server):
    samr.hSamrCloseHandle(dce, handle)
dce.disconnect()

dce = lab.connect(srvs.MSRPC_UUID_SRVS, level)
lab.say("server:", srvs.hNetrServerGetInfo(dce, 101)["InfoStruct"]["ServerInfo101"]["sv101_comment"])
shares = srvs.hNetrShareEnum(dce, 1)["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"]
lab.say("%d shares" % len(shares))
dce.disconnect()
