"""RPC over HTTP (MS-RPCH) in front of the lab's Samba, which serves no ncacn_http endpoint.

The relay plays the server side of both versions and forwards the connection-oriented PDUs,
unchanged, to Samba's own TCP endpoints: every bind, request and response in the captures is
the client's or Samba's; the relay adds only what an RPC over HTTP server adds.

* Version 1 (MS-RPCH 2.1.1.1): a TCP listener that greets each connection with the legacy
  banner `ncacn_http/1.0`, then relays the bytes both ways to a Samba port.
* Version 2 (MS-RPCH 2.1.2): an HTTP listener that plays the RPC proxy and the server. A
  client opens an IN channel (RPC_IN_DATA) and an OUT channel (RPC_OUT_DATA) to
  `/rpc/rpcproxy.dll?HOST:PORT`; each channel authenticates (Basic, or NTLM with a 401
  challenge, never checked), gets `100 Continue`, and sends CONN/A1 (OUT) or CONN/B1 (IN)
  naming the virtual connection's cookie. Once both came, the OUT channel's `200 Success`
  response carries CONN/A3 and CONN/C2, and from then on the PDUs the client sends on IN go to
  Samba and Samba's answers come back on OUT. RTS PDUs from the client (flow control acks,
  pings) are not forwarded.

Usage: http_relay.py v1 LISTEN_PORT TARGET_PORT [LISTEN_PORT TARGET_PORT ...]
       http_relay.py v2 LISTEN_PORT TARGET_PORT [HOST_PORT=TARGET_PORT ...]
In v2 the query's port is mapped to a Samba port by the HOST_PORT=TARGET_PORT pairs (the
first TARGET_PORT when the query names no listed port). Prints `ready` once it listens, then
runs until killed.
"""
import base64
import socket
import struct
import sys
import threading

from impacket import ntlm

import lab

RTS = 20
BANNER = b"ncacn_http/1.0"


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay(a, b):
    threading.Thread(target=pump, args=(a, b), daemon=True).start()
    threading.Thread(target=pump, args=(b, a), daemon=True).start()


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((lab.HOST4, port))
    s.listen(16)
    return s


def serve_v1(server, target_port):
    while True:
        client, _ = server.accept()
        client.sendall(BANNER)
        relay(client, socket.create_connection((lab.HOST4, target_port)))


# ---- version 2 ----

def rts(flags, commands):
    """An RTS PDU: the common header (ptype 20, call_id 0), flags and commands."""
    body = struct.pack("<HH", flags, len(commands)) + b"".join(commands)
    header = struct.pack("<BBBB4sHHI", 5, 0, RTS, 3, b"\x10\0\0\0", 16 + len(body), 0, 0)
    return header + body


def cmd(kind, value):
    return struct.pack("<I", kind) + value


def u32(v):
    return struct.pack("<I", v)


def read_pdu(sock):
    """One connection-oriented PDU (RTS or not) from a channel's body, or None at its end."""
    head = b""
    while len(head) < 16:
        more = sock.recv(16 - len(head))
        if not more:
            return None
        head += more
    frag_len = struct.unpack_from("<H", head, 8)[0]
    body = b""
    while len(head) + len(body) < frag_len:
        more = sock.recv(frag_len - len(head) - len(body))
        if not more:
            return None
        body += more
    return head + body


def rts_cookie(pdu):
    """The virtual connection cookie of a CONN/A1 or CONN/B1 PDU (its first Cookie command)."""
    at = 20
    n = struct.unpack_from("<H", pdu, 18)[0]
    sizes = {0: 4, 1: 24, 2: 4, 3: 16, 4: 4, 5: 4, 6: 4, 7: 0, 12: 16, 13: 4, 14: 4}
    for _ in range(n):
        kind = struct.unpack_from("<I", pdu, at)[0]
        at += 4
        if kind == 3:
            return pdu[at:at + 16]
        at += sizes.get(kind, 0)
    return None


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(1)
        if not more:
            return None, {}
        data += more
    lines = data.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers


class V2:
    def __init__(self, ports, default):
        self.ports = ports
        self.default = default
        self.lock = threading.Lock()
        self.pending = {}  # cookie -> (kind, socket, query)

    def challenge(self):
        c = ntlm.NTLMAuthChallenge()
        c["flags"] = (ntlm.NTLMSSP_NEGOTIATE_UNICODE | ntlm.NTLMSSP_NEGOTIATE_NTLM
                      | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO | ntlm.NTLMSSP_REQUEST_TARGET
                      | ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
        c["challenge"] = b"\x01\x23\x45\x67\x89\xab\xcd\xef"
        name = lab.NETBIOS.encode("utf-16le")
        av = ntlm.AV_PAIRS()
        av[ntlm.NTLMSSP_AV_HOSTNAME] = name
        av[ntlm.NTLMSSP_AV_DOMAINNAME] = lab.DOMAIN.encode("utf-16le")
        av[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = ("%s.lab" % lab.NETBIOS.lower()).encode("utf-16le")
        av[ntlm.NTLMSSP_AV_DNS_DOMAINNAME] = b"l\0a\0b\0"
        c["domain_name"] = lab.DOMAIN.encode("utf-16le")
        c["TargetInfoFields"] = av
        c["TargetInfoFields_len"] = len(av)
        c["TargetInfoFields_max_len"] = len(av)
        c["TargetInfoFields_offset"] = 40 + 16 + len(c["domain_name"])
        c["Version"] = b"\xff" * 8
        c["VersionLen"] = 8
        return base64.b64encode(c.getData()).decode()

    def channel(self, sock):
        while True:
            line, headers = read_head(sock)
            if line is None:
                return
            method, path = line.split(" ")[:2]
            auth = headers.get("authorization", "")
            if not auth:
                sock.sendall(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\n"
                             b"WWW-Authenticate: NTLM\r\nWWW-Authenticate: Basic realm=\"lab\"\r\n"
                             b"Content-Length: 0\r\n\r\n")
                continue
            if auth.startswith("NTLM ") and base64.b64decode(auth[5:])[8:9] == b"\x01":
                sock.sendall(("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM %s\r\n"
                              "Content-Length: 0\r\n\r\n" % self.challenge()).encode())
                continue
            break
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        first = read_pdu(sock)
        if first is None or first[2] != RTS:
            return
        cookie = rts_cookie(first)
        query = path.split("?", 1)[1] if "?" in path else ""
        with self.lock:
            other = self.pending.pop(cookie, None)
            if other is None:
                self.pending[cookie] = (method, sock, query)
                return
        channels = {method: sock, other[0]: other[1]}
        if set(channels) != {"RPC_IN_DATA", "RPC_OUT_DATA"}:
            return
        port = query.rsplit(":", 1)[-1]
        target = self.ports.get(port, self.default)
        server = socket.create_connection((lab.HOST4, target))
        out, inbound = channels["RPC_OUT_DATA"], channels["RPC_IN_DATA"]
        out.sendall(b"HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\n"
                    b"Content-Length: 1073741824\r\n\r\n")
        out.sendall(rts(0, [cmd(2, u32(120000))]))  # CONN/A3: ConnectionTimeout
        out.sendall(rts(0, [cmd(6, u32(1)), cmd(0, u32(65536)), cmd(2, u32(120000))]))  # CONN/C2
        threading.Thread(target=pump, args=(server, out), daemon=True).start()
        while True:
            pdu = read_pdu(inbound)
            if pdu is None:
                break
            if pdu[2] != RTS:
                server.sendall(pdu)
        for s in (server, out, inbound):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve(self, server):
        while True:
            sock, _ = server.accept()
            threading.Thread(target=self.channel, args=(sock,), daemon=True).start()


def main(argv):
    mode, rest = argv[0], argv[1:]
    if mode == "v1":
        pairs = [(listen(int(a)), int(b)) for a, b in zip(rest[::2], rest[1::2])]
        lab.say("ready")
        for server, target in pairs[1:]:
            threading.Thread(target=serve_v1, args=(server, target), daemon=True).start()
        serve_v1(*pairs[0])
    else:
        ports = dict(p.split("=") for p in rest[2:])
        server = listen(int(rest[0]))
        lab.say("ready")
        V2({k: int(v) for k, v in ports.items()}, int(rest[1])).serve(server)


if __name__ == "__main__":
    main(sys.argv[1:])
