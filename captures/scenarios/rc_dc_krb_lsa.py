"""Capture 62, Samba's Python client part (python3-samba): LSARPC over ncacn_ip_tcp
(through the DC's endpoint mapper) authenticated with Kerberos (auth type 16) at
pkt_integrity, as Administrator: every request and response carries a Kerberos
MIC token. Samba's LSA server refuses LSA over TCP to anyone but a domain
controller, so LsarGetUserName and LsarOpenPolicy2 are answered
STATUS_ACCESS_DENIED, in signed responses. The session key's enctype follows the
krb5.conf the caller gives (KRB5_CONFIG): AES by default, RC4-HMAC when it lists
only arcfour-hmac-md5 (RFC 4757 tokens).
"""
import os
import sys

from samba import credentials, param
from samba.dcerpc import lsa

HOST = os.environ["DC_HOST"]
DOMAIN = os.environ["DC_DOMAIN"]
REALM = os.environ["DC_REALM"]
FQDN = os.environ["DC_FQDN"]

lp = param.LoadParm()
lp.load(os.environ["LAB_CONF"])
lp.set("realm", REALM)
lp.set("workgroup", DOMAIN)
lp.set("client use kerberos", "required")
unexpected = []


def say(*args):
    print(*args, flush=True)


NT_STATUS_ACCESS_DENIED = 0xC0000022


def check(what, fn, expected=0):
    try:
        result = fn()
        code = 0
    except RuntimeError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        result = None
    mark = "  " if code == expected else "!!"
    say("  %s %-50s 0x%08x" % (mark, what, code or 0))
    if code != expected:
        unexpected.append("%s: 0x%08x, expected 0x%08x" % (what, code or 0, expected))
    return result


creds = credentials.Credentials()
creds.guess(lp)
creds.set_username("Administrator")
creds.set_password(os.environ["LAB_PASS"])
creds.set_domain(DOMAIN)
creds.set_realm(REALM)
creds.set_kerberos_state(credentials.MUST_USE_KERBEROS)
binding = "ncacn_ip_tcp:%s[sign,krb5,target_hostname=%s,target_principal=host/%s@%s]" % (
    HOST, FQDN, FQDN, REALM)
say("%s as %s\\Administrator" % (binding, DOMAIN))
conn = lsa.lsarpc(binding, lp, creds)
attr = lsa.ObjectAttribute()


def user_name():
    account = lsa.String()
    account.string = None
    return conn.GetUserName(None, account, None)


check("LsarGetUserName", user_name, NT_STATUS_ACCESS_DENIED)
check("LsarOpenPolicy2", lambda: conn.OpenPolicy2("", attr, 0x02000000), NT_STATUS_ACCESS_DENIED)
if unexpected:
    for line in unexpected:
        say("unexpected outcome: " + line)
    sys.exit(1)
