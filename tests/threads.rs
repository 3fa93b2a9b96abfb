//! The analysis gives the same output on one thread as on several (`--threads`): every call
//! (with its decoded parameters and unsealed stubs), every PDU record, the endpoints and the summary, for every
//! capture in `captures/` and, when `../shared` is present, every capture of the shared corpus
//! (with the lab's secrets and the corpus keytabs, so decryption runs too).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rpcscope::auth::keys::Keyring;
use rpcscope::output::json::{write_call, write_line, write_pdu};

fn captures_under(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures_under(&p, files);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("pcap" | "pcapng" | "cap")
        ) {
            files.push(p);
        }
    }
}

fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    captures_under(&root.join("captures"), &mut files);
    let corpus = root.join("../shared/corpus");
    if corpus.is_dir() {
        captures_under(&corpus, &mut files);
    } else {
        eprintln!(
            "{} is absent (the shared corpus is not part of this clone): only captures/ is compared",
            corpus.display()
        );
    }
    files.retain(|p| !p.to_string_lossy().contains(".expected"));
    files.sort();
    files
}

fn keys() -> Arc<Keyring> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ring = Keyring::default();
    ring.load_file(&root.join("captures/real/lab.keys"))
        .unwrap();
    let keytabs = root.join("../shared/corpus/otrf/keys");
    if let Ok(entries) = std::fs::read_dir(keytabs) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "keytab") {
                ring.load_keytab(&e.path()).unwrap();
            }
        }
    }
    Arc::new(ring)
}

/// Calls (JSON lines in capture order), PDU records, endpoints and summary of `capture` on
/// `threads`. A
/// keyring learns keys from the traffic, so each run gets a new one.
fn analysis(capture: &Path, setup: &rpcscope::Setup, threads: usize) -> String {
    let setup = rpcscope::Setup {
        threads,
        keys: setup.keys.as_ref().map(|_| keys()),
        ..setup.clone()
    };
    let mut out = Vec::new();
    let mut pdus = Vec::new();
    let mut on_pdu = |p| write_pdu(&mut pdus, &p).unwrap();
    let run = rpcscope::Analysis::from_path(capture)
        .setup(setup)
        .pdus(&mut on_pdu)
        .for_each_call(|c| write_call(&mut out, &c))
        .unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    out.extend(pdus);
    for e in &run.endpoints {
        write_line(&mut out, e).unwrap();
    }
    write_line(&mut out, &run.summary).unwrap();
    if let Some(e) = run.stopped_by {
        out.extend_from_slice(e.to_string().as_bytes());
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn every_capture_gives_the_same_output_on_one_two_and_eight_threads() {
    let mut library = rpcscope::idl::table::builtin_library().clone();
    library.decode_parameters = true;
    let setup = rpcscope::Setup {
        library: Some(Arc::new(library)),
        keys: Some(keys()),
        without_endpoint_records: false,
        threads: 1,
        limits: Default::default(),
        filter: None,
    };
    let files = captures();
    assert!(files.len() >= 60, "captures/ holds the real captures");
    let mut calls = 0;
    for capture in &files {
        let one = analysis(capture, &setup, 1);
        calls += one
            .lines()
            .filter(|l| l.starts_with("{\"type\":\"call\""))
            .count();
        for threads in [2, 8] {
            let many = analysis(capture, &setup, threads);
            assert!(
                one == many,
                "{}: {threads} threads differ from one",
                capture.display()
            );
        }
    }
    assert!(calls > 1000, "the captures hold calls ({calls})");
}

#[test]
fn a_truncated_capture_stops_at_the_same_frame_on_any_number_of_threads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let whole = std::fs::read(root.join("captures/real/58-dc-dcsync.pcap")).unwrap();
    let cut = &whole[..whole.len() * 2 / 3];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pcap");
    std::fs::write(&path, cut).unwrap();
    let setup = rpcscope::Setup {
        library: None,
        keys: None,
        without_endpoint_records: false,
        threads: 1,
        limits: Default::default(),
        filter: None,
    };
    let one = analysis(&path, &setup, 1);
    assert!(one.contains("\"type\":\"call\""), "calls before the cut");
    assert_eq!(one, analysis(&path, &setup, 2));
}

#[test]
fn a_failing_output_stops_every_thread() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let capture = root.join("captures/real/58-dc-dcsync.pcap");
    let setup = rpcscope::Setup {
        library: None,
        keys: None,
        without_endpoint_records: false,
        threads: 2,
        limits: Default::default(),
        filter: None,
    };
    let mut seen = 0;
    let result = rpcscope::Analysis::from_path(&capture)
        .setup(setup)
        .for_each_call(|_| {
            seen += 1;
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "closed",
            ))
        });
    assert!(
        matches!(result, Err(rpcscope::RunError::Output(ref e)) if e.kind() == std::io::ErrorKind::BrokenPipe),
        "{result:?}"
    );
    assert_eq!(seen, 1, "no call is handed over after the output failed");
}
