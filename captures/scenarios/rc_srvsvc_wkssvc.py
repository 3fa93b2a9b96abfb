"""Capture 54, impacket part: SRVSVC over \\pipe\\srvsvc and WKSSVC over
\\pipe\\wkssvc (net.py / netview style), first as the lab user, then the calls
that need an administrator again as the lab administrator."""
from impacket.dcerpc.v5 import srvs, wkst
from impacket.dcerpc.v5.dtypes import NULL

import lab
from outcomes import (ERROR_ACCESS_DENIED, ERROR_BAD_NET_NAME, ERROR_INVALID_LEVEL,
                      ERROR_INVALID_NAME, NCA_OP_RNG_ERROR, expect, finish, np)

# 1. SRVSVC as the lab user
dce = np("srvsvc", srvs.MSRPC_UUID_SRVS)
expect("NetrServerGetInfo 101", lambda: srvs.hNetrServerGetInfo(dce, 101))
expect("NetrServerGetInfo 102", lambda: srvs.hNetrServerGetInfo(dce, 102))
expect("NetrShareGetInfo lab 1", lambda: srvs.hNetrShareGetInfo(dce, "lab\x00", 1))
expect("NetrShareGetInfo lab 2", lambda: srvs.hNetrShareGetInfo(dce, "lab\x00", 2))
expect("NetrShareGetInfo nosuchshare 1", lambda: srvs.hNetrShareGetInfo(dce, "nosuchshare\x00", 1),
       ERROR_INVALID_NAME)
shares = expect("NetrShareEnum 1", lambda: srvs.hNetrShareEnum(dce, 1))
lab.say("  %d shares" % shares["TotalEntries"])


def share_add():
    info = srvs.SHARE_INFO_2()
    info["shi2_netname"] = "rpcscope$\x00"
    info["shi2_type"] = srvs.STYPE_DISKTREE
    info["shi2_remark"] = "added over SRVSVC\x00"
    info["shi2_permissions"] = 0
    info["shi2_max_uses"] = 0xFFFFFFFF
    info["shi2_current_uses"] = 0
    info["shi2_path"] = "C:\\Windows\\Temp\x00"
    info["shi2_passwd"] = NULL
    return srvs.hNetrShareAdd(dce, 2, info)


expect("NetrShareAdd rpcscope$ C:\\Windows\\Temp", share_add, ERROR_ACCESS_DENIED)
expect("NetrSessionEnum 10", lambda: srvs.hNetrSessionEnum(dce, NULL, NULL, 10), ERROR_ACCESS_DENIED)
expect("NetrShareDel nosuchshare", lambda: srvs.hNetrShareDel(dce, "nosuchshare\x00"), ERROR_BAD_NET_NAME)
expect("NetrRemoteTOD", lambda: srvs.hNetrRemoteTOD(dce))
dce.disconnect()

# 2. WKSSVC as the lab user
dce = np("wkssvc", wkst.MSRPC_UUID_WKST)
for level, code in ((100, 0), (101, 0), (102, ERROR_ACCESS_DENIED), (502, ERROR_INVALID_LEVEL)):
    expect("NetrWkstaGetInfo %d" % level, lambda: wkst.hNetrWkstaGetInfo(dce, level), code)
expect("NetrWkstaUserEnum 0", lambda: wkst.hNetrWkstaUserEnum(dce, 0), ERROR_ACCESS_DENIED)
expect("NetrWkstaUserEnum 1", lambda: wkst.hNetrWkstaUserEnum(dce, 1), ERROR_ACCESS_DENIED)
expect("NetrWkstaTransportEnum 0", lambda: wkst.hNetrWkstaTransportEnum(dce, 0), NCA_OP_RNG_ERROR)
dce.disconnect()

# 3. the same refused calls as the lab administrator
dce = np("srvsvc", srvs.MSRPC_UUID_SRVS, user=lab.ADMIN)
expect("NetrSessionEnum 10", lambda: srvs.hNetrSessionEnum(dce, NULL, NULL, 10), ERROR_INVALID_LEVEL)
expect("NetrSessionEnum 1", lambda: srvs.hNetrSessionEnum(dce, NULL, NULL, 1))
dce.disconnect()
dce = np("wkssvc", wkst.MSRPC_UUID_WKST, user=lab.ADMIN)
expect("NetrWkstaGetInfo 102", lambda: wkst.hNetrWkstaGetInfo(dce, 102))
users = expect("NetrWkstaUserEnum 1", lambda: wkst.hNetrWkstaUserEnum(dce, 1))
lab.say("  %d users logged on" % users["TotalEntries"])
dce.disconnect()
finish()
