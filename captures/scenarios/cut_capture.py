"""Find where to cut a capture that generate.sh derives from another one:
    cut_capture.py POINT CAPTURE.pcap
prints the editcap frame ranges (frame numbers from 1, separated by spaces)
to keep with `editcap -r`.
SMB2 named pipes (28, 29): everything from the first SMB message that begins
after
  after-create: the last successful CREATE response,
  after-bind:   the last bind_ack (in a READ or IOCTL response).
DCE/RPC over TCP (33, 34); the endpoint mapper is the server on port 135, every
other server port is a dynamic one:
  dynamic-connect: everything from the first SYN to a dynamic port,
  no-dynamic-bind: every frame except those that carry the bytes of a bind or
                   bind_ack on a connection to a dynamic port.
  half-response:   everything up to the frame that completes the middle response
                   fragment (fragment n // 2 of n) of the call with the most
                   response fragments (the first such call), for 47.
The capture must be a classic pcap of complete, in-order TCP streams over
Ethernet (as tcpdump writes them on the lab's loopback). Only the standard
library is used."""
import struct
import sys

SMB2_CREATE, SMB2_READ, SMB2_IOCTL = 5, 8, 11
STATUS_SUCCESS, STATUS_BUFFER_OVERFLOW = 0, 0x80000005
DCERPC_BIND, DCERPC_BIND_ACK = 11, 12
EPM_PORT = 135
TCP_SYN, TCP_ACK = 0x02, 0x10
POINTS = ("after-create", "after-bind", "dynamic-connect", "no-dynamic-bind", "half-response")
DCERPC_RESPONSE = 2


def frames(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = head[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            sys.exit("cut_capture: %s is not a classic pcap file" % path)
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        if linktype != 1:
            sys.exit("cut_capture: link type %d, expected Ethernet" % linktype)
        number = 0
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            incl = struct.unpack(endian + "IIII", rec)[2]
            number += 1
            yield number, f.read(incl)


def tcp_segment(frame):
    """(direction key, seq, TCP flags, payload) or None."""
    ethertype = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800:
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6:
            return None
        total = struct.unpack(">H", ip[2:4])[0]
        src, dst, tcp = ip[12:16], ip[16:20], ip[ihl:total]
    elif ethertype == 0x86DD:
        if ip[6] != 6:
            return None
        plen = struct.unpack(">H", ip[4:6])[0]
        src, dst, tcp = ip[8:24], ip[24:40], ip[40:40 + plen]
    else:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    offset = (tcp[12] >> 4) * 4
    return (src, sport, dst, dport), seq, tcp[13], tcp[offset:]


def messages(path):
    """Yield (first frame, last frame, SMB message) in capture order of last frame."""
    streams = {}   # direction -> [next_seq, buffer, first frame of buffered message]
    for number, frame in frames(path):
        seg = tcp_segment(frame)
        if seg is None:
            continue
        key, seq, flags, payload = seg
        if flags & TCP_SYN:
            streams[key] = [(seq + 1) & 0xFFFFFFFF, b"", None]
            continue
        if not payload:
            continue
        state = streams.setdefault(key, [seq, b"", None])
        skip = (state[0] - seq) & 0xFFFFFFFF
        if skip >= 0x80000000:
            sys.exit("cut_capture: gap in the TCP stream at frame %d" % number)
        payload = payload[skip:] if skip < len(payload) else b""
        if not payload:
            continue
        state[0] = (state[0] + len(payload)) & 0xFFFFFFFF
        if not state[1]:
            state[2] = number
        state[1] += payload
        while len(state[1]) >= 4:
            length = struct.unpack(">I", state[1][:4])[0] & 0x00FFFFFF
            if len(state[1]) < 4 + length:
                break
            msg, state[1] = state[1][4:4 + length], state[1][4 + length:]
            yield state[2], number, msg
            state[2] = number if state[1] else None


def smb2_commands(msg):
    """Yield (command, is_response, status, header offset) of each SMB2 header in msg."""
    offset = 0
    while msg[offset:offset + 4] == b"\xfeSMB":
        status, command = struct.unpack("<IH", msg[offset + 8:offset + 14])
        flags, next_command = struct.unpack("<II", msg[offset + 16:offset + 24])
        yield command, bool(flags & 1), status, offset
        if not next_command:
            return
        offset += next_command


def carries_bind_ack(msg, command, status, offset):
    if status not in (STATUS_SUCCESS, STATUS_BUFFER_OVERFLOW):
        return False
    body = offset + 64
    if command == SMB2_READ:
        data = offset + msg[body + 2]
    elif command == SMB2_IOCTL:
        data = offset + struct.unpack("<I", msg[body + 32:body + 36])[0]
    else:
        return False
    return msg[data:data + 3] == bytes([5, 0, DCERPC_BIND_ACK])


def dcerpc_pdus(path):
    """Yield (server port, PDU type, frames, direction key, call_id) for every
    DCE/RPC PDU on the TCP connections of the capture, in capture order of each
    PDU's last segment. The server port comes from the connection's SYN; frames
    is the set of frames that carry bytes of the PDU."""
    servers = {}   # direction key -> server port of its connection
    streams = {}   # direction key -> [next_seq, buffer, [[frame, bytes], ...]]
    for number, frame in frames(path):
        seg = tcp_segment(frame)
        if seg is None:
            continue
        key, seq, flags, payload = seg
        src, sport, dst, dport = key
        if flags & TCP_SYN:
            if not flags & TCP_ACK:
                servers[key] = servers[(dst, dport, src, sport)] = dport
            streams[key] = [(seq + 1) & 0xFFFFFFFF, b"", []]
            continue
        if not payload:
            continue
        if key not in servers or key not in streams:
            sys.exit("cut_capture: frame %d: its connection's handshake is not in %s" % (number, path))
        state = streams[key]
        skip = (state[0] - seq) & 0xFFFFFFFF
        if skip >= 0x80000000:
            sys.exit("cut_capture: gap in the TCP stream at frame %d" % number)
        payload = payload[skip:] if skip < len(payload) else b""
        if not payload:
            continue
        state[0] = (state[0] + len(payload)) & 0xFFFFFFFF
        state[1] += payload
        state[2].append([number, len(payload)])
        while len(state[1]) >= 10:
            head = state[1]
            if head[0] != 5:
                sys.exit("cut_capture: frame %d: not a DCE/RPC v5 PDU" % number)
            frag_len = struct.unpack("<H" if head[4] & 0x10 else ">H", head[8:10])[0]
            if frag_len < 16:
                sys.exit("cut_capture: frame %d: frag_len %d" % (number, frag_len))
            if len(head) < frag_len:
                break
            state[1] = head[frag_len:]
            carried, need = set(), frag_len
            while need:
                owner = state[2][0]
                take = min(owner[1], need)
                carried.add(owner[0])
                need -= take
                owner[1] -= take
                if not owner[1]:
                    state[2].pop(0)
            call_id = struct.unpack("<I" if head[4] & 0x10 else ">I", head[12:16])[0]
            yield servers[key], head[2], carried, key, call_id


def ranges(numbers):
    """'1-5 7 9-12' for the sorted frame numbers."""
    out, numbers = [], sorted(numbers)
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append("%d-%d" % (start, prev) if prev > start else "%d" % start)
        start = prev = n
    return " ".join(out)


def tcp_point(point, path):
    total = sum(1 for _ in frames(path))
    if point == "dynamic-connect":
        for number, frame in frames(path):
            seg = tcp_segment(frame)
            if seg and seg[2] & (TCP_SYN | TCP_ACK) == TCP_SYN and seg[0][3] != EPM_PORT:
                return "%d-%d" % (number, total)
        sys.exit("cut_capture: no connection to a dynamic port in %s" % path)
    if point == "half-response":
        responses = {}  # (direction, call_id) -> frames of each response fragment
        for _port, ptype, carried, key, call_id in dcerpc_pdus(path):
            if ptype == DCERPC_RESPONSE:
                responses.setdefault((key, call_id), []).append(carried)
        longest = max(responses.values(), key=len, default=[])
        if len(longest) < 2:
            sys.exit("cut_capture: no response of several fragments in %s" % path)
        return "1-%d" % max(longest[len(longest) // 2 - 1])
    drop, others = set(), set()
    for port, ptype, carried, _key, _call_id in dcerpc_pdus(path):
        if port != EPM_PORT and ptype in (DCERPC_BIND, DCERPC_BIND_ACK):
            drop |= carried
        else:
            others |= carried
    if not drop:
        sys.exit("cut_capture: no bind on a dynamic port in %s" % path)
    if drop & others:
        sys.exit("cut_capture: frames %s carry a bind and other PDUs" % ranges(drop & others))
    return ranges(set(range(1, total + 1)) - drop)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in POINTS:
        sys.exit("usage: cut_capture.py %s CAPTURE.pcap" % "|".join(POINTS))
    point, path = sys.argv[1], sys.argv[2]
    if point in ("dynamic-connect", "no-dynamic-bind", "half-response"):
        print(tcp_point(point, path))
        return
    starts = []        # first frame of every message, in order
    mark = None        # last frame of the last matching message
    for first, last, msg in messages(path):
        starts.append(first)
        for command, response, status, offset in smb2_commands(msg):
            if not response:
                continue
            if point == "after-create" and command == SMB2_CREATE and status == STATUS_SUCCESS:
                mark = last
            elif point == "after-bind" and carries_bind_ack(msg, command, status, offset):
                mark = last
    total = sum(1 for _ in frames(path))
    if mark is None:
        sys.exit("cut_capture: no %s point in %s" % (point[6:], path))
    following = [f for f in starts if f > mark]
    if not following:
        sys.exit("cut_capture: nothing follows the %s point in %s" % (point[6:], path))
    print("%d-%d" % (min(following), total))


if __name__ == "__main__":
    main()
