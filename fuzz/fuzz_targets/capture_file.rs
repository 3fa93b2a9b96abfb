//! Capture files (pcap, pcapng): every frame of any input is read or refused with an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::source::file::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new(data) else {
        return;
    };
    let _ = reader.format();
    // Every frame consumes input, so the loop ends; the bound only guards a regression.
    for _ in 0..=data.len() {
        match reader.next_frame() {
            Ok(Some(frame)) => assert!(frame.data.len() <= data.len()),
            Ok(None) | Err(_) => return,
        }
    }
    panic!("more frames than input bytes");
});
