"""impacket over SMB1 (NT LM 0.12) named pipes: NT_CREATE_ANDX opens the pipes.
  samr:   WRITE_ANDX for each PDU, READ_ANDX of 1024 bytes for the answers
  lsarpc: TRANSACTION (TransactNmPipe) for each PDU
  srvsvc: TRANSACTION with MaxDataCount 1024: answers longer than that come
          with STATUS_BUFFER_OVERFLOW, the client READ_ANDXes the rest
Each pipe ends with CLOSE and TREE_DISCONNECT."""
import lab
import pipecalls
import smbpipe

conn = smbpipe.smb_connect("NT1")
t, dce = smbpipe.open_pipe(conn, "\\samr", pipecalls.IFACES["samr"], "write_read", 1024)
lab.say("samr: %d calls" % pipecalls.run(pipecalls.samr_calls(dce, users=True)))
t.close_pipe()
t, dce = smbpipe.open_pipe(conn, "\\lsarpc", pipecalls.IFACES["lsarpc"], "transceive")
lab.say("lsarpc: %d calls" % pipecalls.run(pipecalls.lsa_calls(dce)))
t.close_pipe()
t, dce = smbpipe.open_pipe(conn, "\\srvsvc", pipecalls.IFACES["srvsvc"], "transceive", 1024)
lab.say("srvsvc: %d calls" % pipecalls.run(pipecalls.srvsvc_calls(dce)))
t.close_pipe()
conn.close()          # LOGOFF and disconnect
