//! TCP reassembly of one direction driven by a segment script (SYN, segments with any sequence
//! number, length, cut tail and payload, the peer's acknowledgements): what it delivers is
//! contiguous, and at the end every byte offered is accounted for as data or gap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::source::Timestamp;
use rpcscope::tcp::Origin;
use rpcscope::tcp::reassembler::Reassembler;
use rpcscope_fuzz::{ContiguousStream, Script};

fuzz_target!(|data: &[u8]| {
    let mut script = Script::new(data);
    let mut r = Reassembler::new();
    let mut sink = ContiguousStream::default();
    // Sequence numbers near a chosen base, so that segments overlap and wrap around 2^32.
    let base = script.u32();
    let mut frame = 0;
    while !script.is_empty() {
        frame += 1;
        let origin = Origin {
            frame,
            ts: Timestamp::default(),
        };
        match script.u8() % 4 {
            0 => r.syn(base.wrapping_add(u32::from(script.u16()))),
            1 => r.peer_ack(base.wrapping_add(u32::from(script.u16())), &mut sink),
            2 => r.flush(&mut sink),
            _ => {
                let seq = base.wrapping_add(u32::from(script.u16()));
                let len = usize::from(script.u8());
                let lost_tail = u32::from(script.u8() % 4) * 100;
                let payload = script.take(len);
                r.segment(seq, payload, lost_tail, origin, &mut sink);
            }
        }
    }
    r.flush(&mut sink);
    let stats = r.stats();
    assert_eq!(stats.bytes, sink.delivered);
    assert_eq!(stats.gap_bytes, sink.lost);
});
