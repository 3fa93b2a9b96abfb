//! The bytes rpcscope decrypts are Wireshark's: for every sealed call of the lab captures (and of
//! a Windows capture when `../shared` is there) that both decrypt, the clear stub of each
//! single-fragment request and response equals tshark's "Decrypted stub data" of that frame
//! (which also holds the auth padding). Skips with a message when tshark is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rpcscope::auth::keys::Keyring;
use rpcscope::idl::values::SideStub;
use rpcscope::model::Call;

fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name)
}

fn have_tshark() -> bool {
    let found = Command::new("tshark").arg("-v").output().is_ok();
    if !found {
        eprintln!("SKIPPED: tshark is not installed (package tshark)");
    }
    found
}

/// The "Decrypted stub data" blocks tshark prints with `-x`, by frame number.
fn tshark_stubs(capture: &Path, prefs: &[&str]) -> HashMap<u64, Vec<Vec<u8>>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(capture).arg("-P").arg("-x");
    for p in prefs {
        cmd.arg("-o").arg(p);
    }
    let out = cmd.arg("-Y").arg("dcerpc").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut blocks: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
    let mut frame = 0;
    let mut current: Option<Vec<u8>> = None;
    for line in text.lines() {
        if line.starts_with("Decrypted stub data (") {
            current = Some(Vec::new());
            continue;
        }
        if let Some(bytes) = current.as_mut() {
            // "0000  05 00 ...  ascii": 16 hex bytes in fixed columns after the offset
            let is_hex_line = line.len() > 6 && line[..4].chars().all(|c| c.is_ascii_hexdigit());
            if is_hex_line {
                let columns = &line[6..line.len().min(6 + 16 * 3)];
                bytes.extend(
                    columns
                        .split_whitespace()
                        .take_while(|t| t.len() == 2)
                        .filter_map(|t| u8::from_str_radix(t, 16).ok()),
                );
                continue;
            }
            blocks
                .entry(frame)
                .or_default()
                .push(current.take().unwrap());
        }
        let mut words = line.split_whitespace();
        if let (Some(n), Some(t)) = (words.next(), words.next())
            && t.contains('.')
            && let Ok(n) = n.parse::<u64>()
        {
            frame = n;
        }
    }
    if let Some(bytes) = current {
        blocks.entry(frame).or_default().push(bytes);
    }
    blocks
}

/// The calls of a capture with the given secrets, their stubs kept.
fn calls_with_stubs(capture: &Path, keys: Keyring) -> Vec<Call> {
    let mut library = rpcscope::idl::table::builtin_library().clone();
    library.decode_parameters = true;
    library.keep_stubs = true;
    let setup = rpcscope::Setup {
        library: Some(Arc::new(library)),
        keys: Some(Arc::new(keys)),
        without_endpoint_records: false,
        threads: 1,
        limits: Default::default(),
        filter: None,
    };
    let file = std::fs::File::open(capture).unwrap();
    let (calls, _) = rpcscope::Analysis::from_reader(file)
        .setup(setup)
        .calls()
        .unwrap();
    calls
}

/// Compares each decrypted single-fragment stub with tshark's block of its frame; returns how
/// many were equal, and fails on any that differs.
fn compare(capture: &Path, keys: Keyring, prefs_runs: &[&[&str]]) -> usize {
    let mut blocks: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
    for prefs in prefs_runs {
        for (frame, b) in tshark_stubs(capture, prefs) {
            blocks.entry(frame).or_default().extend(b);
        }
    }
    let mut equal = 0;
    let calls = calls_with_stubs(capture, keys);
    for c in calls {
        if c.decryption != Some("decrypted") {
            continue;
        }
        let Some(stubs) = &c.stubs else { continue };
        for (span, side) in [(&c.request, &stubs.request), (&c.response, &stubs.response)] {
            let (Some(span), SideStub::Whole(ours)) = (span, side) else {
                continue;
            };
            if span.fragments != 1 {
                continue;
            }
            let Some(theirs) = blocks.get(&span.frames[1]) else {
                continue; // tshark did not decrypt it
            };
            let same = theirs
                .iter()
                .any(|t| t.starts_with(ours) && t.len() - ours.len() < 16);
            assert!(
                same,
                "{}: frame {}: {} stub bytes differ from tshark's",
                capture.display(),
                span.frames[1],
                ours.len()
            );
            equal += 1;
        }
    }
    eprintln!(
        "{}: {equal} decrypted stubs equal to tshark's",
        capture.display()
    );
    equal
}

fn ring(keys_file: Option<&str>, keytab: Option<&Path>) -> Keyring {
    let mut ring = Keyring::default();
    if let Some(k) = keys_file {
        ring.load_file(&real(k)).unwrap();
    }
    if let Some(k) = keytab {
        ring.load_keytab(k).unwrap();
    }
    ring
}

/// Kerberos preferences of tshark for a keytab.
fn kerberos_prefs(keytab: &Path) -> [String; 2] {
    [
        "kerberos.decrypt:TRUE".to_string(),
        format!("kerberos.file:{}", keytab.display()),
    ]
}

#[test]
fn decrypted_stubs_are_the_bytes_tshark_decrypts() {
    if !have_tshark() {
        return;
    }
    // NTLMSSP (the lab password): DCSync's DRSUAPI calls
    let n = compare(
        &real("58-dc-dcsync.pcap"),
        ring(Some("lab.keys"), None),
        &[&["ntlmssp.nt_password:Rpcscope-Lab-1"]],
    );
    assert!(n >= 20, "58: {n}");
    // the Netlogon secure channel, AES then RC4 (tshark takes one machine password per run)
    let n = compare(
        &real("60-dc-schannel.pcap"),
        ring(Some("lab.keys"), None),
        &[
            &["ntlmssp.nt_password:lab-ws"],
            &["ntlmssp.nt_password:lab-rc4"],
        ],
    );
    assert!(n >= 12, "60: {n}");
    // Kerberos: AES with the domain keytab, FAST with the krbtgt key only, RC4-HMAC
    for (capture, keytab, least) in [
        ("59-dc-kerberos.pcap", "59-dc-kerberos.keytab", 7),
        (
            "61-dc-kerberos-udp.pcap",
            "61-dc-kerberos-udp.krbtgt.keytab",
            7,
        ),
        (
            "69-dc-kerberos-udp6.pcap",
            "69-dc-kerberos-udp6.krbtgt.keytab",
            7,
        ),
        ("62-dc-kerberos-lsa.pcap", "62-dc-kerberos-lsa.keytab", 7),
    ] {
        let keytab = real(keytab);
        let prefs = kerberos_prefs(&keytab);
        let prefs: Vec<&str> = prefs.iter().map(String::as_str).collect();
        let n = compare(&real(capture), ring(None, Some(&keytab)), &[&prefs]);
        assert!(n >= least, "{capture}: {n}");
    }
    // Windows: Empire's psexec, svcctl sealed by Windows with Kerberos (OTRF)
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/otrf");
    if !shared.join("keys").is_dir() {
        eprintln!("SKIPPED (Windows part): {} is absent", shared.display());
        return;
    }
    let name = "empire_psexec_dcerpc_tcp_svcctl_WORKSTATION6";
    let keytab = shared.join(format!("keys/otrf_{name}_sessionkeys.keytab"));
    let prefs = kerberos_prefs(&keytab);
    let prefs: Vec<&str> = prefs.iter().map(String::as_str).collect();
    let n = compare(
        &shared.join(format!("{name}.pcap")),
        ring(None, Some(&keytab)),
        &[&prefs],
    );
    assert!(n >= 10, "{name}: {n}");
}
