"""Pipelined calls on one association (raw PDUs, no authentication):
bind SAMR with PFC_CONC_MPX, alter_context adding MGMT as context 1, then
five requests on both contexts sent back to back before reading any response
(one of them in three fragments), then the five responses."""
import struct

from impacket.dcerpc.v5 import mgmt, samr

import lab

port = lab.port_of(lab.resolve(samr.MSRPC_UUID_SAMR))
conn = lab.RawConnection(lab.HOST4, port)
conn.send(lab.pdu(lab.BIND, 1, lab.bind_body([(0, samr.MSRPC_UUID_SAMR, [lab.NDR])]),
                  flags=lab.PFC_FIRST_FRAG | lab.PFC_LAST_FRAG | lab.PFC_CONC_MPX))
lab.say("bind:", lab.describe(conn.recv_pdu()))
conn.send(lab.pdu(lab.ALTER_CONTEXT, 2, lab.bind_body([(1, mgmt.MSRPC_UUID_MGMT, [lab.NDR])])))
lab.say("alter_context:", lab.describe(conn.recv_pdu()))

connect = samr.SamrConnect()
connect["ServerName"] = "\\\\%s\x00" % lab.HOST4
connect["DesiredAccess"] = samr.MAXIMUM_ALLOWED
connect2 = samr.SamrConnect2()
connect2["ServerName"] = "\\\\%s\x00" % lab.HOST4
connect2["DesiredAccess"] = samr.MAXIMUM_ALLOWED
stub2 = connect2.getData()

burst = [
    lab.request(3, 0, connect.opnum, connect.getData()),
    lab.request(4, 1, 0, b""),                              # mgmt inq_if_ids
    lab.request(5, 1, 2, b""),                              # mgmt is_server_listening
]
# call 6: SamrConnect2 in three fragments, sent contiguously
cut = [0, 8, 24, len(stub2)]
for i in range(3):
    flags = (lab.PFC_FIRST_FRAG if i == 0 else 0) | (lab.PFC_LAST_FRAG if i == 2 else 0)
    burst.append(lab.request(6, 0, connect2.opnum, stub2[cut[i]:cut[i + 1]], flags=flags,
                             alloc_hint=len(stub2) - cut[i]))
burst.append(lab.request(7, 1, 1, struct.pack("<II", 4, 0)))  # mgmt inq_stats
conn.send(b"".join(burst))
for _ in range(5):
    lab.say("got:", lab.describe(conn.recv_pdu()))
conn.close()
