//! DCOM: OXID resolver and activation answers (string bindings, interface pointers),
//! activation requests, RemQueryInterface, and the OBJREF scan of any stub.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::dcom;
use rpcscope::idl::values::{Direction, StubBytes};
use rpcscope::ndr::Syntax;
use rpcscope_fuzz::Script;

/// The operations whose stubs DCOM analysis reads.
const OPERATIONS: [(rpcscope::dce::Uuid, u16); 8] = [
    (dcom::IOBJECT_EXPORTER, 0),
    (dcom::IOBJECT_EXPORTER, 4),
    (dcom::IOBJECT_EXPORTER, 5),
    (dcom::IREMOTE_SCM_ACTIVATOR, 3),
    (dcom::IREMOTE_SCM_ACTIVATOR, 4),
    (dcom::IACTIVATION, 0),
    (dcom::IREM_UNKNOWN, 3),
    (dcom::IREM_UNKNOWN2, 3),
];

fuzz_target!(|data: &[u8]| {
    let mut script = Script::new(data);
    let (interface, opnum) = OPERATIONS[usize::from(script.u8()) % OPERATIONS.len()];
    let flags = script.u8();
    let syntax = if flags & 4 == 0 {
        Syntax::Ndr
    } else {
        Syntax::Ndr64
    };
    let little_endian = flags & 2 == 0;
    let split = usize::from(script.u16());
    let rest = script.rest();
    let (request, response) = rest.split_at(split.min(rest.len()));
    let side = |bytes, direction| StubBytes {
        bytes,
        direction,
        little_endian,
        syntax,
    };
    let _ = dcom::decode_response(interface, opnum, side(response, Direction::Out));
    let _ = dcom::activation_request(interface, opnum, side(request, Direction::In));
    if dcom::is_rem_query_interface(interface, opnum) {
        let _ = dcom::rem_query_interface(
            interface,
            side(request, Direction::In),
            side(response, Direction::Out),
        );
    }
    let _ = dcom::scan_objrefs(rest);
});
