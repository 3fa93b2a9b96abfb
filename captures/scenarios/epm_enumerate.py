"""Enumerate the endpoint mapper in small steps, from impacket (no
authentication; 127.0.0.1:135, bind epmapper 3.0).
Connection 1: ept_lookup (opnum 2, all elements) with max_ents 5, passing the
entry_handle on, until the status EPT_S_NOT_REGISTERED (0x16c9a0d6, end of
list) comes with the last entries and a null handle.
Connection 2: two such ept_lookups, then ept_lookup_handle_free (opnum 4) on
the handle that is still open; then ept_lookup by interface (inquiry_type 1,
match_by_if) for SAMR 1.0 (vers_option 2, compatible) with max_ents 10 until the
end of the list: Samba takes the next max_ents entries and keeps those for
SAMR, so some answers have 0 entries with status 0; last, match_by_if for
NETLOGON (not registered) with max_ents 500: 0 entries and the end status at
once."""
from impacket.dcerpc.v5 import epm, nrpc, samr

import epmcalls
import lab


def show(what, answers, entries):
    lab.say("%s: %d calls, (entries, status) %s" % (
        what, len(answers), ", ".join("(%d, 0x%x)" % a for a in answers)))
    for entry in entries:
        lab.say("   ", epmcalls.tower_binding(entry), b"".join(entry["annotation"]).rstrip(b"\0"))


dce = epmcalls.bound_epm()
entries, handle, answers = epmcalls.lookup(dce, max_ents=5)
show("all elements, max_ents 5", answers, [])
lab.say("    %d entries, final handle null: %s" % (len(entries), handle.isNull()))
if len(answers) < 3 or not handle.isNull():
    raise SystemExit("expected several round trips ending with a null handle")
dce.disconnect()

dce = epmcalls.bound_epm()
entries, handle, answers = epmcalls.lookup(dce, max_ents=5, rounds=2)
show("all elements, max_ents 5, 2 calls", answers, [])
if handle.isNull():
    raise SystemExit("expected an open entry_handle after 2 calls")
status = epmcalls.handle_free(dce, handle)
lab.say("ept_lookup_handle_free: status 0x%x" % status)
entries, handle, answers = epmcalls.lookup(dce, max_ents=10, iface=samr.MSRPC_UUID_SAMR,
                                           vers_option=epm.RPC_C_VERS_COMPATIBLE)
show("match_by_if SAMR 1.0, max_ents 10", answers, entries)
entries, handle, answers = epmcalls.lookup(dce, max_ents=500, iface=nrpc.MSRPC_UUID_NRPC)
show("match_by_if NETLOGON, max_ents 500", answers, entries)
dce.disconnect()
