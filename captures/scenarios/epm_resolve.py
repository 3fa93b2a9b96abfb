"""Resolve-then-call for three interfaces, from impacket (no authentication).
For SAMR, then SRVSVC, then WINREG: epm.hept_map on 127.0.0.1:135 (a
connection of its own: bind epmapper, ept_map opnum 3, close), then a new
connection to the dynamic port the tower announces, a bind and the interface's
calls from pipecalls.py. Samba serves the three on three different ports.
Between SAMR and SRVSVC, two ept_maps that find nothing: NETLOGON (not
registered by a standalone server) and SVCCTL (registered on ncacn_np and
ncalrpc only). Their answers have 0 towers and the status EPT_S_NOT_REGISTERED
(0x16c9a0d6)."""
from impacket.dcerpc.v5 import nrpc, scmr

import epmcalls
import lab
import pipecalls

ports = {}


def resolve_and_call(name):
    iface = pipecalls.IFACES[name]
    binding = lab.resolve(iface)       # ept_map on port 135
    ports[name] = lab.port_of(binding)
    dce = lab.connect(iface, binding=binding)
    lab.say("%s: %d calls on port %d" % (name, pipecalls.run(pipecalls.CALLS[name](dce)), ports[name]))
    dce.disconnect()


resolve_and_call("samr")
epmcalls.map_not_found("netlogon", nrpc.MSRPC_UUID_NRPC)
epmcalls.map_not_found("svcctl", scmr.MSRPC_UUID_SCMR)
resolve_and_call("srvsvc")
resolve_and_call("winreg")
if len(set(ports.values())) != len(ports):
    raise SystemExit("expected three different dynamic ports, got %r" % ports)
