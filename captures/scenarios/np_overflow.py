"""Capture 68: answers that do not fit what the client asked for, on the srvsvc named pipe
(SMB2), as Windows clients meet them (MS-SMB2 3.3.5.15.8, MS-FSCC 2.3.31).

* NetrShareEnum sent with an IOCTL FSCTL_PIPE_TRANSCEIVE whose MaxOutputResponse (1024) is
  smaller than Samba's answer: the IOCTL comes back STATUS_BUFFER_OVERFLOW with the first
  1024 bytes, and the client READs the rest, 1024 bytes at a time, until the response's last
  fragment is whole (the READs that leave part of a message are STATUS_BUFFER_OVERFLOW too);
* NetrShareGetInfo by transceive with room enough: the calls after stay paired;
* NetrShareEnum again, written with WRITE and read with READs of 512 bytes;
* NetrShareGetInfo by transceive once more;
* NetrShareGetInfo whose READ was posted before its WRITE: an interim STATUS_PENDING answer,
  then the final one (SMB2 async).

The SMB requests are impacket's, sent with its SMB3 packet classes so that the overflow
answers are read rather than raised; the DCE/RPC PDUs are built with the lab's helpers and
impacket's SRVSVC structures, and every answer is Samba's."""
from impacket.dcerpc.v5 import srvs
import time

from impacket.smb3structs import (FILE_READ_DATA, FILE_WRITE_DATA, FSCTL_PIPE_TRANSCEIVE,
                                  SMB2_0_IOCTL_IS_FSCTL, SMB2_IOCTL, SMB2_READ, SMB2_WRITE,
                                  SMB2Ioctl, SMB2Ioctl_Response, SMB2Read, SMB2Read_Response,
                                  SMB2Write)
from impacket.smbconnection import SMBConnection

import lab

STATUS_SUCCESS, STATUS_BUFFER_OVERFLOW = 0, 0x80000005

conn = SMBConnection(lab.HOST4, lab.HOST4)
conn.login(lab.USER, lab.PASS, lab.DOMAIN)
smb = conn.getSMBServer()
tid = conn.connectTree("IPC$")
fid = conn.openFile(tid, "srvsvc", desiredAccess=FILE_READ_DATA | FILE_WRITE_DATA)


def answer(packet_id, response_class):
    ans = smb.recvSMB(packet_id)
    status = ans["Status"]
    if status not in (STATUS_SUCCESS, STATUS_BUFFER_OVERFLOW):
        raise SystemExit("SMB2 status 0x%08x" % status)
    return status, response_class(ans["Data"])["Buffer"]


def transceive(data, max_output):
    packet = smb.SMB_PACKET()
    packet["Command"] = SMB2_IOCTL
    packet["TreeID"] = tid
    ioctl = SMB2Ioctl()
    ioctl["FileID"] = fid
    ioctl["CtlCode"] = FSCTL_PIPE_TRANSCEIVE
    ioctl["MaxInputResponse"] = 0
    ioctl["MaxOutputResponse"] = max_output
    ioctl["InputCount"] = len(data)
    ioctl["Buffer"] = data
    ioctl["OutputOffset"] = 0
    ioctl["Flags"] = SMB2_0_IOCTL_IS_FSCTL
    packet["Data"] = ioctl
    return answer(smb.sendSMB(packet), SMB2Ioctl_Response)


def send_read(length):
    packet = smb.SMB_PACKET()
    packet["Command"] = SMB2_READ
    packet["TreeID"] = tid
    r = SMB2Read()
    r["Padding"] = 0x50
    r["FileID"] = fid
    r["Length"] = length
    r["Offset"] = 0
    packet["Data"] = r
    return smb.sendSMB(packet)


def read(length):
    return answer(send_read(length), SMB2Read_Response)


def send_write(data):
    packet = smb.SMB_PACKET()
    packet["Command"] = SMB2_WRITE
    packet["TreeID"] = tid
    w = SMB2Write()
    w["FileID"] = fid
    w["Length"] = len(data)
    w["Offset"] = 0
    w["WriteChannelInfoOffset"] = 0
    w["Buffer"] = data
    packet["Data"] = w
    return smb.sendSMB(packet)


def complete(data):
    """True when `data` holds whole PDUs, the last one ending its call (PFC_LAST_FRAG)."""
    at, last = 0, False
    while at + 16 <= len(data):
        frag_len = int.from_bytes(data[at + 8:at + 10], "little")
        if at + frag_len > len(data):
            return False
        last = bool(data[at + 3] & lab.PFC_LAST_FRAG)
        at += frag_len
    return at == len(data) and last


def whole_answer(status, data, chunk):
    """The rest of an answer the first one cut short (STATUS_BUFFER_OVERFLOW), or whose
    fragments are not all there yet, READ `chunk` bytes at a time; also the statuses seen."""
    statuses = [status]
    while status == STATUS_BUFFER_OVERFLOW or not complete(data):
        status, more = read(chunk)
        data += more
        statuses.append(status)
    return data, statuses


def share_enum(call_id):
    req = srvs.NetrShareEnum()
    req["ServerName"] = "\x00"
    req["PreferedMaximumLength"] = 0xFFFFFFFF
    req["ResumeHandle"] = 0
    req["InfoStruct"]["Level"] = 1
    req["InfoStruct"]["ShareInfo"]["tag"] = 1
    req["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"] = srvs.NULL
    return lab.request(call_id, 0, req.opnum, req.getData())


def share_get_info(call_id):
    req = srvs.NetrShareGetInfo()
    req["ServerName"] = srvs.NULL
    req["NetName"] = "lab\x00"
    req["Level"] = 1
    return lab.request(call_id, 0, req.opnum, req.getData())


bind = lab.pdu(lab.BIND, 1, lab.bind_body([(0, srvs.MSRPC_UUID_SRVS, [lab.NDR])],
                                          max_xmit=4280, max_recv=16384))
status, ack = transceive(bind, 4280)
lab.say("bind: " + lab.describe(ack))

status, data = transceive(share_enum(2), 1024)
data, statuses = whole_answer(status, data, 1024)
lab.say("NetrShareEnum by transceive: answers %s, %s (%d bytes)"
        % (" ".join("0x%08x" % s for s in statuses), lab.describe(data), len(data)))

status, data = transceive(share_get_info(3), 4280)
lab.say("NetrShareGetInfo: 0x%08x %s" % (status, lab.describe(data)))

conn.writeFile(tid, fid, share_enum(4))
status, data = read(512)
data, statuses = whole_answer(status, data, 512)
lab.say("NetrShareEnum by WRITE and READs: answers %s, %s (%d bytes)"
        % (" ".join("0x%08x" % s for s in statuses), lab.describe(data), len(data)))

status, data = transceive(share_get_info(5), 4280)
lab.say("NetrShareGetInfo: 0x%08x %s" % (status, lab.describe(data)))

# a READ posted before the request is written: Samba answers it STATUS_PENDING at once, and
# with the response once the WRITE brought the request
read_id = send_read(4280)
time.sleep(0.2)
smb.recvSMB(send_write(share_get_info(6)))
status, data = answer(read_id, SMB2Read_Response)
lab.say("NetrShareGetInfo by a READ posted first: 0x%08x %s" % (status, lab.describe(data)))
conn.closeFile(tid, fid)
conn.logoff()
