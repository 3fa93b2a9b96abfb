"""IPv6: ept_map for SAMR through [::1]:135, then the announced dynamic port
on ::1, bind (no authentication) and a few SAMR calls, from impacket."""
from impacket.dcerpc.v5 import samr

import lab

dce = lab.connect(samr.MSRPC_UUID_SAMR, host=lab.HOST6)
server = samr.hSamrConnect2(dce)["ServerHandle"]
domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
lab.say("domains:", [d["Name"] for d in domains])
sid = samr.hSamrLookupDomainInSamServer(dce, server, domains[0]["Name"])["DomainId"]
domain = samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]
rids = samr.hSamrLookupNamesInDomain(dce, domain, [lab.USER])["RelativeIds"]["Element"]
lab.say("rid of %s:" % lab.USER, rids[0]["Data"])
samr.hSamrCloseHandle(dce, domain)
samr.hSamrCloseHandle(dce, server)
dce.disconnect()
