"""Capture 50, impacket part: SAMR over \\pipe\\samr as the lab user, with the
lookups and opens that fail as well as those that work (samrdump / lookupsid
style, then a few wrong names, RIDs and SIDs)."""
from impacket.dcerpc.v5 import samr
from impacket.dcerpc.v5.dtypes import RPC_SID

import lab
from outcomes import (OK, STATUS_ACCESS_DENIED, STATUS_INVALID_INFO_CLASS, STATUS_NONE_MAPPED,
                      STATUS_NO_SUCH_DOMAIN, STATUS_NO_SUCH_GROUP, STATUS_NO_SUCH_USER,
                      STATUS_SOME_NOT_MAPPED, NCA_S_FAULT_CONTEXT_MISMATCH, expect, finish, np)

BAD_RID = 99999
dce = np("samr", samr.MSRPC_UUID_SAMR)

server = expect("SamrConnect", lambda: samr.hSamrConnect(dce))["ServerHandle"]
domains = expect("SamrEnumerateDomainsInSamServer",
                 lambda: samr.hSamrEnumerateDomainsInSamServer(dce, server))["Buffer"]["Buffer"]
names = [d["Name"] for d in domains]
lab.say("  domains: %s" % ", ".join(names))
expect("SamrLookupDomainInSamServer NO-SUCH-DOMAIN",
       lambda: samr.hSamrLookupDomainInSamServer(dce, server, "NO-SUCH-DOMAIN"),
       STATUS_NO_SUCH_DOMAIN)
sid = expect("SamrLookupDomainInSamServer %s" % lab.NETBIOS,
             lambda: samr.hSamrLookupDomainInSamServer(dce, server, lab.NETBIOS))["DomainId"]
lab.say("  domain SID: %s" % sid.formatCanonical())


def bad_sid():
    s = RPC_SID()
    s.fromCanonical("S-1-5-21-1-2-3")
    return s


expect("SamrOpenDomain S-1-5-21-1-2-3",
       lambda: samr.hSamrOpenDomain(dce, server, domainId=bad_sid()), STATUS_NO_SUCH_DOMAIN)
domain = expect("SamrOpenDomain", lambda: samr.hSamrOpenDomain(dce, server, domainId=sid))["DomainHandle"]

resp = expect("SamrLookupNamesInDomain rpcuser user001 user300",
              lambda: samr.hSamrLookupNamesInDomain(dce, domain, [lab.USER, "user001", "user300"]))
rid = resp["RelativeIds"]["Element"][0]["Data"]
lab.say("  %s has RID %d" % (lab.USER, rid))
expect("SamrLookupNamesInDomain rpcuser no-such-user",
       lambda: samr.hSamrLookupNamesInDomain(dce, domain, [lab.USER, "no-such-user"]),
       STATUS_SOME_NOT_MAPPED)
expect("SamrLookupNamesInDomain no-such-user no-such-group",
       lambda: samr.hSamrLookupNamesInDomain(dce, domain, ["no-such-user", "no-such-group"]),
       STATUS_NONE_MAPPED)
expect("SamrLookupIdsInDomain %d %d" % (rid, BAD_RID),
       lambda: samr.hSamrLookupIdsInDomain(dce, domain, [rid, BAD_RID]), STATUS_SOME_NOT_MAPPED)

expect("SamrOpenUser RID %d" % BAD_RID,
       lambda: samr.hSamrOpenUser(dce, domain, samr.MAXIMUM_ALLOWED, BAD_RID), STATUS_NO_SUCH_USER)
user = expect("SamrOpenUser RID %d" % rid,
              lambda: samr.hSamrOpenUser(dce, domain, samr.MAXIMUM_ALLOWED, rid))["UserHandle"]
info = expect("SamrQueryInformationUser UserGeneralInformation",
              lambda: samr.hSamrQueryInformationUser(
                  dce, user, samr.USER_INFORMATION_CLASS.UserGeneralInformation))
lab.say("  full name: %r" % info["Buffer"]["General"]["FullName"])
expect("SamrQueryInformationUser2 UserAllInformation",
       lambda: samr.hSamrQueryInformationUser2(dce, user, samr.USER_INFORMATION_CLASS.UserAllInformation))
expect("SamrQueryInformationUser2 class 99",
       lambda: samr.hSamrQueryInformationUser2(dce, user, 99), STATUS_INVALID_INFO_CLASS)
expect("SamrGetGroupsForUser", lambda: samr.hSamrGetGroupsForUser(dce, user))

expect("SamrOpenGroup RID %d" % BAD_RID,
       lambda: samr.hSamrOpenGroup(dce, domain, samr.MAXIMUM_ALLOWED, BAD_RID), STATUS_NO_SUCH_GROUP)


def create_user():
    request = samr.SamrCreateUser2InDomain()
    request["DomainHandle"] = domain
    request["Name"] = "rpcscope-new"
    request["AccountType"] = samr.USER_NORMAL_ACCOUNT
    request["DesiredAccess"] = samr.USER_ALL_ACCESS
    return dce.request(request)


expect("SamrCreateUser2InDomain rpcscope-new", create_user, STATUS_ACCESS_DENIED)

for name, handle in (("user", user), ("domain", domain), ("server", server)):
    expect("SamrCloseHandle %s" % name, lambda h=handle: samr.hSamrCloseHandle(dce, h))
expect("SamrCloseHandle user (closed)", lambda: samr.hSamrCloseHandle(dce, user),
       NCA_S_FAULT_CONTEXT_MISMATCH)
dce.disconnect()
finish()
