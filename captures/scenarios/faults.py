"""Fault PDUs from Samba, one TCP connection each, all from impacket:
  1. opnum 200 on SAMR                         -> nca_op_rng_error   (0x1c010002)
  2. SAMR Close with a 3-byte stub             -> nca_s_fault_ndr    (0x000006f7)
  3. request on a presentation context never bound -> nca_unk_if     (0x1c010003)
  4. LSA OpenPolicy2 over TCP (Samba allows lsarpc on named pipes only)
                                               -> access denied      (0x00000005)
  5. NTLMSSP at auth level connect: impacket sends no verifier on requests
                                               -> nca_s_fault_other  (0x00000001)
  6. NTLMSSP with a wrong password: auth3 fails, the next request
                                               -> nca_proto_error    (0x1c01000b)"""
from impacket.dcerpc.v5 import lsad, lsat, samr
from impacket.dcerpc.v5.dtypes import MAXIMUM_ALLOWED
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_CONNECT,
                                      RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)

import lab

samr_binding = lab.resolve(samr.MSRPC_UUID_SAMR)

# 1-3 share one association: the server keeps the connection after these faults.
dce = lab.connect(samr.MSRPC_UUID_SAMR, binding=samr_binding)
samr.hSamrConnect2(dce)


def raw_call(opnum, stub):
    dce.call(opnum, stub)
    return dce.recv()


lab.expect_error("opnum 200", lambda: raw_call(200, b"\x00" * 8))
lab.expect_error("short stub", lambda: raw_call(1, b"\x01\x02\x03"))
dce.set_ctx_id(7)
lab.expect_error("unbound context 7", lambda: raw_call(1, b"\x00" * 20))
dce.disconnect()

dce = lab.connect(lsat.MSRPC_UUID_LSAT)
lab.expect_error("lsa OpenPolicy2 over TCP",
                 lambda: lsad.hLsarOpenPolicy2(dce, MAXIMUM_ALLOWED | lsat.POLICY_LOOKUP_NAMES))
dce.disconnect()

dce = lab.connect(samr.MSRPC_UUID_SAMR, RPC_C_AUTHN_LEVEL_CONNECT, binding=samr_binding)
lab.expect_error("auth level connect without verifier", lambda: samr.hSamrConnect2(dce))
dce.disconnect()

dce = lab.connect(samr.MSRPC_UUID_SAMR, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, binding=samr_binding,
                  password="not-the-password")
lab.expect_error("wrong password", lambda: samr.hSamrConnect2(dce))
dce.disconnect()
