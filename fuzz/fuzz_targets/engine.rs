//! The whole engine from capture bytes, as `calls --json --decode` runs it: both passes,
//! Microsoft's interface descriptions for parameters, a key ring with a password (so sealed
//! stubs are tried), every call and every PDU record written as JSON.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rpcscope::auth::keys::Keyring;
use rpcscope::idl::{Library, builtin, table};
use rpcscope::output::json::{write_call, write_pdu};
use rpcscope::{Analysis, Setup};

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut lib: Library = builtin::library().expect("built-in descriptions parse");
        lib.merge(table::builtin_library().clone());
        lib.decode_parameters = true;
        let mut keys = Keyring::default();
        keys.parse_text("password Administrator Passw0rd!\n", None, "fuzz keys")
            .expect("keys text parses");
        Setup {
            library: Some(Arc::new(lib)),
            keys: Some(Arc::new(keys)),
            threads: 1,
            ..Setup::default()
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let mut pdus = Vec::new();
    let mut on_pdu = |p| {
        let _ = write_pdu(&mut pdus, &p);
    };
    let _ = Analysis::from_bytes(data)
        .setup(setup().clone())
        .pdus(&mut on_pdu)
        .for_each_call(|call| write_call(&mut out, &call));
});
