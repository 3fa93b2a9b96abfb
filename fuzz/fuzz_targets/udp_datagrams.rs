//! Connectionless DCE/RPC (C706 chapter 12): UDP payloads as `flags u8, length u16 LE, bytes`
//! (flag bit 0: from the server; bit 1: a second client) through the header test and the
//! call table, then the end of the capture; the calls reported must be as many as were opened.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::context::SessionContext;
use rpcscope::dcerpc::call::TransportInfo;
use rpcscope::dcerpc::connectionless::{self, Datagrams};
use rpcscope::source::Timestamp;
use rpcscope::tcp::Origin;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let mut info = TransportInfo {
        transport: connectionless::TRANSPORT,
        pipe: None,
        file_id: None,
        sec_addr: None,
        expected: None,
        library: None,
        keys: None,
        senders: [SocketAddr::from(([0, 0, 0, 0], 0)); 2],
        kept_stub_bytes: Default::default(),
    };
    let mut cx = SessionContext::default();
    let mut datagrams = Datagrams::default();
    let server = SocketAddr::from(([10, 0, 0, 2], 135));
    let mut rest = data;
    let mut frame: u32 = 0;
    while rest.len() >= 3 {
        let (flags, len) = (rest[0], usize::from(u16::from_le_bytes([rest[1], rest[2]])));
        rest = &rest[3..];
        let n = len.min(rest.len());
        let payload = &rest[..n];
        rest = &rest[n..];
        frame += 1;
        let at = Origin {
            frame: u64::from(frame),
            ts: Timestamp {
                secs: i64::from(frame),
                nanos: 0,
            },
        };
        let client = SocketAddr::from(([10, 0, 0, 1 + (flags >> 1 & 1)], 50000));
        let (src, dst) = if flags & 1 == 0 {
            (client, server)
        } else {
            (server, client)
        };
        if let Some(h) = connectionless::parse_header(payload) {
            datagrams.datagram(&h, payload, (src, dst), at, at, &mut info, &mut cx);
        }
        if flags & 0x80 != 0 {
            datagrams.expire(at.ts, &mut info, &mut cx);
        }
    }
    datagrams.finish(&mut info, &mut cx);
    let section = datagrams.section().unwrap_or_default();
    let reported = cx.outbox.take_ready().count() as u64;
    assert_eq!(
        reported, section.calls,
        "every call opened is reported once"
    );
});
