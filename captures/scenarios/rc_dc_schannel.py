"""Capture 60: the Netlogon secure channel (MS-NRPC 3.1.4, 3.3.4.2) against the
Samba AD DC (DC_HOST), as a domain member sets it up.

Over ncacn_ip_tcp (ept_map through the DC's endpoint mapper):
  * LAB-WS$ (AES, the default of current Windows): NetrServerReqChallenge and
    NetrServerAuthenticate3 on a connection without DCE/RPC authentication,
    then an alter_context on the same connection to auth type 68 (Netlogon) at
    pkt_privacy, as impacket and Windows do, and sealed calls:
    NetrLogonGetCapabilities with an authenticator, NetrLogonSamLogonEx (a
    network logon of the lab user with an NTLMv2 response: works), the same
    with a wrong password (STATUS_WRONG_PASSWORD), DsrGetDcNameEx2.
  * LAB-RC4$ (RC4 with the MD5 "strong key", for which Samba needs
    'server reject md5 schannel:LAB-RC4$ = no'): the challenge exchange, then a
    new connection bound with auth type 68 at pkt_privacy (sealed calls as
    above), and a third connection at pkt_integrity (signed, not sealed), where
    Samba refuses the network logon (STATUS_INVALID_PARAMETER: it wants a
    sealed channel for it) and answers DsrGetDcNameEx2.
The machine accounts' passwords are the old-join defaults (the lower-case
computer name), which the lab keys file gives as netlogon lines.
"""
import os

from impacket import ntlm
from impacket.dcerpc.v5 import epm, nrpc, transport
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
                                      RPC_C_AUTHN_NETLOGON)

import lab
from outcomes import OK, expect, finish

DC = os.environ["DC_HOST"]
DC_NAME = os.environ["DC_NETBIOS"]
REALM = os.environ["DC_REALM"].lower()
DOMAIN = os.environ["DC_DOMAIN"]
PRIMARY = "\\\\" + DC_NAME
SCT = nrpc.NETLOGON_SECURE_CHANNEL_TYPE
# NETLOGON_NEG_* (MS-NRPC 3.1.4.2): everything current Windows offers, and the
# same without AES (bit 24), leaving RC4 with the strong (MD5) key (bit 14).
FLAGS_AES = 0x612FFFFF
FLAGS_RC4 = 0x602FFFFF
STATUS_WRONG_PASSWORD = 0xC000006A
STATUS_INVALID_PARAMETER = 0xC000000D

BINDING = epm.hept_map(DC, nrpc.MSRPC_UUID_NRPC, protocol="ncacn_ip_tcp")
lab.say("ept_map NETLOGON -> %s" % BINDING)


def connect():
    dce = transport.DCERPCTransportFactory(BINDING).get_dce_rpc()
    dce.connect()
    return dce


def challenge_exchange(dce, machine, aes):
    """NetrServerReqChallenge and NetrServerAuthenticate3 for `machine`; returns the
    session key and the client credential."""
    client_challenge = b"rpcscop" + (b"A" if aes else b"R")
    server_challenge = expect(
        "NetrServerReqChallenge %s" % machine,
        lambda: nrpc.hNetrServerReqChallenge(dce, PRIMARY + "\x00", machine + "\x00",
                                             client_challenge))["ServerChallenge"]
    secret = ntlm.compute_nthash(machine.lower())
    if aes:
        key = nrpc.ComputeSessionKeyAES(None, client_challenge, server_challenge, secret)
        credential = nrpc.ComputeNetlogonCredentialAES(client_challenge, key)
    else:
        key = nrpc.ComputeSessionKeyStrongKey(None, client_challenge, server_challenge, secret)
        credential = nrpc.ComputeNetlogonCredential(client_challenge, key)
    flags = FLAGS_AES if aes else FLAGS_RC4
    resp = expect("NetrServerAuthenticate3 %s$ flags 0x%08x" % (machine, flags),
                  lambda: nrpc.hNetrServerAuthenticate3(dce, PRIMARY + "\x00", machine + "$\x00",
                                                        SCT.WorkstationSecureChannel, machine + "\x00",
                                                        credential, flags))
    lab.say("  negotiated flags 0x%08x" % resp["NegotiateFlags"])
    return key, credential


def secure(dce, machine, key, aes, level, alter):
    """Auth type 68 on `dce` (an alter_context, or a bind on a new connection)."""
    dce.set_credentials(machine + "$", "", DOMAIN)
    dce.set_auth_type(RPC_C_AUTHN_NETLOGON)
    dce.set_auth_level(level)
    dce.set_aes(aes)
    dce.bind(nrpc.MSRPC_UUID_NRPC, alter=alter)
    dce.set_session_key(key)


def network_logon(dce, machine, password, code):
    """NetrLogonSamLogonEx: a network logon of the lab user with an NTLMv2 response to a
    server challenge of ours (the pass-through authentication a member server makes)."""
    server_challenge = b"\x11\x22\x33\x44\x55\x66\x77\x88"
    av = ntlm.AV_PAIRS()
    av[ntlm.NTLMSSP_AV_HOSTNAME] = machine.encode("utf-16le")
    av[ntlm.NTLMSSP_AV_DOMAINNAME] = DOMAIN.encode("utf-16le")
    av[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = ("%s.%s" % (machine.lower(), REALM)).encode("utf-16le")
    nt_response, lm_response, _ = ntlm.computeResponseNTLMv2(
        0, server_challenge, b"\xaa" * 8, av.getData(), DOMAIN, lab.USER, password, "", "", True)
    request = nrpc.NetrLogonSamLogonEx()
    request["LogonServer"] = PRIMARY + "\x00"
    request["ComputerName"] = machine + "\x00"
    request["LogonLevel"] = nrpc.NETLOGON_LOGON_INFO_CLASS.NetlogonNetworkTransitiveInformation
    info = request["LogonInformation"]
    info["tag"] = nrpc.NETLOGON_LOGON_INFO_CLASS.NetlogonNetworkTransitiveInformation
    identity = info["LogonNetworkTransitive"]["Identity"]
    identity["LogonDomainName"] = DOMAIN
    identity["ParameterControl"] = 0
    identity["UserName"] = lab.USER
    identity["Workstation"] = machine
    info["LogonNetworkTransitive"]["LmChallenge"] = server_challenge
    info["LogonNetworkTransitive"]["NtChallengeResponse"] = nt_response
    info["LogonNetworkTransitive"]["LmChallengeResponse"] = lm_response
    request["ValidationLevel"] = nrpc.NETLOGON_VALIDATION_INFO_CLASS.NetlogonValidationSamInfo4
    request["ExtraFlags"] = 0
    right = "wrong" if password != lab.PASS else "right"
    expect("NetrLogonSamLogonEx %s\\%s (%s password)" % (DOMAIN, lab.USER, right),
           lambda: dce.request(request), code)


def sealed_calls(dce, machine, key, credential, aes):
    if aes:
        authenticator = nrpc.ComputeNetlogonAuthenticatorAES(credential, key)
    else:
        authenticator = nrpc.ComputeNetlogonAuthenticator(credential, key)
    expect("NetrLogonGetCapabilities %s" % machine,
           lambda: nrpc.hNetrLogonGetCapabilities(dce, PRIMARY + "\x00", machine + "\x00", authenticator))
    network_logon(dce, machine, lab.PASS, OK)
    network_logon(dce, machine, "not-the-password", STATUS_WRONG_PASSWORD)
    expect("DsrGetDcNameEx2 %s" % REALM,
           lambda: nrpc.hDsrGetDcNameEx2(dce, NULL, NULL, 0, REALM + "\x00", NULL, NULL, 0))


# LAB-WS$: AES, the secure channel on the connection that set it up (alter_context)
dce = connect()
dce.bind(nrpc.MSRPC_UUID_NRPC)
key, credential = challenge_exchange(dce, "LAB-WS", aes=True)
secure(dce, "LAB-WS", key, True, RPC_C_AUTHN_LEVEL_PKT_PRIVACY, alter=1)
sealed_calls(dce, "LAB-WS", key, credential, True)
dce.disconnect()

# LAB-RC4$: RC4 with the strong key; sealed, then signed, each on a new connection
dce = connect()
dce.bind(nrpc.MSRPC_UUID_NRPC)
key, credential = challenge_exchange(dce, "LAB-RC4", aes=False)
dce.disconnect()
dce = connect()
secure(dce, "LAB-RC4", key, False, RPC_C_AUTHN_LEVEL_PKT_PRIVACY, alter=0)
sealed_calls(dce, "LAB-RC4", key, credential, False)
dce.disconnect()
dce = connect()
secure(dce, "LAB-RC4", key, False, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, alter=0)
# Samba answers network logons only on a sealed channel
network_logon(dce, "LAB-RC4", lab.PASS, STATUS_INVALID_PARAMETER)
expect("DsrGetDcNameEx2 %s (signed)" % REALM,
       lambda: nrpc.hDsrGetDcNameEx2(dce, NULL, NULL, 0, REALM + "\x00", NULL, NULL, 0))
dce.disconnect()
finish()
