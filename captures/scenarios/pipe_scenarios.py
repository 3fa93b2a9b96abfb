"""NDR pipe captures 40-46, 48, 49: an impacket client calls the PipeTest
interface (captures/idl/pipetest.idl) of pipeserver.py, which runs in a thread
of the same process, over ncacn_ip_tcp 127.0.0.1:9123 (no endpoint mapper).

    pipe_scenarios.py in-1mib | out-small-chunks | both | empty | struct | ndr64 | fault-mid
                      | in-fault | hyper-struct

The client sends requests in fragments of 1000 stub bytes
(set_max_fragment_size(1000), frag_len 1024), the server answers in fragments
of the same size. Every stub is built and checked here, chunk by chunk; a
wrong answer ends the script with an error.
"""
import select
import sys

from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import uuidtup_to_bin

import pipeserver
import pipetest as pt

# 40: chunk sizes of the 1 MiB [in] pipe (63 chunks, then the terminator).
UPLOAD_CYCLE = [4096, 65536, 1000, 333, 1, 7, 12289, 2048, 65536, 3]
UPLOAD_1MIB = UPLOAD_CYCLE * 6 + [65536, 65536, 12410]
# 41: PtDownload's first 500 chunk sizes.
DOWNLOAD_500 = sum((37 * i) % 64 + 1 for i in range(500))
# 48: the 64 KiB [in] pipe whose request the server faults after 20 fragments.
IN_FAULT_SIZES = [16384, 1, 8000, 333, 24576, 7, 16235]
IN_FAULT_AFTER = 20
# 49: the [in] HB pipes (element counts) of the two PtHyperEcho calls.
HYPER_SMALL = [2, 6, 3]
HYPER_BIG = [40, 1, 70, 9, 80]


def say(*args):
    print(*args, flush=True)


def check(what, got, expected):
    if got != expected:
        raise SystemExit("%s: got %r, expected %r" % (what, got, expected))


class Client:
    def __init__(self, ndr64=False):
        self.ndr64 = ndr64
        rpctransport = transport.DCERPCTransportFactory(pt.BINDING)
        self.dce = rpctransport.get_dce_rpc()
        self.dce.set_max_fragment_size(pt.FRAGMENT_STUB)
        self.dce.connect()
        syntax = pt.NDR64_SYNTAX if ndr64 else pt.NDR_SYNTAX
        self.dce.bind(uuidtup_to_bin((pt.UUID, pt.VERSION)), transfer_syntax=syntax)
        say("bound to PipeTest %s at %s with %s" % (pt.VERSION, pt.BINDING, "NDR64" if ndr64 else "NDR"))

    def stub(self):
        return pt.Stub(self.ndr64)

    def call(self, opnum, stub, what):
        say("%s: request stub %d bytes, %d fragments" % (what, len(stub), pt.fragments(len(stub))))
        self.dce.call(opnum, stub)
        answer = self.dce.recv()
        say("  response stub %d bytes, %d fragments" % (len(answer), pt.fragments(len(answer))))
        return pt.Reader(answer, self.ndr64)

    def call_fault(self, opnum, stub, what, status_name):
        say("%s: request stub %d bytes, %d fragments" % (what, len(stub), pt.fragments(len(stub))))
        self.dce.call(opnum, stub)
        try:
            self.dce.recv()
        except DCERPCException as exc:
            text = str(exc)
            if status_name not in text:
                raise SystemExit("%s: fault %r, expected %s" % (what, text, status_name))
            say("  fault as expected: %s" % text.strip())
            return
        raise SystemExit("%s: answered although a fault was expected" % what)

    def call_fault_in(self, opnum, stub, what, status_name, pause_after):
        """Like call_fault, for a fault that comes while the request is still
        being sent: impacket sends all request fragments in dce.call() and
        reads nothing before dce.recv(). To put the fault at the same place in
        every capture, the client stops after its pause_after-th request
        fragment until the server's fault has arrived (it is not read yet),
        then sends the rest of the request, up to PFC_LAST_FRAG, and only then
        reads the fault."""
        n = pt.fragments(len(stub))
        say("%s: request stub %d bytes, %d fragments; the fault is due after %d"
            % (what, len(stub), n, pause_after))
        if not 0 < pause_after < n:
            raise SystemExit("%s: cannot pause after fragment %d of %d" % (what, pause_after, n))
        transport = self.dce.get_rpc_transport()
        sock = transport.get_socket()
        send, sent = transport.send, [0]

        def paced(data, forceWriteAndx=0, forceRecv=0):
            send(data, forceWriteAndx=forceWriteAndx, forceRecv=forceRecv)
            sent[0] += 1
            if sent[0] == pause_after:
                readable, _, _ = select.select([sock], [], [], 10)
                if not readable:
                    raise SystemExit("%s: no fault after %d request fragments" % (what, pause_after))
                say("  the fault arrived after request fragment %d; sending fragments %d-%d"
                    % (pause_after, pause_after + 1, n))

        transport.send = paced
        try:
            self.dce.call(opnum, stub)
        finally:
            del transport.send      # back to TCPTransport.send
        check("%s fragments sent" % what, sent[0], n)
        try:
            self.dce.recv()
        except DCERPCException as exc:
            text = str(exc)
            if status_name not in text:
                raise SystemExit("%s: fault %r, expected %s" % (what, text, status_name))
            say("  fault as expected: %s" % text.strip())
            return
        raise SystemExit("%s: answered although a fault was expected" % what)

    def close(self):
        self.dce.disconnect()

    # -- operations -----------------------------------------------------------

    def upload(self, tag, sizes, start=0):
        data = pt.pattern(start, sum(sizes))
        s = self.stub()
        s.long(tag)
        s.byte_pipe(pt.split(data, sizes))
        say("PtUpload [in] pipe: %d chunks (%s) + terminator, %d bytes"
            % (len(sizes), pt.compact(sizes), len(data)))
        r = self.call(pt.OP_UPLOAD, s.bytes(), "PtUpload(tag=0x%x)" % tag)
        check("PtUpload return", r.long(), len(data))
        check("PtUpload end", r.at_end(), True)

    def download(self, count):
        s = self.stub()
        s.long(count)
        r = self.call(pt.OP_DOWNLOAD, s.bytes(), "PtDownload(count=%d)" % count)
        pipe = pt.read_pipe(r, "byte")
        sizes = pt.download_sizes(count)
        check("PtDownload chunks", pipe.counts, sizes)
        check("PtDownload data", pipe.data() == pt.pattern(0, count), True)
        check("PtDownload terminator", pipe.terminated, True)
        check("PtDownload return", r.long(), count)
        check("PtDownload end", r.at_end(), True)
        say("  [out] pipe: %d chunks (%s) + terminator, %d bytes"
            % (len(sizes), pt.compact(sizes), count))

    def echo(self, sizes, start=0):
        data = pt.pattern(start, sum(sizes))
        s = self.stub()
        s.byte_pipe(pt.split(data, sizes))
        say("PtEcho [in] pipe: %d chunks (%s) + terminator, %d bytes"
            % (len(sizes), pt.compact(sizes), len(data)))
        r = self.call(pt.OP_ECHO, s.bytes(), "PtEcho")
        pipe = pt.read_pipe(r, "byte")
        expected = pt.fixed_sizes(pt.ECHO_CHUNK, len(data))
        check("PtEcho chunks", pipe.counts, expected)
        check("PtEcho data", pipe.data() == data, True)
        check("PtEcho return", r.long(), len(data))
        check("PtEcho end", r.at_end(), True)
        say("  [out] pipe: %d chunks (%s) + terminator, %d bytes"
            % (len(expected), pt.compact(expected), len(data)))

    def transform(self, key, sizes, start=0):
        data = pt.pattern(start, sum(sizes))
        s = self.stub()
        s.long(key)                      # declared after the pipe, marshalled before it
        s.byte_pipe(pt.split(data, sizes))
        say("PtTransform [in] pipe: %d chunks (%s) + terminator, %d bytes"
            % (len(sizes), pt.compact(sizes), len(data)))
        r = self.call(pt.OP_TRANSFORM, s.bytes(), "PtTransform(key=0x%x)" % key)
        pipe = pt.read_pipe(r, "byte")
        expected = pt.fixed_sizes(pt.TRANSFORM_CHUNK, len(data))
        check("PtTransform chunks", pipe.counts, expected)
        check("PtTransform data", pipe.data() == bytes(b ^ (key & 0xFF) for b in data), True)
        check("PtTransform checksum", r.long(), sum(data))
        check("PtTransform return", r.long(), len(data))
        check("PtTransform end", r.at_end(), True)
        say("  [out] pipe: %d chunks (%s) + terminator, %d bytes; checksum %d"
            % (len(expected), pt.compact(expected), len(data), sum(data)))

    def records(self, n):
        s = self.stub()
        s.long(n)
        r = self.call(pt.OP_RECORDS, s.bytes(), "PtRecords(n=%d)" % n)
        pipe = pt.read_pipe(r, "record")
        sizes = pt.cycle_sizes(pt.RECORD_CHUNK_CYCLE, n)
        check("PtRecords chunks", pipe.counts, sizes)
        check("PtRecords records", pipe.records(), [pt.record(i) for i in range(n)])
        check("PtRecords return", r.long(), n)
        check("PtRecords end", r.at_end(), True)
        say("  [out] pipe: %d chunks (%s) + terminator, %d records"
            % (len(sizes), pt.compact(sizes), n))

    def upload_fault(self, tag, sizes, after, status, status_name):
        data = pt.pattern(0, sum(sizes))
        s = self.stub()
        s.long(tag)
        s.byte_pipe(pt.split(data, sizes))
        say("PtUpload [in] pipe: %d chunks (%s) + terminator, %d bytes"
            % (len(sizes), pt.compact(sizes), len(data)))
        self.fail_next(-after, status)
        self.call_fault_in(pt.OP_UPLOAD, s.bytes(), "PtUpload(tag=0x%x)" % tag, status_name, after)

    def hyper_echo(self, tag, sizes, start=0):
        elems = [pt.hb(i) for i in range(start, start + sum(sizes))]
        s = self.stub()
        s.long(tag)
        s.hb_pipe(pt.split(elems, sizes))
        say("PtHyperEcho [in] pipe: %d chunks (%s) + terminator, %d elements"
            % (len(sizes), pt.compact(sizes), len(elems)))
        r = self.call(pt.OP_HYPER_ECHO, s.bytes(), "PtHyperEcho(tag=0x%x)" % tag)
        pipe = pt.read_pipe(r, "hb")
        expected = pt.cycle_sizes(pt.HB_CHUNK_CYCLE, len(elems))
        check("PtHyperEcho chunks", pipe.counts, expected)
        check("PtHyperEcho elements", pipe.records(), elems)
        check("PtHyperEcho terminator", pipe.terminated, True)
        check("PtHyperEcho return", r.long(), len(elems))
        check("PtHyperEcho end", r.at_end(), True)
        say("  [out] pipe: %d chunks (%s) + terminator, %d elements"
            % (len(expected), pt.compact(expected), len(elems)))

    def fail_next(self, fragments, status):
        s = self.stub()
        s.long(fragments)
        s.ulong(status)
        r = self.call(pt.OP_FAIL_NEXT, s.bytes(), "PtFailNext(%d, 0x%08x)" % (fragments, status))
        check("PtFailNext return", r.long(), 0)


def in_1mib():
    c = Client()
    check("40 total", sum(UPLOAD_1MIB), 1 << 20)
    c.upload(0x40, UPLOAD_1MIB)
    c.close()


def out_small_chunks():
    c = Client()
    check("41 chunks", len(pt.download_sizes(DOWNLOAD_500)), 500)
    c.download(DOWNLOAD_500)
    c.close()


def both():
    c = Client()
    c.echo([3000, 1, 250, 4096, 17])
    c.transform(0x5A, [500, 1500, 3, 997], start=7364)
    c.close()


def empty():
    c = Client()
    c.echo([])
    c.upload(0x43, [])
    c.download(0)
    c.close()


def struct_pipe():
    c = Client()
    c.records(300)
    c.close()


def ndr64():
    c = Client(ndr64=True)
    c.upload(0x45, [1000, 3, 4096, 77, 5000])
    c.download(sum((37 * i) % 64 + 1 for i in range(100)))
    c.close()


def fault_mid():
    c = Client()
    c.fail_next(3, pt.NCA_S_FAULT_PIPE_CLOSED)
    s = c.stub()
    s.long(20000)
    c.call_fault(pt.OP_DOWNLOAD, s.bytes(), "PtDownload(count=20000)", "nca_s_fault_pipe_closed")
    c.fail_next(2, pt.NCA_S_FAULT_PIPE_COMM_ERROR)
    s = c.stub()
    s.long(1000)
    c.call_fault(pt.OP_RECORDS, s.bytes(), "PtRecords(n=1000)", "nca_s_fault_pipe_comm_error")
    c.download(100)
    c.close()


def in_fault():
    c = Client()
    check("48 total", sum(IN_FAULT_SIZES), 1 << 16)
    c.upload_fault(0x48, IN_FAULT_SIZES, IN_FAULT_AFTER, pt.NCA_S_FAULT_PIPE_CLOSED,
                   "nca_s_fault_pipe_closed")
    c.upload(0x4801, [1000, 7, 500], start=3000)
    c.close()


def hyper_struct():
    c = Client()
    c.hyper_echo(0x49, HYPER_SMALL)
    c.hyper_echo(0x4901, HYPER_BIG, start=sum(HYPER_SMALL))
    c.close()


SCENARIOS = {
    "in-1mib": in_1mib,
    "out-small-chunks": out_small_chunks,
    "both": both,
    "empty": empty,
    "struct": struct_pipe,
    "ndr64": ndr64,
    "fault-mid": fault_mid,
    "in-fault": in_fault,
    "hyper-struct": hyper_struct,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit("usage: pipe_scenarios.py %s" % " | ".join(SCENARIOS))
    server = pipeserver.start(log=say)
    if not server.ready.is_set():
        sys.exit("the PipeTest server did not start")
    SCENARIOS[sys.argv[1]]()
    # Let the server see the client's FIN and close its side before exiting.
    for thread in server.handlers:
        thread.join(5)


if __name__ == "__main__":
    main()
