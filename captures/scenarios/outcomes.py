"""Helpers for the scenarios of captures 50-58, whose return codes are part of
what the captures document.

expect() makes one DCE/RPC call and checks its outcome: success, or failure with
a given code. The code is the return value in the response stub (NTSTATUS,
Win32 error, HRESULT) or the status of a fault PDU; impacket raises both as a
DCERPCException with that number. Any other outcome is reported, and finish()
then ends the scenario with an error, so that a capture cannot silently come
out different from what captures/README.md says it holds.
"""
import sys

from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.rpcrt import DCERPCException, rpc_status_codes

import lab
from lab import say

# Return codes used by the scenarios (names as in MS-ERREF / C706).
OK = 0
# NTSTATUS
STATUS_SOME_NOT_MAPPED = 0x00000107
STATUS_INVALID_INFO_CLASS = 0xC0000003
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_NO_SUCH_PRIVILEGE = 0xC0000060
STATUS_NO_SUCH_USER = 0xC0000064
STATUS_NO_SUCH_GROUP = 0xC0000066
STATUS_NONE_MAPPED = 0xC0000073
STATUS_NO_SUCH_DOMAIN = 0xC00000DF
STATUS_NO_TRUST_SAM_ACCOUNT = 0xC000018B
# Win32 errors
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_BAD_NET_NAME = 67
ERROR_INVALID_NAME = 123
ERROR_INVALID_LEVEL = 124
ERROR_NO_MORE_ITEMS = 259
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_INVALID_PRINTER_NAME = 1801
RPC_S_SERVER_UNAVAILABLE = 1722
ERROR_NO_SUCH_DOMAIN = 1355
ERROR_DS_DRA_ACCESS_DENIED = 8453
# fault PDU status (C706 / MS-RPCE)
NCA_S_FAULT_ACCESS_DENIED = 0x00000005
NCA_S_FAULT_NDR = 0x000006F7
NCA_OP_RNG_ERROR = 0x1C010002
NCA_UNK_IF = 0x1C010003
NCA_S_FAULT_CONTEXT_MISMATCH = 0x1C00001A

_unexpected = []
_calls = 0


_FAULT_NAMES = {name.strip(): status for status, name in rpc_status_codes.items()}


def code_of(exc):
    """The code of an impacket DCERPCException: error_code for a return value
    in the stub; for a fault PDU impacket keeps only the status's name, which
    is mapped back to the status."""
    code = exc.get_error_code()
    if code is None and isinstance(exc.error_string, str):
        code = _FAULT_NAMES.get(exc.error_string.strip())
    return code


def expect(what, fn, code=OK):
    """Run fn (one call); check that it succeeds (code OK) or fails with code.
    Returns fn's result, or for a failure the parsed response when impacket
    kept one (DCERPCSessionError.get_packet()), else None."""
    global _calls
    _calls += 1
    try:
        result = fn()
        got = OK
    except DCERPCException as exc:
        got = code_of(exc)
        result = exc.get_packet() if hasattr(exc, "get_packet") else None
        text = str(exc)
    else:
        text = "ok"
    mark = "  " if got == code else "!!"
    say("%s %-58s %s" % (mark, what, text if got != OK else "ok"))
    if got != code:
        _unexpected.append("%s: expected 0x%08x, got %s" % (
            what, code, "0x%08x" % got if isinstance(got, int) else got))
    return result


def until_no_more_items(what, fn, limit=100):
    """fn(i) for i = 0, 1, ...: each call must succeed, until one answers
    ERROR_NO_MORE_ITEMS (259), which ends the enumeration. Returns the results."""
    results = []
    for index in range(limit):
        try:
            results.append(fn(index))
        except DCERPCException as exc:
            if code_of(exc) == ERROR_NO_MORE_ITEMS:
                expect("%s %d (end)" % (what, index), lambda: _raise(exc), ERROR_NO_MORE_ITEMS)
                return results
            expect("%s %d" % (what, index), lambda: _raise(exc))
            return results
        expect("%s %d" % (what, index), lambda: None)
    expect("%s: no end after %d calls" % (what, limit), lambda: None, ERROR_NO_MORE_ITEMS)
    return results


def _raise(exc):
    raise exc


def finish():
    """End the scenario: exit status 1 when some outcome was not the expected one."""
    say("%d calls checked" % _calls)
    if _unexpected:
        for line in _unexpected:
            say("unexpected outcome: " + line)
        sys.exit(1)


def np(pipe, iface, user=lab.USER, host=lab.HOST4, domain=lab.DOMAIN, password=lab.PASS):
    """impacket over an SMB named pipe, the way its example tools connect: a
    new SMB connection (highest dialect, signed, not encrypted), CREATE of the
    pipe, bind without DCE/RPC authentication."""
    rpctransport = transport.DCERPCTransportFactory(r"ncacn_np:%s[\pipe\%s]" % (host, pipe))
    rpctransport.set_credentials(user, password, domain)
    dce = rpctransport.get_dce_rpc()
    dce.connect()
    dce.bind(iface)
    say("%s: bound on \\pipe\\%s as %s\\%s" % (host, pipe, domain, user))
    return dce
