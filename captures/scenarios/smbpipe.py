"""Helpers for the impacket scenarios that carry DCE/RPC over SMB named pipes
(ncacn_np): SMB sessions with a chosen dialect and port, pipes that share one
SMB connection, and a pipe transport that can move PDUs in other ways than
impacket's own WRITE-then-READ: READs of a few bytes, and IOCTL
FSCTL_PIPE_TRANSCEIVE (SMB1: TRANSACTION TransactNmPipe) with a small output
limit, where the server answers STATUS_BUFFER_OVERFLOW and the client READs the
rest of the message."""
import struct

from impacket import nt_errors, smb, smb3structs
from impacket.dcerpc.v5 import transport
from impacket.smbconnection import SMB_DIALECT, SMBConnection

import lab
from lab import say

DIALECTS = {
    None: None,                     # impacket's choice: the highest the server offers
    "NT1": SMB_DIALECT,
    "2.0.2": smb3structs.SMB2_DIALECT_002,
    "2.1": smb3structs.SMB2_DIALECT_21,
    "3.0": smb3structs.SMB2_DIALECT_30,
    "3.1.1": smb3structs.SMB2_DIALECT_311,
}
DIALECT_NAMES = {
    SMB_DIALECT: "NT LM 0.12 (SMB1)",
    smb3structs.SMB2_DIALECT_002: "SMB 2.0.2",
    smb3structs.SMB2_DIALECT_21: "SMB 2.1",
    smb3structs.SMB2_DIALECT_30: "SMB 3.0",
    smb3structs.SMB2_DIALECT_302: "SMB 3.0.2",
    smb3structs.SMB2_DIALECT_311: "SMB 3.1.1",
}

# PDU types that expect an answer on the pipe (request, bind, alter_context).
_ANSWERED = (0, 11, 14)
_LAST_FRAG = 0x02


def smb_connect(dialect=None, port=445, remote_name=None, host=lab.HOST4):
    """Log in as the lab user over a new SMB connection."""
    conn = SMBConnection(remote_name or host, host, sess_port=port,
                         preferredDialect=DIALECTS[dialect])
    conn.login(lab.USER, lab.PASS, lab.DOMAIN)
    server = conn.getSMBServer()
    if conn.getDialect() == SMB_DIALECT:
        signing = server.is_signing_required()
        encrypted = False
    else:
        signing = server._Session["SigningActivated"]
        encrypted = bool(server._Session["SessionFlags"] & smb3structs.SMB2_SESSION_FLAG_ENCRYPT_DATA)
    say("SMB connection to %s port %d: %s, signing %s, encryption %s" % (
        host, port, DIALECT_NAMES.get(conn.getDialect(), str(conn.getDialect())),
        "on" if signing else "off", "on" if encrypted else "off"))
    return conn


class PipeTransport(transport.SMBTransport):
    """An SMBTransport (ncacn_np) on an existing SMB connection.

    mode "write_read": each PDU goes out in a WRITE (SMB1 WRITE_ANDX), the answer
        comes back in READs (READ_ANDX) of read_size bytes each (impacket's own
        READ of up to MaxReadSize when read_size is None). impacket's DCE/RPC
        layer reads again until it has the whole fragment.
    mode "transceive": PDUs that expect an answer go out in an IOCTL
        FSCTL_PIPE_TRANSCEIVE (SMB1: TRANSACTION TransactNmPipe) that returns at
        most read_size bytes (SMB2 default 4280, SMB1 default 65504). When the
        server answers STATUS_BUFFER_OVERFLOW the rest of the message is fetched
        with READs. Request fragments before the last one are written with WRITE.
    """

    def __init__(self, conn, pipe, mode="write_read", read_size=None):
        transport.SMBTransport.__init__(self, conn.getRemoteName(), filename=pipe,
                                        smb_connection=conn)
        self.pipe = pipe
        self.mode = mode
        self.read_size = read_size
        self.conn = conn
        self.smb1 = conn.getDialect() == SMB_DIALECT
        self._stashed = None

    # -- handles ----------------------------------------------------------
    @property
    def tid(self):
        return self._SMBTransport__tid

    @property
    def fid(self):
        return self._SMBTransport__handle

    def open(self, tid=None):
        """CREATE the pipe (no bind yet): in tree tid, or in a new TREE_CONNECT
        to IPC$ of its own."""
        if tid is None:
            self.connect()
        else:
            self._SMBTransport__tid = tid
            self._SMBTransport__handle = self.conn.openFile(tid, self.pipe)
        return self

    def close_pipe(self, tree_disconnect=True):
        """CLOSE the pipe handle (and TREE_DISCONNECT its tree)."""
        try:
            self.conn.closeFile(self.tid, self.fid)
        except KeyError:
            # impacket keeps one table entry per file name, so the second of
            # two opens of one pipe fails in its bookkeeping after the CLOSE.
            pass
        if tree_disconnect:
            self.conn.disconnectTree(self.tid)

    def bind(self, iface):
        dce = self.get_dce_rpc()
        dce.bind(iface)
        return dce

    # -- PDU transport ----------------------------------------------------
    def send(self, data, forceWriteAndx=0, forceRecv=0):
        if self._stashed is not None:
            self._write(self._stashed)
            self._stashed = None
        if (self.mode == "transceive" and data[2] in _ANSWERED and data[3] & _LAST_FRAG):
            self._stashed = data       # goes out with the transceive in recv()
        else:
            self._write(data)

    def recv(self, forceRecv=0, count=0):
        if self._stashed is not None:
            data, self._stashed = self._stashed, None
            return self._transceive(data)
        return self._read()

    def _write(self, data):
        self.conn.writeFile(self.tid, self.fid, data)

    def _read(self):
        if self.smb1 or not self.read_size:
            # impacket's own READ (SMB1: READ_ANDX, which loops while the
            # server reports more data)
            return self.conn.readFile(self.tid, self.fid, bytesToRead=self.read_size)
        data = b""
        while True:
            status, chunk = self._smb2_read(self.read_size)
            data += chunk
            if status != nt_errors.STATUS_BUFFER_OVERFLOW:
                return data

    def _transceive(self, data):
        if self.smb1 and not self.read_size:
            return self.conn.getSMBServer().TransactNamedPipe(self.tid, self.fid, data)
        if self.smb1:
            status, out = self._smb1_transact(data, self.read_size)
        else:
            status, out = self._smb2_ioctl(data, self.read_size or 4280)
        if status == nt_errors.STATUS_BUFFER_OVERFLOW:
            out += self._read()
        return out

    # -- raw SMB1 TransactNmPipe with a small MaxDataCount -----------------
    def _smb1_transact(self, data, max_out):
        """impacket's TransactNamedPipe, with MaxDataCount max_out and
        STATUS_BUFFER_OVERFLOW accepted."""
        server = self.conn.getSMBServer()
        packet = smb.NewSMBPacket()
        packet["Tid"] = self.tid
        setup, name = struct.pack("<HH", 0x26, self.fid), "\\PIPE\\\x00"
        trans = smb.SMBCommand(smb.SMB.SMB_COM_TRANSACTION)
        trans["Parameters"] = smb.SMBTransaction_Parameters()
        trans["Data"] = smb.SMBTransaction_Data()
        params = trans["Parameters"]
        params["Setup"] = setup
        params["TotalParameterCount"] = params["ParameterCount"] = 0
        params["TotalDataCount"] = params["DataCount"] = len(data)
        params["ParameterOffset"] = params["DataOffset"] = 32 + 3 + 28 + len(setup) + len(name)
        params["MaxDataCount"] = max_out
        trans["Data"]["Name"] = name
        trans["Data"]["Trans_Parameters"] = b""
        trans["Data"]["Trans_Data"] = data
        packet.addCommand(trans)
        server.sendSMB(packet)
        answer = server.recvSMB()
        status = answer["ErrorClass"] | answer["_reserved"] << 8 | answer["ErrorCode"] << 16
        if status != nt_errors.STATUS_BUFFER_OVERFLOW:
            answer.isValidAnswer(smb.SMB.SMB_COM_TRANSACTION)      # raises on errors
        response = smb.SMBCommand(answer["Data"][0])
        count = smb.SMBTransactionResponse_Parameters(response["Parameters"])["TotalDataCount"]
        return status, response["Data"][-count:]

    # -- raw SMB2 commands that accept STATUS_BUFFER_OVERFLOW ---------------
    def _exchange(self, command, body):
        """Send one SMB2 command of at most 64 KiB (credit charge 1), return the answer."""
        server = self.conn.getSMBServer()
        packet = server.SMB_PACKET()
        packet["CreditCharge"] = 1
        packet["Command"] = command
        packet["TreeID"] = self.tid
        packet["Data"] = body
        answer = server.recvSMB(server.sendSMB(packet))
        if answer["Status"] not in (nt_errors.STATUS_SUCCESS, nt_errors.STATUS_BUFFER_OVERFLOW):
            answer.isValidAnswer(nt_errors.STATUS_SUCCESS)     # raises SessionError
        return answer

    def _smb2_read(self, size):
        read = smb3structs.SMB2Read()
        read["Padding"] = 0x50
        read["FileID"] = self.fid
        read["Length"] = size
        read["Offset"] = 0
        answer = self._exchange(smb3structs.SMB2_READ, read)
        return answer["Status"], smb3structs.SMB2Read_Response(answer["Data"])["Buffer"]

    def _smb2_ioctl(self, data, max_out):
        ioctl = smb3structs.SMB2Ioctl()
        ioctl["FileID"] = self.fid
        ioctl["CtlCode"] = smb3structs.FSCTL_PIPE_TRANSCEIVE
        ioctl["MaxInputResponse"] = 0
        ioctl["MaxOutputResponse"] = max_out
        ioctl["InputCount"] = len(data)
        ioctl["Buffer"] = data
        ioctl["OutputOffset"] = 0
        ioctl["Flags"] = smb3structs.SMB2_0_IOCTL_IS_FSCTL
        answer = self._exchange(smb3structs.SMB2_IOCTL, ioctl)
        return answer["Status"], smb3structs.SMB2Ioctl_Response(answer["Data"])["Buffer"]


def open_pipe(conn, pipe, iface, mode="write_read", read_size=None, tid=None):
    """Open a pipe on conn and bind iface; returns (transport, dce)."""
    t = PipeTransport(conn, pipe, mode, read_size).open(tid)
    return t, t.bind(iface)

