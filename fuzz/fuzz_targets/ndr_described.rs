//! NDR decoding against a fuzzed description: the input is IDL text, a NUL byte, then a stub;
//! every operation of every interface the text declares decodes the stub in both directions
//! (recursive, self-referential and deeply nested types included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::idl::parse;
use rpcscope::idl::values::{Decoded, Direction, StubBytes, decode_stub};
use rpcscope::ndr::Syntax;

/// Operations decoded per input at most (a description may declare thousands).
const MAX_OPERATIONS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (text, stub) = data.split_at(split);
    let stub = stub.get(1..).unwrap_or(&[]);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(mut lib) = parse(text, "fuzz.idl") else {
        return;
    };
    lib.link();
    let mut decoded_ops = 0;
    for iface in &lib.interfaces {
        for opnum in 0..iface.operations.len() {
            for (direction, syntax) in [
                (Direction::In, Syntax::Ndr),
                (Direction::Out, Syntax::Ndr64),
            ] {
                if decoded_ops == MAX_OPERATIONS {
                    return;
                }
                decoded_ops += 1;
                let mut d = Decoded::default();
                let bytes = StubBytes {
                    bytes: stub,
                    direction,
                    little_endian: true,
                    syntax,
                };
                decode_stub(&lib, iface, opnum as u16, bytes, &mut d);
                let _ = d.tree();
                serde_json::to_string(&d).expect("decoded values serialize");
            }
        }
    }
});
