"""Shared helpers for the scenarios that use Samba's own Python client
(python3-samba, run with Debian's /usr/bin/python3)."""
import os

from samba import credentials, param

HOST4 = os.environ.get("LAB_HOST4", "127.0.0.1")
HOST6 = os.environ.get("LAB_HOST6", "::1")

lp = param.LoadParm()
lp.load(os.environ["LAB_CONF"])


def creds(anonymous=False):
    c = credentials.Credentials()
    c.guess(lp)
    if anonymous:
        c.set_anonymous()
    else:
        c.set_username(os.environ["LAB_USER"])
        c.set_password(os.environ["LAB_PASS"])
        c.set_domain(os.environ["LAB_DOMAIN"])
    c.set_kerberos_state(credentials.DONT_USE_KERBEROS)
    return c


def say(*args):
    print(*args, flush=True)
