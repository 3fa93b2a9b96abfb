"""Long responses over SMB2 pipes read in small pieces (impacket, SMB 3.0,
unsigned). The server sends 4280-byte DCE/RPC fragments; the client asks for
1024 bytes at a time, so each fragment takes several READs, all but the last
answered with STATUS_BUFFER_OVERFLOW.
  samr:   WRITE + READs of 1024 (EnumerateUsersInDomain, QueryDisplayInformation3
          over 301 users)
  srvsvc: IOCTL FSCTL_PIPE_TRANSCEIVE with MaxOutputResponse 1024, then READs of
          1024 (NetrShareEnum over 42 shares)
  lsarpc: 1024-byte request fragments: WRITEs, the last one in a TRANSCEIVE
          (LookupNames2 for 150 names)"""
import lab
import pipecalls
import smbpipe

conn = smbpipe.smb_connect("3.0")
t, dce = smbpipe.open_pipe(conn, "samr", pipecalls.IFACES["samr"], "write_read", 1024)
lab.say("samr: %d calls" % pipecalls.run(pipecalls.samr_calls(dce, users=True)))
t.close_pipe()

t, dce = smbpipe.open_pipe(conn, "srvsvc", pipecalls.IFACES["srvsvc"], "transceive", 1024)
lab.say("srvsvc: %d calls" % pipecalls.run(pipecalls.srvsvc_calls(dce)))
t.close_pipe()

t, dce = smbpipe.open_pipe(conn, "lsarpc", pipecalls.IFACES["lsarpc"], "transceive", 1024)
dce.set_max_fragment_size(1024)
names = ["user%03d" % i for i in range(1, 151)]
lab.say("lsarpc: %d calls" % pipecalls.run(pipecalls.lsa_calls(dce, names)))
t.close_pipe()
conn.close()          # LOGOFF and disconnect
