"""A PipeTest server (captures/idl/pipetest.idl) on impacket's DCERPCServer.

impacket's DCERPCServer dispatches raw stubs to callbacks by interface UUID and
opnum. As shipped it hands a callback only the last fragment of a
multi-fragment request, writes the whole response's frag_len into every
response fragment, serves one connection at a time, accepts only NDR and can
only fault with 0x6e4. PipeTestServer keeps its callback table and fixes those:

* request fragments are reassembled per call_id (PFC_FIRST_FRAG .. PFC_LAST_FRAG);
* responses are cut into fragments of FRAGMENT_STUB stub bytes (frag_len 1024),
  each with its own frag_len and alloc_hint (the stub bytes left, as Samba does);
* every connection is served in its own thread;
* a bind may offer NDR or NDR64 (one context item per transfer syntax);
* a call can fault with any status, also after some of its response fragments
  were sent (PtFailNext with fragments > 0), or after some of its request
  fragments arrived (PtFailNext with fragments < 0): then the server sends the
  fault at once and reads and discards the rest of that request (up to its
  PFC_LAST_FRAG fragment) without answering it.

TCP_NODELAY is set on the server side of each connection, so every response
fragment goes out in its own TCP segment as the stub produces it.
"""
import socket
import struct
import threading

from impacket.dcerpc.v5.rpcrt import (DCERPCServer, MSRPC_ALTERCTX, MSRPC_ALTERCTX_R,
                                      MSRPC_BIND, MSRPC_BINDACK, MSRPC_FAULT,
                                      MSRPC_REQUEST, MSRPC_RESPONSE, PFC_FIRST_FRAG,
                                      PFC_LAST_FRAG, PFC_OBJECT_UUID)
from impacket.uuid import uuidtup_to_bin

import pipetest as pt

PFC_DID_NOT_EXECUTE = 0x20
IFACE = uuidtup_to_bin((pt.UUID, pt.VERSION))
NDR = uuidtup_to_bin(pt.NDR_SYNTAX)
NDR64 = uuidtup_to_bin(pt.NDR64_SYNTAX)
MAX_XMIT, MAX_RECV = 4280, 4280


class Fault(Exception):
    def __init__(self, status, did_not_execute=False):
        Exception.__init__(self, "fault 0x%08x" % status)
        self.status, self.did_not_execute = status, did_not_execute


class PipeTestServer(DCERPCServer):
    def __init__(self, port=pt.PORT, client_socket=None, log=None):
        if client_socket is None:
            DCERPCServer.__init__(self)
            self.daemon = True
            self._sock.close()
            self._sock = socket.socket()
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listenPort = port
            self._sock.bind((pt.HOST, port))
        else:
            DCERPCServer.__init__(self, client_socket)
            self._listenPort = port
            self._clientSock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._max_frag = pt.FRAGMENT_STUB
        self._contexts = {}     # p_cont_id -> True for NDR64, False for NDR
        self._partial = {}      # call_id -> [ctx_id, opnum, stub, fragments, in-fault]
        self._fail_next = None  # (fragments, status) for the next call
        self._discard = {}      # call_id -> fragments discarded after an [in] fault
        self._say = log or (lambda *a: None)
        self.addCallbacks((pt.UUID, pt.VERSION), str(port), {
            pt.OP_UPLOAD: self.pt_upload,
            pt.OP_DOWNLOAD: self.pt_download,
            pt.OP_ECHO: self.pt_echo,
            pt.OP_RECORDS: self.pt_records,
            pt.OP_TRANSFORM: self.pt_transform,
            pt.OP_FAIL_NEXT: self.pt_fail_next,
            pt.OP_HYPER_ECHO: self.pt_hyper_echo,
        })
        self.ready = threading.Event()
        self.handlers = []

    # -- connections ---------------------------------------------------------

    def run(self):
        self._sock.listen(10)
        self.ready.set()
        while True:
            client, _ = self._sock.accept()
            handler = PipeTestServer(self._listenPort, client_socket=client, log=self._say)
            thread = threading.Thread(target=handler.serve, daemon=True)
            self.handlers.append(thread)
            thread.start()

    def serve(self):
        try:
            while True:
                pdu = self.recv()
                if pdu is None:
                    break
                self.processRequest(pdu)
        except (ConnectionError, OSError):
            pass
        except Exception as exc:
            self._say("server: %s: %s" % (type(exc).__name__, exc))
            raise
        finally:
            self._clientSock.close()

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self._clientSock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def recv(self):
        """One whole PDU (not one call: requests are reassembled in processRequest)."""
        head = self._read(16)
        if head is None:
            return None
        if head[4] & 0xF0 != 0x10:
            raise ConnectionError("only little-endian clients")
        frag_len = struct.unpack("<H", head[8:10])[0]
        rest = self._read(frag_len - 16)
        return None if rest is None else head + rest

    # -- PDUs ----------------------------------------------------------------

    def _pdu(self, ptype, flags, call_id, body):
        return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\x00\x00\x00",
                           16 + len(body), 0, call_id) + body

    def processRequest(self, pdu):
        ptype, flags = pdu[2], pdu[3]
        call_id = struct.unpack("<I", pdu[12:16])[0]
        if ptype in (MSRPC_BIND, MSRPC_ALTERCTX):
            self.bind(pdu, ptype)
            return None
        if ptype != MSRPC_REQUEST:
            return None
        alloc_hint, ctx_id, opnum = struct.unpack("<IHH", pdu[16:24])
        stub = pdu[24 + (16 if flags & PFC_OBJECT_UUID else 0):]
        if call_id in self._discard and not flags & PFC_FIRST_FRAG:
            # the rest of a request whose [in] pipe was faulted: read, not answered
            self._discard[call_id] += 1
            if flags & PFC_LAST_FRAG:
                self._say("server: %d more request fragments of call_id %d discarded"
                          % (self._discard.pop(call_id), call_id))
            return None
        if flags & PFC_FIRST_FRAG:
            self._discard.pop(call_id, None)
            fail_in = None
            if self._fail_next is not None and self._fail_next[0] < 0:
                fail_in, self._fail_next = (-self._fail_next[0], self._fail_next[1]), None
            self._partial[call_id] = [ctx_id, opnum, bytearray(), 0, fail_in]
        elif call_id not in self._partial:
            return None     # a middle or last fragment without its first one
        call = self._partial[call_id]
        call[2] += stub
        call[3] += 1
        fail_in = call[4]
        if fail_in is not None:
            n, status = fail_in
            if flags & PFC_LAST_FRAG:
                raise RuntimeError("PtFailNext(%d): the request has only %d fragments" % (-n, call[3]))
            if call[3] == n:
                del self._partial[call_id]
                self._discard[call_id] = 0
                self._say("server: %s: fault 0x%08x after %d request fragments (%d stub bytes)"
                          % (pt.OPNAMES[call[1]], status, n, len(call[2])))
                self.send_fault(call_id, call[0], status)
            return None
        if not flags & PFC_LAST_FRAG:
            return None
        ctx_id, opnum, stub, _, _ = self._partial.pop(call_id)
        self.dispatch(call_id, ctx_id, opnum, bytes(stub))
        return None

    def bind(self, pdu, ptype):
        call_id = struct.unpack("<I", pdu[12:16])[0]
        max_xmit, max_recv, assoc, n = struct.unpack("<HHIB", pdu[16:25])
        off, results = 28, []
        for _ in range(n):
            ctx_id, n_ts = struct.unpack("<HB", pdu[off:off + 3])
            abstract = pdu[off + 4:off + 24]
            syntaxes = [pdu[off + 24 + 20 * i:off + 44 + 20 * i] for i in range(n_ts)]
            off += 24 + 20 * n_ts
            if abstract != IFACE:
                results.append((2, 1, b"\x00" * 20))       # abstract syntax not supported
            elif NDR in syntaxes or NDR64 in syntaxes:
                chosen = NDR if NDR in syntaxes else NDR64
                self._contexts[ctx_id] = chosen == NDR64
                results.append((0, 0, chosen))
            else:
                results.append((2, 2, b"\x00" * 20))       # transfer syntaxes not supported
        sec_addr = (b"%d\x00" % self._listenPort) if ptype == MSRPC_BIND else b""
        body = struct.pack("<HHIH", MAX_XMIT, min(max_recv, MAX_RECV), assoc or 0x5054, len(sec_addr))
        body += sec_addr
        body += b"\x00" * ((-(16 + len(body))) % 4)
        body += struct.pack("<B3x", len(results))
        for result, reason, syntax in results:
            body += struct.pack("<HH", result, reason) + syntax
        reply = MSRPC_BINDACK if ptype == MSRPC_BIND else MSRPC_ALTERCTX_R
        self._clientSock.sendall(self._pdu(reply, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id, body))

    def dispatch(self, call_id, ctx_id, opnum, stub):
        fail, self._fail_next = self._fail_next, None
        try:
            if ctx_id not in self._contexts:
                raise Fault(pt.NCA_UNK_IF, True)
            callback = self._listenUUIDS[IFACE]["CallBacks"].get(opnum)
            if callback is None:
                raise Fault(pt.NCA_OP_RNG_ERROR, True)
            try:
                answer = callback(stub, self._contexts[ctx_id])
            except (pt.NdrError, struct.error) as exc:
                self._say("server: %s: bad stub: %s" % (pt.OPNAMES[opnum], exc))
                raise Fault(pt.NCA_S_FAULT_NDR)
        except Fault as fault:
            self.send_fault(call_id, ctx_id, fault.status, fault.did_not_execute)
            return
        self.send_response(call_id, ctx_id, answer, fail)

    def send_response(self, call_id, ctx_id, stub, fail=None):
        """Fragments of FRAGMENT_STUB stub bytes; with fail = (n, status), only
        the first n fragments (no PFC_LAST_FRAG), then a fault with status."""
        pieces = [stub[i:i + self._max_frag] for i in range(0, len(stub), self._max_frag)] or [b""]
        if fail is not None:
            n, status = fail
            if n >= len(pieces):
                raise RuntimeError("PtFailNext(%d): the response has only %d fragments" % (n, len(pieces)))
            pieces = pieces[:n]
        left = len(stub)
        for i, piece in enumerate(pieces):
            flags = (PFC_FIRST_FRAG if i == 0 else 0)
            if fail is None and i == len(pieces) - 1:
                flags |= PFC_LAST_FRAG
            body = struct.pack("<IHBB", left, ctx_id, 0, 0) + piece
            self._clientSock.sendall(self._pdu(MSRPC_RESPONSE, flags, call_id, body))
            left -= len(piece)
        if fail is not None:
            self.send_fault(call_id, ctx_id, fail[1])

    def send_fault(self, call_id, ctx_id, status, did_not_execute=False):
        flags = PFC_FIRST_FRAG | PFC_LAST_FRAG | (PFC_DID_NOT_EXECUTE if did_not_execute else 0)
        body = struct.pack("<IHBBII", 0, ctx_id, 0, 0, status, 0)
        self._clientSock.sendall(self._pdu(MSRPC_FAULT, flags, call_id, body))

    # -- operations (stub in, stub out) ----------------------------------------

    @staticmethod
    def _done(r):
        if not r.at_end():
            raise pt.NdrError("%d bytes after the last parameter" % (len(r.data) - r.off))

    def pt_upload(self, stub, ndr64):
        r = pt.Reader(stub, ndr64)
        tag = r.long()
        pipe = pt.read_pipe(r, "byte")
        self._done(r)
        self._say("server: PtUpload tag=0x%x: %d chunks, %d bytes" % (tag, len(pipe.chunks), pipe.elements))
        out = pt.Stub(ndr64)
        out.long(pipe.elements)
        return out.bytes()

    def pt_download(self, stub, ndr64):
        r = pt.Reader(stub, ndr64)
        count = r.long()
        self._done(r)
        data = pt.pattern(0, count)
        out = pt.Stub(ndr64)
        out.byte_pipe(pt.split(data, pt.download_sizes(count)))
        out.long(count)
        return out.bytes()

    def pt_echo(self, stub, ndr64):
        r = pt.Reader(stub, ndr64)
        data = pt.read_pipe(r, "byte").data()
        self._done(r)
        out = pt.Stub(ndr64)
        out.byte_pipe(pt.split(data, pt.fixed_sizes(pt.ECHO_CHUNK, len(data))))
        out.long(len(data))
        return out.bytes()

    def pt_records(self, stub, ndr64):
        r = pt.Reader(stub, ndr64)
        n = r.long()
        self._done(r)
        recs = [pt.record(i) for i in range(n)]
        out = pt.Stub(ndr64)
        out.record_pipe(pt.split(recs, pt.cycle_sizes(pt.RECORD_CHUNK_CYCLE, n)))
        out.long(n)
        return out.bytes()

    def pt_transform(self, stub, ndr64):
        r = pt.Reader(stub, ndr64)
        key = r.long()
        data = pt.read_pipe(r, "byte").data()
        self._done(r)
        x = key & 0xFF
        down = bytes(b ^ x for b in data)
        out = pt.Stub(ndr64)
        out.byte_pipe(pt.split(down, pt.fixed_sizes(pt.TRANSFORM_CHUNK, len(down))))
        out.long(sum(data))
        out.long(len(data))
        return out.bytes()

    def pt_hyper_echo(self, stub, ndr64):
        if ndr64:
            raise Fault(pt.NCA_S_FAULT_NDR)     # HB pipes are NDR 2.0 only here
        r = pt.Reader(stub, ndr64)
        tag = r.long()
        pipe = pt.read_pipe(r, "hb")
        self._done(r)
        elems = pipe.records()
        self._say("server: PtHyperEcho tag=0x%x: %d chunks (%s), %d elements"
                  % (tag, len(pipe.chunks), pt.compact(pipe.counts), len(elems)))
        out = pt.Stub(ndr64)
        out.hb_pipe(pt.split(elems, pt.cycle_sizes(pt.HB_CHUNK_CYCLE, len(elems))))
        out.long(len(elems))
        return out.bytes()

    def pt_fail_next(self, stub, ndr64):
        r = pt.Reader(stub, ndr64)
        fragments = r.long()
        status = r.ulong()
        self._done(r)
        self._fail_next = (fragments, status)
        out = pt.Stub(ndr64)
        out.long(0)
        return out.bytes()


def start(port=pt.PORT, log=None):
    server = PipeTestServer(port, log=log)
    server.start()
    server.ready.wait(5)
    return server
