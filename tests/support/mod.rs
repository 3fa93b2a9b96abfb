//! Test builders: DCE/RPC PDUs, TCP conversations and pcap files, so tests can make the traffic
//! real peers will not produce (1-byte segments, reordering, duplicates, gaps, many interleaved
//! calls). Everything here is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::Ipv4Addr;

/// NDR 2.0 transfer syntax as it appears on the wire (little-endian fields).
const NDR_WIRE: [u8; 16] = [
    0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
];

/// The samr interface (12345778-1234-abcd-ef00-0123456789ac) in little-endian wire layout.
pub const SAMR_WIRE: [u8; 16] = [
    0x78, 0x57, 0x34, 0x12, 0x34, 0x12, 0xcd, 0xab, 0xef, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xac,
];

fn header(ptype: u8, flags: u8, frag_len: usize, auth_len: u16, call_id: u32) -> Vec<u8> {
    let mut p = vec![5, 0, ptype, flags, 0x10, 0, 0, 0];
    p.extend((frag_len as u16).to_le_bytes());
    p.extend(auth_len.to_le_bytes());
    p.extend(call_id.to_le_bytes());
    p
}

/// A bind offering one context (`ctx_id`, samr 1.0, NDR).
pub fn bind(call_id: u32, ctx_id: u16) -> Vec<u8> {
    let mut p = header(11, 3, 72, 0, call_id);
    p.extend(4280u16.to_le_bytes());
    p.extend(4280u16.to_le_bytes());
    p.extend(0u32.to_le_bytes());
    p.extend([1, 0, 0, 0]);
    p.extend(ctx_id.to_le_bytes());
    p.extend([1, 0]);
    p.extend(SAMR_WIRE);
    p.extend(1u32.to_le_bytes());
    p.extend(NDR_WIRE);
    p.extend(2u32.to_le_bytes());
    p
}

/// A bind_ack accepting one context with NDR, secondary address "49152".
pub fn bind_ack(call_id: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(4280u16.to_le_bytes());
    body.extend(4280u16.to_le_bytes());
    body.extend(0x1234u32.to_le_bytes());
    body.extend(6u16.to_le_bytes());
    body.extend(b"49152\0");
    body.extend([1, 0, 0, 0]);
    body.extend(0u16.to_le_bytes());
    body.extend(0u16.to_le_bytes());
    body.extend(NDR_WIRE);
    body.extend(2u32.to_le_bytes());
    let mut p = header(12, 3, 16 + body.len(), 0, call_id);
    p.extend(body);
    p
}

/// A request fragment with `stub` bytes of stub (filled with `fill`).
pub fn request(call_id: u32, ctx: u16, opnum: u16, stub: usize, flags: u8) -> Vec<u8> {
    let mut p = header(0, flags, 24 + stub, 0, call_id);
    p.extend((stub as u32).to_le_bytes());
    p.extend(ctx.to_le_bytes());
    p.extend(opnum.to_le_bytes());
    p.extend(std::iter::repeat_n(0x41, stub));
    p
}

/// A response fragment.
pub fn response(call_id: u32, ctx: u16, stub: usize, flags: u8) -> Vec<u8> {
    let mut p = header(2, flags, 24 + stub, 0, call_id);
    p.extend((stub as u32).to_le_bytes());
    p.extend(ctx.to_le_bytes());
    p.extend([0, 0]);
    p.extend(std::iter::repeat_n(0x52, stub));
    p
}

/// A fault.
pub fn fault(call_id: u32, ctx: u16, status: u32) -> Vec<u8> {
    let mut p = header(3, 3, 32, 0, call_id);
    p.extend(0u32.to_le_bytes());
    p.extend(ctx.to_le_bytes());
    p.extend([0, 0]);
    p.extend(status.to_le_bytes());
    p.extend(0u32.to_le_bytes());
    p
}

/// One TCP segment of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Sent by the client.
    pub from_client: bool,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (ACK flag set when not zero... always set after the SYN).
    pub ack: u32,
    /// TCP flags byte.
    pub flags: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH_ACK: u8 = 0x18;
pub const FIN_ACK: u8 = 0x11;

/// A TCP conversation between 10.1.0.1:50000 (client) and 10.1.0.2:`server_port`.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub client_ip: Ipv4Addr,
    pub server_port: u16,
    pub client_port: u16,
    pub segments: Vec<Segment>,
    cseq: u32,
    sseq: u32,
}

impl Conversation {
    /// Starts with a three-way handshake.
    pub fn new(server_port: u16) -> Self {
        let mut c = Self {
            client_ip: Ipv4Addr::new(10, 1, 0, 1),
            server_port,
            client_port: 50000,
            segments: Vec::new(),
            cseq: 1_000,
            sseq: 4_000_000_000, // wraps during long conversations
        };
        c.segments.push(Segment {
            from_client: true,
            seq: c.cseq,
            ack: 0,
            flags: SYN,
            payload: vec![],
        });
        c.segments.push(Segment {
            from_client: false,
            seq: c.sseq,
            ack: c.cseq + 1,
            flags: SYN | ACK,
            payload: vec![],
        });
        c.cseq += 1;
        c.sseq = c.sseq.wrapping_add(1);
        c.segments.push(Segment {
            from_client: true,
            seq: c.cseq,
            ack: c.sseq,
            flags: ACK,
            payload: vec![],
        });
        c
    }

    /// The client sends `bytes` in segments of the given sizes (the last size repeats).
    pub fn client(&mut self, bytes: &[u8], sizes: &[usize]) {
        self.send(true, bytes, sizes);
    }

    /// The server sends `bytes`.
    pub fn server(&mut self, bytes: &[u8], sizes: &[usize]) {
        self.send(false, bytes, sizes);
    }

    fn send(&mut self, from_client: bool, bytes: &[u8], sizes: &[usize]) {
        let mut at = 0;
        let mut i = 0;
        while at < bytes.len() {
            let size = sizes
                .get(i)
                .or(sizes.last())
                .copied()
                .unwrap_or(1460)
                .max(1);
            let end = (at + size).min(bytes.len());
            let (seq, ack) = if from_client {
                (self.cseq, self.sseq)
            } else {
                (self.sseq, self.cseq)
            };
            self.segments.push(Segment {
                from_client,
                seq,
                ack,
                flags: PSH_ACK,
                payload: bytes[at..end].to_vec(),
            });
            let n = (end - at) as u32;
            if from_client {
                self.cseq = self.cseq.wrapping_add(n);
            } else {
                self.sseq = self.sseq.wrapping_add(n);
            }
            at = end;
            i += 1;
        }
    }

    /// Both sides close.
    pub fn close(&mut self) {
        self.segments.push(Segment {
            from_client: true,
            seq: self.cseq,
            ack: self.sseq,
            flags: FIN_ACK,
            payload: vec![],
        });
        self.segments.push(Segment {
            from_client: false,
            seq: self.sseq,
            ack: self.cseq + 1,
            flags: FIN_ACK,
            payload: vec![],
        });
    }

    /// Ethernet/IPv4/TCP frames of the conversation.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.segments.iter().map(|s| self.frame(s)).collect()
    }

    fn frame(&self, s: &Segment) -> Vec<u8> {
        let client = self.client_ip.octets();
        let server = Ipv4Addr::new(10, 1, 0, 2).octets();
        let (src, dst, sp, dp) = if s.from_client {
            (client, server, self.client_port, self.server_port)
        } else {
            (server, client, self.server_port, self.client_port)
        };
        let mut f = vec![0u8; 12];
        f.extend([0x08, 0x00]);
        let total = 40 + s.payload.len();
        f.extend([
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend(src);
        f.extend(dst);
        f.extend(sp.to_be_bytes());
        f.extend(dp.to_be_bytes());
        f.extend(s.seq.to_be_bytes());
        f.extend(s.ack.to_be_bytes());
        f.extend([0x50, s.flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend(&s.payload);
        f
    }
}

/// A classic pcap (little-endian, microseconds, Ethernet) holding `frames`, one per 100 µs.
pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    pcap_every(frames, 100)
}

/// A classic pcap holding `frames`, one every `step_us` microseconds.
pub fn pcap_every(frames: &[Vec<u8>], step_us: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend([0xd4, 0xc3, 0xb2, 0xa1]);
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(262_144u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        let us = 1_700_000_000_000_000u64 + i as u64 * step_us;
        out.extend(((us / 1_000_000) as u32).to_le_bytes());
        out.extend(((us % 1_000_000) as u32).to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend(f);
    }
    out
}

/// A call's JSON record, as `calls --json` writes it, parsed back.
pub fn call_json(call: &rpcscope::model::Call) -> serde_json::Value {
    let mut line = Vec::new();
    rpcscope::output::json::push_call(&mut line, call).expect("write to memory");
    serde_json::from_slice(&line).expect("a call record is JSON")
}

/// Runs the library on pcap bytes and returns the calls as JSON Lines.
pub fn calls_jsonl(pcap_bytes: &[u8]) -> String {
    let (calls, _) = rpcscope::analyze(pcap_bytes).expect("a valid capture");
    let mut out = Vec::new();
    for c in &calls {
        rpcscope::output::json::write_call(&mut out, c).expect("write to memory");
    }
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// A conversation on a dynamic port: bind, then `calls` calls, each request of `req_stub` bytes
/// in fragments of `frag` stub bytes, each response of `resp_stub` bytes.
pub fn simple_session(
    calls: u32,
    req_stub: usize,
    resp_stub: usize,
    frag: usize,
) -> (Vec<u8>, Vec<u8>) {
    let mut client = bind(1, 0);
    let mut server = bind_ack(1);
    for call_id in 2..2 + calls {
        client.extend(fragmented(call_id, req_stub, frag, true));
        server.extend(fragmented(call_id, resp_stub, frag, false));
    }
    (client, server)
}

/// The fragments of one request or response carrying `stub` bytes, `frag` stub bytes each.
pub fn fragmented(call_id: u32, stub: usize, frag: usize, is_request: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let n = stub.div_ceil(frag).max(1);
    for i in 0..n {
        let len = frag.min(stub - i * frag);
        let flags = u8::from(i == 0) | if i + 1 == n { 2 } else { 0 };
        if is_request {
            out.extend(request(call_id, 0, 7, len, flags));
        } else {
            out.extend(response(call_id, 0, len, flags));
        }
    }
    out
}

/// A small deterministic generator for shuffles and mutations.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The header of a pcap file and each record's bytes (16-byte record header and data), or
/// `None` for other formats. A record cut by the end of the file is left out.
pub fn pcap_records(bytes: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
    let little = match bytes.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return None,
    };
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let field: [u8; 4] = bytes[at + 8..at + 12].try_into().unwrap();
        let incl = if little {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        } as usize;
        let end = at + 16 + incl;
        if end > bytes.len() {
            break;
        }
        records.push(&bytes[at..end]);
        at = end;
    }
    Some((&bytes[..24], records))
}

/// The pcap files (`.pcap`, up to `max_bytes`) of `captures/real` and, when present,
/// `../shared/corpus` (not its `*.expected` folders), sorted; says on stderr when the shared
/// corpus is absent.
pub fn real_pcaps(max_bytes: u64) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("captures/real")];
    let shared = root.join("../shared/corpus");
    if shared.is_dir() {
        dirs.push(shared);
    } else {
        eprintln!("../shared/corpus is absent (a clone without the shared corpus): captures/ only");
    }
    let mut out = Vec::new();
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.to_string_lossy().ends_with(".expected") {
                    dirs.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "pcap")
                && e.metadata().is_ok_and(|m| m.len() <= max_bytes)
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Peak resident memory of a running process, in KiB, from /proc (Linux).
pub fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child`, reading its peak memory every 5 ms; returns its exit status and the peak
/// in KiB. Past `guard` it is killed and the test fails, naming `what`.
pub fn wait_measuring(
    child: &mut std::process::Child,
    guard: std::time::Duration,
    what: &str,
) -> (std::process::ExitStatus, u64) {
    let started = std::time::Instant::now();
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        if started.elapsed() > guard {
            let _ = child.kill();
            panic!("{what} ran past {guard:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
