//! Authentication tokens carried in binds and SMB session setups: NTLMSSP messages, SPNEGO
//! negotiations, Kerberos AP-REQ / AP-REP and KDC messages (with an empty key ring).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::auth::keys::Keyring;
use rpcscope::auth::{kerberos, ntlmssp, spnego};

fuzz_target!(|data: &[u8]| {
    let _ = ntlmssp::parse(data);
    if let Some(n) = spnego::parse(data) {
        let _ = format!("{n:?}");
    }
    let _ = spnego::application(data);
    let _ = kerberos::parse_ap_req(data);
    let _ = kerberos::parse_ap_rep(data);
    let _ = kerberos::learn_from_kdc(data, &Keyring::default());
});
