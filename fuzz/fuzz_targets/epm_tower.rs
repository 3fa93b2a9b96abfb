//! Endpoint-mapper protocol towers (C706 appendix L): floors, the interface and the endpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::epm::tower;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tower::parse(data) {
        let _ = t.interface();
        let _ = t.endpoint();
    }
});
