//! Property tests: no parser panics on any input, and any segmentation, reordering or
//! duplication of a TCP stream yields the same calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use proptest::prelude::*;
use rpcscope::dcerpc::pdu::{parse_header, parse_pdu};
use rpcscope::link;
use rpcscope::source::LinkType;
use rpcscope::source::file::CaptureReader;
use support::*;

/// A small deterministic generator for shuffles inside one proptest case.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn call_summary(bytes: &[u8]) -> Vec<(u64, String, u64, u64, u64, u64)> {
    let mut v: Vec<_> = calls_jsonl(bytes)
        .lines()
        .map(|l| {
            let c: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                c["call_id"].as_u64().unwrap(),
                c["outcome"].as_str().unwrap().to_string(),
                c["request"]["fragments"].as_u64().unwrap_or(0),
                c["request"]["stub_len"].as_u64().unwrap_or(0),
                c["response"]["fragments"].as_u64().unwrap_or(0),
                c["response"]["stub_len"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pdu_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_header(&bytes);
        let _ = parse_pdu(&bytes);
        let mut v = bytes.clone();
        if v.len() >= 16 {
            // Make the header plausible so the body parsers run on hostile bodies.
            v[0] = 5;
            v[1] = 0;
            v[4] = 0x10;
            let len = v.len() as u16;
            v[8..10].copy_from_slice(&len.to_le_bytes());
            let _ = parse_pdu(&v);
        }
    }

    #[test]
    fn link_decoder_never_panics(
        link_type in prop::sample::select(vec![0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9]),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let _ = link::decode(LinkType(link_type), &bytes);
    }

    #[test]
    fn capture_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for magic in [[0xd4u8, 0xc3, 0xb2, 0xa1], [0x0a, 0x0d, 0x0d, 0x0a], [0xa1, 0xb2, 0x3c, 0x4d]] {
            let mut input = magic.to_vec();
            input.extend(&bytes);
            if let Ok(mut r) = CaptureReader::new(&input[..]) {
                for _ in 0..100 {
                    match r.next_frame() {
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            }
        }
    }

    #[test]
    fn engine_never_panics_on_mutated_real_traffic(
        flips in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..40),
    ) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/real/17-pipelined.pcap");
        let mut bytes = std::fs::read(path).unwrap();
        for (at, v) in flips {
            let i = 24 + at as usize % (bytes.len() - 24);
            bytes[i] = v;
        }
        let _ = rpcscope::analyze(&bytes[..]);
    }

    #[test]
    fn any_segmentation_reordering_or_duplication_yields_the_same_calls(
        calls in 1u32..6,
        req_stub in 1usize..3000,
        resp_stub in 1usize..3000,
        frag in 64usize..1500,
        sizes in proptest::collection::vec(1usize..1600, 1..12),
        seed in 1u64..u64::MAX,
        reorder in any::<bool>(),
        duplicate in any::<bool>(),
    ) {
        let (client, server) = simple_session(calls, req_stub, resp_stub, frag);
        let mut clean = Conversation::new(49_900);
        clean.client(&client, &[1460]);
        clean.server(&server, &[1460]);
        clean.close();
        let baseline = call_summary(&pcap(&clean.frames()));
        prop_assert_eq!(baseline.len(), calls as usize);

        let mut rng = XorShift(seed);
        let mut messy = Conversation::new(49_900);
        let handshake = messy.segments.clone();
        messy.client(&client, &sizes);
        let client_flight = messy.segments.split_off(handshake.len());
        messy.server(&server, &sizes);
        let server_flight = messy.segments.split_off(handshake.len());
        messy.segments = handshake;
        for mut flight in [client_flight, server_flight] {
            if reorder {
                // Local reordering, as networks do: each segment moves at most 32 places, which
                // stays within the reassembler's out-of-order limits (MAX_PENDING_SEGMENTS).
                for i in 0..flight.len() {
                    let j = i + rng.below(32.min(flight.len() - i));
                    flight.swap(i, j);
                }
            }
            if duplicate {
                // Retransmissions: copies that arrive up to 32 segments after the original.
                let n = flight.len();
                for _ in 0..n / 2 + 1 {
                    let i = rng.below(flight.len());
                    let copy = flight[i].clone();
                    let at = (i + 1 + rng.below(32)).min(flight.len());
                    flight.insert(at, copy);
                }
            }
            messy.segments.extend(flight);
        }
        let got = call_summary(&pcap(&messy.frames()));
        prop_assert_eq!(got, baseline);
    }
}

/// The TCP payloads of the first SMB connection of a capture, as alternating flights
/// (client?, bytes), in capture order.
fn smb_flights(path: &str) -> Vec<(bool, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = CaptureReader::new(&bytes[..]).unwrap();
    let mut client_port = None;
    let mut flights: Vec<(bool, Vec<u8>)> = Vec::new();
    while let Some(frame) = reader.next_frame().unwrap() {
        let Ok(link::Decoded::Tcp(seg)) = link::decode(frame.link_type, frame.data) else {
            continue;
        };
        let (sp, dp) = (seg.src.port(), seg.dst.port());
        if sp != 445 && dp != 445 {
            continue;
        }
        let client = *client_port.get_or_insert(if dp == 445 { sp } else { dp });
        if sp != client && dp != client {
            continue;
        }
        if seg.payload.is_empty() {
            continue;
        }
        let from_client = sp == client;
        match flights.last_mut() {
            Some((c, b)) if *c == from_client => b.extend_from_slice(seg.payload),
            _ => flights.push((from_client, seg.payload.to_vec())),
        }
    }
    flights
}

fn pipe_calls(bytes: &[u8]) -> Vec<String> {
    calls_jsonl(bytes)
        .lines()
        .map(|l| {
            let c: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {} {} {} {} {} {} {} {}",
                c["file_id"],
                c["pipe"],
                c["call_id"],
                c["opnum"],
                c["outcome"],
                c["request"]["fragments"],
                c["request"]["stub_len"],
                c["response"]["fragments"],
                c["response"]["stub_len"]
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_smb_messages_yields_the_same_calls(
        sizes in proptest::collection::vec(1usize..3000, 1..10),
    ) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/real/24-np-multi-pipe.pcap");
        let flights = smb_flights(path);
        let build = |sizes: &[usize]| {
            let mut conv = Conversation::new(445);
            for (from_client, bytes) in &flights {
                if *from_client {
                    conv.client(bytes, sizes);
                } else {
                    conv.server(bytes, sizes);
                }
            }
            pcap(&conv.frames())
        };
        let baseline = pipe_calls(&build(&[1460]));
        prop_assert!(baseline.len() >= 20, "{} calls", baseline.len());
        prop_assert_eq!(pipe_calls(&build(&sizes)), baseline);
    }
}
