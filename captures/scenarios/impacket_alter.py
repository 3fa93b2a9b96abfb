"""impacket's alter_ctx on one association, no authentication: bind SAMR
(ctx 0), alter_context to MGMT (ctx 1), then calls on both contexts.
impacket keeps one call_id counter per context object, so call_ids repeat."""
from impacket.dcerpc.v5 import mgmt, samr

import lab

dce = lab.connect(samr.MSRPC_UUID_SAMR)
server = samr.hSamrConnect2(dce)["ServerHandle"]
dce_mgmt = dce.alter_ctx(mgmt.MSRPC_UUID_MGMT)
ifids = mgmt.hinq_if_ids(dce_mgmt)
lab.say("mgmt inq_if_ids: %d interfaces" % ifids["if_id_vector"]["count"])
domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
lab.say("domains:", [d["Name"] for d in domains])
lab.say("mgmt is_server_listening:", mgmt.his_server_listening(dce_mgmt)["status"])
samr.hSamrCloseHandle(dce, server)
dce.disconnect()
