"""Capture 51, impacket part: LSARPC over \\pipe\\lsarpc as the lab user:
policy queries, name and SID lookups where some or all entries are unknown
(lookupsid style), secrets and privileges that do not exist."""
from impacket.dcerpc.v5 import lsad, lsat

import lab
from outcomes import (OK, STATUS_ACCESS_DENIED, STATUS_INVALID_INFO_CLASS, STATUS_NONE_MAPPED,
                      STATUS_NO_SUCH_PRIVILEGE, STATUS_OBJECT_NAME_NOT_FOUND,
                      STATUS_SOME_NOT_MAPPED, NCA_S_FAULT_NDR, expect, finish, np)

UNKNOWN_SID = "S-1-5-21-1-2-3-500"
PIC = lsad.POLICY_INFORMATION_CLASS
dce = np("lsarpc", lsat.MSRPC_UUID_LSAT)

policy = expect("LsarOpenPolicy2", lambda: lsad.hLsarOpenPolicy2(dce))["PolicyHandle"]
info = expect("LsarQueryInformationPolicy PolicyAccountDomainInformation",
              lambda: lsad.hLsarQueryInformationPolicy(dce, policy, PIC.PolicyAccountDomainInformation))
domain_sid = info["PolicyInformation"]["PolicyAccountDomainInfo"]["DomainSid"].formatCanonical()
lab.say("  account domain SID: %s" % domain_sid)
expect("LsarQueryInformationPolicy PolicyPrimaryDomainInformation",
       lambda: lsad.hLsarQueryInformationPolicy(dce, policy, PIC.PolicyPrimaryDomainInformation))
# a standalone server has no DNS domain information
expect("LsarQueryInformationPolicy PolicyDnsDomainInformation",
       lambda: lsad.hLsarQueryInformationPolicy(dce, policy, PIC.PolicyDnsDomainInformation),
       STATUS_INVALID_INFO_CLASS)
expect("LsarQueryInformationPolicy PolicyAuditEventsInformation",
       lambda: lsad.hLsarQueryInformationPolicy(dce, policy, PIC.PolicyAuditEventsInformation))
# no such member in the union: Samba cannot unmarshal the request
expect("LsarQueryInformationPolicy class 100",
       lambda: lsad.hLsarQueryInformationPolicy(dce, policy, 100), NCA_S_FAULT_NDR)

expect("LsarLookupNames rpcuser user001 user300",
       lambda: lsat.hLsarLookupNames(dce, policy, [lab.USER, "user001", "user300"]))
expect("LsarLookupNames rpcuser no-such-user",
       lambda: lsat.hLsarLookupNames(dce, policy, [lab.USER, "no-such-user"]), STATUS_SOME_NOT_MAPPED)
expect("LsarLookupNames no-such-user no-such-group",
       lambda: lsat.hLsarLookupNames(dce, policy, ["no-such-user", "no-such-group"]), STATUS_NONE_MAPPED)
expect("LsarLookupNames2 RPCLAB-SRV\\user002 RPCLAB-SRV\\no-such-user",
       lambda: lsat.hLsarLookupNames2(dce, policy, [lab.NETBIOS + "\\user002",
                                                    lab.NETBIOS + "\\no-such-user"]),
       STATUS_SOME_NOT_MAPPED)
expect("LsarLookupNames3 Administrators no-such-user",
       lambda: lsat.hLsarLookupNames3(dce, policy, ["Administrators", "no-such-user"]),
       STATUS_SOME_NOT_MAPPED)

expect("LsarLookupSids S-1-5-32-544 S-1-1-0 %s-41000" % domain_sid,
       lambda: lsat.hLsarLookupSids(dce, policy, ["S-1-5-32-544", "S-1-1-0", domain_sid + "-41000"]))
expect("LsarLookupSids S-1-5-32-544 %s" % UNKNOWN_SID,
       lambda: lsat.hLsarLookupSids(dce, policy, ["S-1-5-32-544", UNKNOWN_SID]), STATUS_SOME_NOT_MAPPED)
expect("LsarLookupSids %s %s-99999" % (UNKNOWN_SID, domain_sid),
       lambda: lsat.hLsarLookupSids(dce, policy, [UNKNOWN_SID, domain_sid + "-99999"]),
       STATUS_NONE_MAPPED)
expect("LsarLookupSids2 S-1-5-32-545 %s" % UNKNOWN_SID,
       lambda: lsat.hLsarLookupSids2(dce, policy, ["S-1-5-32-545", UNKNOWN_SID]), STATUS_SOME_NOT_MAPPED)

expect("LsarOpenSecret G$Missing", lambda: lsad.hLsarOpenSecret(dce, policy, "G$Missing"),
       STATUS_OBJECT_NAME_NOT_FOUND)
expect("LsarCreateSecret G$RpcscopeTest", lambda: lsad.hLsarCreateSecret(dce, policy, "G$RpcscopeTest"),
       STATUS_ACCESS_DENIED)
expect("LsarLookupPrivilegeValue SeShutdownPrivilege",
       lambda: lsad.hLsarLookupPrivilegeValue(dce, policy, "SeShutdownPrivilege"))
expect("LsarLookupPrivilegeValue SeNoSuchPrivilege",
       lambda: lsad.hLsarLookupPrivilegeValue(dce, policy, "SeNoSuchPrivilege"), STATUS_NO_SUCH_PRIVILEGE)
expect("LsarGetUserName", lambda: lsat.hLsarGetUserName(dce))
expect("LsarClose", lambda: lsad.hLsarClose(dce, policy))
dce.disconnect()
finish()
