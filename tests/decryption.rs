//! Unsealing with the user's keys, on captures of real peers (Samba and impacket on loopback,
//! `captures/generate.sh`) whose lab secrets are in `captures/real/lab.keys`: every sealed
//! call decrypted and its signature valid; without keys or with a wrong one, each call says
//! why; a lost PDU is reported, not decrypted into garbage; secrets never reach an output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SEALED: [&str; 5] = [
    "06-ntlm-seal.pcap",
    "07-spnego.pcap",
    "10-frag-sealed.pcap",
    "58-dc-dcsync.pcap",
    "60-dc-schannel.pcap",
];
const LAB_PASSWORD: &str = "Rpcscope-Lab-1";
/// The machine accounts' passwords of the lab's AD DC (netlogon lines of `lab.keys`).
const MACHINE_PASSWORDS: [&str; 2] = ["lab-ws", "lab-rc4"];

fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name)
}

fn run(args: &[&str], env: Option<(&str, &str)>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rpcscope"));
    cmd.args(args).env_remove("RPCSCOPE_KEYS");
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn calls(args: &[&str]) -> Vec<Value> {
    let o = run(args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn keys() -> String {
    real("lab.keys").to_str().unwrap().to_string()
}

/// A DRSGetNCChanges call (named `IDL_DRSGetNCChanges` by Microsoft's IDL): DCSync.
fn is_get_nc_changes(c: &Value) -> bool {
    c["operation"]
        .as_str()
        .is_some_and(|o| o.ends_with("DRSGetNCChanges"))
}

/// `calls --json --decode` of a capture with the lab secrets.
fn decoded_with_lab_keys(capture: &Path) -> Vec<Value> {
    calls(&[
        "calls",
        "--json",
        "--decode",
        "--keys",
        &keys(),
        capture.to_str().unwrap(),
    ])
}

#[test]
fn every_sealed_call_of_the_lab_captures_is_decrypted_and_verified() {
    for name in SEALED {
        let path = real(name);
        let all = calls(&["calls", "--json", "--keys", &keys(), path.to_str().unwrap()]);
        let mut protected = 0;
        for c in &all {
            let level = c["auth_level"].as_str().unwrap_or("none");
            match level {
                "pkt_privacy" => {
                    assert_eq!(c["decryption"], "decrypted", "{name}: {c}");
                    assert_eq!(c["signature"], "valid", "{name}: {c}");
                    protected += 1;
                }
                "pkt_integrity" => {
                    assert!(c["decryption"].is_null(), "{name}: {c}");
                    assert_eq!(c["signature"], "valid", "{name}: {c}");
                    protected += 1;
                }
                _ => assert!(c["decryption"].is_null() && c.get("signature").is_none()),
            }
        }
        assert!(protected >= 8, "{name}: {protected} protected calls");
        // Decrypted answers give their return codes (every lab call answered has one).
        for c in all.iter().filter(|c| c["decryption"] == "decrypted") {
            if c["outcome"] == "response" {
                assert!(c["status"].is_object(), "{name}: no status in {c}");
            }
        }
    }
}

#[test]
fn dcsync_shows_the_naming_context_and_the_real_return_codes() {
    let all = decoded_with_lab_keys(&real("58-dc-dcsync.pcap"));
    let changes: Vec<&Value> = all.iter().filter(|c| is_get_nc_changes(c)).collect();
    let codes: Vec<u64> = changes
        .iter()
        .map(|c| c["status"]["code"].as_u64().unwrap())
        .collect();
    // impacket's two requests (ERROR_INVALID_PARAMETER from Samba), then Samba's client as
    // Administrator (works, then WERR_DS_DRA_BAD_DN) and as rpcuser (no replication rights).
    assert_eq!(codes, [0x57, 0x57, 0, 0x20f7, 0x2105]);
    let contexts: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["decoded"]["in"]["pmsgIn"]["V8"]["pNC"]["StringName"].as_str())
        .collect();
    assert_eq!(
        contexts,
        [
            // impacket names the object by SID and by GUID, with an empty DN
            "",
            "",
            "CN=krbtgt,CN=Users,DC=rpclab,DC=test",
            "CN=no-such-user,CN=Users,DC=rpclab,DC=test",
            "CN=krbtgt,CN=Users,DC=rpclab,DC=test"
        ]
    );
}

#[test]
fn without_keys_each_sealed_call_names_the_secret_it_needs() {
    let path = real("58-dc-dcsync.pcap");
    let all = calls(&["calls", "--json", "--decode", path.to_str().unwrap()]);
    let sealed: Vec<&Value> = all
        .iter()
        .filter(|c| c["auth_level"] == "pkt_privacy")
        .collect();
    assert_eq!(sealed.len(), 14);
    for c in &sealed {
        assert_eq!(c["decryption"], "no_key", "{c}");
        let why = c["decryption_reason"].as_str().unwrap();
        assert!(
            why.contains("RPCLABAD\\Administrator") || why.contains("RPCLABAD\\rpcuser"),
            "{why}"
        );
        assert!(c["status"].is_null() && c.get("decoded").is_none(), "{c}");
    }
}

#[test]
fn a_wrong_password_fails_with_its_reason_and_decodes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.keys");
    std::fs::write(
        &file,
        "password rpcuser not-the-password\npassword Administrator Rpcscope-Lab-1\n",
    )
    .unwrap();
    let path = real("58-dc-dcsync.pcap");
    let all = calls(&[
        "calls",
        "--json",
        "--decode",
        "--keys",
        file.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    let failed: Vec<&Value> = all.iter().filter(|c| c["decryption"] == "failed").collect();
    assert_eq!(
        failed.len(),
        3,
        "rpcuser's DsBind, DsGetNCChanges, DsUnbind"
    );
    for c in failed {
        assert!(
            c["decryption_reason"]
                .as_str()
                .unwrap()
                .starts_with("wrong key: the secret given for RPCLABAD\\rpcuser"),
            "{c}"
        );
        assert!(c["status"].is_null() && c.get("decoded").is_none(), "{c}");
    }
    let decrypted = all
        .iter()
        .filter(|c| c["decryption"] == "decrypted")
        .count();
    assert_eq!(decrypted, 11);
}

/// Frames of a classic little-endian pcap file.
fn pcap_frames(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (header, mut rest) = bytes.split_at(24);
    let mut frames = Vec::new();
    while rest.len() >= 16 {
        let len = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        frames.push(rest[..16 + len].to_vec());
        rest = &rest[16 + len..];
    }
    (header.to_vec(), frames)
}

#[test]
fn a_lost_sealed_pdu_is_reported_and_the_calls_after_it_are_not_garbage() {
    let bytes = std::fs::read(real("10-frag-sealed.pcap")).unwrap();
    let (header, frames) = pcap_frames(&bytes);
    let path = real("10-frag-sealed.pcap");
    let whole = calls(&["calls", "--json", "--keys", &keys(), path.to_str().unwrap()]);
    // The request of SamrLookupDomainInSamServer (its first frame) goes missing.
    let lost = whole
        .iter()
        .find(|c| c["operation"] == "SamrLookupDomainInSamServer")
        .unwrap();
    let frame = lost["request"]["frames"][0].as_u64().unwrap() as usize;
    let mut cut = header;
    for (i, f) in frames.iter().enumerate() {
        if i + 1 != frame {
            cut.extend(f);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.pcap");
    std::fs::write(&file, &cut).unwrap();
    let all = decoded_with_lab_keys(&file);
    let sealed: Vec<&Value> = all
        .iter()
        .filter(|c| c["auth_level"] == "pkt_privacy")
        .collect();
    let before: Vec<&&Value> = sealed
        .iter()
        .filter(|c| {
            c["request"]["frames"][0]
                .as_u64()
                .is_some_and(|f| (f as usize) < frame)
        })
        .collect();
    assert!(!before.is_empty());
    assert!(before.iter().all(|c| c["decryption"] == "decrypted"));
    let after: Vec<&&Value> = sealed
        .iter()
        .filter(|c| {
            c["request"]["frames"][0]
                .as_u64()
                .is_some_and(|f| (f as usize) > frame)
        })
        .collect();
    assert!(after.len() >= 3);
    // Without keys the calls after the loss still say which secret they need.
    let bare = calls(&["calls", "--json", file.to_str().unwrap()]);
    assert!(
        bare.iter()
            .filter(|c| c["auth_level"] == "pkt_privacy")
            .all(|c| c["decryption"] == "no_key"),
        "{bare:?}"
    );
    for c in after {
        assert_eq!(c["decryption"], "failed", "{c}");
        assert!(
            c["decryption_reason"].as_str().unwrap().contains("lost"),
            "{c}"
        );
        assert!(c.get("decoded").is_none(), "{c}");
    }
}

#[test]
fn the_keys_file_named_by_the_environment_works_as_keys_does() {
    let path = real("06-ntlm-seal.pcap");
    let o = run(
        &["summary", "--json", path.to_str().unwrap()],
        Some(("RPCSCOPE_KEYS", &keys())),
    );
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["decryption"]["keys_loaded"], 5);
    assert_eq!(summary["decryption"]["calls"]["decrypted"], 24);
    assert_eq!(summary["decryption"]["signatures"]["valid"], 24);
}

#[test]
fn secrets_never_reach_any_output() {
    let mut forbidden = Vec::new();
    for password in MACHINE_PASSWORDS.iter().chain(&[LAB_PASSWORD]) {
        let nt_hash = rpcscope::auth::keys::nt_hash(password);
        let hex: String = nt_hash.iter().map(|b| format!("{b:02x}")).collect();
        forbidden.extend([password.to_string(), hex.clone(), hex.to_uppercase()]);
    }
    let k = keys();
    for name in SEALED.iter().chain(&["25-np-smb3-encrypted.pcap"]) {
        let p = real(name);
        let p = p.to_str().unwrap();
        for args in [
            vec!["calls", p],
            vec!["calls", "--json", p],
            vec!["calls", "--json", "--decode", p],
            vec!["calls", "--decode", p],
            vec!["summary", p],
            vec!["summary", "--json", p],
            vec!["endpoints", p],
            vec!["endpoints", "--json", p],
        ] {
            let mut args = args.clone();
            args.extend(["--keys", &k]);
            let o = run(&args, None);
            assert!(o.status.success());
            let text = [o.stdout, o.stderr].concat();
            let text = String::from_utf8_lossy(&text);
            for f in &forbidden {
                assert!(!text.contains(f.as_str()), "{args:?} printed a secret");
            }
        }
    }
    // A bad keys file is one line naming the file and line, without the secret.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.keys");
    std::fs::write(&file, format!("# ok\nnthash bob {LAB_PASSWORD}\n")).unwrap();
    let o = run(&["calls", "--keys", file.to_str().unwrap(), p06()], None);
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("bad.keys: line 2: an NT hash is 32 hex digits"),
        "{err}"
    );
    assert!(!err.contains(LAB_PASSWORD));
}

fn p06() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/real/06-ntlm-seal.pcap"
    )
}

/// The sealed OTRF captures of Windows lateral movement (`../shared/corpus/otrf`), with the
/// keytabs of their tickets' session keys; `None` (the test skips) without `../shared`.
fn otrf() -> Option<PathBuf> {
    let dir = std::env::var_os("RPCSCOPE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("corpus/otrf");
    if dir.join("keys").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared corpus is not part of this clone)",
            dir.display()
        );
        None
    }
}

const OTRF_SEALED: [(&str, usize); 3] = [
    ("empire_psexec_dcerpc_tcp_svcctl", 8),
    ("empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod", 3),
    ("empire_msbuild_dcerpc_wmi_smb", 16),
];

fn otrf_calls(dir: &Path, name: &str, keytab: Option<&str>) -> Vec<Value> {
    let capture = dir.join(format!("{name}_WORKSTATION6.pcap"));
    let mut args = vec![
        "calls".to_string(),
        "--json".into(),
        "--decode".into(),
        capture.to_str().unwrap().into(),
    ];
    if let Some(k) = keytab {
        let path = dir
            .join("keys")
            .join(format!("otrf_{k}_WORKSTATION6_sessionkeys.keytab"));
        args.extend(["--keytab".into(), path.to_str().unwrap().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    calls(&args)
}

#[test]
fn windows_kerberos_sealed_calls_decrypt_with_the_session_keys_of_a_keytab() {
    let Some(dir) = otrf() else { return };
    for (name, sealed) in OTRF_SEALED {
        let all = otrf_calls(&dir, name, Some(name));
        let privacy: Vec<&Value> = all
            .iter()
            .filter(|c| c["auth_level"] == "pkt_privacy")
            .collect();
        assert_eq!(privacy.len(), sealed, "{name}");
        for c in privacy {
            assert_eq!(c["decryption"], "decrypted", "{name}: {c}");
            assert_eq!(c["signature"], "valid", "{name}: {c}");
            assert!(c["status"].is_object(), "{name}: {c}");
        }
    }
    // psexec's service and its command line; WMI's class and method.
    let psexec = otrf_calls(&dir, OTRF_SEALED[0].0, Some(OTRF_SEALED[0].0));
    let create = psexec
        .iter()
        .find(|c| c["operation"] == "RCreateServiceA")
        .unwrap();
    assert_eq!(create["decoded"]["in"]["lpServiceName"], "Updater");
    assert!(
        create["decoded"]["in"]["lpBinaryPathName"]
            .as_str()
            .unwrap()
            .starts_with("%COMSPEC% /C start /b C:\\Windows\\System32\\WindowsPowershell")
    );
    let wmi = otrf_calls(&dir, OTRF_SEALED[1].0, Some(OTRF_SEALED[1].0));
    let exec = wmi.iter().find(|c| c["operation"] == "ExecMethod").unwrap();
    assert_eq!(exec["decoded"]["in"]["strObjectPath"], "Win32_Process");
    assert_eq!(exec["decoded"]["in"]["strMethodName"], "create");
    // Its arguments and answer, WMI objects marshaled by value (MS-WMIO).
    let args = &exec["decoded"]["in"]["pInParams"];
    assert_eq!(args["class"], "__PARAMETERS");
    assert!(
        args["properties"]["CommandLine"]
            .as_str()
            .unwrap()
            .starts_with("C:\\Windows\\System32\\WindowsPowershell\\v1.0\\powershell -noP"),
        "{args}"
    );
    let answer = &exec["decoded"]["out"]["ppOutParams"]["properties"];
    assert_eq!(answer["ReturnValue"], 0);
    assert_eq!(answer["ProcessId"], 9804);
    // A class definition: GetObject's answer for Win32_Process.
    let msbuild = otrf_calls(&dir, OTRF_SEALED[2].0, Some(OTRF_SEALED[2].0));
    let class = msbuild
        .iter()
        .filter(|c| c["operation"] == "GetObject")
        .map(|c| &c["decoded"]["out"]["ppObject"])
        .find(|o| o["class"] == "Win32_Process")
        .unwrap();
    assert_eq!(class["superclass"], "CIM_Process");
    assert_eq!(class["properties"]["CommandLine"], "string");
}

#[test]
fn without_the_right_keytab_kerberos_calls_name_the_key_they_need() {
    let Some(dir) = otrf() else { return };
    // No keytab, then the keytab of another capture's tickets.
    for keytab in [None, Some(OTRF_SEALED[1].0)] {
        let all = otrf_calls(&dir, OTRF_SEALED[0].0, keytab);
        let sealed: Vec<&Value> = all
            .iter()
            .filter(|c| c["auth_level"] == "pkt_privacy")
            .collect();
        assert_eq!(sealed.len(), 8);
        for c in sealed {
            assert_eq!(c["decryption"], "no_key", "{c}");
            assert!(
                c["decryption_reason"]
                    .as_str()
                    .unwrap()
                    .contains("HOST/WORKSTATION6.theshire.local@THESHIRE.LOCAL"),
                "{c}"
            );
            assert!(c["status"].is_null() && c.get("decoded").is_none(), "{c}");
        }
    }
}

#[test]
fn keytab_keys_never_reach_any_output() {
    let Some(dir) = otrf() else { return };
    let name = OTRF_SEALED[0].0;
    let keytab = dir
        .join("keys")
        .join(format!("otrf_{name}_WORKSTATION6_sessionkeys.keytab"));
    let mut ring = rpcscope::auth::keys::Keyring::default();
    ring.load_keytab(&keytab).unwrap();
    let keys: Vec<String> = ring
        .kerberos()
        .iter()
        .map(|k| k.key.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert!(!keys.is_empty());
    let capture = dir.join(format!("{name}_WORKSTATION6.pcap"));
    let (c, k) = (capture.to_str().unwrap(), keytab.to_str().unwrap());
    for args in [
        vec!["calls", c],
        vec!["calls", "--json", "--decode", c],
        vec!["calls", "--decode", c],
        vec!["summary", "--json", c],
        vec!["summary", c],
    ] {
        let mut args = args.clone();
        args.extend(["--keytab", k]);
        let o = run(&args, None);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).to_lowercase();
        for key in &keys {
            assert!(!text.contains(key.as_str()), "{args:?} printed a key");
        }
    }
}

#[test]
fn a_krbtgt_key_alone_opens_the_conversations_whose_tickets_were_requested() {
    let Some(dir) = otrf() else { return };
    let keytab = dir.join("keys/otrf_shire_krbtgt_2020-09.keytab");
    let k = keytab.to_str().unwrap();
    // (capture, Kerberos-sealed calls, calls sealed by the Netlogon secure channel)
    for (name, kerberos, netlogon) in [
        ("empire_psexec_dcerpc_tcp_svcctl_WORKSTATION5", 8, 0),
        ("empire_msbuild_dcerpc_wmi_smb_WORKSTATION5", 16, 0),
        ("empire_dcsync_dcerpc_drsuapi_DsGetNCChanges", 6, 0),
        ("empire_smbexec_dcerpc_smb_svcctl_WORKSTATION5", 3, 1),
    ] {
        let capture = dir.join(format!("{name}.pcap"));
        let c = capture.to_str().unwrap();
        let all = calls(&["calls", "--json", "--decode", "--keytab", k, c]);
        let decrypted = all
            .iter()
            .filter(|c| c["decryption"] == "decrypted")
            .count();
        assert_eq!(decrypted, kerberos, "{name}");
        let netlogon_left = all
            .iter()
            .filter(|c| {
                c["decryption_reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("Netlogon"))
            })
            .count();
        assert_eq!(netlogon_left, netlogon, "{name}");
        let o = run(&["summary", "--json", "--keytab", k, c], None);
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            summary["counters"]["kdc_messages"].as_u64().unwrap() >= 2,
            "{name}"
        );
        assert!(
            summary["counters"]["kerberos_keys_learned"]
                .as_u64()
                .unwrap()
                >= 2,
            "{name}"
        );
        // Without the keytab, nothing is learned and the calls stay sealed.
        let bare = calls(&["calls", "--json", c]);
        assert!(
            bare.iter().all(|c| c["decryption"] != "decrypted"),
            "{name}"
        );
        if name.starts_with("empire_dcsync") {
            let changes = all.iter().find(|c| is_get_nc_changes(c)).unwrap();
            assert_eq!(changes["status"]["code"], 0);
            assert_eq!(
                changes["decoded"]["in"]["pmsgIn"]["V8"]["pNC"]["Guid"],
                "a08358c1-5050-49fb-80a9-9d99181b72d5"
            );
        }
    }
}

#[test]
fn smb3_encrypted_sessions_are_decrypted_with_the_password() {
    let path = real("25-np-smb3-encrypted.pcap");
    let p = path.to_str().unwrap();
    assert!(
        calls(&["calls", "--json", p]).is_empty(),
        "nothing readable without keys"
    );
    let all = calls(&["calls", "--json", "--keys", &keys(), p]);
    // rpcclient (AES-128-GCM): srvsvc, samr, lsarpc; impacket (AES-128-CCM): samr, lsarpc.
    assert_eq!(all.len(), 29);
    assert!(all.iter().all(|c| c["outcome"] == "response"));
    let pipes: std::collections::BTreeSet<&str> =
        all.iter().filter_map(|c| c["pipe"].as_str()).collect();
    assert_eq!(
        pipes.into_iter().collect::<Vec<_>>(),
        ["lsarpc", "samr", "srvsvc"]
    );
    let o = run(&["summary", "--json", "--keys", &keys(), p], None);
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["counters"]["smb3_decrypted_messages"], 146);
    assert!(summary["counters"].get("smb3_encrypted_messages").is_none());
    // A wrong password leaves every message encrypted.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.keys");
    std::fs::write(&wrong, "password rpcuser not-it\n").unwrap();
    let none = calls(&["calls", "--json", "--keys", wrong.to_str().unwrap(), p]);
    assert!(none.is_empty());
    // A wrong session key for one session: its messages fail their tag and are counted so.
    std::fs::write(&wrong, "smb3 5915d97a 00112233445566778899aabbccddeeff\n").unwrap();
    let o = run(
        &["summary", "--json", "--keys", wrong.to_str().unwrap(), p],
        None,
    );
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    let failures = summary["counters"]["smb3_decryption_failures"]
        .as_u64()
        .unwrap();
    assert!(failures > 0);
    assert!(
        summary["counters"]["smb3_encrypted_messages"]
            .as_u64()
            .unwrap()
            > failures
    );
}

#[test]
fn smb3_aes_256_ciphers_are_decrypted() {
    // Samba's client asked for AES-256-GCM, then AES-256-CCM (SMB 3.1.1, 256-bit keys)
    let path = real("65-np-smb3-aes256-encrypted.pcap");
    let p = path.to_str().unwrap();
    assert!(calls(&["calls", "--json", p]).is_empty());
    let all = calls(&["calls", "--json", "--keys", &keys(), p]);
    assert_eq!(all.len(), 12);
    assert!(
        all.iter()
            .all(|c| c["outcome"] == "response" && c["status"]["code"] == 0)
    );
    let o = run(&["summary", "--json", "--keys", &keys(), p], None);
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["counters"]["smb3_decrypted_messages"], 63);
    assert!(summary["counters"].get("smb3_encrypted_messages").is_none());
}

#[test]
fn smb3_sessions_authenticated_with_kerberos_are_decrypted_with_a_keytab() {
    let path = real("64-dc-smb3-kerberos-encrypted.pcap");
    let keytab = real("64-dc-smb3-kerberos-encrypted.keytab");
    let (p, k) = (path.to_str().unwrap(), keytab.to_str().unwrap());
    let summary = |args: &[&str]| -> Value {
        let o = run(&[&["summary", "--json"], args, &[p]].concat(), None);
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // The lab password is no help: the session key is the Kerberos one.
    let without = summary(&["--keys", &keys()]);
    assert_eq!(without["calls"], 0);
    assert_eq!(without["counters"]["smb3_encrypted_messages"], 55);
    let with = summary(&["--keytab", k]);
    assert_eq!(with["counters"]["smb3_decrypted_messages"], 55);
    assert!(with["counters"].get("smb3_encrypted_messages").is_none());
    let all = calls(&["calls", "--json", "--decode", "--keytab", k, p]);
    assert_eq!(all.len(), 12);
    let find = |op: &str| all.iter().find(|c| c["operation"] == op).unwrap();
    let users: Vec<&str> = find("SamrEnumerateUsersInDomain")["decoded"]["out"]["Buffer"]["Buffer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        [
            "Administrator",
            "Guest",
            "krbtgt",
            "dns-rpclab-dc",
            "rpcuser"
        ]
    );
    let domain = &find("LsarQueryInformationPolicy")["decoded"]["out"]["PolicyInformation"]["PolicyPrimaryDomainInfo"];
    assert_eq!(domain["Name"], "RPCLABAD");
    assert!(domain["Sid"].as_str().unwrap().starts_with("S-1-5-21-"));
}

#[test]
fn smb3_0_and_3_0_2_sessions_are_decrypted_with_their_own_key_derivation() {
    // Samba's client held to SMB 3.0 then 3.0.2, then impacket with 3.0: the keys derived
    // with the "SMB2AESCCM" labels (no pre-authentication hash), AES-128-CCM.
    let path = real("63-np-smb30-encrypted.pcap");
    let p = path.to_str().unwrap();
    assert!(calls(&["calls", "--json", p]).is_empty());
    let all = calls(&["calls", "--json", "--keys", &keys(), p]);
    assert_eq!(all.len(), 24);
    assert!(
        all.iter()
            .all(|c| c["outcome"] == "response" && c["status"].is_object())
    );
    let connections: std::collections::BTreeSet<&str> =
        all.iter().filter_map(|c| c["client"].as_str()).collect();
    assert_eq!(connections.len(), 3, "{connections:?}");
    let o = run(&["summary", "--json", "--keys", &keys(), p], None);
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["counters"]["smb3_decrypted_messages"], 130);
    assert!(summary["counters"].get("smb3_encrypted_messages").is_none());
}

/// The four DRSUAPI calls of the lab's Kerberos DCSync (captures 59, 61, 62), sealed:
/// decrypted, verified, successful, the last asking for krbtgt's naming context.
fn assert_kerberos_dcsync_opened(all: &[Value]) {
    let sealed: Vec<&Value> = all
        .iter()
        .filter(|c| c["auth_level"] == "pkt_privacy")
        .collect();
    assert_eq!(sealed.len(), 4);
    for c in &sealed {
        assert_eq!(c["decryption"], "decrypted", "{c}");
        assert_eq!(c["signature"], "valid", "{c}");
        assert_eq!(c["status"]["code"], 0, "{c}");
    }
    let changes = sealed.iter().find(|c| is_get_nc_changes(c)).unwrap();
    assert_eq!(
        changes["decoded"]["in"]["pmsgIn"]["V8"]["pNC"]["StringName"],
        "CN=krbtgt,CN=Users,DC=rpclab,DC=test"
    );
}

#[test]
fn a_samba_dc_kerberos_dcsync_opens_with_the_exported_keytab() {
    let path = real("59-dc-kerberos.pcap");
    let keytab = real("59-dc-kerberos.keytab");
    let (p, k) = (path.to_str().unwrap(), keytab.to_str().unwrap());
    let sealed = calls(&["calls", "--json", p]);
    let drs: Vec<&Value> = sealed
        .iter()
        .filter(|c| c["auth_type"] == "kerberos")
        .collect();
    assert_eq!(drs.len(), 4);
    assert!(drs.iter().all(|c| c["decryption"] == "no_key"));
    assert_kerberos_dcsync_opened(&calls(&["calls", "--json", "--decode", "--keytab", k, p]));
}

/// The calls of the Netlogon secure-channel capture, decoded, with `keys`.
fn schannel_calls(keys: &str) -> Vec<Value> {
    let path = real("60-dc-schannel.pcap");
    calls(&[
        "calls",
        "--json",
        "--decode",
        "--keys",
        keys,
        path.to_str().unwrap(),
    ])
}

fn opened(c: &Value) -> Option<&str> {
    c["netlogon"]["computer"].as_str()
}

#[test]
fn netlogon_secure_channels_open_with_the_machine_secrets() {
    let all = schannel_calls(&keys());
    // the two challenge exchanges: the credentials reproduced by the secrets given
    let setups: Vec<&Value> = all
        .iter()
        .filter(|c| c["operation"] == "NetrServerAuthenticate3")
        .collect();
    assert_eq!(setups.len(), 2);
    let ciphers: Vec<(&str, &str)> = setups
        .iter()
        .map(|c| {
            assert_eq!(c["netlogon"]["credential"], "valid", "{c}");
            (
                opened(c).unwrap(),
                c["netlogon"]["cipher"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ciphers, [("LAB-WS", "aes"), ("LAB-RC4", "rc4")]);
    // the network logons: what the DC answered, read from the decrypted stubs
    let logons: Vec<&Value> = all
        .iter()
        .filter(|c| c["operation"] == "NetrLogonSamLogonEx")
        .collect();
    let codes: Vec<u64> = logons
        .iter()
        .map(|c| c["status"]["code"].as_u64().unwrap())
        .collect();
    // right and wrong password over AES, the same over RC4, then signed only (refused)
    assert_eq!(codes, [0, 0xc000_006a, 0, 0xc000_006a, 0xc000_000d]);
    for c in [logons[0], logons[2]] {
        let info = &c["decoded"]["out"]["ValidationInformation"]["ValidationSam4"];
        assert_eq!(info["EffectiveName"], "rpcuser", "{c}");
        assert_eq!(info["LogonDomainName"], "RPCLABAD", "{c}");
        assert!(c["decoded"]["in"]["ComputerName"].is_string(), "{c}");
    }
    let levels: Vec<&str> = logons
        .iter()
        .map(|c| c["auth_level"].as_str().unwrap())
        .collect();
    assert_eq!(levels[4], "pkt_integrity");
    assert_eq!(logons[4]["signature"], "valid");
    let dcs: Vec<&str> = all
        .iter()
        .filter(|c| c["operation"] == "DsrGetDcNameEx2")
        .map(|c| {
            c["decoded"]["out"]["DomainControllerInfo"]["DomainControllerName"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(dcs, ["\\\\RPCLAB-DC"; 3]);
    let summary = run(
        &[
            "summary",
            "--json",
            "--keys",
            &keys(),
            real("60-dc-schannel.pcap").to_str().unwrap(),
        ],
        None,
    );
    let s: Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(s["netlogon"]["channels"]["valid"], 2, "{}", s["netlogon"]);
    assert_eq!(
        s["decryption"]["calls"]["decrypted"], 8,
        "{}",
        s["decryption"]
    );
    assert_eq!(
        s["decryption"]["signatures"]["valid"], 10,
        "{}",
        s["decryption"]
    );
}

#[test]
fn netlogon_channels_without_or_with_a_wrong_secret_say_so() {
    let dir = tempfile::tempdir().unwrap();
    // LAB-WS$ with a wrong password, LAB-RC4$ not given at all
    let file = dir.path().join("wrong.keys");
    std::fs::write(&file, "netlogon LAB-WS$ not-lab-ws\n").unwrap();
    let all = schannel_calls(file.to_str().unwrap());
    let setup = |name: &str| {
        all.iter()
            .find(|c| c["operation"] == "NetrServerAuthenticate3" && opened(c) == Some(name))
            .unwrap()
    };
    assert_eq!(setup("LAB-WS")["netlogon"]["credential"], "invalid");
    // only LAB-WS$'s secret was tried on LAB-RC4$'s credential: not a wrong key of its own
    assert_eq!(setup("LAB-RC4")["netlogon"]["credential"], "unchecked");
    let sealed: Vec<&Value> = all
        .iter()
        .filter(|c| c["auth_level"] == "pkt_privacy")
        .collect();
    assert_eq!(sealed.len(), 8);
    // the first four on LAB-WS$'s channel, the last four on LAB-RC4$'s
    for (i, c) in sealed.iter().enumerate() {
        let why = c["decryption_reason"].as_str().unwrap();
        if i < 4 {
            assert_eq!(c["decryption"], "failed", "{c}");
            assert!(
                why.starts_with("wrong key: no secret given for LAB-WS$"),
                "{why}"
            );
        } else {
            assert_eq!(c["decryption"], "no_key", "{c}");
            assert!(why.contains("needs LAB-RC4$'s machine secret"), "{why}");
        }
        assert!(c["status"].is_null() && c.get("decoded").is_none(), "{c}");
    }
    // no keys at all: each sealed call names the machine secret it needs
    let path = real("60-dc-schannel.pcap");
    let all = calls(&["calls", "--json", path.to_str().unwrap()]);
    for c in all.iter().filter(|c| c["auth_level"] == "pkt_privacy") {
        assert_eq!(c["decryption"], "no_key", "{c}");
        let why = c["decryption_reason"].as_str().unwrap();
        assert!(
            why.contains("needs LAB-WS$'s machine secret")
                || why.contains("needs LAB-RC4$'s machine secret"),
            "{why}"
        );
    }
}

#[test]
fn zerologon_attempts_are_shown_for_what_they_are() {
    let path = real("57-dc-netlogon-lsarpc.pcap");
    let all = calls(&["calls", "--json", path.to_str().unwrap()]);
    let flagged: Vec<&Value> = all
        .iter()
        .filter(|c| c["netlogon"]["zerologon"].is_string())
        .collect();
    // 4 tries against the DC's own account, its password change, one unknown account
    assert_eq!(flagged.len(), 11);
    for c in &flagged {
        // a patched DC: nothing accepted
        assert_eq!(c["netlogon"]["zerologon"], "attempt", "{c}");
    }
    // LAB-WS$'s real secure channel is not the pattern
    let real_setup = all
        .iter()
        .find(|c| opened(c) == Some("LAB-WS") && c["operation"] == "NetrServerAuthenticate3")
        .unwrap();
    assert!(
        real_setup["netlogon"].get("zerologon").is_none(),
        "{real_setup}"
    );
    let text = run(&["calls", path.to_str().unwrap()], None);
    let text = String::from_utf8(text.stdout).unwrap();
    assert_eq!(text.matches("Zerologon pattern").count(), 11);
}

#[test]
fn a_successful_zerologon_against_windows_is_called_accepted() {
    let Some(dir) = otrf() else { return };
    let path = dir.join("mimikatz_CVE-2020-1472_Unauthenticated_NetrServerAuthenticate2.pcap");
    let all = calls(&["calls", "--json", path.to_str().unwrap()]);
    let accepted: Vec<&Value> = all
        .iter()
        .filter(|c| c["netlogon"]["zerologon"] == "accepted")
        .collect();
    // the one NetrServerAuthenticate2 that the unpatched DC accepted, then the password change
    let ops: Vec<&str> = accepted
        .iter()
        .map(|c| c["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["NetrServerAuthenticate2", "NetrServerPasswordSet2"]);
    for c in &accepted {
        assert_eq!(c["status"]["code"], 0, "{c}");
    }
    // every refused try is an attempt, and so is every challenge before it
    let refused = all
        .iter()
        .filter(|c| c["operation"] == "NetrServerAuthenticate2" && c["status"]["code"] != 0)
        .count();
    let challenges = all
        .iter()
        .filter(|c| c["operation"] == "NetrServerReqChallenge")
        .count();
    let attempts = all
        .iter()
        .filter(|c| c["netlogon"]["zerologon"] == "attempt")
        .count();
    assert!(refused > 100, "{refused}");
    assert_eq!(attempts, refused + challenges);
}

/// The IP header of a captured Ethernet frame (pcap record header included), its version, and
/// the protocol after it (IPv6: the next header field) with the bytes after the fixed header.
fn ip_of(record: &[u8]) -> (u8, u8, &[u8]) {
    let ip = &record[16 + 14..];
    match ip[0] >> 4 {
        4 => (4, ip[9], &ip[usize::from(ip[0] & 0x0f) * 4..]),
        _ => (6, ip[6], &ip[40..]),
    }
}

/// True for a captured frame of TCP with port 88 on either side.
fn is_tcp_kdc(record: &[u8]) -> bool {
    let (_, protocol, tcp) = ip_of(record);
    protocol == 6 && (tcp[..2] == 88u16.to_be_bytes() || tcp[2..4] == 88u16.to_be_bytes())
}

/// True for a captured frame of IPv6 whose first extension header is a Fragment header.
fn is_ipv6_fragment(record: &[u8]) -> bool {
    ip_of(record).0 == 6 && ip_of(record).1 == 44
}

/// The capture `path` with only the frames `keep` chooses, written in `dir`.
fn frames_kept(path: &Path, dir: &Path, keep: impl Fn(&[u8]) -> bool) -> std::path::PathBuf {
    let (header, frames) = pcap_frames(&std::fs::read(path).unwrap());
    let kept: Vec<u8> = header
        .into_iter()
        .chain(frames.into_iter().filter(|f| keep(f)).flatten())
        .collect();
    let cut = dir.join(format!("{}.pcap", kept.len()));
    std::fs::write(&cut, kept).unwrap();
    cut
}

/// `summary --json --keytab KEYTAB` of a capture.
fn keyed_summary(capture: &Path, keytab: &str) -> Value {
    let o = run(
        &[
            "summary",
            "--json",
            "--keytab",
            keytab,
            capture.to_str().unwrap(),
        ],
        None,
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_krbtgt_key_opens_a_fast_armored_exchange_and_kerberos_is_read_over_udp() {
    let path = real("61-dc-kerberos-udp.pcap");
    let keytab = real("61-dc-kerberos-udp.krbtgt.keytab");
    let (p, k) = (path.to_str().unwrap(), keytab.to_str().unwrap());
    // Samba's client asks over UDP first, is told KRB_ERR_RESPONSE_TOO_BIG and asks again
    // over TCP; its TGS-REQs are FAST-armored, so the service ticket's session key comes from
    // a reply key made of the strengthen key.
    assert_kerberos_dcsync_opened(&calls(&["calls", "--json", "--decode", "--keytab", k, p]));
    // Without the TCP exchanges, the UDP ones (their TGS-REQs in IPv4 fragments) still teach
    // the ticket's session key, the subkey and the armor key, but not the service ticket's key.
    let dir = tempfile::tempdir().unwrap();
    let s = keyed_summary(&frames_kept(&path, dir.path(), |f| !is_tcp_kdc(f)), k);
    assert!(
        s["counters"]["kerberos_keys_learned"].as_u64().unwrap() >= 3,
        "{}",
        s["counters"]
    );
    assert!(
        s["frames"]["ipv4_reassembled"].as_u64().unwrap() >= 2,
        "{}",
        s["frames"]
    );
    assert_eq!(s["decryption"]["calls"]["no_key"], 4, "{}", s["decryption"]);
    let whole = keyed_summary(&path, k);
    assert!(
        whole["counters"]["kdc_messages"].as_u64().unwrap()
            > s["counters"]["kdc_messages"].as_u64().unwrap()
    );
}

/// 61 over IPv6: the client asks the KDC at its IPv6 address and its TGS-REQs, too big for the
/// link, go in IPv6 fragments; reassembled, they teach the same keys as 61's IPv4 ones.
#[test]
fn kerberos_in_ipv6_fragments_teaches_its_keys() {
    let path = real("69-dc-kerberos-udp6.pcap");
    let keytab = real("69-dc-kerberos-udp6.krbtgt.keytab");
    let (p, k) = (path.to_str().unwrap(), keytab.to_str().unwrap());
    assert_kerberos_dcsync_opened(&calls(&["calls", "--json", "--decode", "--keytab", k, p]));
    let whole = keyed_summary(&path, k);
    assert_eq!(whole["frames"]["ipv6_fragments"], 4, "{}", whole["frames"]);
    assert_eq!(
        whole["frames"]["ipv6_reassembled"], 2,
        "{}",
        whole["frames"]
    );
    // the UDP exchanges alone: the keys come from the two TGS-REQs in fragments
    let dir = tempfile::tempdir().unwrap();
    let udp = keyed_summary(&frames_kept(&path, dir.path(), |f| !is_tcp_kdc(f)), k);
    let learned = |s: &Value| s["counters"]["kerberos_keys_learned"].as_u64().unwrap_or(0);
    assert!(learned(&udp) >= 3, "{}", udp["counters"]);
    // without the fragments nothing of theirs is read
    let unfragmented = keyed_summary(
        &frames_kept(&path, dir.path(), |f| {
            !is_tcp_kdc(f) && !is_ipv6_fragment(f)
        }),
        k,
    );
    assert!(
        learned(&unfragmented) < learned(&udp),
        "{} {}",
        unfragmented["counters"],
        udp["counters"]
    );
    assert!(unfragmented["frames"].get("ipv6_fragments").is_none());
}

/// The calls of `62-dc-kerberos-lsa.pcap` (or of a copy of it) with its keytab.
fn kerberos_lsa_calls(capture: &Path) -> Vec<Value> {
    let keytab = real("62-dc-kerberos-lsa.keytab");
    calls(&[
        "calls",
        "--json",
        "--decode",
        "--keytab",
        keytab.to_str().unwrap(),
        capture.to_str().unwrap(),
    ])
}

/// A copy of capture 62 with one byte flipped `back` bytes before the end of frame `frame`
/// (1-based), in a temporary folder.
fn tampered_62(dir: &Path, frame: usize, back: usize) -> PathBuf {
    let (header, mut frames) =
        pcap_frames(&std::fs::read(real("62-dc-kerberos-lsa.pcap")).unwrap());
    let f = &mut frames[frame - 1];
    let at = f.len() - back;
    f[at] ^= 0x01;
    let path = dir.join("tampered.pcap");
    std::fs::write(&path, [header, frames.concat()].concat()).unwrap();
    path
}

#[test]
fn kerberos_mic_tokens_and_rc4_hmac_wrap_tokens_are_verified_and_opened() {
    let all = kerberos_lsa_calls(&real("62-dc-kerberos-lsa.pcap"));
    // LSARPC at pkt_integrity, with an AES then an RC4-HMAC session key: every MIC verified
    let signed: Vec<&Value> = all
        .iter()
        .filter(|c| c["auth_level"] == "pkt_integrity")
        .collect();
    assert_eq!(signed.len(), 4);
    for c in &signed {
        assert_eq!(c["signature"], "valid", "{c}");
        assert!(c["decryption"].is_null(), "{c}");
    }
    // the DCSync sealed with RC4-HMAC (RFC 4757 wrap tokens)
    assert_kerberos_dcsync_opened(&all);
    let sealed: Vec<&Value> = all
        .iter()
        .filter(|c| c["auth_level"] == "pkt_privacy")
        .collect();
    // One bit flipped in a signed stub (the byte before the sec_trailer and the MIC token) or
    // in a sealed one: the checksums no longer match.
    let dir = tempfile::tempdir().unwrap();
    let frame_of =
        |c: &Value| usize::try_from(c["request"]["frames"][0].as_u64().unwrap()).unwrap();
    for (i, c) in signed.iter().enumerate() {
        let token = if i < 2 { 28 } else { 37 };
        let copy = tampered_62(dir.path(), frame_of(c), token + 8 + 1);
        let after = kerberos_lsa_calls(&copy);
        let same = after
            .iter()
            .find(|d| d["request"]["frames"] == c["request"]["frames"])
            .unwrap();
        assert_eq!(same["signature"], "invalid", "{same}");
    }
    let copy = tampered_62(dir.path(), frame_of(sealed[0]), 45 + 8 + 1);
    let after = kerberos_lsa_calls(&copy);
    let same = after
        .iter()
        .find(|d| d["request"]["frames"] == sealed[0]["request"]["frames"])
        .unwrap();
    assert_eq!(same["decryption"], "failed", "{same}");
    assert!(same.get("decoded").is_none(), "{same}");
}
