"""Big-endian data representation (drep 0x00) from Samba's Python client
(binding option [bigendian]): SAMR anonymously, then signed with a LookupNames
request of 400 names large enough to be sent in several fragments."""
from samba.dcerpc import lsa, samr

import sambalab


def session(options, anonymous):
    binding = "ncacn_ip_tcp:%s[%s]" % (sambalab.HOST4, options)
    conn = samr.samr(binding, sambalab.lp, sambalab.creds(anonymous))
    handle = conn.Connect2(None, 0x02000000)
    domains = [d.name.string for d in conn.EnumDomains(handle, 0, 100)[1].entries]
    name = lsa.String()
    name.string = domains[0]
    sid = conn.LookupDomain(handle, name)
    dom = conn.OpenDomain(handle, 0x02000000, sid)
    info = conn.QueryDomainInfo(dom, 2)
    sambalab.say("%s: domain %s (%s), %d users" % (binding, domains[0], sid, info.num_users))
    return conn, handle, dom


conn, handle, dom = session("bigendian", anonymous=True)
conn.Close(dom)
conn.Close(handle)

conn, handle, dom = session("sign,bigendian", anonymous=False)
names = []
for i in range(1, 401):
    s = lsa.String()
    s.string = "user%03d" % ((i - 1) % 300 + 1)
    names.append(s)
rids, types = conn.LookupNames(dom, names)
sambalab.say("LookupNames: %d names -> %d rids" % (len(names), rids.count))
conn.Close(dom)
conn.Close(handle)
