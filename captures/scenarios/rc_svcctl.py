"""Capture 52, impacket part: SVCCTL over \\pipe\\svcctl the way psexec and
services.py use it. First as the lab user, who may not open the service
control manager for psexec's rights; then as the lab administrator, who
installs PSEXESVC the way psexec does (Samba does not implement
RCreateServiceW or RDeleteService), then queries and controls an existing
service."""
from impacket.dcerpc.v5 import scmr

import lab
from outcomes import (ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_SERVICE_DOES_NOT_EXIST,
                      NCA_OP_RNG_ERROR, NCA_S_FAULT_CONTEXT_MISMATCH, OK, expect, finish, np)

SERVICE = "PSEXESVC"
BINARY = "%SystemRoot%\\PSEXESVC.EXE"
SC_MANAGER_ALL_ACCESS = 0x000F003F

# 1. psexec with an account that is not an administrator
dce = np("svcctl", scmr.MSRPC_UUID_SCMR)
expect("ROpenSCManagerW (psexec's rights) as %s" % lab.USER,
       lambda: scmr.hROpenSCManagerW(dce, "%s\x00" % lab.NETBIOS), ERROR_ACCESS_DENIED)
scm = expect("ROpenSCManagerW CONNECT|ENUMERATE_SERVICE as %s" % lab.USER,
             lambda: scmr.hROpenSCManagerW(
                 dce, "%s\x00" % lab.NETBIOS,
                 dwDesiredAccess=scmr.SC_MANAGER_CONNECT | scmr.SC_MANAGER_ENUMERATE_SERVICE))["lpScHandle"]
expect("ROpenServiceW Spooler SERVICE_ALL_ACCESS",
       lambda: scmr.hROpenServiceW(dce, scm, "Spooler\x00"), ERROR_ACCESS_DENIED)
svc = expect("ROpenServiceW Spooler QUERY_STATUS|QUERY_CONFIG",
             lambda: scmr.hROpenServiceW(dce, scm, "Spooler\x00",
                                         scmr.SERVICE_QUERY_STATUS | scmr.SERVICE_QUERY_CONFIG)
             )["lpServiceHandle"]
expect("RQueryServiceStatus Spooler", lambda: scmr.hRQueryServiceStatus(dce, svc))
expect("RStartServiceW Spooler (no SERVICE_START)", lambda: scmr.hRStartServiceW(dce, svc),
       ERROR_ACCESS_DENIED)
expect("RCloseServiceHandle Spooler", lambda: scmr.hRCloseServiceHandle(dce, svc))
expect("RCloseServiceHandle SCM", lambda: scmr.hRCloseServiceHandle(dce, scm))
dce.disconnect()

# 2. psexec as the administrator
dce = np("svcctl", scmr.MSRPC_UUID_SCMR, user=lab.ADMIN)
scm = expect("ROpenSCManagerW SC_MANAGER_ALL_ACCESS as %s" % lab.ADMIN,
             lambda: scmr.hROpenSCManagerW(dce, "%s\x00" % lab.NETBIOS,
                                           dwDesiredAccess=SC_MANAGER_ALL_ACCESS))["lpScHandle"]
expect("ROpenServiceW %s" % SERVICE, lambda: scmr.hROpenServiceW(dce, scm, SERVICE + "\x00"),
       ERROR_SERVICE_DOES_NOT_EXIST)
expect("RCreateServiceW %s %s" % (SERVICE, BINARY),
       lambda: scmr.hRCreateServiceW(dce, scm, SERVICE + "\x00", SERVICE + "\x00",
                                     lpBinaryPathName=BINARY + "\x00",
                                     dwStartType=scmr.SERVICE_DEMAND_START),
       NCA_OP_RNG_ERROR)
expect("REnumServicesStatusW", lambda: scmr.hREnumServicesStatusW(dce, scm))
svc = expect("ROpenServiceW Spooler", lambda: scmr.hROpenServiceW(dce, scm, "Spooler\x00"))["lpServiceHandle"]
status = expect("RQueryServiceStatus Spooler", lambda: scmr.hRQueryServiceStatus(dce, svc))
lab.say("  Spooler state: %d" % status["lpServiceStatus"]["dwCurrentState"])
config = expect("RQueryServiceConfigW Spooler", lambda: scmr.hRQueryServiceConfigW(dce, svc))
lab.say("  Spooler binary: %r" % config["lpServiceConfig"]["lpBinaryPathName"])
# Samba's Spooler service refuses to start ("disable spoolss = yes")
expect("RStartServiceW Spooler", lambda: scmr.hRStartServiceW(dce, svc), ERROR_ACCESS_DENIED)
expect("RControlService Spooler SERVICE_CONTROL_STOP",
       lambda: scmr.hRControlService(dce, svc, scmr.SERVICE_CONTROL_STOP))
expect("RChangeServiceConfigW Spooler binary path",
       lambda: scmr.hRChangeServiceConfigW(dce, svc, lpBinaryPathName=BINARY + "\x00"),
       NCA_OP_RNG_ERROR)
expect("RDeleteService Spooler", lambda: scmr.hRDeleteService(dce, svc), NCA_OP_RNG_ERROR)
expect("RCloseServiceHandle Spooler", lambda: scmr.hRCloseServiceHandle(dce, svc))
expect("RQueryServiceStatus on the SCM handle", lambda: scmr.hRQueryServiceStatus(dce, scm),
       ERROR_INVALID_HANDLE)
expect("RCloseServiceHandle SCM", lambda: scmr.hRCloseServiceHandle(dce, scm))
expect("RCloseServiceHandle SCM (closed)", lambda: scmr.hRCloseServiceHandle(dce, scm),
       NCA_S_FAULT_CONTEXT_MISMATCH)
dce.disconnect()
finish()
