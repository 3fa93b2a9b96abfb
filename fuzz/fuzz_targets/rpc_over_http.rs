//! RPC over HTTP version 2 channels (MS-RPCH §2.1.2): HTTP heads, bodies and the RTS PDU that
//! names the virtual connection, fed as `direction u8, length u16 LE, bytes` chunks (a
//! direction byte above 1 is a gap of `length` bytes in direction `byte & 1`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::rpch::{Delivery, HeldAnswerBytes, HttpChannel, VirtualStreams};
use rpcscope::source::Timestamp;
use rpcscope::tcp::{Dir, Origin};

fuzz_target!(|data: &[u8]| {
    let mut ch = HttpChannel::new(
        std::net::SocketAddr::from(([10, 0, 0, 1], 50000)),
        std::net::SocketAddr::from(([10, 0, 0, 2], 80)),
    );
    let (mut fed, mut delivered, mut passed) = (0usize, 0usize, 0usize);
    let mut streams = VirtualStreams::default();
    let mut held = HeldAnswerBytes::default();
    let mut rest = data;
    let mut frame = 0;
    while rest.len() >= 3 {
        let (op, len) = (rest[0], usize::from(u16::from_le_bytes([rest[1], rest[2]])));
        rest = &rest[3..];
        let dir = if op & 1 == 0 {
            Dir::FromInitiator
        } else {
            Dir::FromResponder
        };
        let mut count = |d: Delivery<'_>| match d {
            Delivery::Bytes { dir, bytes, span } => {
                delivered += bytes.len();
                streams.bytes(dir, bytes, span, &mut held, &mut |_, b, _| {
                    passed += b.len()
                });
            }
            Delivery::Gap { dir, .. } => {
                streams.gap(dir, &mut held, &mut |_, b, _| passed += b.len())
            }
            _ => {}
        };
        if op > 1 {
            ch.gap(dir, len as u64, &mut count);
            continue;
        }
        let n = len.min(rest.len());
        frame += 1;
        let at = Origin {
            frame,
            ts: Timestamp::default(),
        };
        ch.data(dir, &rest[..n], at, &mut count);
        fed += n;
        rest = &rest[n..];
    }
    streams.release_all(&mut held, &mut |_, b, _| passed += b.len());
    assert!(delivered <= fed, "more bytes delivered than fed");
    assert!(passed <= delivered, "more bytes passed on than delivered");
});
