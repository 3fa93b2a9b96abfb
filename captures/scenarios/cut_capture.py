"""Find where to cut an SMB2 capture so that it starts after a given point:
    cut_capture.py after-create|after-bind CAPTURE.pcap
prints the editcap frame range FIRST-LAST (frame numbers from 1) that keeps
everything from the first SMB message that begins after
  after-create: the last successful CREATE response,
  after-bind:   the last bind_ack (in a READ or IOCTL response).
The capture must be a classic pcap of complete, in-order TCP streams over
Ethernet (as tcpdump writes them on the lab's loopback). Only the standard
library is used."""
import struct
import sys

SMB2_CREATE, SMB2_READ, SMB2_IOCTL = 5, 8, 11
STATUS_SUCCESS, STATUS_BUFFER_OVERFLOW = 0, 0x80000005
DCERPC_BIND_ACK = 12


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
    """(direction key, seq, payload) or None."""
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
    syn = tcp[13] & 0x02
    return (src, sport, dst, dport), seq, syn, tcp[offset:]


def messages(path):
    """Yield (first frame, last frame, SMB message) in capture order of last frame."""
    streams = {}   # direction -> [next_seq, buffer, first frame of buffered message]
    for number, frame in frames(path):
        seg = tcp_segment(frame)
        if seg is None:
            continue
        key, seq, syn, payload = seg
        if syn:
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


def main():
    point, path = sys.argv[1], sys.argv[2]
    if point not in ("after-create", "after-bind"):
        sys.exit("usage: cut_capture.py after-create|after-bind CAPTURE.pcap")
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
