"""Endpoint mapper helpers for the impacket scenarios 30-35: a connection to
the endpoint mapper on port 135, ept_lookup (opnum 2) round trips that follow
the entry_handle, ept_lookup_handle_free (opnum 4, which impacket does not
define) and ept_map (opnum 3) through impacket's own epm.hept_map."""
from struct import unpack

from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.ndr import NDRCALL

import lab

# EPT_S_NOT_REGISTERED: "no more elements" in ept_lookup, "nothing found" in ept_map
EPT_S_NOT_REGISTERED = 0x16C9A0D6


class ept_lookup_handle_free(NDRCALL):
    opnum = 4
    structure = (
        ("entry_handle", epm.ept_lookup_handle_t),
    )


class ept_lookup_handle_freeResponse(NDRCALL):
    structure = (
        ("entry_handle", epm.ept_lookup_handle_t),
        ("status", epm.error_status),
    )


def epm_connection(host=lab.HOST4):
    """A new TCP connection to host:135 (not yet bound)."""
    dce = transport.DCERPCTransportFactory("ncacn_ip_tcp:%s[135]" % host).get_dce_rpc()
    dce.connect()
    return dce


def bound_epm(host=lab.HOST4):
    """A new connection to host:135, bound to epmapper 3.0 (no authentication)."""
    dce = epm_connection(host)
    dce.bind(epm.MSRPC_UUID_PORTMAP)
    return dce


def tower_binding(entry):
    tower = epm.EPMTower(b"".join(entry["tower"]["tower_octet_string"]))
    return epm.PrintStringBinding(tower["Floors"])


def lookup(dce, max_ents, iface=None, vers_option=epm.RPC_C_VERS_ALL, rounds=None):
    """ept_lookup round trips on a bound connection, each passing on the
    entry_handle of the previous answer, until the status is
    EPT_S_NOT_REGISTERED (end of list) or after `rounds` calls.
    iface: None for all elements (inquiry_type 0), else an interface
    (uuidtup_to_bin) for match_by_if (inquiry_type 1).
    Returns (entries, handle, list of (num_ents, status) per call)."""
    handle = epm.ept_lookup_handle_t()
    entries, answers = [], []
    while rounds is None or len(answers) < rounds:
        req = epm.ept_lookup()
        req["object"] = NULL
        if iface is None:
            req["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
            req["Ifid"] = NULL
        else:
            req["inquiry_type"] = epm.RPC_C_EP_MATCH_BY_IF
            req["Ifid"]["Uuid"] = iface[:16]
            req["Ifid"]["VersMajor"] = unpack("<H", iface[16:18])[0]
            req["Ifid"]["VersMinor"] = unpack("<H", iface[18:20])[0]
        req["vers_option"] = vers_option
        req["entry_handle"] = handle
        req["max_ents"] = max_ents
        resp = dce.request(req, checkError=False)
        status = resp["status"]
        if status not in (0, EPT_S_NOT_REGISTERED):
            raise SystemExit("ept_lookup failed: 0x%08x" % status)
        answers.append((resp["num_ents"], status))
        entries.extend(resp["entries"][i] for i in range(resp["num_ents"]))
        handle = resp["entry_handle"]
        if status == EPT_S_NOT_REGISTERED:
            break
    return entries, handle, answers


def handle_free(dce, handle):
    """ept_lookup_handle_free (opnum 4); returns the status."""
    req = ept_lookup_handle_free()
    req["entry_handle"] = handle
    return dce.request(req, checkError=False)["status"]


def map_not_found(name, iface, host=lab.HOST4):
    """epm.hept_map for an interface the server has no ncacn_ip_tcp endpoint
    for, on a connection of its own that is closed afterwards: the answer has
    0 towers and status EPT_S_NOT_REGISTERED, which hept_map raises."""
    dce = epm_connection(host)
    try:
        exc = lab.expect_error("ept_map %s" % name, lambda: epm.hept_map(
            host, iface, protocol="ncacn_ip_tcp", dce=dce))
    finally:
        dce.disconnect()
    code = exc.get_error_code() if hasattr(exc, "get_error_code") else None
    if code != EPT_S_NOT_REGISTERED:
        raise SystemExit("ept_map %s: expected status 0x%08x, got %r" % (name, EPT_S_NOT_REGISTERED, code))
