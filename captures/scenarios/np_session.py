"""impacket pipe calls over one SMB connection with a given dialect and port:
    np_session.py DIALECT PORT PIPE...
DIALECT: NT1, 2.0.2, 2.1, 3.0, 3.1.1 or default (impacket's choice). On port 139
the client first sends a NetBIOS session request for *SMBSERVER."""
import sys

import lab
import pipecalls
import smbpipe

dialect = None if sys.argv[1] == "default" else sys.argv[1]
port = int(sys.argv[2])
conn = smbpipe.smb_connect(dialect, port, remote_name="*SMBSERVER" if port == 139 else None)
for pipe in sys.argv[3:]:
    t, dce = smbpipe.open_pipe(conn, pipe, pipecalls.IFACES[pipe])
    lab.say("%s: %d calls" % (pipe, pipecalls.run(pipecalls.CALLS[pipe](dce))))
    t.close_pipe()
conn.close()          # LOGOFF and disconnect
