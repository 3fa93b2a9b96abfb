"""The full resolve-then-call chain: ept_map for SAMR on port 135, then a new
connection to the dynamic port it announces, a bind and several SAMR calls
(no authentication)."""
from impacket.dcerpc.v5 import samr

import lab

dce = lab.connect(samr.MSRPC_UUID_SAMR)  # ept_map + connect + bind
server = samr.hSamrConnect2(dce)["ServerHandle"]
domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
lab.say("domains:", [d["Name"] for d in domains])
sid = samr.hSamrLookupDomainInSamServer(dce, server, domains[0]["Name"])["DomainId"]
domain = samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]
info = samr.hSamrQueryInformationDomain2(
    dce, domain, samr.DOMAIN_INFORMATION_CLASS.DomainGeneralInformation2)
lab.say("users:", info["Buffer"]["General2"]["I1"]["UserCount"])
rids = samr.hSamrLookupNamesInDomain(dce, domain, [lab.USER])["RelativeIds"]["Element"]
lab.say("rid of %s:" % lab.USER, rids[0]["Data"])
samr.hSamrCloseHandle(dce, domain)
samr.hSamrCloseHandle(dce, server)
dce.disconnect()
