//! Filter expressions of `--filter` and the terminal interface: the parser (an error names a
//! column inside the expression), and an expression that parses evaluated against the calls of
//! a real capture with its parameters decoded.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rpcscope::Analysis;
use rpcscope::filter::Filter;
use rpcscope::model::Call;

/// The calls of a shipped capture with their parameters decoded (Samr lookups: successes,
/// errors, a fault, authenticated and plain binds).
fn calls() -> &'static [Call] {
    static CALLS: OnceLock<Vec<Call>> = OnceLock::new();
    CALLS.get_or_init(|| {
        let bytes = include_bytes!("../../captures/real/50-samr-lookups.pcap");
        let mut library = rpcscope::idl::table::builtin_library().clone();
        library.decode_parameters = true;
        let (calls, _) = Analysis::from_bytes(bytes)
            .library(Arc::new(library))
            .calls()
            .expect("a shipped capture");
        calls
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Filter::parse(text) {
        Ok(filter) => {
            for c in calls() {
                let _ = filter.matches(c);
            }
        }
        Err(e) => {
            assert!(
                e.column >= 1 && e.column <= text.chars().count() + 1,
                "column {} outside an expression of {} characters",
                e.column,
                text.chars().count()
            );
        }
    }
});
