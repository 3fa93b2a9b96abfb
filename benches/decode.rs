//! Cost of decoding parameters: the real captures of `captures/real/` 48-58 (samr, lsarpc,
//! svcctl, winreg, srvsvc, spoolss, netlogon, DCSync and pipe traffic against Samba) analysed
//! with the built-in descriptions, parameters decoded, against the same analysis without
//! decoding (the floor), in the same run. Prints microseconds per call and the ratio; the
//! first line also times rebuilding the built-in descriptions once.
//!
//! Run: `cargo bench --bench decode`.
// A benchmark, like a test, stops at the first thing that cannot be set up.
#![allow(clippy::expect_used)]

mod support;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::median;

use rpcscope::idl::Library;

/// Passes over the captures per timing.
const ROUNDS: usize = 20;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
    let mut captures: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("captures/real")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| ("48".."59").contains(&n.get(..2).unwrap_or("")))
        })
        .map(|p| std::fs::read(p).expect("a capture"))
        .collect();
    captures.sort();
    let start = Instant::now();
    let mut lib = rpcscope::idl::table::builtin_library().clone();
    println!("built-in descriptions rebuilt in {:?}", start.elapsed());
    lib.merge(rpcscope::idl::builtin::library().expect("built-in IDL parses"));
    let plain = Arc::new(Library::default());
    lib.decode_parameters = true;
    let decoding = Arc::new(lib);
    let mut calls = 0usize;
    let mut decoded = 0usize;
    for c in &captures {
        let (got, _) = rpcscope::analyze_with(c, Some(Arc::clone(&decoding))).expect("analyses");
        calls += got.len();
        decoded += got.iter().filter(|c| c.decoded.is_some()).count();
    }
    let run = |lib: &Arc<Library>| {
        for _ in 0..ROUNDS {
            for c in &captures {
                black_box(rpcscope::analyze_with(c, Some(Arc::clone(lib))).expect("analyses"));
            }
        }
    };
    let floor = median(5, || run(&plain));
    let with = median(5, || run(&decoding));
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / (calls * ROUNDS) as f64;
    println!(
        "{} captures, {calls} calls ({decoded} decoded) x {ROUNDS}: without decoding {:.1} µs/call, decoding {:.1} µs/call, ratio {:.2}",
        captures.len(),
        per_call(floor),
        per_call(with),
        with.as_secs_f64() / floor.as_secs_f64()
    );
}
