//! The IDL parser and the lowering of every operation it declares into a decoding plan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::idl::parse;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse(&text, "fuzz.idl") {
        Ok(mut lib) => {
            lib.link();
            for iface in &lib.interfaces {
                for opnum in 0..iface.operations.len().min(256) {
                    let _ = lib.plan(iface, opnum as u16);
                }
            }
            for name in lib.types.keys().take(256) {
                let _ = lib.type_plan(name);
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.idl:"), "{e}"),
    }
});
