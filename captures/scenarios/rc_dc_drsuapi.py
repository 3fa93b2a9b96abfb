"""Captures 58 and 59 (argument `krb5`), Samba's Python client part (python3-samba): DCSync the way a
replication partner asks, DRSUAPI over ncacn_ip_tcp through the DC's endpoint
mapper, plain NTLMSSP (binding option "ntlm": no SPNEGO, no Kerberos; tshark
4.0 decrypts this client's SPNEGO-wrapped sealing only for the first call).

  1. At pkt_integrity ([sign,ntlm]): the bind is accepted and the third
     NTLMSSP leg goes in an auth3, but Samba's DRSUAPI server demands
     pkt_privacy, so DsBind gets the fault nca_s_fault_access_denied.
  2. As Administrator, sealed ([seal,ntlm]): DsBind, DsCrackNames for krbtgt and
     for a name that does not exist (the status is per name, inside the
     answer), DsGetNCChanges with EXOP_REPL_OBJ for krbtgt (one object with
     its secrets), DsGetNCChanges for a DN that does not exist, DsUnbind.
  3. As the lab user, sealed: DsBind works, DsGetNCChanges is refused
     (WERR_DS_DRA_ACCESS_DENIED: no replication rights).
"""
import os
import sys

from samba import credentials, param
from samba.dcerpc import drsuapi, misc
from samba.drs_utils import drs_DsBind

HOST = os.environ["DC_HOST"]
DOMAIN = os.environ["DC_DOMAIN"]
BASE = ",".join("DC=" + part for part in os.environ["DC_REALM"].lower().split("."))
KRBTGT = "CN=krbtgt,CN=Users," + BASE
MISSING = "CN=no-such-user,CN=Users," + BASE
NT_STATUS_ACCESS_DENIED = 0xC0000022     # the fault nca_s_fault_access_denied, as Samba reports it
WERR_DS_DRA_BAD_DN = 8439
WERR_DS_DRA_ACCESS_DENIED = 8453

lp = param.LoadParm()
lp.load(os.environ["LAB_CONF"])
unexpected = []


def say(*args):
    print(*args, flush=True)


def creds(user):
    c = credentials.Credentials()
    c.guess(lp)
    c.set_username(user)
    c.set_password(os.environ["LAB_PASS"])
    c.set_domain(DOMAIN)
    if KERBEROS:
        c.set_realm(os.environ["DC_REALM"])
        c.set_kerberos_state(credentials.MUST_USE_KERBEROS)
    else:
        c.set_kerberos_state(credentials.DONT_USE_KERBEROS)
    return c


def werror(exc):
    """The WERROR/NTSTATUS number of a samba RuntimeError (code, text)."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def check(what, fn, code=0):
    try:
        result = fn()
        got = 0
    except RuntimeError as exc:
        result, got = None, werror(exc)
        say("   %-58s %s" % (what, exc.args))
    else:
        say("   %-58s ok" % what)
    if got != code:
        unexpected.append("%s: expected %s, got %s" % (what, code, got))
    return result


def crack(drs, handle, name):
    req = drsuapi.DsNameRequest1()
    names = drsuapi.DsNameString()
    names.str = name
    req.codepage = 1252
    req.language = 1033
    req.format_flags = drsuapi.DRSUAPI_DS_NAME_FLAG_NO_FLAGS
    req.format_offered = drsuapi.DRSUAPI_DS_NAME_FORMAT_NT4_ACCOUNT
    req.format_desired = drsuapi.DRSUAPI_DS_NAME_FORMAT_FQDN_1779
    req.count = 1
    req.names = [names]
    _, ctr = drs.DsCrackNames(handle, 1, req)
    item = ctr.array[0]
    say("     %s -> status %d, %s" % (name, item.status, item.result_name))
    return item


def get_nc_changes(drs, handle, dn):
    """DsGetNCChanges request 8 with EXOP_REPL_OBJ for one object (DCSync)."""
    req = drsuapi.DsGetNCChangesRequest8()
    req.destination_dsa_guid = misc.GUID("9f7a1d0e-5c3b-4e8a-a1b2-72706373636f")
    req.source_dsa_invocation_id = misc.GUID()
    nc = drsuapi.DsReplicaObjectIdentifier()
    nc.dn = dn
    req.naming_context = nc
    req.highwatermark = drsuapi.DsReplicaHighWaterMark()
    req.uptodateness_vector = None
    req.replica_flags = drsuapi.DRSUAPI_DRS_INIT_SYNC | drsuapi.DRSUAPI_DRS_WRIT_REP
    req.max_object_count = 1
    req.max_ndr_size = 402116
    req.extended_op = drsuapi.DRSUAPI_EXOP_REPL_OBJ
    req.fsmo_info = 0
    req.partial_attribute_set = None
    req.partial_attribute_set_ex = None
    req.mapping_ctr.num_mappings = 0
    req.mapping_ctr.mappings = None
    level, ctr = drs.DsGetNCChanges(handle, 8, req)
    say("     reply level %d: %d object(s), extended_ret %d" % (level, ctr.object_count, ctr.extended_ret))
    return ctr


def connect(user, options):
    binding = "ncacn_ip_tcp:%s[%s]" % (HOST, options)
    say("%s as %s\\%s" % (binding, DOMAIN, user))
    return drsuapi.drsuapi(binding, lp, creds(user))


def ntlm_steps():
    # 1. pkt_integrity is not enough
    drs = connect("Administrator", "sign,ntlm")
    check("DsBind at pkt_integrity", lambda: drs_DsBind(drs), NT_STATUS_ACCESS_DENIED)

    # 2. Administrator
    drs = connect("Administrator", "seal,ntlm")
    handle, _ = check("DsBind", lambda: drs_DsBind(drs))
    item = check("DsCrackNames %s\\krbtgt" % DOMAIN, lambda: crack(drs, handle, DOMAIN + "\\krbtgt"))
    missing = check("DsCrackNames %s\\no-such-user" % DOMAIN, lambda: crack(drs, handle, DOMAIN + "\\no-such-user"))
    if item.status != drsuapi.DRSUAPI_DS_NAME_STATUS_OK or missing.status != drsuapi.DRSUAPI_DS_NAME_STATUS_NOT_FOUND:
        unexpected.append("DsCrackNames: statuses %d and %d" % (item.status, missing.status))
    check("DsGetNCChanges EXOP_REPL_OBJ " + KRBTGT, lambda: get_nc_changes(drs, handle, KRBTGT))
    check("DsGetNCChanges EXOP_REPL_OBJ " + MISSING, lambda: get_nc_changes(drs, handle, MISSING),
          WERR_DS_DRA_BAD_DN)
    check("DsUnbind", lambda: drs.DsUnbind(handle))

    # 3. the lab user
    drs = connect(os.environ["LAB_USER"], "seal,ntlm")
    handle, _ = check("DsBind", lambda: drs_DsBind(drs))
    check("DsGetNCChanges EXOP_REPL_OBJ " + KRBTGT, lambda: get_nc_changes(drs, handle, KRBTGT),
          WERR_DS_DRA_ACCESS_DENIED)
    check("DsUnbind", lambda: drs.DsUnbind(handle))


def kerberos_steps():
    """Capture 59: the same DCSync as Administrator, sealed with Kerberos ([seal,krb5]): the
    AP-REQ's ticket is for the DC's host principal, whose keys the keytab exported beside the
    capture holds."""
    lp.set("realm", os.environ["DC_REALM"])
    lp.set("workgroup", DOMAIN)
    lp.set("client use kerberos", "required")
    drs = connect(
        "Administrator",
        "seal,krb5,target_hostname=%s,target_principal=host/%s@%s"
        % (os.environ["DC_FQDN"], os.environ["DC_FQDN"], os.environ["DC_REALM"]),
    )
    handle, _ = check("DsBind", lambda: drs_DsBind(drs))
    check("DsCrackNames %s\\krbtgt" % DOMAIN, lambda: crack(drs, handle, DOMAIN + "\\krbtgt"))
    check("DsGetNCChanges EXOP_REPL_OBJ " + KRBTGT, lambda: get_nc_changes(drs, handle, KRBTGT))
    check("DsUnbind", lambda: drs.DsUnbind(handle))


KERBEROS = len(sys.argv) > 1 and sys.argv[1] == "krb5"
if KERBEROS:
    kerberos_steps()
else:
    ntlm_steps()

if unexpected:
    for line in unexpected:
        say("unexpected outcome: " + line)
    raise SystemExit(1)
