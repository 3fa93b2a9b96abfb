"""The PipeTest interface (captures/idl/pipetest.idl): its constants, the
NDR and NDR64 encoding of its pipes, and the chunk plans of captures 40-49.

Used by pipeserver.py (the server), pipe_scenarios.py (the client) and
pipe_summary.py (which decodes the pipes of a capture). Standard library only.

NDR 2.0 pipe: chunks of (unsigned long count, aligned to 4; count elements,
aligned as the element type), ended by a chunk with count 0.
NDR64 pipe (MS-RPCE 2.2.5.3.4.5): chunks of (64-bit count; count elements;
64-bit negated count), every 64-bit integer aligned to 8, ended by two 64-bit
zeros. Alignment is counted from the start of the stub, over all fragments.
An element whose alignment is larger than its size rounded to 4 (HB: hyper,
byte; alignment 8, 9 bytes) is padded to 8 before each element, the first one
included, and not after the last one: the next count only needs 4.
"""
import struct

UUID = "490c1991-1350-42e3-a4ba-c1e2efcb4ade"
VERSION = "1.0"
PORT = 9123
HOST = "127.0.0.1"
BINDING = "ncacn_ip_tcp:%s[%d]" % (HOST, PORT)

NDR_SYNTAX = ("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0")
NDR64_SYNTAX = ("71710533-beba-4937-8319-b5dbef9ccc36", "1.0")

# Stub bytes per fragment, both directions: frag_len 1024 with the 24-byte
# request/response header. A multiple of 8, so every fragment but the last
# keeps the stub 8-aligned.
FRAGMENT_STUB = 1000

OP_UPLOAD, OP_DOWNLOAD, OP_ECHO, OP_RECORDS, OP_TRANSFORM, OP_FAIL_NEXT, OP_HYPER_ECHO = range(7)
OPNAMES = ("PtUpload", "PtDownload", "PtEcho", "PtRecords", "PtTransform", "PtFailNext",
           "PtHyperEcho")

NCA_S_FAULT_NDR = 0x000006F7
NCA_S_FAULT_PIPE_CLOSED = 0x1C000015
NCA_S_FAULT_PIPE_COMM_ERROR = 0x1C000018
NCA_OP_RNG_ERROR = 0x1C010002
NCA_UNK_IF = 0x1C010003

RECORD_SIZE = 8          # long id, short kind, 2 bytes of padding
RECORD_ALIGN = 4
HB_SIZE = 9              # hyper h, byte b; no trailing padding
HB_ALIGN = 8

# Chunk sizes the server uses (see the IDL).
RECORD_CHUNK_CYCLE = (1, 2, 50, 7, 100, 140)
HB_CHUNK_CYCLE = (3, 1, 5, 2)
ECHO_CHUNK = 2048
TRANSFORM_CHUNK = 1000


class NdrError(ValueError):
    pass


# ---------------------------------------------------------------------------
# Contents
# ---------------------------------------------------------------------------

def pattern(start, n):
    """n bytes of the test stream from byte offset start (deterministic)."""
    return bytes(((i * 131) + (i >> 9)) & 0xFF for i in range(start, start + n))


def record(i):
    """The i-th record of PtRecords: (id, kind)."""
    return 1000 + i, i % 7 - 3


def hb(i):
    """The i-th HB element of the captures: (h, b). On the wire h is
    i, 47 46 45 44 43 42 41 (little-endian), b is 0xb0 + i."""
    return 0x4142434445464700 + i, (0xB0 + i) & 0xFF


def download_sizes(count):
    """PtDownload's chunk sizes for count bytes: (37 * i mod 64) + 1, last shortened."""
    sizes, total, i = [], 0, 0
    while total < count:
        n = min((37 * i) % 64 + 1, count - total)
        sizes.append(n)
        total += n
        i += 1
    return sizes


def cycle_sizes(cycle, total):
    sizes, done, i = [], 0, 0
    while done < total:
        n = min(cycle[i % len(cycle)], total - done)
        sizes.append(n)
        done += n
        i += 1
    return sizes


def fixed_sizes(size, total):
    return cycle_sizes((size,), total)


def split(data, sizes):
    out, off = [], 0
    for n in sizes:
        out.append(data[off:off + n])
        off += n
    assert off == len(data)
    return out


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------

class Stub:
    """A stub being marshalled; alignment is counted from its start."""

    def __init__(self, ndr64=False):
        self.ndr64 = ndr64
        self.buf = bytearray()

    def align(self, n):
        self.buf += b"\x00" * ((-len(self.buf)) % n)

    def long(self, v):
        self.align(4)
        self.buf += struct.pack("<i", v)

    def ulong(self, v):
        self.align(4)
        self.buf += struct.pack("<I", v)

    def hyper(self, v):
        self.align(8)
        self.buf += struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)

    def count(self, n):
        if self.ndr64:
            self.hyper(n)
        else:
            self.ulong(n)

    def byte_pipe(self, chunks):
        """chunks: list of non-empty bytes objects; the terminator is added."""
        for c in chunks:
            assert c, "an empty chunk would end the pipe"
            self.count(len(c))
            self.buf += c
            if self.ndr64:
                self.hyper(-len(c))
        self.terminator()

    def record_pipe(self, chunks):
        """chunks: list of non-empty lists of (id, kind)."""
        for c in chunks:
            assert c
            self.count(len(c))
            for rid, kind in c:
                self.align(RECORD_ALIGN)
                self.buf += struct.pack("<ih", rid, kind)
            if self.ndr64:
                self.align(RECORD_ALIGN)   # NDR64 pads a structure to its alignment
                self.hyper(-len(c))
        self.terminator()

    def hb_pipe(self, chunks):
        """chunks: list of non-empty lists of (h, b). NDR only: each element
        aligned to 8, none padded after (the next count aligns to 4 itself)."""
        assert not self.ndr64
        for c in chunks:
            assert c
            self.count(len(c))
            for h, b in c:
                self.align(HB_ALIGN)
                self.buf += struct.pack("<qB", h, b)
        self.terminator()

    def terminator(self):
        self.count(0)
        if self.ndr64:
            self.hyper(0)

    def bytes(self):
        return bytes(self.buf)


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------

class Reader:
    def __init__(self, data, ndr64=False, offset=0):
        self.data, self.ndr64, self.off = data, ndr64, offset

    def align(self, n):
        self.off += (-self.off) % n

    def take(self, n):
        if self.off + n > len(self.data):
            raise NdrError("stub ends at %d, %d bytes needed at %d" % (len(self.data), n, self.off))
        b = self.data[self.off:self.off + n]
        self.off += n
        return b

    def long(self):
        self.align(4)
        return struct.unpack("<i", self.take(4))[0]

    def ulong(self):
        self.align(4)
        return struct.unpack("<I", self.take(4))[0]

    def hyper(self):
        self.align(8)
        return struct.unpack("<Q", self.take(8))[0]

    def count(self):
        return self.hyper() if self.ndr64 else self.ulong()

    def at_end(self):
        return self.off == len(self.data)


class Pipe:
    """A decoded pipe, or the part of it that a stub holds."""

    def __init__(self):
        self.chunks = []        # the elements of each complete chunk
        self.partial = None     # (count announced, whole elements present) of a cut chunk
        self.terminated = False
        self.cut = None         # where the stub ended, if it ended inside the pipe

    @property
    def counts(self):
        return [len(c) for c in self.chunks]

    @property
    def elements(self):
        return sum(len(c) for c in self.chunks)

    def data(self):
        return b"".join(self.chunks)

    def records(self):
        return [r for c in self.chunks for r in c]


ELEMENT = {              # kind -> (alignment, size on the wire, struct format)
    "record": (RECORD_ALIGN, 6, "<ih"),
    "hb": (HB_ALIGN, HB_SIZE, "<qB"),
}


def read_pipe(r, kind="byte", partial=False):
    """Read a pipe of 'byte', 'record' or 'hb' elements at r.off. With partial=True a
    stub that ends inside the pipe is not an error: Pipe.cut says where."""
    pipe = Pipe()
    while True:
        if partial and r.off + (8 if r.ndr64 else 4) > len(r.data):
            pipe.cut = "in a chunk count" if r.off < len(r.data) else "before a chunk count"
            r.off = len(r.data)
            return pipe
        n = r.count()
        if n == 0:
            if r.ndr64 and r.hyper() != 0:
                raise NdrError("NDR64 pipe terminator: second count is not 0")
            pipe.terminated = True
            return pipe
        if kind == "byte":
            need = n
        else:
            align, size, fmt = ELEMENT[kind]
            r.align(align)
            stride = size + (-size) % align
            need = (n - 1) * stride + size
        if r.off + need > len(r.data):
            if not partial:
                raise NdrError("chunk of %d elements cut at %d" % (n, len(r.data)))
            avail = len(r.data) - r.off
            pipe.partial = (n, avail if kind == "byte" else (avail + stride - size) // stride)
            pipe.cut = "in the elements of a chunk"
            r.off = len(r.data)
            return pipe
        if kind == "byte":
            pipe.chunks.append(r.take(n))
        else:
            elems = []
            for _ in range(n):
                r.align(align)
                elems.append(struct.unpack(fmt, r.take(size)))
            pipe.chunks.append(elems)
        if r.ndr64:
            if kind != "byte":
                r.align(RECORD_ALIGN)
            if partial and r.off + 8 + (-r.off) % 8 > len(r.data):
                pipe.partial = (n, n)
                pipe.chunks.pop()
                pipe.cut = "before the negated count of a chunk"
                r.off = len(r.data)
                return pipe
            neg = r.hyper()
            if neg != (-n) & 0xFFFFFFFFFFFFFFFF:
                raise NdrError("NDR64 chunk of %d: trailing count 0x%x" % (n, neg))


def fragments(stub_len):
    """Number of fragments a stub of stub_len bytes takes at FRAGMENT_STUB per fragment."""
    return max(1, -(-stub_len // FRAGMENT_STUB))


def run_lengths(counts):
    """[5, 5, 5, 7] -> '3 x 5, 7'."""
    out, i = [], 0
    while i < len(counts):
        j = i
        while j < len(counts) and counts[j] == counts[i]:
            j += 1
        out.append("%d x %d" % (j - i, counts[i]) if j - i > 1 else str(counts[i]))
        i = j
    return ", ".join(out)


def compact(counts):
    """A chunk count list with repeated cycles folded:
    [1, 2, 1, 2, 1, 2, 7] -> '3 x (1, 2), 7'; a tail that is the start of the
    cycle is written 'the first N of the cycle'."""
    counts = list(counts)
    best = None
    for p in range(2, len(counts) // 2 + 1):
        reps = 1
        while counts[reps * p:(reps + 1) * p] == counts[:p]:
            reps += 1
        if reps >= 2 and (best is None or reps * p > best[0] * best[1]):
            best = (reps, p)
    if best is None:
        return run_lengths(counts)
    reps, p = best
    cycle, rest = counts[:p], counts[reps * p:]
    text = "%d x (%s)" % (reps, run_lengths(cycle))
    if rest and len(rest) < p and rest == cycle[:len(rest)]:
        return text + ", then the first %d of the cycle" % len(rest)
    return text + (", " + compact(rest) if rest else "")
