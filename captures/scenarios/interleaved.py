"""Interleaved request fragments of two calls on one association (raw PDUs):
call 2 (SamrConnect2) sends its first fragment, call 3 (SamrConnect) a whole
request, then call 2 its last fragment.  Samba answers call 3 with a
nca_proto_error fault and closes the connection; call 2 gets no response."""
from impacket.dcerpc.v5 import samr

import lab

port = lab.port_of(lab.resolve(samr.MSRPC_UUID_SAMR))
conn = lab.RawConnection(lab.HOST4, port)
conn.send(lab.pdu(lab.BIND, 1, lab.bind_body([(0, samr.MSRPC_UUID_SAMR, [lab.NDR])]),
                  flags=lab.PFC_FIRST_FRAG | lab.PFC_LAST_FRAG | lab.PFC_CONC_MPX))
lab.say("bind:", lab.describe(conn.recv_pdu()))

connect = samr.SamrConnect()
connect["ServerName"] = "\\\\%s\x00" % lab.HOST4
connect["DesiredAccess"] = samr.MAXIMUM_ALLOWED
connect2 = samr.SamrConnect2()
connect2["ServerName"] = "\\\\%s\x00" % lab.HOST4
connect2["DesiredAccess"] = samr.MAXIMUM_ALLOWED
stub2 = connect2.getData()

conn.send(lab.request(2, 0, connect2.opnum, stub2[:8], flags=lab.PFC_FIRST_FRAG,
                      alloc_hint=len(stub2)))
conn.send(lab.request(3, 0, connect.opnum, connect.getData()))
try:
    conn.send(lab.request(2, 0, connect2.opnum, stub2[8:], flags=lab.PFC_LAST_FRAG,
                          alloc_hint=len(stub2) - 8))
    while True:
        answer = conn.recv_pdu()
        lab.say("got:", lab.describe(answer))
        if answer is None:
            break
except OSError as exc:  # the server may reset the connection first
    lab.say("connection ended:", exc)
conn.close()
