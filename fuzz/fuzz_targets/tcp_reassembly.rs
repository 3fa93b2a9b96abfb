//! TCP reassembly of both directions of a connection driven by a segment script (SYNs, segments
//! with any sequence number, length, cut tail, payload and acknowledgement, FINs, the end of
//! the connection): through `tcp::late::Streams`, so segments that acknowledge bytes not yet
//! delivered wait and are given up. What each direction delivers must be contiguous from 0 and
//! account for every byte as data or gap, and nothing may wait once the connection is flushed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::source::Timestamp;
use rpcscope::tcp::late::{Budget, ConnectionSink, Segment, Streams};
use rpcscope::tcp::{Dir, Origin};
use rpcscope_fuzz::{ContiguousStream, Script};

/// Both directions' deliveries, each checked by a [`ContiguousStream`].
#[derive(Default)]
struct Both([ContiguousStream; 2]);

impl ConnectionSink for Both {
    fn data(&mut self, dir: Dir, offset: u64, bytes: &[u8], origin: Origin) {
        rpcscope::tcp::StreamSink::data(&mut self.0[dir.index()], offset, bytes, origin);
    }

    fn gap(&mut self, dir: Dir, offset: u64, len: u64) {
        rpcscope::tcp::StreamSink::gap(&mut self.0[dir.index()], offset, len);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut script = Script::new(data);
    let mut streams = Streams::new();
    let mut budget = Budget::default();
    let mut sink = Both::default();
    // Sequence numbers near a base per direction, so that segments overlap and wrap around 2^32.
    let base = [script.u32(), script.u32()];
    let mut frame = 0;
    while !script.is_empty() {
        frame += 1;
        let op = script.u8();
        let dir = if op & 1 == 0 {
            Dir::FromInitiator
        } else {
            Dir::FromResponder
        };
        let other = base[dir.reverse().index()];
        match (op >> 1) % 4 {
            0 => streams.syn(dir, base[dir.index()].wrapping_add(u32::from(script.u8()))),
            1 => {
                streams.flush(&mut sink, &mut budget);
                assert_eq!(budget.floor(), None, "nothing waits after a flush");
                assert_eq!(budget.held(), 0, "nothing is counted after a flush");
            }
            _ => {
                let seq = base[dir.index()].wrapping_add(u32::from(script.u16()));
                let ack = (op & 0x40 == 0).then(|| other.wrapping_add(u32::from(script.u16())));
                let len = usize::from(script.u8());
                let missing_tail = u32::from(script.u8() % 4) * 100;
                let payload = script.take(len);
                let segment = Segment {
                    dir,
                    seq,
                    ack,
                    payload,
                    missing_tail,
                    fin: op & 0x80 != 0,
                    origin: Origin {
                        frame,
                        ts: Timestamp::default(),
                    },
                };
                streams.segment(&segment, &mut sink, &mut budget);
            }
        }
    }
    streams.flush(&mut sink, &mut budget);
    assert_eq!(budget.floor(), None, "nothing waits after a flush");
    assert_eq!(budget.held(), 0, "nothing is counted after a flush");
    for dir in [Dir::FromInitiator, Dir::FromResponder] {
        let stats = streams.stats(dir);
        let seen = &sink.0[dir.index()];
        assert_eq!(stats.bytes, seen.delivered);
        assert_eq!(stats.gap_bytes, seen.lost);
    }
});
