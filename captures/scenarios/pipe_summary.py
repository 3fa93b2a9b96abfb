"""Decode the PipeTest calls of a capture (captures/real/40-49):

    pipe_summary.py CAPTURE.pcap [--chunks]

For each call: the request and response fragments, the stub sizes, and the
pipes chunk by chunk (element counts, total, whether the terminating empty
chunk is there), the other parameters, and a fault's status. With --chunks
every chunk count is printed; without it, repeated counts and cycles of
counts are folded ("6 x (...)").
The capture must be a classic pcap of in-order TCP streams, as tcpdump
writes them in the lab (a stream may end early, as in 47). Standard library only.
"""
import struct
import sys
import uuid

import cut_capture
import pipetest as pt

REQUEST, RESPONSE, FAULT, BIND, BIND_ACK = 0, 2, 3, 11, 12
NDR64 = uuid.UUID(pt.NDR64_SYNTAX[0]).bytes_le + struct.pack("<HH", 1, 0)


def pdus(path):
    """Yield (connection, from_client, pdu bytes, last frame) in capture order,
    and (connection, from_client, leftover bytes, None) for each direction
    that ends inside a PDU."""
    streams = {}    # direction key -> [next seq, buffer]
    clients = {}    # direction key -> True if from the client (sent the SYN)
    for number, frame in cut_capture.frames(path):
        seg = cut_capture.tcp_segment(frame)
        if seg is None:
            continue
        key, seq, flags, payload = seg
        src, sport, dst, dport = key
        if flags & cut_capture.TCP_SYN:
            client = not flags & cut_capture.TCP_ACK
            clients[key] = client
            clients[(dst, dport, src, sport)] = not client
            streams[key] = [(seq + 1) & 0xFFFFFFFF, b""]
            continue
        if not payload or key not in streams:
            continue
        state = streams[key]
        skip = (state[0] - seq) & 0xFFFFFFFF
        if skip >= 0x80000000:
            sys.exit("pipe_summary: gap in the TCP stream at frame %d" % number)
        payload = payload[skip:]
        if not payload:
            continue
        state[0] = (state[0] + len(payload)) & 0xFFFFFFFF
        state[1] += payload
        conn = key if clients[key] else (dst, dport, src, sport)
        while len(state[1]) >= 16:
            frag_len = struct.unpack("<H", state[1][8:10])[0]
            if len(state[1]) < frag_len:
                break
            yield conn, clients[key], state[1][:frag_len], number
            state[1] = state[1][frag_len:]
    for key, state in streams.items():
        if state[1]:
            conn = key if clients[key] else (key[2], key[3], key[0], key[1])
            yield conn, clients[key], state[1], None


class Call:
    def __init__(self, conn, call_id, ctx_id, opnum, ndr64):
        self.conn, self.call_id, self.ctx_id, self.opnum, self.ndr64 = conn, call_id, ctx_id, opnum, ndr64
        self.req_frags, self.req_stub, self.req_last = 0, b"", False
        self.resp_frags, self.resp_stub, self.resp_last = 0, b"", False
        self.fault = None
        self.fault_after = None             # request fragments seen when the fault came
        self.req_cut = self.resp_cut = 0    # bytes of a PDU cut by the end of the capture


def calls(path):
    ndr64_ctx = {}      # (conn, ctx_id) -> bool
    offered = {}        # (conn, call_id) -> [ctx ids] of a bind
    open_calls, out = {}, []
    for conn, from_client, pdu, last in pdus(path):
        if last is None:
            # the capture ends inside a PDU: attribute it to the open call
            pending = [c for c in out if c.conn == conn and not (c.resp_last or c.fault)]
            if pending:
                if from_client:
                    pending[-1].req_cut = len(pdu)
                else:
                    pending[-1].resp_cut = len(pdu)
            continue
        ptype, flags = pdu[2], pdu[3]
        call_id = struct.unpack("<I", pdu[12:16])[0]
        if ptype == BIND:
            n, off, ids = pdu[24], 28, []
            for _ in range(n):
                ctx_id, n_ts = struct.unpack("<HB", pdu[off:off + 3])
                ids.append(ctx_id)
                off += 24 + 20 * n_ts
            offered[(conn, call_id)] = ids
        elif ptype == BIND_ACK:
            sec_len = struct.unpack("<H", pdu[24:26])[0]
            off = 26 + sec_len
            off += (-off) % 4
            ids = offered.get((conn, call_id), [])
            for i in range(pdu[off]):
                result = struct.unpack("<H", pdu[off + 4 + 24 * i:off + 6 + 24 * i])[0]
                syntax = pdu[off + 8 + 24 * i:off + 28 + 24 * i]
                if result == 0 and i < len(ids):
                    ndr64_ctx[(conn, ids[i])] = syntax == NDR64
        elif ptype == REQUEST:
            ctx_id, opnum = struct.unpack("<HH", pdu[20:24])
            if flags & 0x01:
                call = Call(conn, call_id, ctx_id, opnum, ndr64_ctx.get((conn, ctx_id), False))
                open_calls[(conn, call_id)] = call
                out.append(call)
            call = open_calls[(conn, call_id)]
            call.req_frags += 1
            call.req_stub += pdu[24:]
            call.req_last = bool(flags & 0x02)
        elif ptype in (RESPONSE, FAULT):
            call = open_calls.get((conn, call_id))
            if call is None:
                continue
            if ptype == FAULT:
                call.fault = struct.unpack("<I", pdu[24:28])[0]
                call.fault_after = call.req_frags
            else:
                call.resp_frags += 1
                call.resp_stub += pdu[24:]
                call.resp_last = bool(flags & 0x02)
    return out


def describe_pipe(name, pipe, kind, full):
    counts = pipe.counts
    listed = ", ".join(map(str, counts)) if full else pt.compact(counts)
    unit = {"byte": "bytes", "record": "records"}.get(kind, "elements")
    text = "%s: %d chunks [%s], %d %s, terminator %s" % (
        name, len(counts), listed, pipe.elements, unit, "present" if pipe.terminated else "ABSENT")
    if pipe.partial:
        text += "; then a cut chunk of %d announced, %d whole %s present" % (pipe.partial[0], pipe.partial[1], unit)
    if pipe.cut and not pipe.partial:
        text += "; the stub ends %s" % pipe.cut
    return text


# opnum -> ([in] scalars before the [in] pipe, [in] pipe kind,
#           [out] pipe kind, [out] scalars after the [out] pipe)
LAYOUT = {
    pt.OP_UPLOAD: (["tag"], "byte", None, ["return"]),
    pt.OP_DOWNLOAD: (["count"], None, "byte", ["return"]),
    pt.OP_ECHO: ([], "byte", "byte", ["return"]),
    pt.OP_RECORDS: (["n"], None, "record", ["return"]),
    pt.OP_TRANSFORM: (["key"], "byte", "byte", ["checksum", "return"]),
    pt.OP_FAIL_NEXT: (["fragments", "status"], None, None, ["return"]),
    pt.OP_HYPER_ECHO: (["tag"], "hb", "hb", ["return"]),
}


def summarise(call, full):
    lines = []
    name = pt.OPNAMES[call.opnum] if call.opnum < len(pt.OPNAMES) else "opnum %d" % call.opnum
    lines.append("call_id %d %s (opnum %d)%s, client port %d" % (
        call.call_id, name, call.opnum, " NDR64" if call.ndr64 else "", call.conn[1]))
    ins, in_pipe, out_pipe, outs = LAYOUT.get(call.opnum, ([], None, None, []))
    cut = " + %d bytes of a cut fragment" % call.req_cut if call.req_cut else ""
    lines.append("  request: %d fragments%s%s, stub %d bytes" % (
        call.req_frags, "" if call.req_last else " (no last fragment)", cut, len(call.req_stub)))
    r = pt.Reader(call.req_stub, call.ndr64)
    try:
        vals = [("%s=0x%08x" % (p, r.ulong())) if p == "status" else ("%s=%d" % (p, r.long())) for p in ins]
        if vals:
            lines.append("    " + ", ".join(vals))
        if in_pipe:
            lines.append("    " + describe_pipe("[in] pipe", pt.read_pipe(r, in_pipe, partial=not call.req_last), in_pipe, full))
        if call.req_last and not r.at_end():
            lines.append("    %d bytes after the last parameter" % (len(r.data) - r.off))
    except pt.NdrError as exc:
        lines.append("    request stub: %s" % exc)
    if call.resp_frags or call.fault is not None or call.resp_cut:
        cut = " + %d bytes of a cut fragment" % call.resp_cut if call.resp_cut else ""
        lines.append("  response: %d fragments%s%s, stub %d bytes" % (
            call.resp_frags, "" if call.resp_last else " (no last fragment)", cut, len(call.resp_stub)))
        r = pt.Reader(call.resp_stub, call.ndr64)
        whole = call.resp_last
        try:
            if out_pipe and (call.resp_stub or whole):
                pipe = pt.read_pipe(r, out_pipe, partial=not whole)
                lines.append("    " + describe_pipe("[out] pipe", pipe, out_pipe, full))
            if whole:
                lines.append("    " + ", ".join("%s=%d" % (p, r.long()) for p in outs))
                if not r.at_end():
                    lines.append("    %d bytes after the last parameter" % (len(r.data) - r.off))
        except pt.NdrError as exc:
            lines.append("    response stub: %s" % exc)
    else:
        lines.append("  response: none in the capture")
    if call.fault is not None:
        early = ""
        if call.fault_after < call.req_frags:
            early = " after request fragment %d of %d" % (call.fault_after, call.req_frags)
        lines.append("  fault: status 0x%08x%s" % (call.fault, early))
    return lines


def main():
    args = [a for a in sys.argv[1:] if a != "--chunks"]
    if len(args) != 1:
        sys.exit("usage: pipe_summary.py CAPTURE.pcap [--chunks]")
    for call in calls(args[0]):
        print("\n".join(summarise(call, "--chunks" in sys.argv)))


if __name__ == "__main__":
    main()
