#!/usr/bin/env python3
"""Write a crafted capture that stresses one bounded table of rpcscope (a benchmark input, not
real traffic):

  open-calls N   N/100 connections to port 135, each a bind and 100 requests that are never
                 answered nor closed: every call stays open to the end (MAX_OPEN_CALLS_TOTAL)
  connections N  N connections to port 135, each a whole conversation (handshake, bind,
                 bind_ack, a request and its response, FIN): the connection table's churn

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


def header(ptype, length, call_id):
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, 3, b"\x10\0\0\0", length, 0, call_id)


def bind(call_id):
    ctx = struct.pack("<HBB", 0, 1, 0) + IFACE + struct.pack("<HH", 1, 0) + NDR
    body = struct.pack("<HHIBBH", 4280, 4280, 0, 1, 0, 0) + ctx + struct.pack("<I", 2)
    return header(11, 16 + len(body), call_id) + body


def bind_ack(call_id):
    body = struct.pack("<HHIH", 4280, 4280, 1, 4) + b"135\0" + struct.pack("<BBH", 1, 0, 0)
    body += struct.pack("<HH", 0, 0) + NDR + struct.pack("<I", 2)
    return header(12, 16 + len(body), call_id) + body


def request(call_id):
    stub = b"\0" * 16
    return header(0, 24 + len(stub), call_id) + struct.pack("<IHH", len(stub), 0, 0) + stub


def response(call_id):
    stub = b"\0" * 8
    return header(2, 24 + len(stub), call_id) + struct.pack("<IHBB", len(stub), 0, 0, 0) + stub


class Connection:
    def __init__(self, pcap, index):
        self.p = pcap
        self.client = [10, (index >> 16) & 255, (index >> 8) & 255, index & 255]
        self.server = [10, 255, 0, 1]
        self.sport = 1024 + index % 60000
        self.cseq, self.sseq = 1000, 5000
        self.send(True, SYN)
        self.send(False, SYN_ACK)

    def send(self, from_client, flags, payload=b""):
        if from_client:
            self.p.tcp(self.client, self.server, self.sport, 135, self.cseq, self.sseq, flags,
                       payload)
            self.cseq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        else:
            self.p.tcp(self.server, self.client, 135, self.sport, self.sseq, self.cseq, flags,
                       payload)
            self.sseq += len(payload) + (1 if flags & (SYN | FIN) else 0)


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
            c = Connection(pcap, i)
            c.send(True, PSH_ACK, bind(1))
            c.send(False, PSH_ACK, bind_ack(1))
            c.send(True, PSH_ACK, request(2))
            c.send(False, PSH_ACK, response(2))
            c.send(True, FIN_ACK)
            c.send(False, FIN_ACK)
    else:
        sys.exit(__doc__)
    pcap.close()


if __name__ == "__main__":
    main()
