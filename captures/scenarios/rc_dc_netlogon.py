"""Capture 57: NETLOGON and LSARPC against the Samba AD DC (DC_HOST).

NETLOGON over ncacn_ip_tcp (ept_map through the DC's endpoint mapper, no
DCE/RPC authentication, as the Zerologon tools connect):
  * Zerologon attempts (CVE-2020-1472), as zerologon_tester.py makes them:
    NetrServerReqChallenge with a zero client challenge, then
    NetrServerAuthenticate3 for the DC's own account with a zero credential and
    flags 0x212fffff. A patched server answers STATUS_ACCESS_DENIED every time.
    The exploit's next step, NetrServerPasswordSet2 with a zero authenticator
    and an empty password, is refused too: STATUS_NOT_FOUND, as Samba has no
    credential state for that account.
  * the same for an account that does not exist;
  * a real secure-channel setup for the machine account LAB-WS$ (its password
    is the old-join default, lab-ws), which succeeds, and calls that need the
    secure channel (Samba wants them over schannel, so they are refused);
  * DC locator calls for the domain and for a domain that does not exist.
LSARPC over \\pipe\\lsarpc on the DC's smbd, as the lab user (Samba's AD DC
LSA server is another implementation than the file server's).
"""
import os

from impacket import ntlm
from impacket.dcerpc.v5 import epm, lsad, lsat, nrpc, transport
from impacket.dcerpc.v5.dtypes import NULL

import lab
from outcomes import (OK, ERROR_NO_SUCH_DOMAIN, STATUS_ACCESS_DENIED, STATUS_NONE_MAPPED,
                      STATUS_NO_TRUST_SAM_ACCOUNT, STATUS_SOME_NOT_MAPPED, expect, finish, np)

DC = os.environ["DC_HOST"]
DC_NAME = os.environ["DC_NETBIOS"]
REALM = os.environ["DC_REALM"].lower()
DOMAIN = os.environ["DC_DOMAIN"]
MACHINE = os.environ["DC_MACHINE"]
PRIMARY = "\\\\" + DC_NAME
ZERO = b"\x00" * 8
FLAGS = 0x212FFFFF
SCT = nrpc.NETLOGON_SECURE_CHANNEL_TYPE
ZEROLOGON_TRIES = 4
STATUS_NO_MORE_ENTRIES = 0x8000001A
STATUS_NOT_FOUND = 0xC0000225

binding = epm.hept_map(DC, nrpc.MSRPC_UUID_NRPC, protocol="ncacn_ip_tcp")
lab.say("ept_map NETLOGON -> %s" % binding)
dce = transport.DCERPCTransportFactory(binding).get_dce_rpc()
dce.connect()
dce.bind(nrpc.MSRPC_UUID_NRPC)


def req_challenge(computer, challenge):
    return expect("NetrServerReqChallenge %s" % computer,
                  lambda: nrpc.hNetrServerReqChallenge(dce, PRIMARY + "\x00", computer + "\x00", challenge))


def authenticate3(account, channel, computer, credential, flags, code):
    return expect("NetrServerAuthenticate3 %s %s" % (account, "zero credential" if credential == ZERO
                                                      else "computed credential"),
                  lambda: nrpc.hNetrServerAuthenticate3(dce, PRIMARY + "\x00", account + "\x00", channel,
                                                        computer + "\x00", credential, flags), code)


# Zerologon against the DC's own account
for attempt in range(ZEROLOGON_TRIES):
    req_challenge(DC_NAME, ZERO)
    authenticate3(DC_NAME + "$", SCT.ServerSecureChannel, DC_NAME, ZERO, FLAGS, STATUS_ACCESS_DENIED)


def password_set2():
    authenticator = nrpc.NETLOGON_AUTHENTICATOR()
    authenticator["Credential"] = ZERO
    authenticator["Timestamp"] = 0
    return nrpc.hNetrServerPasswordSet2(dce, PRIMARY + "\x00", DC_NAME + "$\x00", SCT.ServerSecureChannel,
                                        DC_NAME + "\x00", authenticator, b"\x00" * 516)


# no secure channel was set up for the DC's account: Samba has no credential state for it
expect("NetrServerPasswordSet2 %s$ (zero authenticator, empty password)" % DC_NAME, password_set2,
       STATUS_NOT_FOUND)

# an account that does not exist
req_challenge("NO-SUCH-WS", ZERO)
authenticate3("NO-SUCH-WS$", SCT.WorkstationSecureChannel, "NO-SUCH-WS", ZERO, FLAGS,
              STATUS_NO_TRUST_SAM_ACCOUNT)

# the machine account with its real password: the secure channel is set up
client_challenge = b"rpcscope"
server_challenge = req_challenge(MACHINE, client_challenge)["ServerChallenge"]
session_key = nrpc.ComputeSessionKeyAES(None, client_challenge, server_challenge,
                                        ntlm.compute_nthash(MACHINE.lower()))
credential = nrpc.ComputeNetlogonCredentialAES(client_challenge, session_key)
resp = authenticate3(MACHINE + "$", SCT.WorkstationSecureChannel, MACHINE, credential, FLAGS, OK)
lab.say("  negotiated flags 0x%08x, account RID %d" % (resp["NegotiateFlags"], resp["AccountRid"]))
expect("NetrLogonGetCapabilities %s (no schannel)" % MACHINE,
       lambda: nrpc.hNetrLogonGetCapabilities(dce, PRIMARY + "\x00", MACHINE + "\x00",
                                              nrpc.ComputeNetlogonAuthenticatorAES(credential, session_key)),
       STATUS_ACCESS_DENIED)

# DC locator
expect("DsrGetDcNameEx2 %s" % REALM,
       lambda: nrpc.hDsrGetDcNameEx2(dce, NULL, NULL, 0, REALM + "\x00", NULL, NULL, 0))
expect("DsrGetDcNameEx2 no-such-domain.test",
       lambda: nrpc.hDsrGetDcNameEx2(dce, NULL, NULL, 0, "no-such-domain.test\x00", NULL, NULL, 0),
       ERROR_NO_SUCH_DOMAIN)
expect("NetrGetDCName %s" % DOMAIN,
       lambda: nrpc.hNetrGetDCName(dce, PRIMARY + "\x00", DOMAIN + "\x00"))
dce.disconnect()

# LSARPC over SMB as the lab user
dce = np("lsarpc", lsat.MSRPC_UUID_LSAT, host=DC, domain=DOMAIN)
policy = expect("LsarOpenPolicy2", lambda: lsad.hLsarOpenPolicy2(dce))["PolicyHandle"]
PIC = lsad.POLICY_INFORMATION_CLASS
expect("LsarQueryInformationPolicy2 PolicyDnsDomainInformation",
       lambda: lsad.hLsarQueryInformationPolicy2(dce, policy, PIC.PolicyDnsDomainInformation))
info = expect("LsarQueryInformationPolicy PolicyAccountDomainInformation",
              lambda: lsad.hLsarQueryInformationPolicy(dce, policy, PIC.PolicyAccountDomainInformation))
sid = info["PolicyInformation"]["PolicyAccountDomainInfo"]["DomainSid"].formatCanonical()
expect("LsarLookupNames Administrator krbtgt %s$" % MACHINE,
       lambda: lsat.hLsarLookupNames(dce, policy, ["Administrator", "krbtgt", MACHINE + "$"]))
expect("LsarLookupNames %s no-such-user" % lab.USER,
       lambda: lsat.hLsarLookupNames(dce, policy, [lab.USER, "no-such-user"]), STATUS_SOME_NOT_MAPPED)
expect("LsarLookupNames no-such-user",
       lambda: lsat.hLsarLookupNames(dce, policy, ["no-such-user"]), STATUS_NONE_MAPPED)
expect("LsarLookupSids %s-500 %s-502 %s-99999" % (sid, sid, sid),
       lambda: lsat.hLsarLookupSids(dce, policy, [sid + "-500", sid + "-502", sid + "-99999"]),
       STATUS_SOME_NOT_MAPPED)
expect("LsarLookupSids S-1-5-21-1-2-3-500",
       lambda: lsat.hLsarLookupSids(dce, policy, ["S-1-5-21-1-2-3-500"]), STATUS_NONE_MAPPED)
expect("LsarEnumerateTrustedDomainsEx (none)",
       lambda: lsad.hLsarEnumerateTrustedDomainsEx(dce, policy), STATUS_NO_MORE_ENTRIES)
expect("LsarOpenSecret G$Missing", lambda: lsad.hLsarOpenSecret(dce, policy, "G$Missing"),
       STATUS_ACCESS_DENIED)
expect("LsarCreateSecret G$RpcscopeTest", lambda: lsad.hLsarCreateSecret(dce, policy, "G$RpcscopeTest"),
       STATUS_ACCESS_DENIED)
expect("LsarClose", lambda: lsad.hLsarClose(dce, policy))
dce.disconnect()
finish()
