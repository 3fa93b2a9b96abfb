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

/// A PDU of `ptype` (auth3 from the client, bind_ack from the server, request, response) with
/// an auth verifier of `auth_type`/`level` carrying `value`; request and response carry `stub`.
fn with_verifier(ptype: u8, auth_type: u8, level: u8, value: &[u8], stub: &[u8]) -> Vec<u8> {
    let body: Vec<u8> = match ptype {
        16 => vec![0; 4],
        12 => vec![0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        _ => {
            let mut b = u32::try_from(stub.len()).unwrap().to_le_bytes().to_vec();
            b.extend([0, 0, 1, 0]);
            b.extend(stub);
            b
        }
    };
    let frag_len = 16 + body.len() + 8 + value.len();
    let mut pdu = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    pdu.extend(u16::try_from(frag_len).unwrap().to_le_bytes());
    pdu.extend(u16::try_from(value.len()).unwrap().to_le_bytes());
    pdu.extend(7u32.to_le_bytes());
    pdu.extend(body);
    pdu.extend([auth_type, level, 0, 0, 1, 0, 0, 0]);
    pdu.extend(value);
    pdu
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Corrupted handshake tokens (NTLMSSP-looking, SPNEGO-looking or random) and protected
    /// PDUs with any stub and signature never panic the security layer, with keys or without.
    #[test]
    fn security_layer_never_panics(
        tokens in proptest::collection::vec(
            (0u8..3, proptest::collection::vec(any::<u8>(), 0..160)), 1..5),
        auth_type in prop_oneof![Just(9u8), Just(10), Just(16), Just(68), any::<u8>()],
        level in 5u8..=6,
        stub in proptest::collection::vec(any::<u8>(), 0..64),
        signature in proptest::collection::vec(any::<u8>(), 0..40),
        keys in any::<bool>(),
    ) {
        use rpcscope::dcerpc::security::Security;
        use rpcscope::tcp::Dir;
        let ring = keys.then(|| {
            let mut k = rpcscope::auth::keys::Keyring::default();
            k.parse_text("password user pw\nnthash bob 31d6cfe0d16ae931b73c59d7e0c089c0\n", None, "k")
                .unwrap();
            std::sync::Arc::new(k)
        });
        let mut security = Security::new(ring);
        for (i, (shape, raw)) in tokens.iter().enumerate() {
            let token = match shape {
                0 => [b"NTLMSSP\0".as_slice(), &[(i % 3 + 1) as u8, 0, 0, 0], raw].concat(),
                1 => [&[0x60, 0x82, 0x01, 0x00, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02][..], raw].concat(),
                _ => raw.clone(),
            };
            let ptype = if i % 2 == 0 { 16 } else { 12 };
            let bytes = with_verifier(ptype, auth_type, level, &token, &[]);
            if let Ok(pdu) = parse_pdu(&bytes) {
                security.on_handshake(&pdu, &bytes);
            }
        }
        for (ptype, dir) in [(0u8, Dir::FromInitiator), (2, Dir::FromResponder)] {
            let bytes = with_verifier(ptype, auth_type, level, &signature, &stub);
            if let Ok(pdu) = parse_pdu(&bytes) {
                let out = security.on_protected(dir, &pdu, &bytes);
                if let Some(plain) = out.bytes {
                    prop_assert_eq!(plain.len(), bytes.len());
                }
            }
            security.on_truncated(dir, rpcscope::dce::codes::PacketType(ptype), 4000, 16, false);
        }
    }
}
