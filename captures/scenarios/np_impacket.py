"""impacket over SMB2/3 named pipes, the way impacket's example tools connect:
one DCERPCTransportFactory('ncacn_np:HOST[\\pipe\\NAME]') per interface, each
with its own SMB connection (impacket's highest dialect, SMB 3.1.1, which it
always signs). impacket WRITEs each PDU and READs the answer; it leaves the
pipe open and ends with TREE_DISCONNECT and LOGOFF."""
from impacket.dcerpc.v5 import transport

import lab
import pipecalls

for pipe in ("samr", "lsarpc", "srvsvc", "winreg"):
    binding = r"ncacn_np:%s[\pipe\%s]" % (lab.HOST4, pipe)
    rpctransport = transport.DCERPCTransportFactory(binding)
    rpctransport.set_credentials(lab.USER, lab.PASS, lab.DOMAIN)
    dce = rpctransport.get_dce_rpc()
    dce.connect()
    dce.bind(pipecalls.IFACES[pipe])
    lab.say("%s: bound" % binding)
    n = pipecalls.run(pipecalls.CALLS[pipe](dce))
    lab.say("%s: %d calls" % (binding, n))
    dce.disconnect()
