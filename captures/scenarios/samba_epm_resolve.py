"""Samba's own Python client (python3-samba) resolves each interface through
the endpoint mapper itself: the bindings below name no port, so for each pipe
it connects to 127.0.0.1:135, binds epmapper (with a second context item for
bind-time feature negotiation), sends ept_map (opnum 3: object pointer to the
nil UUID, the server's address 127.0.0.1 in the tower's IP floor, max_towers 1)
and then connects to the announced dynamic port. Anonymous, no auth verifier.
SAMR, SRVSVC and WINREG with a few calls each."""
from samba.dcerpc import lsa, samr, srvsvc, winreg

import sambalab

BINDING = "ncacn_ip_tcp:%s" % sambalab.HOST4
UNC = "\\\\" + sambalab.HOST4
creds = sambalab.creds(anonymous=True)

conn = samr.samr(BINDING, sambalab.lp, creds)
handle = conn.Connect2(None, 0x02000000)
domains = [d.name.string for d in conn.EnumDomains(handle, 0, 100)[1].entries]
name = lsa.String()
name.string = domains[0]
sid = conn.LookupDomain(handle, name)
dom = conn.OpenDomain(handle, 0x02000000, sid)
info = conn.QueryDomainInfo(dom, 2)
sambalab.say("samr: domain %s (%s), %d users" % (domains[0], sid, info.num_users))
conn.Close(dom)
conn.Close(handle)
del conn

conn = srvsvc.srvsvc(BINDING, sambalab.lp, creds)
sambalab.say("srvsvc: %s" % conn.NetSrvGetInfo(UNC, 101).comment)
ctr = srvsvc.NetShareInfoCtr()
ctr.level = 1
ctr.ctr = srvsvc.NetShareCtr1()
total = conn.NetShareEnumAll(UNC, ctr, 0xFFFFFFFF, 0)[1]
sambalab.say("srvsvc: %d shares" % total)
conn.NetRemoteTOD(UNC)
del conn

conn = winreg.winreg(BINDING, sambalab.lp, creds)
hklm = conn.OpenHKLM(None, winreg.KEY_QUERY_VALUE | winreg.KEY_ENUMERATE_SUB_KEYS)
sambalab.say("winreg: version %d" % conn.GetVersion(hklm))
keyname = winreg.String()
keyname.name = "SYSTEM\\CurrentControlSet\\Control\\ProductOptions"
key = conn.OpenKey(hklm, keyname, 0, winreg.KEY_QUERY_VALUE)
valname = winreg.String()
valname.name = "ProductType"
vtype, data, size, length = conn.QueryValue(key, valname, 0, [0] * 64, 64, 0)
sambalab.say("winreg: ProductType %r" % bytes(data[:length]).decode("utf-16-le").rstrip("\0"))
conn.CloseKey(key)
conn.CloseKey(hklm)
del conn
