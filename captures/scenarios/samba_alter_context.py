"""Several presentation contexts on one association, added with alter_context
by Samba's Python client (signed, SPNEGO/NTLMSSP; the last authentication leg
also travels in an alter_context):
  ctx 0 SAMR (bind), ctx 1 MGMT, ctx 2 DSSETUP (alter_context, accepted),
  ctx 3 SRVSVC (alter_context, rejected: not served on this port),
then calls on contexts 0, 1 and 2 interleaved."""
from samba.dcerpc import base, mgmt, samr, srvsvc

import sambalab

binding = "ncacn_ip_tcp:%s[sign]" % sambalab.HOST4
cr = sambalab.creds()
conn = samr.samr(binding, sambalab.lp, cr)
handle = conn.Connect2(None, 0x02000000)
sambalab.say("domains:", [d.name.string for d in conn.EnumDomains(handle, 0, 100)[1].entries])

m = mgmt.mgmt("", sambalab.lp, cr, basis_connection=conn)
sambalab.say("mgmt inq_if_ids: %d interfaces" % m.inq_if_ids().count)
sambalab.say("mgmt is_server_listening:", m.is_server_listening())

DSSETUP = ("3919286a-b10c-11d0-9ba8-00c04fd92ef5", 0)
ds = base.ClientConnection("", DSSETUP, sambalab.lp, cr, basis_connection=conn)
out = ds.request(0, b"\x01\x00")  # DsRoleGetPrimaryDomainInformation(level 1)
sambalab.say("dssetup DsRoleGetPrimaryDomainInformation: %d bytes" % len(out))

try:
    srvsvc.srvsvc("", sambalab.lp, cr, basis_connection=conn)
    raise SystemExit("srvsvc alter_context unexpectedly accepted")
except Exception as exc:  # samba raises NTSTATUSError
    sambalab.say("srvsvc alter_context rejected:", exc)

sambalab.say("mgmt inq_stats:", list(m.inq_stats(4, 0).statistics))
conn.Close(handle)
sambalab.say("mgmt is_server_listening:", m.is_server_listening())
