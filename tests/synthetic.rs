//! Synthetic captures for what real peers will not produce: 1-byte segments, reordered and
//! duplicated segments, a gap in the middle of a fragment, 100 interleaved calls, a capture that
//! starts in the middle of a connection. Each test builds its capture with `tests/support`,
//! checks the calls, and checks that `captures/synthetic/NAME.pcap` holds exactly those bytes
//! (set `RPCSCOPE_WRITE_SYNTHETIC=1` to rewrite the files after changing a builder).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::*;

fn committed(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("captures/synthetic")
        .join(name);
    if std::env::var_os("RPCSCOPE_WRITE_SYNTHETIC").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with RPCSCOPE_WRITE_SYNTHETIC=1 to create it",
            path.display()
        )
    });
    assert!(
        on_disk == bytes,
        "{} differs from its builder; run with RPCSCOPE_WRITE_SYNTHETIC=1 to rewrite it",
        path.display()
    );
}

fn calls(pcap_bytes: &[u8]) -> Vec<Value> {
    calls_jsonl(pcap_bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn brief(c: &Value) -> (u64, String, u64, u64, u64) {
    (
        c["call_id"].as_u64().unwrap(),
        c["outcome"].as_str().unwrap().to_string(),
        c["request"]["fragments"].as_u64().unwrap_or(0),
        c["response"]["fragments"].as_u64().unwrap_or(0),
        c["request"]["stub_len"].as_u64().unwrap_or(0),
    )
}

#[test]
fn one_byte_segments_yield_whole_calls() {
    let (client, server) = simple_session(3, 700, 300, 256);
    let mut conv = Conversation::new(49_700);
    let ack_len = bind_ack(1).len();
    conv.client(&client[..72], &[1]);
    conv.server(&server[..ack_len], &[1]);
    conv.client(&client[72..], &[1]);
    conv.server(&server[ack_len..], &[1]);
    conv.close();
    let bytes = pcap(&conv.frames());
    committed("one-byte-segments.pcap", &bytes);
    let got = calls(&bytes);
    assert_eq!(got.len(), 3);
    for c in &got {
        assert_eq!(c["outcome"], "response");
        assert_eq!(c["response"]["fragments"], 2);
        assert_eq!(c["interface"]["name"], "Samr");
        assert_eq!(c["operation"], "SamrOpenDomain");
        assert_eq!(brief(c).2, 3, "700 stub bytes in 256-byte fragments");
        assert_eq!(c["request"]["stub_len"], 700);
    }
}

#[test]
fn reordered_and_duplicated_segments_yield_the_same_calls() {
    let (client, server) = simple_session(4, 1000, 2000, 900);
    let mut clean = Conversation::new(49_701);
    clean.client(&client, &[333]);
    clean.server(&server, &[500]);
    clean.close();
    let baseline: Vec<_> = calls(&pcap(&clean.frames())).iter().map(brief).collect();
    assert_eq!(baseline.len(), 4);

    // Reverse each flight, duplicate every third segment, and add an overlapping resend.
    let mut messy = clean.clone();
    let data: Vec<Segment> = messy.segments.drain(3..messy.segments.len() - 2).collect();
    let (c, s): (Vec<_>, Vec<_>) = data.into_iter().partition(|s| s.from_client);
    let tail: Vec<Segment> = messy.segments.drain(3..).collect();
    for flight in [c, s] {
        let mut out = Vec::new();
        for (i, seg) in flight.iter().rev().enumerate() {
            out.push(seg.clone());
            if i % 3 == 0 {
                out.push(seg.clone());
            }
        }
        let mut overlap = flight[1].clone();
        overlap.seq = overlap.seq.wrapping_sub(10);
        let mut payload = flight[0].payload[flight[0].payload.len() - 10..].to_vec();
        payload.extend(&flight[1].payload);
        overlap.payload = payload;
        out.push(overlap);
        messy.segments.extend(out);
    }
    messy.segments.extend(tail);
    let bytes = pcap(&messy.frames());
    committed("reordered-duplicated.pcap", &bytes);
    // Reversed flights change which call's first byte comes first, so compare by call_id.
    let mut got: Vec<_> = calls(&bytes).iter().map(brief).collect();
    got.sort();
    assert_eq!(got, baseline);
    assert!(got.iter().all(|c| c.1 == "response"));
}

#[test]
fn gap_in_a_fragment_marks_only_that_call_incomplete() {
    let (client, server) = simple_session(3, 600, 100, 300);
    let mut conv = Conversation::new(49_702);
    conv.client(&client, &[100]);
    conv.server(&server, &[1460]);
    conv.close();
    // Request of call 3 starts at 72 + 2 * 324 = 720; drop the segment carrying bytes 800..900
    // (inside its first fragment).
    let drop_at = conv
        .segments
        .iter()
        .position(|s| s.from_client && s.payload.len() == 100 && s.seq == 1001 + 800)
        .unwrap();
    conv.segments.remove(drop_at);
    let bytes = pcap(&conv.frames());
    committed("gap-mid-fragment.pcap", &bytes);
    let got = calls(&bytes);
    let outcomes: Vec<_> = got
        .iter()
        .map(|c| (c["call_id"].as_u64().unwrap(), c["outcome"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (2, "response".into()),
            (3, "incomplete".into()),
            (4, "response".into())
        ]
    );
    let (_, run) = rpcscope::analyze(&bytes[..]).unwrap();
    assert_eq!(run.summary.tcp.gaps, 1);
    assert_eq!(run.summary.tcp.gap_bytes, 100);
}

#[test]
fn hundred_interleaved_calls_are_each_matched() {
    let mut client = bind(1, 0);
    let mut server = bind_ack(1);
    // Every call's first fragment, then every second fragment in reverse order.
    for id in 2..102u32 {
        client.extend(request(id, 0, (id % 60) as u16, 100, 1));
    }
    for id in (2..102u32).rev() {
        client.extend(request(id, 0, 0, 50 + id as usize, 2));
    }
    // Responses: first fragments of odd calls, then all even calls whole, then odd last parts.
    for id in (3..102u32).step_by(2) {
        server.extend(response(id, 0, 10, 1));
    }
    for id in (2..102u32).step_by(2) {
        if id % 10 == 0 {
            server.extend(fault(id, 0, 0x1c01_0002));
        } else {
            server.extend(response(id, 0, 20, 3));
        }
    }
    for id in (3..102u32).step_by(2) {
        server.extend(response(id, 0, 30, 2));
    }
    let mut conv = Conversation::new(49_703);
    conv.client(&client, &[1460]);
    conv.server(&server, &[1460]);
    conv.close();
    let bytes = pcap(&conv.frames());
    committed("interleaved-100.pcap", &bytes);
    let got = calls(&bytes);
    assert_eq!(got.len(), 100);
    for c in &got {
        let id = c["call_id"].as_u64().unwrap();
        assert_eq!(c["opnum"], id % 60);
        assert_eq!(c["request"]["fragments"], 2);
        assert_eq!(c["request"]["stub_len"], 150 + id);
        if id % 10 == 0 {
            assert_eq!(c["outcome"], "fault");
            assert_eq!(c["fault_name"], "nca_s_op_rng_error");
        } else {
            assert_eq!(c["outcome"], "response");
            let expect = if id % 2 == 1 { (2, 40) } else { (1, 20) };
            assert_eq!(c["response"]["fragments"], expect.0);
            assert_eq!(c["response"]["stub_len"], expect.1);
        }
    }
}

#[test]
fn capture_starting_mid_connection_finds_the_next_pdu() {
    let (client, server) = simple_session(3, 200, 100, 1000);
    let mut conv = Conversation::new(49_704);
    conv.client(&client[..72], &[72]);
    conv.server(&server, &[1460]);
    // Requests in 3 segments: the capture starts with the second half of call 2's request.
    let second = &client[72..];
    conv.client(second, &[100, 124, 224, 224]);
    conv.close();
    // Drop the handshake, the bind exchange and the first request segment.
    let late: Vec<Segment> = conv
        .segments
        .iter()
        .filter(|s| s.from_client && !s.payload.is_empty() && s.seq >= 1001 + 72 + 100)
        .cloned()
        .collect();
    let mut responses = conv.clone();
    responses.segments = late;
    let mut server_only = Conversation::new(49_704);
    server_only.segments.clear();
    // The server's replies after the requests, each acknowledging everything.
    let mut sseq = 4_000_000_001u32.wrapping_add(server.len() as u32);
    for id in 2..5u32 {
        let r = response(id, 0, 100, 3);
        server_only.segments.push(Segment {
            from_client: false,
            seq: sseq,
            ack: 1001 + client.len() as u32,
            flags: PSH_ACK,
            payload: r.clone(),
        });
        sseq = sseq.wrapping_add(r.len() as u32);
    }
    responses.segments.extend(server_only.segments);
    let bytes = pcap(&responses.frames());
    committed("starts-mid-connection.pcap", &bytes);
    let got = calls(&bytes);
    let ids: Vec<_> = got
        .iter()
        .map(|c| (c["call_id"].as_u64().unwrap(), c["outcome"].clone()))
        .collect();
    // Call 2's request began before the capture: seen only by its response, so it sorts by the
    // response frame. Calls 3 and 4 are whole. No bind was captured: the interface is unknown.
    assert_eq!(
        ids,
        [
            (3, "response".into()),
            (4, "response".into()),
            (2, "response".into())
        ]
    );
    assert!(got[2]["request"].is_null());
    assert!(got.iter().all(|c| c["interface"].is_null()));
    assert_eq!(got[0]["client"], "10.1.0.1:50000");
    assert_eq!(got[2]["client"], "10.1.0.1:50000");
}

/// C706 §12.6.4.7: a server may fault a call while the client is still sending its request
/// (an [in] pipe); the request fragments that follow belong to the faulted call and start no
/// new one. (`captures/real/48-pipe-in-fault.pcap` is the same with impacket and a real server.)
#[test]
fn request_fragments_after_a_fault_stay_with_the_faulted_call() {
    let mut conv = Conversation::new(49_710);
    conv.client(&bind(1, 0), &[]);
    conv.server(&bind_ack(1), &[]);
    conv.client(&request(2, 0, 7, 100, 1), &[]);
    conv.client(&request(2, 0, 7, 100, 0), &[]);
    conv.server(&fault(2, 0, 0x1c00_0015), &[]);
    conv.client(&request(2, 0, 7, 100, 0), &[]);
    conv.client(&request(2, 0, 7, 100, 2), &[]);
    conv.client(&fragmented(3, 40, 40, true), &[]);
    conv.server(&fragmented(3, 8, 8, false), &[]);
    conv.close();
    let got: Vec<_> = calls(&pcap(&conv.frames())).iter().map(brief).collect();
    assert_eq!(
        got,
        [
            (2, "fault".to_string(), 4, 1, 400),
            (3, "response".to_string(), 1, 1, 40)
        ]
    );
}

#[test]
fn decoding_limits_are_counted_in_the_summary() {
    // A description of opnum 7 of samr's UUID as a linked list: a request stub of 'A's reads as
    // a chain of non-null pointers longer than MAX_POINTER_CHAIN.
    let idl = "[uuid(12345778-1234-abcd-ef00-0123456789ac), version(1.0)] interface chain { \
        typedef struct _N { [unique] struct _N *next; } N; \
        void o0(void); void o1(void); void o2(void); void o3(void); void o4(void); \
        void o5(void); void o6(void); void o7([in, unique] N *list); }";
    let mut lib = rpcscope::idl::parse(idl, "chain.idl").unwrap();
    lib.decode_parameters = true;
    let mut conv = Conversation::new(49_720);
    conv.client(&bind(1, 0), &[]);
    conv.server(&bind_ack(1), &[]);
    conv.client(&request(2, 0, 7, 700, 3), &[]);
    conv.server(&response(2, 0, 8, 3), &[]);
    // a stub longer than MAX_DECODE_STUB_BYTES is not decoded at all
    let long = rpcscope::dcerpc::stubs::MAX_DECODE_STUB_BYTES + 4000;
    conv.client(&fragmented(3, long, 4000, true), &[]);
    conv.server(&response(3, 0, 8, 3), &[]);
    conv.close();
    let (calls, run) =
        rpcscope::analyze_with(&pcap(&conv.frames()), Some(std::sync::Arc::new(lib))).unwrap();
    let errors = |i: usize| calls[i].decoded.as_ref().unwrap().errors.join(" | ");
    assert!(errors(0).contains("MAX_POINTER_CHAIN"), "{}", errors(0));
    assert!(errors(1).contains("stub longer than"), "{}", errors(1));
    let summary = serde_json::to_value(&run.summary).unwrap();
    let count = |kind: &str| summary["anomalies"][kind]["count"].as_u64();
    assert_eq!(
        count("limit_pointer_chain"),
        Some(1),
        "{}",
        summary["anomalies"]
    );
    assert_eq!(
        count("limit_decode_stub_bytes"),
        Some(1),
        "{}",
        summary["anomalies"]
    );
}

/// A call whose first PDU comes in several segments sorts at the frame of the first one: a
/// whole call of another connection captured between those segments comes after it, on one
/// thread (calls handed over after every frame) as on two.
#[test]
fn a_call_whose_first_pdu_spans_segments_keeps_its_place_in_the_output() {
    let request_of_a = request(2, 0, 7, 3000, 3);
    let mut a = Conversation::new(135);
    a.client(&bind(1, 0), &[1460]);
    a.server(&bind_ack(1), &[1460]);
    a.client(&request_of_a, &[1000]);
    a.server(&response(2, 0, 16, 3), &[1460]);
    a.close();
    let mut b = Conversation::new(135);
    b.client_ip = std::net::Ipv4Addr::new(10, 1, 0, 9);
    b.client_port = 50001;
    b.client(&bind(1, 0), &[1460]);
    b.server(&bind_ack(1), &[1460]);
    b.client(&request(2, 0, 7, 16, 3), &[1460]);
    b.server(&response(2, 0, 16, 3), &[1460]);
    b.close();
    let (fa, fb) = (a.frames(), b.frames());
    // A's frames up to the first segment of its request, then all of B's, then the rest of A's
    let first_segment = a
        .segments
        .iter()
        .position(|s| s.payload.starts_with(&request_of_a[..16]))
        .unwrap();
    let frames: Vec<Vec<u8>> = fa[..=first_segment]
        .iter()
        .chain(&fb)
        .chain(&fa[first_segment + 1..])
        .cloned()
        .collect();
    let bytes = pcap(&frames);
    let one = calls(&bytes);
    let first_frames: Vec<u64> = one
        .iter()
        .map(|c| c["request"]["frames"][0].as_u64().unwrap())
        .collect();
    assert_eq!(
        first_frames,
        [first_segment as u64 + 1, first_segment as u64 + 1 + 6],
        "{one:?}"
    );
    let (two, _) = rpcscope::Analysis::from_bytes(&bytes)
        .threads(2)
        .calls()
        .unwrap();
    let two: Vec<Value> = two.iter().map(support::call_json).collect();
    assert_eq!(one, two);
}
