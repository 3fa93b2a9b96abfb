//! NDR parameter decoding against fixed descriptions: the built-in table of Microsoft's
//! interfaces, both directions, NDR and NDR64, either byte order; the decoded values also render
//! as a tree and as JSON. Input: interface UUID (16 bytes, as on the wire), major version (2),
//! opnum (2), flags (1), stub; an interface the table lacks picks one by the UUID's first bytes,
//! so every operation is reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::dce::Uuid;
use rpcscope::idl::table::builtin_library;
use rpcscope::idl::values::{Decoded, Direction, StubBytes, decode_stub};
use rpcscope::ndr::Syntax;
use rpcscope_fuzz::Script;

fuzz_target!(|data: &[u8]| {
    let lib = builtin_library();
    let mut script = Script::new(data);
    let mut wire = [0u8; 16];
    let head = script.take(16);
    wire[..head.len()].copy_from_slice(head);
    let uuid = Uuid::from_wire(&wire, true);
    let major = script.u16();
    let opnum = script.u16();
    let iface = match lib.interface(uuid, major) {
        Some(iface) => iface,
        None => {
            let pick = usize::from(wire[0]) << 8 | usize::from(wire[1]);
            &lib.interfaces[pick % lib.interfaces.len()]
        }
    };
    let opnum = opnum % iface.operations.len().max(1) as u16;
    let flags = script.u8();
    let stub = StubBytes {
        bytes: script.rest(),
        direction: if flags & 1 == 0 {
            Direction::In
        } else {
            Direction::Out
        },
        little_endian: flags & 2 == 0,
        syntax: if flags & 4 == 0 {
            Syntax::Ndr
        } else {
            Syntax::Ndr64
        },
    };
    let mut decoded = Decoded::default();
    decode_stub(lib, iface, opnum, stub, &mut decoded);
    let _ = decoded.tree();
    let _ = decoded.key_parameters();
    serde_json::to_string(&decoded).expect("decoded values serialize");
});
