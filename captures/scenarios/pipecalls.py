"""Call sequences for the named-pipe scenarios, one per interface.

Each function is a generator that makes one DCE/RPC call per step and yields
its name, so that a scenario can run a sequence to the end (run) or
interleave the sequences of several pipes (round_robin)."""
from impacket import system_errors
from impacket.dcerpc.v5 import lsad, lsat, rrp, samr, srvs

import lab
from lab import say

IFACES = {
    "samr": samr.MSRPC_UUID_SAMR,
    "lsarpc": lsat.MSRPC_UUID_LSAT,
    "srvsvc": srvs.MSRPC_UUID_SRVS,
    "winreg": rrp.MSRPC_UUID_RRP,
}


def samr_calls(dce, users=False):
    """SAMR: connect, find the domain, look up and query the lab user, close.
    users=True adds EnumerateUsersInDomain and QueryDisplayInformation3 over
    all 301 users (multi-fragment responses)."""
    server = samr.hSamrConnect2(dce)["ServerHandle"]
    yield "SamrConnect2"
    domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
    yield "SamrEnumerateDomainsInSamServer"
    sid = samr.hSamrLookupDomainInSamServer(dce, server, domains[0]["Name"])["DomainId"]
    yield "SamrLookupDomainInSamServer"
    domain = samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]
    yield "SamrOpenDomain"
    if users:
        resp = samr.hSamrEnumerateUsersInDomain(dce, domain, enumerationContext=0,
                                                preferedMaximumLength=0xffffffff)
        say("  EnumerateUsersInDomain: %d users" % resp["CountReturned"])
        yield "SamrEnumerateUsersInDomain"
        resp = samr.hSamrQueryDisplayInformation3(
            dce, domain, samr.DOMAIN_DISPLAY_INFORMATION.DomainDisplayUser, 0, 1000, 0xffffffff)
        say("  QueryDisplayInformation3: %d entries" % resp["Buffer"]["UserInformation"]["EntriesRead"])
        yield "SamrQueryDisplayInformation3"
    samr.hSamrQueryInformationDomain2(
        dce, domain, samr.DOMAIN_INFORMATION_CLASS.DomainGeneralInformation2)
    yield "SamrQueryInformationDomain2"
    rid = samr.hSamrLookupNamesInDomain(dce, domain, [lab.USER])["RelativeIds"]["Element"][0]["Data"]
    yield "SamrLookupNamesInDomain"
    user = samr.hSamrOpenUser(dce, domain, samr.MAXIMUM_ALLOWED, rid)["UserHandle"]
    yield "SamrOpenUser"
    info = samr.hSamrQueryInformationUser2(dce, user, samr.USER_INFORMATION_CLASS.UserAllInformation)
    say("  user %s: %r" % (lab.USER, info["Buffer"]["All"]["FullName"]))
    yield "SamrQueryInformationUser2"
    samr.hSamrGetGroupsForUser(dce, user)
    yield "SamrGetGroupsForUser"
    for handle in (user, domain, server):
        samr.hSamrCloseHandle(dce, handle)
        yield "SamrCloseHandle"


def lsa_calls(dce, names=None):
    """LSARPC: open the policy, query the account domain, look names and SIDs up.
    names: look these up too (a long list makes a multi-fragment request)."""
    policy = lsad.hLsarOpenPolicy2(dce)["PolicyHandle"]
    yield "LsarOpenPolicy2"
    info = lsad.hLsarQueryInformationPolicy(
        dce, policy, lsad.POLICY_INFORMATION_CLASS.PolicyAccountDomainInformation)
    say("  account domain: %s" % info["PolicyInformation"]["PolicyAccountDomainInfo"]["DomainName"])
    yield "LsarQueryInformationPolicy"
    lsat.hLsarLookupNames(dce, policy, [lab.USER, "user001", "user300"])
    yield "LsarLookupNames"
    if names:
        resp = lsat.hLsarLookupNames2(dce, policy, names)
        say("  LookupNames2: %d names" % resp["TranslatedSids"]["Entries"])
        yield "LsarLookupNames2"
    lsat.hLsarLookupSids(dce, policy, ["S-1-5-32-544", "S-1-5-32-545", "S-1-1-0"])
    yield "LsarLookupSids"
    lsat.hLsarGetUserName(dce)
    yield "LsarGetUserName"
    lsad.hLsarClose(dce, policy)
    yield "LsarClose"


def srvsvc_calls(dce):
    """SRVSVC: server info, one share, all shares (a multi-fragment response), time."""
    info = srvs.hNetrServerGetInfo(dce, 101)["InfoStruct"]["ServerInfo101"]
    say("  server %s: %s" % (info["sv101_name"], info["sv101_comment"]))
    yield "NetrServerGetInfo"
    srvs.hNetrShareGetInfo(dce, "lab\x00", 1)
    yield "NetrShareGetInfo"
    shares = srvs.hNetrShareEnum(dce, 1)["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"]
    say("  NetrShareEnum: %d shares" % len(shares))
    yield "NetrShareEnum"
    srvs.hNetrRemoteTOD(dce)
    yield "NetrRemoteTOD"


def winreg_calls(dce):
    """WINREG: open HKLM, list its subkeys (the last EnumKey answers
    ERROR_NO_MORE_ITEMS), read ProductType and the CurrentVersion key, close."""
    hklm = rrp.hOpenLocalMachine(dce)["phKey"]
    yield "OpenLocalMachine"
    rrp.hBaseRegGetVersion(dce, hklm)
    yield "BaseRegGetVersion"
    subkeys = []
    while True:                 # until the server answers ERROR_NO_MORE_ITEMS
        try:
            name = rrp.hBaseRegEnumKey(dce, hklm, len(subkeys))["lpNameOut"][:-1]
        except rrp.DCERPCSessionError as exc:
            if exc.get_error_code() != system_errors.ERROR_NO_MORE_ITEMS:
                raise
            name = None
        yield "BaseRegEnumKey"
        if name is None:
            break
        subkeys.append(name)
    say("  HKLM subkeys: %s" % ", ".join(subkeys))
    key = rrp.hBaseRegOpenKey(dce, hklm, "SYSTEM\\CurrentControlSet\\Control\\ProductOptions\x00",
                              samDesired=rrp.KEY_READ)["phkResult"]
    yield "BaseRegOpenKey"
    value = rrp.hBaseRegQueryValue(dce, key, "ProductType\x00")
    say("  ProductType: %r" % (value[1],))
    yield "BaseRegQueryValue"
    rrp.hBaseRegCloseKey(dce, key)
    yield "BaseRegCloseKey"
    key = rrp.hBaseRegOpenKey(dce, hklm, "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\x00",
                              samDesired=rrp.KEY_READ)["phkResult"]
    yield "BaseRegOpenKey"
    value = rrp.hBaseRegQueryValue(dce, key, "CurrentVersion\x00")
    say("  CurrentVersion: %r" % (value[1],))
    yield "BaseRegQueryValue"
    rrp.hBaseRegEnumValue(dce, key, 0)
    yield "BaseRegEnumValue"
    rrp.hBaseRegCloseKey(dce, key)
    yield "BaseRegCloseKey"
    rrp.hBaseRegCloseKey(dce, hklm)
    yield "BaseRegCloseKey"


CALLS = {"samr": samr_calls, "lsarpc": lsa_calls, "srvsvc": srvsvc_calls, "winreg": winreg_calls}


def run(steps):
    """Run one sequence to its end; returns the number of calls."""
    return sum(1 for _ in steps)


def round_robin(sequences):
    """sequences: list of (label, generator). One call from each in turn."""
    active = list(sequences)
    n = 0
    while active:
        for item in list(active):
            label, steps = item
            try:
                name = next(steps)
            except StopIteration:
                active.remove(item)
                continue
            n += 1
            say("  %-8s %s" % (label, name))
    return n
