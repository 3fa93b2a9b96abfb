"""Shared helpers for the impacket-based capture scenarios.

The lab settings come from the environment that captures/generate.sh exports
(LAB_HOST4, LAB_HOST6, LAB_USER, LAB_PASS, LAB_DOMAIN).  Besides thin wrappers
around impacket, this module builds a few raw connection-oriented PDUs for the
cases no ordinary client produces (rejected binds, pipelined calls).
"""
import os
import socket
import struct

from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_NONE,
                                      RPC_C_AUTHN_WINNT)
from impacket.uuid import uuidtup_to_bin

HOST4 = os.environ.get("LAB_HOST4", "127.0.0.1")
HOST6 = os.environ.get("LAB_HOST6", "::1")
USER = os.environ.get("LAB_USER", "rpcuser")
PASS = os.environ.get("LAB_PASS", "")
DOMAIN = os.environ.get("LAB_DOMAIN", "RPCLAB")
NETBIOS = os.environ.get("LAB_NETBIOS", "RPCLAB-SRV")
ADMIN = os.environ.get("LAB_ADMIN", "rpcadmin")

NDR = uuidtup_to_bin(("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0"))
NDR64 = uuidtup_to_bin(("71710533-beba-4937-8319-b5dbef9ccc36", "1.0"))

# PDU types and flags (C706 / MS-RPCE)
REQUEST, RESPONSE, FAULT, BIND, BIND_ACK, BIND_NAK = 0, 2, 3, 11, 12, 13
ALTER_CONTEXT, ALTER_CONTEXT_RESP = 14, 15
PFC_FIRST_FRAG, PFC_LAST_FRAG, PFC_CONC_MPX = 0x01, 0x02, 0x10


def say(*args):
    print(*args, flush=True)


def resolve(iface, host=HOST4):
    """ept_map through the endpoint mapper on port 135; returns a string binding."""
    binding = epm.hept_map(host, iface, protocol="ncacn_ip_tcp")
    say("ept_map %s -> %s" % (host, binding))
    return binding


def port_of(binding):
    return int(binding.rsplit("[", 1)[1].rstrip("]"))


def connect(iface, level=RPC_C_AUTHN_LEVEL_NONE, host=HOST4, binding=None,
            user=USER, password=PASS, max_frag=None):
    """Resolve iface through the EPM (unless binding is given), connect, bind."""
    if binding is None:
        binding = resolve(iface, host)
    rpctransport = transport.DCERPCTransportFactory(binding)
    if level != RPC_C_AUTHN_LEVEL_NONE:
        rpctransport.set_credentials(user, password, DOMAIN)
    dce = rpctransport.get_dce_rpc()
    if level != RPC_C_AUTHN_LEVEL_NONE:
        dce.set_auth_type(RPC_C_AUTHN_WINNT)
        dce.set_auth_level(level)
    if max_frag is not None:
        dce.set_max_fragment_size(max_frag)
    dce.connect()
    dce.bind(iface)
    return dce


def expect_error(what, fn):
    """Run fn, which is expected to fail with a DCE/RPC error; report it."""
    try:
        fn()
    except Exception as exc:  # impacket raises several exception classes
        say("%s: failed as expected: %s" % (what, exc))
        return exc
    raise SystemExit("%s: succeeded although a failure was expected" % what)


# ---------------------------------------------------------------------------
# Raw PDUs
# ---------------------------------------------------------------------------

def pdu(ptype, call_id, body, flags=PFC_FIRST_FRAG | PFC_LAST_FRAG,
        auth=b"", minor=0, drep=b"\x10\x00\x00\x00"):
    """Common header + body (+ sec_trailer/auth_value already in auth)."""
    auth_len = max(len(auth) - 8, 0)
    return struct.pack("<BBBB4sHHI", 5, minor, ptype, flags, drep,
                       16 + len(body) + len(auth), auth_len, call_id) + body + auth


def bind_body(contexts, max_xmit=4280, max_recv=4280, assoc_group=0):
    """contexts: list of (ctx_id, abstract_syntax_bin20, [transfer_syntax_bin20, ...])."""
    body = struct.pack("<HHIB3x", max_xmit, max_recv, assoc_group, len(contexts))
    for ctx_id, abstract, transfers in contexts:
        body += struct.pack("<HBx", ctx_id, len(transfers)) + abstract + b"".join(transfers)
    return body


def sec_trailer(body_len, auth_type, auth_level, auth_value, ctx_id=0):
    """Padding (to 4 bytes after the 16-byte header + body) + sec_trailer + value."""
    pad = (-(16 + body_len)) % 4
    return b"\x00" * pad + struct.pack("<BBBBI", auth_type, auth_level, pad, 0, ctx_id) + auth_value


def request(call_id, ctx_id, opnum, stub, flags=PFC_FIRST_FRAG | PFC_LAST_FRAG, alloc_hint=None):
    hint = len(stub) if alloc_hint is None else alloc_hint
    return pdu(REQUEST, call_id, struct.pack("<IHH", hint, ctx_id, opnum) + stub, flags=flags)


class RawConnection:
    """A plain TCP connection that sends and receives whole PDUs."""

    def __init__(self, host, port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect((host, port))

    def send(self, data):
        self.sock.sendall(data)

    def recv_pdu(self):
        head = b""
        while len(head) < 16:
            chunk = self.sock.recv(16 - len(head))
            if not chunk:
                return None
            head += chunk
        little = head[4] & 0x10
        frag_len = struct.unpack("<H" if little else ">H", head[8:10])[0]
        data = head
        while len(data) < frag_len:
            chunk = self.sock.recv(frag_len - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def close(self):
        self.sock.close()


def describe(pdu_bytes):
    """One-line description of a received PDU."""
    if pdu_bytes is None:
        return "connection closed by the server"
    ptype, flags = pdu_bytes[2], pdu_bytes[3]
    call_id = struct.unpack("<I", pdu_bytes[12:16])[0]
    names = {REQUEST: "request", RESPONSE: "response", FAULT: "fault", BIND_ACK: "bind_ack",
             BIND_NAK: "bind_nak", ALTER_CONTEXT_RESP: "alter_context_resp"}
    text = "%s call_id=%d flags=0x%02x" % (names.get(ptype, "ptype %d" % ptype), call_id, flags)
    if ptype == FAULT:
        text += " status=0x%08x" % struct.unpack("<I", pdu_bytes[24:28])[0]
    elif ptype == BIND_NAK:
        text += " reject_reason=%d" % struct.unpack("<H", pdu_bytes[16:18])[0]
    elif ptype in (BIND_ACK, ALTER_CONTEXT_RESP):
        sec_addr_len = struct.unpack("<H", pdu_bytes[24:26])[0]
        off = 26 + sec_addr_len
        off += (-off) % 4
        n = pdu_bytes[off]
        results = []
        for i in range(n):
            result, reason = struct.unpack("<HH", pdu_bytes[off + 4 + 24 * i: off + 8 + 24 * i])
            results.append("%d/%d" % (result, reason))
        text += " results(result/reason)=" + ",".join(results)
    return text

