"""Capture 53, impacket part: WINREG over \\pipe\\winreg the way reg.py and
secretsdump use it. As the lab user: open HKLM, keys and values that exist and
that do not, subkeys and values enumerated until ERROR_NO_MORE_ITEMS, writes
that are refused. Then as the lab administrator: create a key, set, read and
delete a value, delete the key, and delete both again (now missing)."""
from impacket.dcerpc.v5 import rrp

import lab
from outcomes import (ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, expect, finish, np,
                      until_no_more_items)

PRODUCT = "SYSTEM\\CurrentControlSet\\Control\\ProductOptions"
SERVICES = "SYSTEM\\CurrentControlSet\\Services"
MISSING = "SYSTEM\\CurrentControlSet\\Services\\PSEXESVC"
VERSION = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
NEW = "SOFTWARE\\Rpcscope"


def open_key(dce, parent, path, access=rrp.KEY_READ, code=0):
    resp = expect("BaseRegOpenKey " + path,
                  lambda: rrp.hBaseRegOpenKey(dce, parent, path + "\x00", samDesired=access), code)
    return resp["phkResult"] if code == 0 else None


# 1. the lab user
dce = np("winreg", rrp.MSRPC_UUID_RRP)
hklm = expect("OpenLocalMachine", lambda: rrp.hOpenLocalMachine(dce))["phKey"]
key = open_key(dce, hklm, PRODUCT)
value = expect("BaseRegQueryValue ProductType", lambda: rrp.hBaseRegQueryValue(dce, key, "ProductType\x00"))
lab.say("  ProductType: %r" % (value[1],))
expect("BaseRegQueryValue NoSuchValue", lambda: rrp.hBaseRegQueryValue(dce, key, "NoSuchValue\x00"),
       ERROR_FILE_NOT_FOUND)
expect("BaseRegCloseKey", lambda: rrp.hBaseRegCloseKey(dce, key))
open_key(dce, hklm, MISSING, code=ERROR_FILE_NOT_FOUND)

key = open_key(dce, hklm, SERVICES)
subkeys = until_no_more_items("BaseRegEnumKey " + SERVICES,
                              lambda i: rrp.hBaseRegEnumKey(dce, key, i)["lpNameOut"][:-1])
lab.say("  subkeys: %s" % ", ".join(subkeys))
expect("BaseRegCloseKey", lambda: rrp.hBaseRegCloseKey(dce, key))

key = open_key(dce, hklm, VERSION)
values = until_no_more_items("BaseRegEnumValue " + VERSION,
                             lambda i: rrp.hBaseRegEnumValue(dce, key, i)["lpValueNameOut"][:-1])
lab.say("  values: %s" % ", ".join(values))
expect("BaseRegSetValue on a read-only handle",
       lambda: rrp.hBaseRegSetValue(dce, key, "Rpcscope\x00", rrp.REG_SZ, "x\x00"), ERROR_ACCESS_DENIED)
expect("BaseRegCloseKey", lambda: rrp.hBaseRegCloseKey(dce, key))
expect("BaseRegCreateKey " + NEW, lambda: rrp.hBaseRegCreateKey(dce, hklm, NEW + "\x00"),
       ERROR_ACCESS_DENIED)
open_key(dce, hklm, "SOFTWARE", access=rrp.KEY_READ | rrp.KEY_SET_VALUE, code=ERROR_ACCESS_DENIED)
expect("BaseRegCloseKey HKLM", lambda: rrp.hBaseRegCloseKey(dce, hklm))
dce.disconnect()

# 2. the lab administrator
dce = np("winreg", rrp.MSRPC_UUID_RRP, user=lab.ADMIN)
hklm = expect("OpenLocalMachine", lambda: rrp.hOpenLocalMachine(dce))["phKey"]
key = expect("BaseRegCreateKey " + NEW, lambda: rrp.hBaseRegCreateKey(dce, hklm, NEW + "\x00"))["phkResult"]
expect("BaseRegSetValue Note REG_SZ",
       lambda: rrp.hBaseRegSetValue(dce, key, "Note\x00", rrp.REG_SZ, "rpcscope lab value\x00"))
expect("BaseRegSetValue Count REG_DWORD", lambda: rrp.hBaseRegSetValue(dce, key, "Count\x00", rrp.REG_DWORD, 7))
expect("BaseRegQueryValue Note", lambda: rrp.hBaseRegQueryValue(dce, key, "Note\x00"))
expect("BaseRegDeleteValue Note", lambda: rrp.hBaseRegDeleteValue(dce, key, "Note\x00"))
expect("BaseRegDeleteValue Note (gone)", lambda: rrp.hBaseRegDeleteValue(dce, key, "Note\x00"),
       ERROR_FILE_NOT_FOUND)
expect("BaseRegCloseKey", lambda: rrp.hBaseRegCloseKey(dce, key))
expect("BaseRegDeleteKey " + NEW, lambda: rrp.hBaseRegDeleteKey(dce, hklm, NEW + "\x00"))
expect("BaseRegDeleteKey %s (gone)" % NEW, lambda: rrp.hBaseRegDeleteKey(dce, hklm, NEW + "\x00"),
       ERROR_FILE_NOT_FOUND)
expect("BaseRegCloseKey HKLM", lambda: rrp.hBaseRegCloseKey(dce, hklm))
dce.disconnect()
finish()
