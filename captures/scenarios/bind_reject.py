"""Binds that Samba answers with a bind_ack whose context result is a rejection
(impacket and raw binds; every attempt on a new connection to SAMR's port):
  1. unknown abstract syntax        -> provider_rejection, abstract_syntax_not_supported
  2. only NDR64 offered             -> provider_rejection, proposed_transfer_syntaxes_not_supported
  3. three contexts in one bind: SAMR, MGMT and an unknown UUID; Samba accepts
     only the first and rejects the others; calls on ctx 0 work, on ctx 1 fault
  4. impacket bogus_binds=2: two random UUIDs before SAMR"""
from impacket.dcerpc.v5 import mgmt, samr, transport
from impacket.uuid import uuidtup_to_bin

import lab

binding = lab.resolve(samr.MSRPC_UUID_SAMR)
port = lab.port_of(binding)
UNKNOWN = uuidtup_to_bin(("6a6b2a0c-6b1f-4a61-9c4e-72706373636f", "1.0"))


def impacket_bind(what, iface, **kw):
    dce = transport.DCERPCTransportFactory(binding).get_dce_rpc()
    dce.connect()
    try:
        dce.bind(iface, **kw)
        lab.say("%s: bound" % what)
        return dce
    except Exception as exc:
        lab.say("%s: %s" % (what, exc))
        dce.disconnect()
        return None


impacket_bind("unknown interface", UNKNOWN)
impacket_bind("NDR64 only", samr.MSRPC_UUID_SAMR,
              transfer_syntax=("71710533-beba-4937-8319-b5dbef9ccc36", "1.0"))

conn = lab.RawConnection(lab.HOST4, port)
conn.send(lab.pdu(lab.BIND, 1, lab.bind_body([
    (0, samr.MSRPC_UUID_SAMR, [lab.NDR]),
    (1, mgmt.MSRPC_UUID_MGMT, [lab.NDR]),
    (2, UNKNOWN, [lab.NDR])])))
lab.say("three contexts:", lab.describe(conn.recv_pdu()))
connect = samr.SamrConnect()
connect["ServerName"] = "\\\\%s\x00" % lab.HOST4
connect["DesiredAccess"] = samr.MAXIMUM_ALLOWED
conn.send(lab.request(2, 0, connect.opnum, connect.getData()))
lab.say(" SamrConnect on ctx 0:", lab.describe(conn.recv_pdu()))
conn.send(lab.request(3, 1, 0, b""))
lab.say(" mgmt inq_if_ids on ctx 1:", lab.describe(conn.recv_pdu()))
conn.close()

dce = impacket_bind("bogus_binds=2", samr.MSRPC_UUID_SAMR, bogus_binds=2)
if dce is not None:
    dce.disconnect()
