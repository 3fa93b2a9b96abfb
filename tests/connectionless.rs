//! Connectionless DCE/RPC over UDP (`ncadg_ip_udp`, C706 chapter 12).
//!
//! Real traffic: the public captures of `captures/public/` (PROFINET IO controllers and devices,
//! and Suricata's test capture), checked call by call here; the Wireshark differential test
//! (`tests/wireshark_agreement.rs`) compares them with tshark too. The edge cases no available
//! peer produces are in `captures/synthetic/connectionless.pcap`, built by [`scenario`] below:
//! the file is rebuilt and compared byte for byte (`RPCSCOPE_WRITE_SYNTHETIC=1` rewrites it),
//! then every call is checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn capture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(dir)
        .join(name)
}

/// Calls, endpoints and the summary of a capture, as the binary prints them.
fn run(path: &Path) -> (Vec<Value>, Vec<Value>, Value) {
    let lines = |args: &[&str]| -> Vec<Value> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rpcscope"))
            .args(args)
            .arg(path)
            .output()
            .expect("rpcscope runs");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let calls = lines(&["calls", "--json"]);
    let endpoints = lines(&["endpoints", "--json"]);
    let summary = lines(&["summary", "--json"]).remove(0);
    (calls, endpoints, summary)
}

// ---- a builder of connectionless PDUs in Ethernet/IPv4/UDP frames ----

const EPM: &str = "e1af8308-5d1f-11c9-91a4-08002b14a0fa";
const NDR: &str = "8a885d04-1ceb-11c9-9fe8-08002b104860";
const IFACE: &str = "6d5a2f3e-8a31-4b7c-9e2d-1f0a3b4c5d6e";

const CLIENT: [u8; 4] = [10, 2, 0, 1];
const SERVER: [u8; 4] = [10, 2, 0, 2];

/// A UUID in wire layout for the byte order `le`.
fn uuid(s: &str, le: bool) -> [u8; 16] {
    let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
    let mut b = [0u8; 16];
    for i in 0..16 {
        b[i] =
            u8::from_str_radix(std::str::from_utf8(&hex[2 * i..2 * i + 2]).unwrap(), 16).unwrap();
    }
    if le {
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
    }
    b
}

/// What one connectionless PDU says.
#[derive(Clone)]
struct Pdu {
    ptype: u8,
    flags1: u8,
    le: bool,
    interface: &'static str,
    if_vers: u32,
    activity: u8,
    seq: u32,
    opnum: u16,
    fragnum: u16,
    body: Vec<u8>,
}

impl Pdu {
    fn new(ptype: u8, activity: u8, seq: u32, body: Vec<u8>) -> Self {
        Self {
            ptype,
            flags1: 0,
            le: true,
            interface: IFACE,
            if_vers: 1,
            activity,
            seq,
            opnum: 1,
            fragnum: 0,
            body,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let le = self.le;
        let u16b = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let u32b = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut b = vec![4, self.ptype, self.flags1, 0];
        b.extend([if le { 0x10 } else { 0 }, 0, 0, 0]);
        b.extend([0u8; 16]); // object: nil
        b.extend(uuid(self.interface, le));
        let activity = format!(
            "{:02x}000000-aaaa-4bbb-8ccc-0000000000{:02x}",
            self.activity, self.activity
        );
        b.extend(uuid(&activity, le));
        b.extend(u32b(1_700_000_000)); // server boot
        b.extend(u32b(self.if_vers));
        b.extend(u32b(self.seq));
        b.extend(u16b(self.opnum));
        b.extend(u16b(0xffff)); // ihint
        b.extend(u16b(0xffff)); // ahint
        b.extend(u16b(self.body.len() as u16));
        b.extend(u16b(self.fragnum));
        b.extend([0, 0]); // auth_proto, serial_lo
        b.extend(&self.body);
        b
    }
}

/// An Ethernet frame holding an IPv4 packet (`flags_offset`: the IPv4 flags and fragment
/// offset field) with `payload`.
fn ipv4_frame(src: [u8; 4], dst: [u8; 4], id: u16, flags_offset: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend(total.to_be_bytes());
    ip.extend(id.to_be_bytes());
    ip.extend(flags_offset.to_be_bytes());
    ip.extend([64, 17, 0, 0]);
    ip.extend(src);
    ip.extend(dst);
    let sum = {
        let mut s: u32 = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend(ip);
    f.extend(payload);
    f
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    u
}

/// The frames of a scenario, with the addresses of each datagram.
#[derive(Default)]
struct Frames {
    frames: Vec<Vec<u8>>,
    ip_id: u16,
}

impl Frames {
    /// `pdu` from the client's `cport` to the server's `sport` (or back when `to_server` is
    /// false), in one frame; returns its frame number.
    fn send(&mut self, to_server: bool, cport: u16, sport: u16, pdu: &Pdu) -> u64 {
        let (src, dst, a, b) = if to_server {
            (CLIENT, SERVER, cport, sport)
        } else {
            (SERVER, CLIENT, sport, cport)
        };
        self.ip_id += 1;
        self.frames.push(ipv4_frame(
            src,
            dst,
            self.ip_id,
            0,
            &udp(a, b, &pdu.bytes()),
        ));
        self.frames.len() as u64
    }

    /// `pdu` to the server in IPv4 fragments of at most `size` bytes; returns the frame of
    /// the first.
    fn send_fragmented(&mut self, cport: u16, sport: u16, pdu: &Pdu, size: usize) -> u64 {
        self.ip_id += 1;
        let datagram = udp(cport, sport, &pdu.bytes());
        let first = self.frames.len() as u64 + 1;
        let chunks: Vec<&[u8]> = datagram.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let more = if i + 1 < chunks.len() { 0x2000 } else { 0 };
            let offset = (i * size / 8) as u16;
            self.frames
                .push(ipv4_frame(CLIENT, SERVER, self.ip_id, more | offset, chunk));
        }
        first
    }
}

/// An `ept_map` request stub asking for `IFACE` over UDP.
fn ept_map_request() -> Vec<u8> {
    let tower = tower(&[0x0a], 0x08, 0, [0, 0, 0, 0]);
    let mut b = Vec::new();
    b.extend(0u32.to_le_bytes()); // object: null
    b.extend(1u32.to_le_bytes()); // map_tower referent
    b.extend((tower.len() as u32).to_le_bytes());
    b.extend((tower.len() as u32).to_le_bytes());
    b.extend(&tower);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b.extend([0u8; 20]); // entry handle
    b.extend(4u32.to_le_bytes()); // max_towers
    b
}

/// A tower for `IFACE` 1.0 over NDR: protocol floor `proto`, then the port floor `port_floor`
/// (0x07 TCP, 0x08 UDP) with `port`, and the IP floor with `ip`.
fn tower(proto: &[u8], port_floor: u8, port: u16, ip: [u8; 4]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(5u16.to_le_bytes());
    for (id, version) in [(IFACE, 1u16), (NDR, 2)] {
        t.extend(19u16.to_le_bytes());
        t.push(0x0d);
        t.extend(uuid(id, true));
        t.extend(version.to_le_bytes());
        t.extend(2u16.to_le_bytes());
        t.extend(0u16.to_le_bytes());
    }
    t.extend(1u16.to_le_bytes());
    t.extend(proto);
    t.extend(2u16.to_le_bytes());
    t.extend(0u16.to_le_bytes());
    t.extend(1u16.to_le_bytes());
    t.push(port_floor);
    t.extend(2u16.to_le_bytes());
    t.extend(port.to_be_bytes());
    t.extend(1u16.to_le_bytes());
    t.push(0x09);
    t.extend(4u16.to_le_bytes());
    t.extend(ip);
    t
}

/// An `ept_map` answer announcing `IFACE` on UDP `udp_port` (host 0.0.0.0: the answering
/// server) and on TCP `tcp_port` of the server.
fn ept_map_response(udp_port: u16, tcp_port: u16) -> Vec<u8> {
    let towers = [
        tower(&[0x0a], 0x08, udp_port, [0, 0, 0, 0]),
        tower(&[0x0b], 0x07, tcp_port, SERVER),
    ];
    let mut b = Vec::new();
    b.extend([0u8; 20]); // entry handle
    b.extend(2u32.to_le_bytes()); // num_towers
    b.extend(4u32.to_le_bytes()); // max_count
    b.extend(0u32.to_le_bytes()); // offset
    b.extend(2u32.to_le_bytes()); // actual_count
    b.extend(1u32.to_le_bytes()); // referents
    b.extend(2u32.to_le_bytes());
    for t in &towers {
        b.extend((t.len() as u32).to_le_bytes());
        b.extend((t.len() as u32).to_le_bytes());
        b.extend(t);
        while b.len() % 4 != 0 {
            b.push(0);
        }
    }
    b.extend(0u32.to_le_bytes()); // status
    b
}

const REQUEST: u8 = 0;
const PING: u8 = 1;
const RESPONSE: u8 = 2;
const FAULT: u8 = 3;
const WORKING: u8 = 4;
const NOCALL: u8 = 5;
const REJECT: u8 = 6;
const ACK: u8 = 7;
const LAST_FRAG: u8 = 0x02;
const FRAG: u8 = 0x04;

/// The scenario of `captures/synthetic/connectionless.pcap`: each exchange on its own client
/// port, frame numbers kept for the checks.
struct Scenario {
    pcap: Vec<u8>,
    /// The ept_map answer's frame.
    answer: u64,
    /// The first frame of the IPv4-fragmented request.
    ip_fragmented_first: u64,
    /// The frame of the fragmented request's last IPv4 fragment.
    ip_fragmented_last: u64,
}

fn scenario() -> Scenario {
    let mut f = Frames::default();
    let status = |s: u32| s.to_le_bytes().to_vec();
    // 1. ept_map over UDP 135, answered with a UDP and a TCP endpoint
    let mut q = Pdu::new(REQUEST, 1, 0, ept_map_request());
    q.interface = EPM;
    q.if_vers = 3;
    q.opnum = 3;
    f.send(true, 1030, 135, &q);
    let mut r = Pdu::new(RESPONSE, 1, 0, ept_map_response(2000, 49700));
    r.interface = EPM;
    r.if_vers = 3;
    r.opnum = 3;
    let answer = f.send(false, 1030, 135, &r);
    // 2. a request in three fragments, sent out of order, to the announced port
    let frag = |n: u16, flags: u8| {
        let mut p = Pdu::new(REQUEST, 2, 0, vec![n as u8; 100]);
        p.fragnum = n;
        p.flags1 = FRAG | flags;
        p
    };
    f.send(true, 1031, 2000, &frag(2, LAST_FRAG));
    f.send(true, 1031, 2000, &frag(0, 0));
    f.send(true, 1031, 2000, &frag(1, 0));
    f.send(false, 1031, 2000, &Pdu::new(RESPONSE, 2, 0, status(0)));
    f.send(true, 1031, 2000, &Pdu::new(ACK, 2, 0, Vec::new()));
    // 3. a retransmitted request and a duplicated response
    for _ in 0..2 {
        f.send(true, 1032, 2000, &Pdu::new(REQUEST, 3, 7, vec![1; 8]));
    }
    for _ in 0..2 {
        f.send(false, 1032, 2000, &Pdu::new(RESPONSE, 3, 7, status(5)));
    }
    // 4. a fault: nca_op_rng_error
    let mut q = Pdu::new(REQUEST, 4, 0, vec![0; 4]);
    q.opnum = 99;
    f.send(true, 1033, 2000, &q);
    f.send(
        false,
        1033,
        2000,
        &Pdu::new(FAULT, 4, 0, status(0x1c01_0002)),
    );
    // 5. a reject of interface version 1.2: nca_unk_if
    let mut q = Pdu::new(REQUEST, 5, 0, vec![0; 4]);
    q.if_vers = 0x0002_0001;
    f.send(true, 1034, 2000, &q);
    let mut j = Pdu::new(REJECT, 5, 0, status(0x1c01_0003));
    j.if_vers = 0x0002_0001;
    f.send(false, 1034, 2000, &j);
    // 6. a request missing its middle fragment
    let mut a = Pdu::new(REQUEST, 6, 0, vec![0; 40]);
    a.flags1 = FRAG;
    f.send(true, 1035, 2000, &a);
    a.fragnum = 2;
    a.flags1 = FRAG | LAST_FRAG;
    f.send(true, 1035, 2000, &a);
    // 7. pings, working and nocall, never answered
    f.send(true, 1036, 2000, &Pdu::new(REQUEST, 7, 0, vec![0; 4]));
    f.send(true, 1036, 2000, &Pdu::new(PING, 7, 0, Vec::new()));
    f.send(false, 1036, 2000, &Pdu::new(WORKING, 7, 0, Vec::new()));
    f.send(true, 1036, 2000, &Pdu::new(PING, 7, 0, Vec::new()));
    f.send(false, 1036, 2000, &Pdu::new(NOCALL, 7, 0, Vec::new()));
    // 8. a response whose request was not captured
    let mut r = Pdu::new(RESPONSE, 8, 50, status(0));
    r.opnum = 4;
    f.send(false, 1037, 2000, &r);
    // 9. a request of 3,000 bytes in IPv4 fragments, answered from another port
    let ip_fragmented_first =
        f.send_fragmented(1038, 2000, &Pdu::new(REQUEST, 9, 0, vec![9; 3000]), 1480);
    let ip_fragmented_last = f.frames.len() as u64;
    f.send(false, 1038, 2001, &Pdu::new(RESPONSE, 9, 0, status(0)));
    // 10. big-endian
    let mut q = Pdu::new(REQUEST, 10, 3, vec![0; 12]);
    q.le = false;
    f.send(true, 1039, 2000, &q);
    let mut r = Pdu::new(RESPONSE, 10, 3, vec![0, 0, 0, 0]);
    r.le = false;
    f.send(false, 1039, 2000, &r);
    // 11. a ping of a call never seen
    f.send(true, 1040, 2000, &Pdu::new(PING, 11, 0, Vec::new()));
    // 12. a response missing its last fragment
    f.send(true, 1041, 2000, &Pdu::new(REQUEST, 12, 0, vec![0; 4]));
    let mut r = Pdu::new(RESPONSE, 12, 0, vec![0; 64]);
    r.flags1 = FRAG;
    f.send(false, 1041, 2000, &r);
    Scenario {
        pcap: support::pcap(&f.frames),
        answer,
        ip_fragmented_first,
        ip_fragmented_last,
    }
}

/// The call of activity `n` (its UUID starts with `n` as two hex digits).
fn call_of(calls: &[Value], n: u8) -> &Value {
    let prefix = format!("{n:02x}000000-");
    calls
        .iter()
        .find(|c| {
            c["activity"]
                .as_str()
                .is_some_and(|a| a.starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("no call of activity {n}"))
}

#[test]
fn synthetic_connectionless_capture_is_current() {
    let s = scenario();
    let path = capture("synthetic", "connectionless.pcap");
    if std::env::var_os("RPCSCOPE_WRITE_SYNTHETIC").is_some() {
        std::fs::write(&path, &s.pcap).unwrap();
    }
    let committed = std::fs::read(&path).expect("captures/synthetic/connectionless.pcap");
    assert!(
        committed == s.pcap,
        "captures/synthetic/connectionless.pcap differs from its builder; \
         RPCSCOPE_WRITE_SYNTHETIC=1 cargo test --test connectionless rewrites it"
    );
}

#[test]
fn every_connectionless_case_is_reported() {
    let s = scenario();
    let dir = tempfile_dir();
    let path = dir.join("connectionless.pcap");
    std::fs::write(&path, &s.pcap).unwrap();
    let (calls, endpoints, summary) = run(&path);
    assert_eq!(calls.len(), 11, "{calls:#?}");
    for c in &calls {
        assert_eq!(c["transport"], "ncadg_ip_udp");
        assert_eq!(c["context_id"], Value::Null);
        assert_eq!(c["pipe"], Value::Null);
    }

    // 1. the endpoint mapper over UDP, decoded, and its endpoints learned
    let epm = call_of(&calls, 1);
    assert_eq!(epm["interface"]["name"], "Epm");
    assert_eq!(epm["operation"], "ept_map");
    assert_eq!(epm["interface_source"], "request");
    assert_eq!(epm["outcome"], "response");
    assert_eq!(epm["status"]["code"], 0, "{epm}");
    let towers = &epm["epm"]["endpoints"];
    assert_eq!(towers.as_array().map(Vec::len), Some(2), "{epm}");
    assert_eq!(endpoints.len(), 2, "{endpoints:#?}");
    let udp = endpoints
        .iter()
        .find(|e| e["protocol"] == "ncadg_ip_udp")
        .unwrap();
    assert_eq!(udp["port"], 2000);
    assert_eq!(udp["frame"], s.answer);
    let used: Vec<&str> = udp["used_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(used.contains(&"10.2.0.1:1031->10.2.0.2:2000"), "{used:?}");
    assert!(!used.iter().any(|u| u.ends_with(":135")), "{used:?}");

    // 2. three fragments out of order: FIRST is the first to come, LAST where the set completed
    let c = call_of(&calls, 2);
    assert_eq!(c["request"]["fragments"], 3);
    assert_eq!(c["request"]["stub_len"], 300);
    assert_eq!(c["request"]["frames"][0], s.answer + 1);
    assert_eq!(c["request"]["frames"][1], s.answer + 3);
    assert_eq!(c["outcome"], "response");
    assert_eq!(c["endpoint_frame"], s.answer);
    assert_eq!(c["interface"]["uuid"], IFACE);
    assert_eq!(c["interface"]["version"], "1.0");

    // 3. repeats count once
    let c = call_of(&calls, 3);
    assert_eq!(c["call_id"], 7);
    assert_eq!(c["request"]["fragments"], 1);
    assert_eq!(c["request"]["frames"][0], c["request"]["frames"][1]);
    assert_eq!(c["response"]["fragments"], 1);
    assert_eq!(c["outcome"], "response");

    // 4 and 5. a fault and a reject
    let c = call_of(&calls, 4);
    assert_eq!(c["outcome"], "fault");
    assert_eq!(c["fault_name"], "nca_s_op_rng_error");
    assert_eq!(c["response"]["stub_len"], 0);
    assert_eq!(c["opnum"], 99);
    let c = call_of(&calls, 5);
    assert_eq!(c["outcome"], "fault");
    assert_eq!(c["fault_name"], "nca_s_unk_if");
    assert_eq!(c["interface"]["version"], "1.2");

    // 6 and 12. missing fragments
    let c = call_of(&calls, 6);
    assert_eq!(c["outcome"], "incomplete");
    assert_eq!(c["request"]["fragments"], 2);
    let c = call_of(&calls, 12);
    assert_eq!(c["outcome"], "incomplete");
    assert_eq!(c["duration_us"], Value::Null);

    // 7. pings, working and nocall make no call and leave it unanswered
    let c = call_of(&calls, 7);
    assert_eq!(c["outcome"], "no_response");
    assert_eq!(c["response"], Value::Null);

    // 8. the answer alone: endpoints reversed, interface from its header
    let c = call_of(&calls, 8);
    assert_eq!(c["request"], Value::Null);
    assert_eq!(c["interface_source"], "response");
    assert_eq!(c["client"], "10.2.0.1:1037");
    assert_eq!(c["server"], "10.2.0.2:2000");
    assert_eq!(c["call_id"], 50);
    assert_eq!(c["opnum"], 4);

    // 9. IPv4 fragments: FIRST is the first fragment, the answer came from another port
    let c = call_of(&calls, 9);
    assert_eq!(c["request"]["frames"][0], s.ip_fragmented_first);
    assert_eq!(c["request"]["frames"][1], s.ip_fragmented_last);
    assert_eq!(c["request"]["stub_len"], 3000);
    assert_eq!(c["server"], "10.2.0.2:2000");
    assert_eq!(c["outcome"], "response");

    // 10. big-endian
    let c = call_of(&calls, 10);
    assert_eq!(c["call_id"], 3);
    assert_eq!(c["interface"]["uuid"], IFACE);
    assert_eq!(c["outcome"], "response");

    // the summary's count of it all
    let cl = &summary["connectionless"];
    assert_eq!(cl["calls"], 11, "{cl}");
    assert_eq!(cl["calls_without_request"], 1);
    assert_eq!(cl["retransmissions"], 2);
    assert_eq!(cl["control_pdus_without_call"], 1);
    assert_eq!(cl["pdus"]["ping"], 3);
    assert_eq!(cl["pdus"]["ack"], 1);
    assert_eq!(cl["pdus"]["reject"], 1);
    assert_eq!(summary["calls"], 11);
    // the output order is the order of the calls' first frames
    let firsts: Vec<u64> = calls
        .iter()
        .map(|c| {
            c["request"]["frames"][0]
                .as_u64()
                .or(c["response"]["frames"][0].as_u64())
                .unwrap()
        })
        .collect();
    assert!(firsts.windows(2).all(|w| w[0] <= w[1]), "{firsts:?}");
}

/// The calls of the PROFINET capture: every datagram captured twice, answers from other
/// ports than the requests went to, one call in the other direction.
#[test]
fn profinet_calls_are_paired_by_activity_and_repeats_count_once() {
    let (calls, _, summary) = run(&capture("public", "ndpi-dcerpc-profinet.pcap"));
    let brief: Vec<(String, u64, String, String, u64, u64)> = calls
        .iter()
        .map(|c| {
            (
                c["client"].as_str().unwrap().to_string(),
                c["call_id"].as_u64().unwrap(),
                c["operation"].as_str().unwrap_or("?").to_string(),
                c["outcome"].as_str().unwrap().to_string(),
                c["request"]["frames"][0].as_u64().unwrap(),
                c["response"]["frames"][0].as_u64().unwrap(),
            )
        })
        .collect();
    let expect = [
        ("192.168.1.11:49155", 0, "Connect", 1, 3),
        ("192.168.1.11:49155", 1, "Write", 5, 7),
        ("192.168.1.11:49155", 2, "Control", 9, 11),
        ("192.168.1.20:49162", 0, "Control", 13, 15),
    ];
    assert_eq!(brief.len(), expect.len(), "{brief:?}");
    for (got, want) in brief.iter().zip(expect) {
        assert_eq!(
            (
                got.0.as_str(),
                got.1,
                got.2.as_str(),
                got.3.as_str(),
                got.4,
                got.5
            ),
            (want.0, want.1, want.2, "response", want.3, want.4)
        );
    }
    assert_eq!(summary["connectionless"]["retransmissions"], 8);
    assert_eq!(summary["connectionless"]["pdus"]["request"], 8);
}

/// Suricata's expectations for its capture (its `test.yaml`): five answered calls with
/// sequence numbers 0, 2, 4, 6 and 8, one fragment each way, empty stubs.
#[test]
fn suricata_udp_capture_gives_its_five_calls() {
    let (calls, _, _) = run(&capture("public", "suricata-dcerpc-udp-scapy.pcap"));
    let seqs: Vec<u64> = calls
        .iter()
        .map(|c| c["call_id"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [0, 2, 4, 6, 8]);
    for c in &calls {
        assert_eq!(c["outcome"], "response");
        assert_eq!(c["request"]["stub_len"], 0);
        assert_eq!(c["response"]["fragments"], 1);
        assert_eq!(c["opnum"], 0);
    }
    // Suricata prints the activity of the first call byte-swapped as
    // dddc324e-03d8-af4e-86ee-7650df599e40; the header is big-endian, so it is this:
    assert_eq!(calls[0]["activity"], "4e32dcdd-d803-4eaf-86ee-7650df599e40");
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rpcscope-cl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
