#!/usr/bin/env python3
"""Write a crafted capture that stresses one bounded table of rpcscope (a benchmark input, not
real traffic):

  open-calls N   N/100 connections to port 135, each a bind and 100 requests that are never
                 answered nor closed: every call stays open to the end (MAX_OPEN_CALLS_TOTAL)
  connections N  N connections to port 135, each a whole conversation (handshake, bind,
                 bind_ack, a request and its response, FIN): the connection table's churn
  announced N    one endpoint-mapper connection answering N ept_map requests with the same
                 endpoint (10.255.0.1[49152]), then N connections to it, each a bind and a
                 call: the endpoint resolver's lookups (one endpoint, many answers)
  acked-holes N  N/20 connections, each a bind whose first segment was never captured but is
                 acknowledged by the server's bind_ack, then 20 calls: every segment after the
                 hole waits for it (tcp::late) until the wait is given up
  held-bytes N   N connections, each missing its first client segment and then sending 16
                 segments of 60,000 bytes the server never acknowledges: out-of-order data
                 the reassemblers hold (tcp::late::MAX_PENDING_BYTES_TOTAL)
  partial-pdus N  N endpoint-mapper connections, each sending the first 60,000 bytes of a
                 65,535-byte request that never ends: PDUs the framers hold
                 (context::MAX_FRAMER_BYTES_TOTAL)
  kept-stubs N   N/100 endpoint-mapper connections, each a bind and 100 ept_map requests with
                 64 KiB stubs that are never answered: stubs kept for the endpoint-mapper
                 decoder (dcerpc::stubs::MAX_KEPT_STUB_BYTES_TOTAL)

  tools/adversarial.py SHAPE N OUT.pcap
"""

import struct
import sys

NDR = bytes.fromhex("045d888aeb1cc9119fe808002b104860")
IFACE = bytes.fromhex("78563412341212341234123456789abc")
FIN, SYN, PSH_ACK, SYN_ACK, FIN_ACK = 0x01, 0x02, 0x18, 0x12, 0x11


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.n = 0

    def tcp(self, src, dst, sport, dport, seq, ack, flags, payload=b""):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0,
                         bytes(src), bytes(dst))
        frame = b"\0" * 6 + b"\x11" * 6 + b"\x08\x00" + ip + tcp + payload
        self.n += 1
        self.f.write(struct.pack("<IIII", 1_700_000_000 + self.n // 1_000_000,
                                 self.n % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


def header(ptype, length, call_id, flags=3):
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", length, 0, call_id)


def bind(call_id, iface=IFACE, version=1):
    ctx = struct.pack("<HBB", 0, 1, 0) + iface + struct.pack("<HH", version, 0) + NDR
    body = struct.pack("<HHIBBH", 4280, 4280, 0, 1, 0, 0) + ctx + struct.pack("<I", 2)
    return header(11, 16 + len(body), call_id) + body


def bind_ack(call_id):
    # secondary address "135", padded to 4 bytes, then one result
    body = struct.pack("<HHIH", 4280, 4280, 1, 4) + b"135\0" + b"\0\0" + struct.pack("<BBH", 1, 0, 0)
    body += struct.pack("<HH", 0, 0) + NDR + struct.pack("<I", 2)
    return header(12, 16 + len(body), call_id) + body


def request(call_id, stub=b"\0" * 16, opnum=0, flags=3):
    return (header(0, 24 + len(stub), call_id, flags) + struct.pack("<IHH", len(stub), 0, opnum)
            + stub)


def response(call_id, stub=b"\0" * 8):
    return header(2, 24 + len(stub), call_id) + struct.pack("<IHBB", len(stub), 0, 0, 0) + stub


EPM = bytes.fromhex("0883afe11f5dc91191a408002b14a0fa")


def tower(port):
    """A protocol tower (C706 appendix L): the bound interface, NDR, connection-oriented RPC,
    TCP port, IPv4 address 10.255.0.1."""
    floors = [
        (b"\x0d" + IFACE + struct.pack("<H", 1), struct.pack("<H", 0)),
        (b"\x0d" + NDR + struct.pack("<H", 2), struct.pack("<H", 0)),
        (b"\x0b", struct.pack("<H", 0)),
        (b"\x07", struct.pack(">H", port)),
        (b"\x09", bytes([10, 255, 0, 1])),
    ]
    t = struct.pack("<H", len(floors))
    for lhs, rhs in floors:
        t += struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs
    return t


def twr(t):
    """A twr_t: its length, then the conformant byte array (padded to 4)."""
    b = struct.pack("<II", len(t), len(t)) + t
    return b + b"\0" * (-len(b) % 4)


def ept_map_request():
    # object: null; map_tower: a pointer to a tower; entry_handle; max_towers
    return struct.pack("<II", 0, 1) + twr(tower(0)) + b"\0" * 20 + struct.pack("<I", 4)


def ept_map_response(port):
    # entry_handle, num_towers, towers[max 4, offset 0, actual 1] of pointers, the tower, status
    stub = b"\0" * 20 + struct.pack("<I", 1) + struct.pack("<IIII", 4, 0, 1, 3)
    return stub + twr(tower(port)) + struct.pack("<I", 0)


class Connection:
    def __init__(self, pcap, index, port=135):
        self.p = pcap
        self.client = [10, (index >> 16) & 255, (index >> 8) & 255, index & 255]
        self.server = [10, 255, 0, 1]
        self.sport = 1024 + index % 60000
        self.port = port
        self.cseq, self.sseq = 1000, 5000
        self.send(True, SYN)
        self.send(False, SYN_ACK)

    def send(self, from_client, flags, payload=b"", captured=True):
        if from_client:
            if captured:
                self.p.tcp(self.client, self.server, self.sport, self.port, self.cseq,
                           self.sseq, flags, payload)
            self.cseq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        else:
            self.p.tcp(self.server, self.client, self.port, self.sport, self.sseq, self.cseq,
                       flags, payload)
            self.sseq += len(payload) + (1 if flags & (SYN | FIN) else 0)


def one_call(c):
    """A whole conversation on a new connection: bind, bind_ack, a call, both FINs."""
    c.send(True, PSH_ACK, bind(1))
    c.send(False, PSH_ACK, bind_ack(1))
    c.send(True, PSH_ACK, request(2))
    c.send(False, PSH_ACK, response(2))
    c.send(True, FIN_ACK)
    c.send(False, FIN_ACK)


def main():
    shape, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    pcap = Pcap(out)
    if shape == "open-calls":
        for i in range(max(1, n // 100)):
            c = Connection(pcap, i)
            c.send(True, PSH_ACK, bind(1))
            for call_id in range(2, 102):
                c.send(True, PSH_ACK, request(call_id))
    elif shape == "connections":
        for i in range(n):
            one_call(Connection(pcap, i))
    elif shape == "announced":
        epm = Connection(pcap, 0)
        epm.send(True, PSH_ACK, bind(1, EPM, 3))
        epm.send(False, PSH_ACK, bind_ack(1))
        for i in range(n):
            epm.send(True, PSH_ACK, request(2 + i, ept_map_request(), opnum=3))
            epm.send(False, PSH_ACK, response(2 + i, ept_map_response(49152)))
        for i in range(n):
            one_call(Connection(pcap, 1 + i, port=49152))
    elif shape == "acked-holes":
        for i in range(max(1, n // 20)):
            c = Connection(pcap, i)
            b = bind(1)
            c.send(True, PSH_ACK, b[:8], captured=False)
            c.send(True, PSH_ACK, b[8:])
            c.send(False, PSH_ACK, bind_ack(1))
            for call_id in range(2, 22):
                c.send(True, PSH_ACK, request(call_id))
                c.send(False, PSH_ACK, response(call_id))
            c.send(True, FIN_ACK)
            c.send(False, FIN_ACK)
    elif shape == "held-bytes":
        for i in range(n):
            c = Connection(pcap, i, port=49152)
            c.send(True, PSH_ACK, b"\x05" * 100, captured=False)
            for _ in range(16):
                c.send(True, PSH_ACK, b"\0" * 60000)
    elif shape == "partial-pdus":
        for i in range(n):
            c = Connection(pcap, i)
            pdu = header(0, 65535, 1) + b"\0" * (60000 - 16)
            for k in range(0, len(pdu), 1460):
                c.send(True, PSH_ACK, pdu[k:k + 1460])
    elif shape == "kept-stubs":
        for i in range(max(1, n // 100)):
            c = Connection(pcap, i)
            c.send(True, PSH_ACK, bind(1, EPM, 3))
            c.send(False, PSH_ACK, bind_ack(1))
            for call_id in range(2, 102):
                # four fragments of 16 KiB (first, middle, middle, last)
                for flags in (1, 0, 0, 2):
                    pdu = request(call_id, b"\0" * 16384, opnum=3, flags=flags)
                    for k in range(0, len(pdu), 1460):
                        c.send(True, PSH_ACK, pdu[k:k + 1460])
    else:
        sys.exit(__doc__)
    pcap.close()


if __name__ == "__main__":
    main()
