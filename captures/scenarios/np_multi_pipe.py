"""Several pipes open at once on one SMB connection (impacket, SMB 2.1,
unsigned): one TREE_CONNECT to IPC$, then five CREATEs (samr, lsarpc, srvsvc,
winreg and a second samr), then a bind on each, then the calls of all five
pipes interleaved one by one, then a CLOSE for each pipe. Each pipe is its own
association: call_id starts at 1 on each FileId."""
import lab
import pipecalls
import smbpipe

PIPES = ["samr", "lsarpc", "srvsvc", "winreg", "samr"]

conn = smbpipe.smb_connect("2.1")
tid = conn.connectTree("IPC$")
transports = [smbpipe.PipeTransport(conn, pipe).open(tid) for pipe in PIPES]
lab.say("opened %d pipes" % len(transports))
dces = [t.bind(pipecalls.IFACES[t.pipe]) for t in transports]
lab.say("bound %d pipes" % len(dces))
sequences = [("%s#%d" % (t.pipe, i), pipecalls.CALLS[t.pipe](dce))
             for i, (t, dce) in enumerate(zip(transports, dces), 1)]
lab.say("%d calls interleaved" % pipecalls.round_robin(sequences))
for t in transports:
    t.close_pipe(tree_disconnect=False)
conn.disconnectTree(tid)
conn.close()          # LOGOFF and disconnect
