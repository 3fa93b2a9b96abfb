#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets (fuzz/fuzz_targets/) from real captures.

Usage: tools/fuzz-seeds.py OUT_DIR CAPTURE_OR_DIR... [--idl FILE_OR_DIR]...

Writes OUT_DIR/<target>/<name> for every target, in the input layout that target reads (see
each target's header comment): whole captures for capture_file and engine (cut to
MAX_CAPTURE_BYTES and MAX_ENGINE_SEED_BYTES), frame scripts for link_ip, segment scripts for
tcp_reassembly, chunked streams for smb_messages, PDUs for dcerpc_pdu, stubs with their
interface for ndr_fixed and dcom_answer, towers for epm_tower, authentication tokens for
auth_tokens, IDL text for idl_parser and ndr_described, and the example expectation files below for
expect_file. The seeds are generated, never committed (the captures' licences stay with the
captures).
"""

import hashlib
import os
import struct
import sys

MAX_CAPTURE_BYTES = 512 * 1024
# The engine reads each input twice with everything on: shorter seeds give more runs.
MAX_ENGINE_SEED_BYTES = 128 * 1024
MAX_SEEDS_PER_TARGET = 400
MAX_SEED_BYTES = 64 * 1024

TARGETS = [
    "capture_file", "link_ip", "tcp_reassembly", "smb_messages", "dcerpc_pdu", "ndr_fixed",
    "ndr_described", "epm_tower", "dcom_answer", "idl_parser", "auth_tokens", "engine",
    "expect_file", "filter_expr", "rpc_over_http", "udp_datagrams",
]
# Filter expressions (docs/filter.md) in the shapes users write.
FILTER_SEEDS = [
    "iface == samr and opnum > 5",
    "outcome == fault or status != 0",
    "not host == 127.0.0.0/8 && (port == 445 || pipe == \\PIPE\\lsarpc)",
    "op ~ '^Samr(Open|Lookup)' and duration >= 1ms",
    "param.Names == 'no-such-group' or in.DesiredAccess == 0x2000000",
    "auth == privacy and not decrypted",
    "SamrLookupNamesInDomain access_denied",
    "frame >= 10 and frame <= 40 and call_id == 3 and transport == ncacn_ip_tcp",
]
# Expectation files of `rpcscope check` (docs/check.md) in the shapes users write.
EXPECT_SEEDS = [
    '''order = "capture"

[totals]
calls = 47
faults = { max = 5 }

[[call]]
interface = "Svcctl"
operation = "ROpenSCManagerW"
outcome = "response"
status = "ERROR_SUCCESS"
pipe = "svcctl"
count = 5

[[call]]
operation = "ROpenServiceW"
decoded.in.lpServiceName = "PSEXESVC"
max_duration_ms = 50.5

[[forbid]]
fault = "nca_s_fault_context_mismatch"

[[bind]]
interface = "svcctl"
result = "acceptance"
transfer_syntax = "ndr"
alter = false
''',
    '''[[call]]
opnum = 7
fault = 0x1c010002
auth_type = "none"
client = "127.0.0.1"
server = "[::1]:445"
count = { min = 1, max = 3 }
''',
    '''[[bind]]
context_id = 1
result = "provider_rejection"
reason = "abstract_syntax_not_supported"
sec_addr = "\\\\PIPE\\\\svcctl"
''',
]
# Link types in the order fuzz_targets/link_ip.rs lists them.
LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]
IOBJECT_EXPORTER = "99fcfec4-5260-101b-bbcb-00aa0021347a"
DCOM_OPERATIONS = [(IOBJECT_EXPORTER, 0), (IOBJECT_EXPORTER, 4), (IOBJECT_EXPORTER, 5)]


def frames(data):
    """(link type, frame bytes) of a pcap or pcapng file, as far as it reads."""
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        link = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
        at = 24
        while at + 16 <= len(data):
            incl = struct.unpack(e + "I", data[at + 8:at + 12])[0]
            at += 16
            if incl > 262144 or at + incl > len(data):
                return
            yield link, data[at:at + incl]
            at += incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        e, at, links = "<", 0, []
        while at + 12 <= len(data):
            btype = struct.unpack(e + "I", data[at:at + 4])[0]
            if btype == 0x0A0D0D0A:
                e = "<" if data[at + 8:at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            blen = struct.unpack(e + "I", data[at + 4:at + 8])[0]
            if blen < 12 or at + blen > len(data):
                return
            body = data[at + 8:at + blen - 4]
            if btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                iface, _, _, cap = struct.unpack(e + "IIII", body[:16])
                if iface < len(links):
                    yield links[iface], body[20:20 + cap]
            at += blen


def ip_of(link, frame):
    """The IPv4 packet of a frame, or None."""
    if link == 1:
        at = 12
        ethertype = struct.unpack(">H", frame[at:at + 2])[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= at + 6:
            at += 4
            ethertype = struct.unpack(">H", frame[at:at + 2])[0]
        return frame[at + 2:] if ethertype == 0x0800 else None
    if link == 113:
        return frame[16:]
    if link in (101, 228):
        return frame
    if link in (0, 108):
        return frame[4:]
    return None


def udp_of(link, frame):
    """(from the server, payload) of an unfragmented IPv4 UDP frame whose payload may be a
    connectionless DCE/RPC PDU (its type says which side sent it), or None."""
    ip = ip_of(link, frame)
    if ip is None or len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    if struct.unpack(">H", ip[6:8])[0] & 0x3FFF:
        return None
    payload = ip[(ip[0] & 15) * 4 + 8:]
    if len(payload) < 2:
        return None
    return (1 if payload[1] in (2, 3, 4, 5, 6, 9, 10) else 0), payload


def tcp_of(link, frame):
    """(src, dst, sport, dport, seq, flags, payload) of an IPv4 TCP frame, or None."""
    ip = ip_of(link, frame)
    if ip is None:
        return None
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
        return None
    ihl = (ip[0] & 15) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    if struct.unpack(">H", ip[6:8])[0] & 0x3FFF:
        return None
    tcp = ip[ihl:max(total, ihl)]
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    off = (tcp[12] >> 4) * 4
    return ip[12:16], ip[16:20], sport, dport, seq, tcp[13], tcp[off:]


def streams(path):
    """Each direction's TCP bytes of a capture, in sequence order, with the ports."""
    try:
        with open(path, "rb") as f:
            data = f.read(64 * 1024 * 1024)
    except OSError:
        return {}
    flows = {}
    for link, frame in frames(data):
        t = tcp_of(link, frame)
        if t is None or not t[6]:
            continue
        key = (t[0], t[2], t[1], t[3])
        flows.setdefault(key, {}).setdefault(t[4], t[6])
    out = {}
    for key, segs in flows.items():
        seqs = sorted(segs)
        buf, nxt = bytearray(), seqs[0]
        for s in seqs:
            if s < nxt:
                continue
            if s > nxt:
                break
            buf += segs[s]
            nxt = s + len(segs[s])
        out[key] = bytes(buf)
    return out


def pdus(stream):
    """Whole connection-oriented DCE/RPC PDUs at the start of a stream."""
    at = 0
    while at + 16 <= len(stream) and stream[at] == 5 and stream[at + 1] == 0:
        e = "<" if stream[at + 4] & 0x10 else ">"
        frag = struct.unpack(e + "H", stream[at + 8:at + 10])[0]
        if frag < 16 or at + frag > len(stream):
            return
        yield stream[at:at + frag]
        at += frag


def uuid_wire_to_text(b):
    a, b2, c = struct.unpack("<IHH", b[:8])
    rest = b[8:16].hex()
    return f"{a:08x}-{b2:04x}-{c:04x}-{rest[:4]}-{rest[4:]}"


class Seeds:
    def __init__(self, out):
        self.out = out
        self.count = {t: 0 for t in TARGETS}
        for t in TARGETS:
            os.makedirs(os.path.join(out, t), exist_ok=True)

    def add(self, target, data, limit=MAX_SEED_BYTES):
        data = bytes(data[:limit])
        if not data or self.count[target] >= MAX_SEEDS_PER_TARGET:
            return
        name = hashlib.sha1(data).hexdigest()
        path = os.path.join(self.out, target, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            self.count[target] += 1


def chunked(stream, sizes=(1460, 700, 3000)):
    """A stream as the `u16 length, bytes` chunks smb_messages and dcerpc_pdu read."""
    out, at, i = bytearray(), 0, 0
    while at < len(stream):
        n = sizes[i % len(sizes)]
        out += struct.pack("<H", n) + stream[at:at + n]
        at, i = at + n, i + 1
    return bytes(out)


def netmon_of(data, limit):
    """A NetMon 2.1 capture of the frames of a pcap or pcapng file (each with its media type
    in a trailer: Ethernet, or 0xE000 plus the pcap link type), then one NetMon event frame,
    as far as `limit` bytes allow."""
    out, table = bytearray(128), []
    for n, (link, frame) in enumerate(frames(data)):
        if len(out) + len(frame) + 64 > limit:
            break
        table.append(len(out))
        network = 1 if link == 1 else 0xE000 | (link & 0x0FFF)
        out += struct.pack("<QII", n * 1000, len(frame), len(frame)) + frame
        out += struct.pack("<H", network)
    if not table:
        return b""
    table.append(len(out))
    out += struct.pack("<QII", 0, 5, 5) + b"event" + struct.pack("<H", 0xFFE0)
    offset = len(out)
    out += b"".join(struct.pack("<I", t) for t in table)
    out[0:8] = b"GMBU" + bytes([1, 2]) + struct.pack("<H", 1)
    out[8:24] = struct.pack("<8H", 2026, 12, 1, 7, 12, 0, 0, 0)
    out[24:32] = struct.pack("<II", offset, 4 * len(table))
    return bytes(out)


def seed_capture(seeds, path):
    with open(path, "rb") as f:
        data = f.read(MAX_CAPTURE_BYTES)
    seeds.add("capture_file", data, MAX_CAPTURE_BYTES)
    seeds.add("engine", data, MAX_ENGINE_SEED_BYTES)
    seeds.add("capture_file", netmon_of(data, MAX_CAPTURE_BYTES), MAX_CAPTURE_BYTES)
    seeds.add("engine", netmon_of(data, MAX_ENGINE_SEED_BYTES), MAX_ENGINE_SEED_BYTES)
    script = bytearray()
    for n, (link, frame) in enumerate(frames(data)):
        if n == 0:
            if link not in LINK_TYPES:
                return
            script.append(LINK_TYPES.index(link))
        if n == 48:
            break
        script += struct.pack("<HB", len(frame), 0) + frame[:2047]
    seeds.add("link_ip", script)

    datagram_script = []
    all_streams = streams(path)
    for (src, sport, dst, dport), stream in all_streams.items():
        if stream.startswith((b"RPC_IN_DATA ", b"RPC_OUT_DATA ")):
            # rpc_over_http: the client's stream, then the server's, in 1460-byte chunks
            script = bytearray()
            answer = all_streams.get((dst, dport, src, sport), b"")
            for direction, s in ((0, stream), (1, answer)):
                for at in range(0, min(len(s), 16384), 1460):
                    piece = s[at:at + 1460]
                    script += struct.pack("<BH", direction, len(piece)) + piece
            seeds.add("rpc_over_http", script)
    for link, frame in frames(data):
        u = udp_of(link, frame)
        if u is not None and u[1][:1] == b"\x04":
            datagram_script.append((u[0], u[1]))
    if datagram_script:
        script = bytearray()
        for from_server, payload in datagram_script[:64]:
            script += struct.pack("<BH", from_server, len(payload)) + payload
        seeds.add("udp_datagrams", script)
    for (src, sport, dst, dport), stream in all_streams.items():
        if not stream:
            continue
        # both bases 0, a SYN from the initiator at 0, then its stream in 200-byte segments
        # (op 4: a segment of the initiator with an acknowledgement of the peer's first byte)
        ops = bytearray(struct.pack("<II", 0, 0) + b"\x00\x00")
        offset = 0
        for piece in range(0, min(len(stream), 4096), 200):
            chunk = stream[piece:piece + 200]
            ops += b"\x04" + struct.pack("<HHBB", (offset + 1) & 0xFFFF, 1, len(chunk), 0)
            ops += chunk
            offset += len(chunk)
        seeds.add("tcp_reassembly", ops)
        if 445 in (sport, dport) or 139 in (sport, dport):
            seeds.add("smb_messages", chunked(stream[:MAX_SEED_BYTES]))
            continue
        contexts = {}
        for p in pdus(stream):
            seeds.add("dcerpc_pdu", p)
            ptype, flags = p[2], p[3]
            e = "<" if p[4] & 0x10 else ">"
            auth_len = struct.unpack(e + "H", p[10:12])[0]
            if auth_len and auth_len + 8 < len(p):
                seeds.add("auth_tokens", p[len(p) - auth_len:])
            if ptype == 11 and len(p) >= 28:
                n, at = p[24], 28
                for _ in range(n):
                    if at + 24 > len(p):
                        break
                    ctx = struct.unpack(e + "H", p[at:at + 2])[0]
                    ntrans = p[at + 2]
                    contexts[ctx] = (p[at + 4:at + 20], struct.unpack(e + "H", p[at + 20:at + 22])[0])
                    at += 24 + 20 * ntrans
            if ptype in (0, 2) and len(p) >= 24:
                ctx = struct.unpack(e + "H", p[20:22])[0]
                stub_at = 24 + (16 if ptype == 0 and flags & 0x80 else 0)
                end = len(p) - (auth_len + 8 if auth_len else 0)
                stub = p[stub_at:end]
                opnum = struct.unpack(e + "H", p[22:24])[0] if ptype == 0 else 0
                if ctx in contexts:
                    uuid, major = contexts[ctx]
                    direction = 0 if ptype == 0 else 1
                    little = 0 if e == "<" else 2
                    seeds.add("ndr_fixed", uuid + struct.pack("<HHB", major, opnum, direction | little) + stub)
                    text = uuid_wire_to_text(uuid)
                    for i, (iface, op) in enumerate(DCOM_OPERATIONS):
                        if text == iface and (ptype != 0 or op == opnum):
                            seeds.add("dcom_answer", bytes([i, little]) + struct.pack("<H", 0) + stub)
                    at = stub.find(b"\x05\x00\x13\x00\x0d")
                    if at >= 0:
                        seeds.add("epm_tower", stub[at:at + 128])
        if stream[:1] == b"\x05":
            seeds.add("dcerpc_pdu", chunked(stream[:8192], (800, 1460)))


def seed_idl(seeds, path):
    with open(path, "rb") as f:
        text = f.read(MAX_SEED_BYTES)
    seeds.add("idl_parser", text)
    seeds.add("ndr_described", text + b"\x00" + bytes(range(64)))


def walk(path, suffixes):
    if os.path.isdir(path):
        for root, _, names in sorted(os.walk(path)):
            for n in sorted(names):
                if n.endswith(suffixes):
                    yield os.path.join(root, n)
    elif os.path.exists(path):
        yield path


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    seeds = Seeds(argv[0])
    idl, captures, args = [], [], argv[1:]
    while args:
        a = args.pop(0)
        if a == "--idl" and args:
            idl.append(args.pop(0))
        else:
            captures.append(a)
    for c in captures:
        for p in walk(c, (".pcap", ".pcapng", ".cap")):
            seed_capture(seeds, p)
    for i in idl:
        for p in walk(i, (".idl",)):
            seed_idl(seeds, p)
    for text in EXPECT_SEEDS:
        seeds.add("expect_file", text.encode())
    for text in FILTER_SEEDS:
        seeds.add("filter_expr", text.encode())
    for t in TARGETS:
        print(f"{t}: {seeds.count[t]} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
