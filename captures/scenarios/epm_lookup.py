"""Enumerate the endpoint mapper with ept_lookup, as impacket's rpcdump does:
bind epmapper 3.0 on port 135 (no authentication), then ept_lookup (opnum 2)
with max_ents 500 until the server says there are no more elements.  Samba
returns every entry at once together with status 0x16c9a0d6 (end of list)."""
from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.dtypes import NULL

import lab

EPT_S_NOT_REGISTERED = 0x16C9A0D6

dce = transport.DCERPCTransportFactory("ncacn_ip_tcp:%s[135]" % lab.HOST4).get_dce_rpc()
dce.connect()
dce.bind(epm.MSRPC_UUID_PORTMAP)
entries = []
handle = epm.ept_lookup_handle_t()
while True:
    req = epm.ept_lookup()
    req["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
    req["object"] = NULL
    req["Ifid"] = NULL
    req["vers_option"] = epm.RPC_C_VERS_ALL
    req["entry_handle"] = handle
    req["max_ents"] = 500
    resp = dce.request(req, checkError=False)
    entries.extend(resp["entries"][i] for i in range(resp["num_ents"]))
    handle = resp["entry_handle"]
    if resp["status"] not in (0, EPT_S_NOT_REGISTERED):
        raise SystemExit("ept_lookup failed: 0x%08x" % resp["status"])
    if resp["status"] == EPT_S_NOT_REGISTERED or handle.isNull():
        break
dce.disconnect()
for entry in entries:
    tower = epm.EPMTower(b"".join(entry["tower"]["tower_octet_string"]))
    lab.say(epm.PrintStringBinding(tower["Floors"]), b"".join(entry["annotation"]).rstrip(b"\0"))
lab.say("%d endpoints" % len(entries))
