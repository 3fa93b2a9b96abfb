//! Microsoft's published IDL (`../shared/reference/ms-idl`): every file parses, the built-in
//! description table is exactly what `rpcscope compile-idl` makes of them, opnums agree with
//! the published operation names (`../shared/reference/operations.tsv`), and the return kinds
//! of the operations hunters look at are right. Tests that need `../shared` skip with a
//! message when it is absent (a user's clone); the checks on the checked-in table always run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rpcscope::dce::Uuid;
use rpcscope::idl::table;
use rpcscope::status::StatusKind;

fn reference() -> Option<PathBuf> {
    let dir = std::env::var_os("RPCSCOPE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("reference");
    if dir.join("ms-idl").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (Microsoft's IDL is not part of this clone)",
            dir.join("ms-idl").display()
        );
        None
    }
}

fn idl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            idl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "idl") {
            out.push(p);
        }
    }
}

#[test]
fn every_published_idl_file_parses_with_its_imports() {
    let Some(reference) = reference() else { return };
    let mut files = Vec::new();
    idl_files(&reference.join("ms-idl"), &mut files);
    files.sort();
    assert!(files.len() >= 109, "{} files", files.len());
    for f in &files {
        let lib =
            rpcscope::idl::load_files(std::slice::from_ref(f)).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            lib.interfaces.len() + lib.types.len() > 0,
            "{}: nothing declared",
            f.display()
        );
        assert_eq!(lib.unresolved, 0, "{}: {:?}", f.display(), lib.warnings);
    }
}

#[test]
fn builtin_table_is_what_compile_idl_makes_of_the_published_idl() {
    let Some(reference) = reference() else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .arg("compile-idl")
        .arg(reference.join("ms-idl"))
        .args([
            "--source-name",
            "Microsoft's published IDL (shared/reference/ms-idl)",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = String::from_utf8(out.stdout).unwrap();
    let checked_in = table::builtin_text();
    if made != checked_in {
        let first = made
            .lines()
            .zip(checked_in.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "src/idl/data/ms-rpc.tsv differs from what compile-idl makes (first at line {}):\n  made:       {:?}\n  checked in: {:?}\nregenerate it as docs/idl.md says",
            first + 1,
            made.lines().nth(first),
            checked_in.lines().nth(first)
        );
    }
}

fn normal(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "")
}

/// Operation names that only hold an opnum's place in one table or the other.
fn placeholder(name: &str) -> bool {
    [
        "opnum",
        "notusedonwire",
        "reserved",
        "notimplemented",
        "lsalsatm",
        "unused",
    ]
    .iter()
    .any(|p| normal(name).contains(p))
}

#[test]
fn opnums_agree_with_the_published_operation_names() {
    let Some(reference) = reference() else { return };
    let text = std::fs::read_to_string(reference.join("operations.tsv")).unwrap();
    let t = table::builtin();
    let (mut same, mut differ, mut covered) = (0, Vec::new(), 0);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [uuid, opnum, name, ..] = cols.as_slice() else {
            continue;
        };
        let (Some(uuid), Ok(opnum)) = (Uuid::parse(uuid), opnum.parse::<u16>()) else {
            continue;
        };
        // the names table does not say which version; the one with the most operations
        let Some(iface) = t.versions(uuid).max_by_key(|i| i.operations.len()) else {
            continue;
        };
        covered += 1;
        let Some(op) = iface.operations.get(usize::from(opnum)) else {
            differ.push(format!("{} {opnum}: {name} missing", iface.name));
            continue;
        };
        let (a, b) = (normal(&op.name), normal(name));
        if a == b
            || a.ends_with(&b)
            || b.ends_with(&a)
            || placeholder(&op.name)
            || placeholder(name)
        {
            same += 1;
        } else {
            differ.push(format!("{} {opnum}: {name} / {}", iface.name, op.name));
        }
    }
    eprintln!("{same} of {covered} opnums agree; differing names: {differ:#?}");
    assert!(covered > 2000, "{covered} operations covered");
    // The rest are spelling differences of the names table (typos, older names).
    assert!(
        differ.len() * 100 < covered * 3,
        "{same} agree, {} differ: {differ:#?}",
        differ.len()
    );
}

/// Opnums and return kinds of the operations incident responders look for, as the
/// specifications number them.
#[test]
fn key_operations_have_their_documented_opnum_and_return_kind() {
    let t = table::builtin();
    let cases: &[(&str, u16, &str, Option<StatusKind>)] = &[
        (
            "12345678-1234-abcd-ef00-01234567cffb",
            26,
            "NetrServerAuthenticate3",
            Some(StatusKind::NtStatus),
        ),
        (
            "12345678-1234-abcd-ef00-01234567cffb",
            30,
            "NetrServerPasswordSet2",
            Some(StatusKind::NtStatus),
        ),
        (
            "367abb81-9844-35f1-ad32-98f038001003",
            12,
            "RCreateServiceW",
            Some(StatusKind::Win32),
        ),
        (
            "367abb81-9844-35f1-ad32-98f038001003",
            15,
            "ROpenSCManagerW",
            Some(StatusKind::Win32),
        ),
        (
            "86d35949-83c9-4044-b424-db363231fd0c",
            1,
            "SchRpcRegisterTask",
            Some(StatusKind::HResult),
        ),
        (
            "e3514235-4b06-11d1-ab04-00c04fc2dcd2",
            3,
            "IDL_DRSGetNCChanges",
            Some(StatusKind::Win32),
        ),
        (
            "338cd001-2244-31f1-aaaa-900038001003",
            15,
            "BaseRegOpenKey",
            Some(StatusKind::ErrorStatusT),
        ),
        (
            "12345778-1234-abcd-ef00-0123456789ac",
            17,
            "SamrLookupNamesInDomain",
            Some(StatusKind::NtStatus),
        ),
        (
            "12345778-1234-abcd-ef00-0123456789ab",
            14,
            "LsarLookupNames",
            Some(StatusKind::NtStatus),
        ),
        (
            "c681d488-d850-11d0-8c52-00c04fd90f7e",
            0,
            "EfsRpcOpenFileRaw",
            Some(StatusKind::Win32),
        ),
        (
            "df1941c5-fe89-4e79-bf10-463657acf44d",
            4,
            "EfsRpcEncryptFileSrv",
            Some(StatusKind::Win32),
        ),
        (
            "12345678-1234-abcd-ef00-0123456789ab",
            65,
            "RpcRemoteFindFirstPrinterChangeNotificationEx",
            Some(StatusKind::Win32),
        ),
        (
            "12345678-1234-abcd-ef00-0123456789ab",
            89,
            "RpcAddPrinterDriverEx",
            Some(StatusKind::Win32),
        ),
        (
            "4fc742e0-4a10-11cf-8273-00aa004ae673",
            12,
            "NetrDfsAddStdRoot",
            Some(StatusKind::Win32),
        ),
        (
            "a8e0653c-2744-4389-a61d-7373df8b2292",
            8,
            "IsPathSupported",
            Some(StatusKind::Win32),
        ),
        (
            "9556dc99-828c-11cf-a37e-00aa003240c7",
            20,
            "ExecQuery",
            Some(StatusKind::HResult),
        ),
        (
            "9556dc99-828c-11cf-a37e-00aa003240c7",
            24,
            "ExecMethod",
            Some(StatusKind::HResult),
        ),
        (
            "000001a0-0000-0000-c000-000000000046",
            4,
            "RemoteCreateInstance",
            Some(StatusKind::HResult),
        ),
        (
            "00000131-0000-0000-c000-000000000046",
            3,
            "RemQueryInterface",
            Some(StatusKind::HResult),
        ),
        (
            "e1af8308-5d1f-11c9-91a4-08002b14a0fa",
            3,
            "ept_map",
            Some(StatusKind::ErrorStatusT),
        ),
        (
            "4b324fc8-1670-01d3-1278-5a47bf6ee188",
            15,
            "NetrShareEnum",
            Some(StatusKind::Win32),
        ),
        (
            "4b324fc8-1670-01d3-1278-5a47bf6ee188",
            32,
            "NetprPathCompare",
            None,
        ),
        (
            "6bffd098-a112-3610-9833-46c3f87e345a",
            0,
            "NetrWkstaGetInfo",
            Some(StatusKind::Win32),
        ),
    ];
    let mut wrong = Vec::new();
    for &(uuid, opnum, name, kind) in cases {
        let uuid = Uuid::parse(uuid).unwrap();
        match t.operation(uuid, 0, opnum) {
            Some(op) if op.name == name && op.returns == kind => {}
            other => wrong.push(format!(
                "{uuid} {opnum}: want {name} {kind:?}, got {other:?}"
            )),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(t.len() > 300, "{} interfaces", t.len());
}

#[test]
fn dcom_interfaces_count_their_parents_methods() {
    let t = table::builtin();
    let services = t
        .interface(
            Uuid::parse("9556dc99-828c-11cf-a37e-00aa003240c7").unwrap(),
            0,
        )
        .unwrap();
    assert!(services.dcom);
    assert_eq!(services.operations[3].name, "OpenNamespace");
    // IUnknown's three, then OpenNamespace (3) to ExecMethodAsync (25)
    assert_eq!(services.operations.len(), 26);
}

fn decoded_calls(capture: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(capture);
    let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["calls", "--json", "--decode"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The built-in descriptions decode real Samba and impacket traffic with no `--idl`: the
/// psexec service, the Zerologon attempt's account, SIDs and names looked up.
#[test]
fn builtin_descriptions_decode_real_calls_without_idl_files() {
    let svcctl = decoded_calls("52-svcctl-psexec.pcap");
    let create = svcctl
        .iter()
        .find(|c| c["operation"] == "RCreateServiceW")
        .unwrap();
    assert_eq!(create["decoded"]["in"]["lpServiceName"], "PSEXESVC");
    assert_eq!(
        create["decoded"]["in"]["lpBinaryPathName"],
        "%SystemRoot%\\PSEXESVC.EXE"
    );
    let missing = svcctl
        .iter()
        .find(|c| c["status"]["name"] == "ERROR_SERVICE_DOES_NOT_EXIST")
        .unwrap();
    assert_eq!(missing["operation"], "ROpenServiceW");
    let netlogon = decoded_calls("57-dc-netlogon-lsarpc.pcap");
    let auth = netlogon
        .iter()
        .find(|c| c["operation"] == "NetrServerAuthenticate3")
        .unwrap();
    assert_eq!(auth["status"]["name"], "STATUS_ACCESS_DENIED");
    assert_eq!(
        auth["decoded"]["in"]["SecureChannelType"],
        "ServerSecureChannel"
    );
    let lsa = decoded_calls("51-lsarpc-lookups.pcap");
    let sids = lsa
        .iter()
        .find(|c| c["operation"] == "LsarLookupSids")
        .unwrap();
    assert_eq!(
        sids["decoded"]["in"]["SidEnumBuffer"]["SidInfo"][0]["Sid"],
        "S-1-5-32-544"
    );
    let names = lsa
        .iter()
        .find(|c| c["operation"] == "LsarLookupNames")
        .unwrap();
    assert_eq!(names["decoded"]["in"]["Names"][0], "rpcuser");
}

/// Every call of the lab's return-code captures (50-58) that the built-in descriptions cover
/// decodes to its end, but for the answers Samba gets wrong (a BaseRegEnumKey class name whose
/// actual count exceeds its maximum, a NetrGetDCName answer with 28 bytes too many).
#[test]
fn the_lab_calls_decode_to_their_end() {
    let mut decoded = 0;
    let mut failed = Vec::new();
    for n in 50..=58 {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
        let Some(name) = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .find(|f| f.starts_with(&n.to_string()) && f.ends_with(".pcap"))
        else {
            continue;
        };
        for c in decoded_calls(&name) {
            let Some(errors) = c["decoded"]["errors"].as_array() else {
                continue;
            };
            decoded += 1;
            for e in errors.iter().filter_map(|e| e.as_str()) {
                if !e.contains("a fault") && !e.contains("not captured whole") {
                    failed.push(format!("{name} {}: {e}", c["operation"]));
                }
            }
        }
    }
    assert!(decoded > 250, "{decoded} decoded calls");
    assert!(failed.len() <= 2, "{failed:#?}");
}

/// NDR64 (MS-RPCE §2.2.5.3.4): Windows 10 clients negotiate it for srvsvc; a union is aligned
/// to its largest member before its discriminant, its arm to the largest arm, and a structure
/// is padded to its alignment. Wireshark 4.0 stops inside these answers; rpcscope reads the
/// shares and sessions to the end.
#[test]
fn ndr64_share_and_session_enumerations_decode_to_their_end() {
    let Some(reference) = reference() else { return };
    let corpus = reference.parent().unwrap().join("corpus");
    let run = |capture: &str| -> Vec<serde_json::Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
            .args(["calls", "--json", "--decode"])
            .arg(corpus.join(capture))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|c: &serde_json::Value| c["transfer_syntax"] == "ndr64")
            .collect()
    };
    let shares = run("arkime/wireshark-smb-on-windows10.pcap");
    let enumerate = shares
        .iter()
        .find(|c| c["operation"] == "NetrShareEnum")
        .unwrap();
    assert_eq!(enumerate["decoded"]["errors"], serde_json::json!([]));
    let names: Vec<&str> =
        enumerate["decoded"]["out"]["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["shi1_netname"].as_str().unwrap())
            .collect();
    assert_eq!(names, ["ADMIN$", "C$", "IPC$"]);
    let sessions = run("otrf/empire_getsession_dcerpc_smb_srvsvc_NetSessEnum.pcap");
    let s = sessions
        .iter()
        .find(|c| c["operation"] == "NetrSessionEnum")
        .unwrap();
    assert_eq!(s["decoded"]["errors"], serde_json::json!([]));
    assert_eq!(
        s["decoded"]["out"]["InfoStruct"]["SessionInfo"]["Level10"]["Buffer"][0]["sesi10_username"],
        "pgustavo"
    );
}

/// Access masks, service codes and registry value types read as their names in the call table
/// (and its key line) and stay numbers in the JSON.
#[test]
fn access_masks_and_codes_are_named_in_the_table_and_numbers_in_json() {
    let svcctl = decoded_calls("52-svcctl-psexec.pcap");
    let create = svcctl
        .iter()
        .find(|c| c["operation"] == "RCreateServiceW")
        .unwrap();
    assert_eq!(create["decoded"]["in"]["dwDesiredAccess"], 0xF01FF);
    assert_eq!(create["decoded"]["in"]["dwStartType"], 3);
    let table = |capture: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures/real")
            .join(capture);
        let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
            .args(["calls", "--decode"])
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let text = table("52-svcctl-psexec.pcap");
    for line in [
        "in  dwDesiredAccess = 0xf01ff (SERVICE_ALL_ACCESS)",
        "in  dwServiceType = 0x10 (SERVICE_WIN32_OWN_PROCESS)",
        "in  dwStartType = 3 (SERVICE_DEMAND_START)",
        "dwDesiredAccess=\"SC_MANAGER_CONNECT|SC_MANAGER_ENUMERATE_SERVICE\"",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    // the key line keeps the binary path before the named codes
    assert!(text.contains(
        "lpBinaryPathName=\"%SystemRoot%\\\\PSEXESVC.EXE\" dwDesiredAccess=\"SERVICE_ALL_ACCESS\""
    ));
    let text = table("20-np-rpcclient.pcap");
    assert!(
        text.contains("UserAccountControl = 0x10 (USER_NORMAL_ACCOUNT)"),
        "{text}"
    );
    let text = table("53-winreg.pcap");
    assert!(
        text.contains("in  samDesired = 0x20019 (KEY_READ)"),
        "{text}"
    );
    assert!(text.contains("out lpType = 1 (REG_SZ)"), "{text}");
}
