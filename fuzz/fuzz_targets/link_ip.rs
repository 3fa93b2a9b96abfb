//! Link and network layers: a frame of any supported link type, then IP (v4 and v6) reassembly of the
//! fragments among a series of frames and TCP parsing of the datagrams they complete.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::ip_defrag::Defragmenter;
use rpcscope::link::{self, Decoded};
use rpcscope::source::{LinkType, Timestamp};
use rpcscope_fuzz::Script;

const LINK_TYPES: [LinkType; 10] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_BSD,
    LinkType::RAW_OPENBSD,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

fuzz_target!(|data: &[u8]| {
    let mut script = Script::new(data);
    let link_type = LINK_TYPES[usize::from(script.u8()) % LINK_TYPES.len()];
    let mut defrag = Defragmenter::new();
    let mut secs = 0;
    while !script.is_empty() {
        let len = usize::from(script.u16() % 2048);
        secs += i64::from(script.u8() % 8);
        let frame = script.take(len);
        let Ok(decoded) = link::decode(link_type, frame) else {
            continue;
        };
        match decoded {
            Decoded::Tcp(seg) => assert!(seg.payload.len() <= frame.len()),
            Decoded::Udp(d) => assert!(d.payload.len() <= frame.len()),
            Decoded::IpFragment(frag) => {
                let ts = Timestamp { secs, nanos: 0 };
                if let Some(datagram) = defrag.add(&frag, 1, ts) {
                    let (protocol, payload) =
                        link::upper_layer(datagram.src, datagram.protocol, &datagram.payload);
                    assert!(payload.len() <= datagram.payload.len());
                    if protocol == 6 {
                        let _ = link::parse_tcp(datagram.src, datagram.dst, payload);
                    }
                }
            }
            Decoded::Other => {}
        }
    }
    let _ = defrag.stats();
});
