"""Binds that Samba refuses with bind_nak (raw PDUs, one connection each):
  1. unknown auth_type 0x77                   -> reason 8 authentication_type_not_recognized
  2. NTLMSSP with a garbage token             -> reason 0 reason_not_specified
  3. netlogon secure channel with zeroes      -> reason 9 invalid_checksum
  4. a second bind on an accepted association -> reason 0
  5. rpc_vers_minor 2                         -> reason 4 protocol_version_not_supported
     (tshark does not dissect this bind as DCE/RPC: it accepts minor 0 and 1 only)"""
from impacket.dcerpc.v5 import samr

import lab

port = lab.port_of(lab.resolve(samr.MSRPC_UUID_SAMR))
SAMR_CTX = [(0, samr.MSRPC_UUID_SAMR, [lab.NDR])]
body = lab.bind_body(SAMR_CTX)


def attempt(what, pdu, conn=None):
    own = conn is None
    if own:
        conn = lab.RawConnection(lab.HOST4, port)
    conn.send(pdu)
    lab.say("%s: %s" % (what, lab.describe(conn.recv_pdu())))
    if own:
        conn.close()


def with_auth(auth_type, level, value):
    return lab.pdu(lab.BIND, 1, body, auth=lab.sec_trailer(len(body), auth_type, level, value))


attempt("auth_type 0x77", with_auth(0x77, 5, b"\x00" * 16))
attempt("garbage NTLMSSP token", with_auth(10, 5, b"NTLMSSP\x00garbage-token"))
attempt("schannel zero token", with_auth(0x44, 6, b"\x00" * 24))

conn = lab.RawConnection(lab.HOST4, port)
attempt("first bind", lab.pdu(lab.BIND, 1, body), conn)
attempt("second bind on the same connection", lab.pdu(lab.BIND, 2, body), conn)
conn.close()

attempt("rpc_vers_minor 2", lab.pdu(lab.BIND, 1, body, minor=2))
