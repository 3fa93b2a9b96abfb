//! Snapshot of `calls --json` for every capture in `captures/` (real, public and synthetic). A change in
//! any call record shows up as a snapshot diff to review (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test` then `git diff`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut files = Vec::new();
    for dir in ["real", "public", "synthetic"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng")
            ) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn calls_json_matches_snapshot_for_every_capture() {
    let files = captures();
    assert!(
        files.len() >= 20,
        "expected the committed captures, found {}",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let (calls, run) = rpcscope::analyze(&bytes[..]).unwrap();
        assert!(
            run.stopped_by.is_none(),
            "{}: {:?}",
            path.display(),
            run.stopped_by
        );
        let mut out = Vec::new();
        for c in &calls {
            rpcscope::output::json::write_call(&mut out, c).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        // Only an encrypted SMB3 session shows no call.
        let encrypted = path.to_string_lossy().contains("encrypted");
        assert_eq!(text.is_empty(), encrypted, "{}", path.display());
        let dir = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let name = format!("{dir}__{}", path.file_stem().unwrap().to_string_lossy());
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn output_is_identical_on_every_run() {
    for path in captures() {
        let bytes = std::fs::read(&path).unwrap();
        let a = rpcscope::analyze(&bytes[..]).unwrap().0;
        let b = rpcscope::analyze(&bytes[..]).unwrap().0;
        assert_eq!(a, b, "{}", path.display());
    }
}
