#!/usr/bin/env python3
"""Build the Windows return-code name tables in src/status/data/ from C headers.

Writes three tab-separated files into the --out directory:

  ntstatus.tsv  NTSTATUS values                 (from ntstatus.h)
  win32.tsv     Win32 error numbers (< 0x10000) (from winerror.h and lmerr.h)
  hresult.tsv   HRESULT / SCODE values          (from winerror.h and wbemcli.h)

Each file starts with one comment line naming its source, then one line per
code, ``0xXXXXXXXX<TAB>NAME``, sorted by code (as an unsigned 32-bit number),
one name per code.

Source
------
The tables shipped in src/status/data/ were generated from the mingw-w64 project's
headers, https://github.com/mingw-w64/mingw-w64 at commit
d7f3c52012c4af4fb526330117d9c86b266018dc:

  mingw-w64-headers/include/ntstatus.h  \
  mingw-w64-headers/include/winerror.h   > "This file has no copyright assigned
  mingw-w64-headers/include/lmerr.h     /   and is placed in the Public Domain."
  mingw-w64-headers/include/wbemcli.h   WIDL output of wbemcli.idl; it carries
                                        no notice of its own, so the mingw-w64
                                        runtime licence (ZPL 2.1 style, see
                                        COPYING.MinGW-w64-runtime) covers it.

Only facts are taken from them: which name Windows gives to which number. The
same facts are published by Microsoft in [MS-ERREF] "Windows Error Codes". The
script also reads the Windows SDK headers and those of Wine or ReactOS, which
use the same notations.

To fetch the headers and regenerate the tables (run from the repository root):

  git clone https://github.com/mingw-w64/mingw-w64 /tmp/mingw-w64
  git -C /tmp/mingw-w64 checkout d7f3c52012c4af4fb526330117d9c86b266018dc
  H=/tmp/mingw-w64/mingw-w64-headers/include
  python3 tools/status-names.py --ntstatus $H/ntstatus.h --winerror $H/winerror.h \\
      --lmerr $H/lmerr.h --wbemcli $H/wbemcli.h --out src/status/data \\
      --source "mingw-w64/mingw-w64@d7f3c52012c4af4fb526330117d9c86b266018dc"

What is read
------------
Object-like ``#define NAME VALUE`` lines (function-like macros are skipped).
VALUE may be:

  5L   0x8004D000   __MSABI_LONG(5)           integer literals, any U/L suffix
  ((NTSTATUS)0xC0000022L)   ((HRESULT)0x1)    casts
  _HRESULT_TYPEDEF_(0x80004002L)   _NDIS_ERROR_TYPEDEF_(0x...)
  HRESULT_FROM_WIN32(ERROR_NOT_FOUND)   HRESULT_FROM_NT(x)
  (WSABASEERR + 4)   (NERR_BASE+121)          sums
  OTHER_NAME                                  an alias of an earlier name

Anything else is skipped. A name defined twice (as the SDK does for a few
codes inside #if/#else) keeps its first definition; no preprocessor
conditions are evaluated. From wbemcli.h (or wbemcli.idl) the members of
``enum tag_WBEMSTATUS`` are read.

Which table a name goes to
--------------------------
* ntstatus.tsv: every name from ntstatus.h whose value is cast to NTSTATUS
  (STATUS_*, DBG_*, RPC_NT_*, ...), or an alias of one.
* hresult.tsv: every name from winerror.h written as an HRESULT
  (_HRESULT_TYPEDEF_, _NDIS_ERROR_TYPEDEF_, an (HRESULT)/(SCODE) cast,
  HRESULT_FROM_WIN32/HRESULT_FROM_NT) or whose plain value is above 0xFFFF,
  plus the WBEMSTATUS members of wbemcli.h.
* win32.tsv: every other name from winerror.h and lmerr.h with a value of
  at most 0xFFFF (ERROR_*, RPC_S_*, RPC_X_*, EPT_S_*, WSA*, DNS_*, NERR_*, ...).
* Never a code: macros that name a range or a building block rather than
  a code -- FACILITY_*, SEVERITY_*, STATUS_SEVERITY_*, ERROR_SEVERITY_*,
  *_FIRST, *_LAST, DNS_ERROR_*_BASE, DNS_ERROR_MASK, WSABASEERR, NERR_BASE,
  MAX_NERR, and names starting with an underscore (include guards etc.).

Which name a code keeps
-----------------------
When several names share one code, one is kept, by these rules in order:

  1. A fixed preference for the success codes: NTSTATUS 0 is STATUS_SUCCESS
     (not STATUS_WAIT_0), Win32 0 is ERROR_SUCCESS (not NO_ERROR, NOERROR,
     NERR_Success, ...), HRESULT 0 is S_OK (not SEC_E_OK, which winerror.h
     defines first, nor WBEM_S_NO_ERROR) and HRESULT 1 is S_FALSE (not
     WBEM_S_FALSE).
  2. A name defined by a number beats a name defined in terms of another
     name, i.e. an alias (``#define DNS_ERROR_NO_MEMORY ERROR_OUTOFMEMORY``
     loses to ERROR_OUTOFMEMORY) or HRESULT_FROM_WIN32(OTHER_NAME).
  3. Otherwise the first definition wins, reading the files in the order
     ntstatus.h; winerror.h, lmerr.h; winerror.h, wbemcli.h -- the order in
     which the SDK headers list them (e.g. STATUS_ABANDONED before
     STATUS_ABANDONED_WAIT_0; winerror.h's ERROR_BAD_USERNAME rather than
     lmerr.h's NERR_BadUsername for 2202; and for FACILITY_ITF codes that
     two headers both use, winerror.h's name, e.g. 0x00040001 OLE_S_STATIC
     rather than WBEM_S_ALREADY_EXISTS).

``--list-dups`` prints every code that had more than one name and which one
was kept. After writing, the script prints the counts and asserts a few
well-known values (skipped for wbemcli/lmerr when those files are not given).

Python 3 standard library only.
"""

import argparse
import os
import re
import sys

# Kinds of definition.
PLAIN = "plain"
NTSTATUS = "ntstatus"
HRESULT = "hresult"

NOT_A_CODE = re.compile(
    r"""^(?: _\w*
          | FACILITY_\w+ | SEVERITY_\w+ | STATUS_SEVERITY_\w+ | ERROR_SEVERITY_\w+
          | \w+_FIRST | \w+_LAST
          | DNS_ERROR_\w+_BASE | DNS_ERROR_MASK
          | WSABASEERR | NERR_BASE | MAX_NERR
        )$""",
    re.X,
)

PREFERRED = {
    "ntstatus": {0x00000000: "STATUS_SUCCESS"},
    "win32": {0x00000000: "ERROR_SUCCESS"},
    "hresult": {0x00000000: "S_OK", 0x00000001: "S_FALSE"},
}

SANITY = {
    "ntstatus": [
        (0x00000000, "STATUS_SUCCESS"),
        (0xC0000022, "STATUS_ACCESS_DENIED"),
        (0x00000105, "STATUS_MORE_ENTRIES"),
        (0xC0000034, "STATUS_OBJECT_NAME_NOT_FOUND"),
        (0x80000005, "STATUS_BUFFER_OVERFLOW"),
        (0xC000006D, "STATUS_LOGON_FAILURE"),
        (0x00000103, "STATUS_PENDING"),
        (0xC0000073, "STATUS_NONE_MAPPED"),
    ],
    "win32": [
        (0, "ERROR_SUCCESS"),
        (5, "ERROR_ACCESS_DENIED"),
        (1060, "ERROR_SERVICE_DOES_NOT_EXIST"),
        (1073, "ERROR_SERVICE_EXISTS"),
        (2, "ERROR_FILE_NOT_FOUND"),
        (259, "ERROR_NO_MORE_ITEMS"),
        (234, "ERROR_MORE_DATA"),
        (1722, "RPC_S_SERVER_UNAVAILABLE"),
        (1753, "EPT_S_NOT_REGISTERED"),
    ],
    "win32+lmerr": [(2221, "NERR_UserNotFound")],
    "hresult": [
        (0x00000000, "S_OK"),
        (0x00000001, "S_FALSE"),
        (0x80070005, "E_ACCESSDENIED"),
        (0x80004002, "E_NOINTERFACE"),
        (0x80004005, "E_FAIL"),
        (0x80070057, "E_INVALIDARG"),
        (0x80040154, "REGDB_E_CLASSNOTREG"),
    ],
    "hresult+wbemcli": [(0x80041002, "WBEM_E_NOT_FOUND")],
}

MIN_COUNTS = {"ntstatus": 1500, "win32": 1500, "hresult": 300}

DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)(\(?)(.*)$")
INT = re.compile(r"^(0[xX][0-9A-Fa-f]+|\d+)[uUlL]*$")
IDENT = re.compile(r"^[A-Za-z_]\w*$")
CALL = re.compile(r"^([A-Za-z_]\w*)\((.*)\)$", re.S)
CAST = re.compile(
    r"^\(\s*(NTSTATUS|HRESULT|SCODE|DWORD|ULONG|LONG|long|int|"
    r"unsigned\s+long|unsigned\s+int|unsigned)\s*\)\s*(.+)$",
    re.S,
)
WRAPPERS_PLAIN = {"__MSABI_LONG", "__LONG32", "_MSABI_LONG"}
WRAPPERS_HRESULT = {"_HRESULT_TYPEDEF_", "_NDIS_ERROR_TYPEDEF_"}


class Definition:
    __slots__ = ("name", "value", "kind", "alias", "file", "order")

    def __init__(self, name, value, kind, alias, file, order):
        self.name = name
        self.value = value
        self.kind = kind
        self.alias = alias
        self.file = file
        self.order = order


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def logical_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    text = strip_comments(text.replace("\\\r\n", " ").replace("\\\n", " "))
    return text.splitlines()


def outer_parens(expr):
    """True when expr is '( ... )' with the first '(' matching the last ')'."""
    if not (expr.startswith("(") and expr.endswith(")")):
        return False
    depth = 0
    for i, c in enumerate(expr):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0 and i != len(expr) - 1:
                return False
    return True


def split_top(expr, sep):
    parts, depth, start = [], 0, 0
    for i, c in enumerate(expr):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return parts


def evaluate(expr, env):
    """Return (value, kind, alias) for a macro body, or None if not a code.

    env maps already-read names to Definitions.
    """
    expr = expr.strip()
    if not expr:
        return None
    while outer_parens(expr):
        expr = expr[1:-1].strip()

    m = INT.match(expr)
    if m:
        return int(m.group(1), 0) & 0xFFFFFFFF, PLAIN, False

    if IDENT.match(expr):
        d = env.get(expr)
        if d is None:
            return None
        return d.value, d.kind, True

    m = CAST.match(expr)
    if m:
        inner = evaluate(m.group(2), env)
        if inner is None:
            return None
        cast = m.group(1)
        kind = {"NTSTATUS": NTSTATUS, "HRESULT": HRESULT, "SCODE": HRESULT}.get(cast, inner[1])
        return inner[0], kind, inner[2]

    m = CALL.match(expr)
    if m and outer_parens("(" + m.group(2) + ")"):
        fn, arg = m.group(1), m.group(2)
        inner = evaluate(arg, env)
        if inner is None:
            return None
        value, kind, alias = inner
        if fn in WRAPPERS_PLAIN:
            return value, kind, alias
        if fn in WRAPPERS_HRESULT:
            return value, HRESULT, alias
        if fn in ("HRESULT_FROM_WIN32", "__HRESULT_FROM_WIN32"):
            if value == 0 or value & 0x80000000:
                return value, HRESULT, alias
            return (value & 0xFFFF) | 0x80070000, HRESULT, alias
        if fn == "HRESULT_FROM_NT":
            return value | 0x10000000, HRESULT, alias
        return None

    parts = split_top(expr, "+")
    if len(parts) > 1:
        total, alias, kind = 0, False, PLAIN
        for p in parts:
            r = evaluate(p, env)
            if r is None:
                return None
            total += r[0]
            if r[1] != PLAIN:
                kind = r[1]
        return total & 0xFFFFFFFF, kind, alias
    return None


def read_defines(path, env, order_start, warn):
    """Read #define lines of one header; return its Definitions in order."""
    out = []
    order = order_start
    base = os.path.basename(path)
    for line in logical_lines(path):
        m = DEFINE.match(line)
        if not m or m.group(2) == "(":
            continue  # not a define, or a function-like macro
        name, body = m.group(1), m.group(3)
        if name in env:
            warn("%s: %s defined again; keeping the first definition" % (base, name))
            continue
        r = evaluate(body, env)
        if r is None:
            continue
        d = Definition(name, r[0], r[1], r[2], base, order)
        order += 1
        env[name] = d
        out.append(d)
    return out


def read_wbemstatus(path, order_start):
    """Members of enum tag_WBEMSTATUS in wbemcli.h or wbemcli.idl."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_comments(f.read())
    m = re.search(r"enum\s+tag_WBEMSTATUS\s*\{(.*?)\}", text, re.S)
    if not m:
        raise SystemExit("%s: no enum tag_WBEMSTATUS found" % path)
    out, env, order = [], {}, order_start
    base = os.path.basename(path)
    for item in m.group(1).split(","):
        item = item.strip()
        if not item:
            continue
        mm = re.match(r"^([A-Za-z_]\w*)\s*=\s*(.+)$", item, re.S)
        if not mm:
            raise SystemExit("%s: cannot read enum member %r" % (path, item))
        r = evaluate(mm.group(2), env)
        if r is None:
            raise SystemExit("%s: cannot evaluate %r" % (path, item))
        d = Definition(mm.group(1), r[0], HRESULT, r[2], base, order)
        order += 1
        env[d.name] = d
        out.append(d)
    return out


def choose(table, defs):
    """Map code -> kept Definition; also return code -> all names."""
    by_code = {}
    for d in defs:
        by_code.setdefault(d.value, []).append(d)
    kept = {}
    for code, ds in by_code.items():
        pref = PREFERRED[table].get(code)
        best = None
        if pref is not None:
            best = next((d for d in ds if d.name == pref), None)
        if best is None:
            best = min(ds, key=lambda d: (d.alias, d.order))
        kept[code] = best
    return kept, by_code


def write_table(path, comment, kept):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("# %s\n" % comment)
        for code in sorted(kept):
            f.write("0x%08X\t%s\n" % (code, kept[code].name))


def main():
    ap = argparse.ArgumentParser(
        description="Generate src/status/data/{ntstatus,win32,hresult}.tsv from Windows headers."
    )
    ap.add_argument("--ntstatus", required=True, help="ntstatus.h")
    ap.add_argument("--winerror", required=True, help="winerror.h")
    ap.add_argument("--lmerr", help="lmerr.h (NERR_* codes), optional")
    ap.add_argument("--wbemcli", help="wbemcli.h or wbemcli.idl (WBEM_* codes), optional")
    ap.add_argument("--out", required=True, help="output directory, e.g. src/status/data")
    ap.add_argument(
        "--source",
        default="the given headers",
        help='where the headers come from, for the comment line, e.g. "mingw-w64/mingw-w64@<commit>"',
    )
    ap.add_argument("--list-dups", action="store_true", help="print codes with several names")
    ap.add_argument("--quiet", action="store_true", help="do not print warnings")
    args = ap.parse_args()

    def warn(msg):
        if not args.quiet:
            print("warning: " + msg, file=sys.stderr)

    # ntstatus.h has its own namespace (its FACILITY_* differ from winerror.h's).
    nt_env = {}
    nt_defs = [
        d
        for d in read_defines(args.ntstatus, nt_env, 0, warn)
        if d.kind == NTSTATUS and not NOT_A_CODE.match(d.name)
    ]

    # winerror.h and lmerr.h share one namespace (lmerr.h includes winerror.h).
    env = {}
    we_defs = read_defines(args.winerror, env, 0, warn)
    lm_defs = read_defines(args.lmerr, env, len(we_defs), warn) if args.lmerr else []
    win32_defs, hr_defs = [], []
    for d in we_defs + lm_defs:
        if NOT_A_CODE.match(d.name):
            continue
        if d.kind == HRESULT or d.value > 0xFFFF:
            hr_defs.append(d)
        elif d.kind == PLAIN:
            win32_defs.append(d)
    if args.wbemcli:
        hr_defs += read_wbemstatus(args.wbemcli, len(we_defs) + len(lm_defs))

    files = {
        "ntstatus": [args.ntstatus],
        "win32": [args.winerror] + ([args.lmerr] if args.lmerr else []),
        "hresult": [args.winerror] + ([args.wbemcli] if args.wbemcli else []),
    }
    what = {"ntstatus": "NTSTATUS", "win32": "Win32 error", "hresult": "HRESULT"}
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for table, defs in (("ntstatus", nt_defs), ("win32", win32_defs), ("hresult", hr_defs)):
        kept, by_code = choose(table, defs)
        results[table] = kept
        comment = "%s names from %s: %s, generated by tools/status-names.py" % (
            what[table],
            args.source,
            ", ".join(os.path.basename(p) for p in files[table]),
        )
        out_path = os.path.join(args.out, table + ".tsv")
        write_table(out_path, comment, kept)
        dups = {c: ds for c, ds in by_code.items() if len(ds) > 1}
        print(
            "%-9s %5d codes (%d names read, %d codes had more than one name) -> %s"
            % (table, len(kept), len(defs), len(dups), out_path)
        )
        if args.list_dups:
            for code in sorted(dups):
                others = [d.name for d in dups[code] if d is not kept[code]]
                print("  0x%08X %s  (also: %s)" % (code, kept[code].name, ", ".join(others)))

    # Sanity checks.
    checks = [("ntstatus", "ntstatus"), ("win32", "win32"), ("hresult", "hresult")]
    if args.lmerr:
        checks.append(("win32", "win32+lmerr"))
    if args.wbemcli:
        checks.append(("hresult", "hresult+wbemcli"))
    for table, key in checks:
        for code, name in SANITY[key]:
            got = results[table].get(code)
            assert got is not None and got.name == name, "%s 0x%08X: expected %s, got %s" % (
                table,
                code,
                name,
                got.name if got else None,
            )
    for table, minimum in MIN_COUNTS.items():
        assert len(results[table]) >= minimum, "%s: only %d codes" % (table, len(results[table]))
    for code in results["win32"]:
        assert code <= 0xFFFF, "win32 code 0x%08X out of range" % code
    print("sanity checks passed")


if __name__ == "__main__":
    main()
