//! PDU records (`rpcscope pdus`, `Analysis::pdus`) and the bind_ack's secondary address on call
//! records, checked against Wireshark's own dissection of the same captures and against the
//! run's other accounts of the same PDUs.
//!
//! The agreement test runs `tshark -Y dcerpc -T fields` on every capture of `captures/real/` (and
//! of `../shared/corpus` when present) and compares, frame by frame, the PDUs each tool saw (type,
//! call_id, fragment length), the results of every bind_ack in order, and its secondary address.
//! Skipped with a message when tshark is not installed; with `RPCSCOPE_REQUIRE_TSHARK=1` (as
//! `.ci/run` sets) a missing tshark fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use rpcscope::Analysis;
use rpcscope::dce::body::Body;
use rpcscope::model::PduRecord;

fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.to_string_lossy();
            if p.is_dir() && !name.ends_with(".expected") {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
            {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

/// Every shipped capture: real traffic and the synthetic edge cases.
fn our_captures() -> Vec<PathBuf> {
    captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("captures"))
}

fn records(path: &Path) -> (Vec<PduRecord>, rpcscope::Run) {
    let mut pdus = Vec::new();
    let mut keep = |p| pdus.push(p);
    let (_, run) = Analysis::from_path(path)
        .threads(1)
        .pdus(&mut keep)
        .calls()
        .unwrap();
    (pdus, run)
}

/// Every PDU the summary counts has its record, of the same type: connection-oriented ones
/// and connectionless ones (counted in the summary's `connectionless` section).
#[test]
fn every_pdu_counted_has_a_record() {
    let (mut seen, mut datagrams) = (0, 0);
    for path in our_captures() {
        let (pdus, run) = records(&path);
        let mut by_type: [BTreeMap<String, u64>; 2] = Default::default();
        for p in &pdus {
            let side = usize::from(p.datagram.is_some());
            *by_type[side]
                .entry(p.ptype_name().into_owned())
                .or_default() += 1;
        }
        let counted: BTreeMap<String, u64> = run
            .summary
            .pdus
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(by_type[0], counted, "{}", path.display());
        let counted: BTreeMap<String, u64> = run
            .summary
            .connectionless
            .iter()
            .flat_map(|c| c.pdus.iter().map(|(k, v)| ((*k).to_string(), *v)))
            .collect();
        assert_eq!(by_type[1], counted, "{}", path.display());
        seen += pdus.len();
        datagrams += by_type[1].values().sum::<u64>();
    }
    assert!(seen > 3000, "{seen} PDUs");
    assert!(datagrams > 40, "{datagrams} connectionless PDUs");
}

/// A call's `sec_addr` is what the latest bind_ack or alter_context_resp of its association
/// said by the time the call ended (its last response fragment or its fault, in the order the
/// PDUs were read; at the end of the association for a call never answered).
#[test]
fn calls_carry_the_secondary_address_of_their_association() {
    type Key = (std::net::SocketAddr, std::net::SocketAddr, Option<String>);
    let (mut with, mut checked) = (0, 0);
    for path in our_captures() {
        let mut pdus = Vec::new();
        let mut keep = |p| pdus.push(p);
        let (calls, _) = Analysis::from_path(&path).pdus(&mut keep).calls().unwrap();
        let key = |client, server, file_id: Option<&str>| -> Key {
            (client, server, file_id.map(str::to_string))
        };
        let mut current: HashMap<Key, String> = HashMap::new();
        let mut at_end: HashMap<(Key, u32), std::collections::VecDeque<Option<String>>> =
            HashMap::new();
        for p in &pdus {
            let k = key(p.client, p.server, p.file_id.as_deref());
            match &p.body {
                Body::BindAck(a) | Body::AlterContextResp(a) if !a.sec_addr.is_empty() => {
                    current.insert(k, String::from_utf8_lossy(&a.sec_addr).into());
                }
                Body::Response(_) if p.flags.last() => {
                    let now = current.get(&k).cloned();
                    at_end.entry((k, p.call_id)).or_default().push_back(now);
                }
                Body::Fault(_) => {
                    let now = current.get(&k).cloned();
                    at_end.entry((k, p.call_id)).or_default().push_back(now);
                }
                _ => {}
            }
        }
        for c in &calls {
            let k = key(c.client, c.server, c.file_id.as_deref());
            let ended = at_end
                .get_mut(&(k.clone(), c.call_id))
                .and_then(std::collections::VecDeque::pop_front);
            let expected = match ended {
                Some(then) if c.response.is_some() => then,
                _ => current.get(&k).cloned(),
            };
            assert_eq!(
                c.sec_addr.as_deref().map(str::to_string),
                expected,
                "{} call_id {}",
                path.display(),
                c.call_id
            );
            checked += 1;
            with += usize::from(c.sec_addr.is_some());
        }
    }
    assert!(with > 500 && checked > with, "{with} of {checked} calls");
}

fn tshark_found() -> bool {
    let found = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("RPCSCOPE_REQUIRE_TSHARK").is_none(),
            "RPCSCOPE_REQUIRE_TSHARK is set but tshark is not installed"
        );
        eprintln!("SKIPPED: tshark not found; install it with `apt-get install tshark`");
    }
    found
}

/// What tshark saw in one frame: each field's values over the frame's PDUs.
type TsharkFrame = Vec<Vec<String>>;

const TSHARK_FIELDS: [&str; 9] = [
    "frame.number",
    "dcerpc.pkt_type",
    "dcerpc.cn_call_id",
    "dcerpc.cn_frag_len",
    "dcerpc.cn_ack_result",
    "dcerpc.cn_sec_addr",
    "dcerpc.dg_seqnum",
    "dcerpc.dg_frag_len",
    "dcerpc.dg_frag_num",
];

fn tshark_pdus(path: &Path) -> BTreeMap<u64, TsharkFrame> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(path);
    cmd.args(["-Y", "dcerpc", "-T", "fields", "-E", "occurrence=a"]);
    // WireGuard's heuristic takes a connectionless request of the synthetic capture for its own
    cmd.args(["--disable-protocol", "wg"]);
    cmd.args(["-E", "separator=|", "-E", "aggregator=,"]);
    for f in TSHARK_FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let mut frames = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split('|');
        let Some(Ok(frame)) = fields.next().map(str::parse::<u64>) else {
            continue;
        };
        let values = fields
            .map(|v| {
                v.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        frames.insert(frame, values);
    }
    frames
}

#[derive(Debug, Default)]
struct Agreement {
    pdus_equal: usize,
    frames_differing: Vec<String>,
    only_ours: usize,
    acks: usize,
    acks_differing: Vec<String>,
    sec_addrs: usize,
    sec_addrs_differing: Vec<String>,
    /// Connectionless PDUs among those compared.
    datagram_pdus: usize,
}

fn compare(path: &Path, totals: &Mutex<Agreement>) {
    let theirs = tshark_pdus(path);
    let (pdus, _) = records(path);
    let mut ours: BTreeMap<u64, Vec<&PduRecord>> = BTreeMap::new();
    for p in &pdus {
        ours.entry(p.frame).or_default().push(p);
    }
    let mut t = totals.lock().unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let frames: std::collections::BTreeSet<u64> =
        theirs.keys().chain(ours.keys()).copied().collect();
    for frame in frames {
        let mine = ours.get(&frame).map_or(&[][..], Vec::as_slice);
        let Some(their) = theirs.get(&frame) else {
            t.only_ours += mine.len();
            continue;
        };
        // type, call_id and fragment length; connectionless: type, sequence number, body
        // length and fragment number
        let datagram = mine.iter().any(|p| p.datagram.is_some());
        let mut mine_keys: Vec<Vec<String>> = mine
            .iter()
            .map(|p| match &p.datagram {
                Some(d) => vec![
                    p.ptype.0.to_string(),
                    p.call_id.to_string(),
                    d.body_len.to_string(),
                    d.fragnum.to_string(),
                ],
                None => vec![
                    p.ptype.0.to_string(),
                    p.call_id.to_string(),
                    p.frag_len.to_string(),
                ],
            })
            .collect();
        let columns: &[usize] = if datagram { &[0, 5, 6, 7] } else { &[0, 1, 2] };
        let mut their_keys: Vec<Vec<String>> = (0..their[0].len())
            .map(|i| {
                columns
                    .iter()
                    .map(|&c| their[c].get(i).cloned().unwrap_or_default())
                    .collect()
            })
            .collect();
        mine_keys.sort();
        their_keys.sort();
        let ragged = columns.iter().any(|&c| their[c].len() != their[0].len());
        t.datagram_pdus += usize::from(datagram) * mine.len();
        if mine_keys == their_keys && !ragged {
            t.pdus_equal += mine.len();
        } else {
            t.frames_differing.push(format!(
                "{name} frame {frame}: ours {mine_keys:?}, tshark {their_keys:?}"
            ));
        }
        let mut results = Vec::new();
        let mut sec_addrs = Vec::new();
        for p in mine {
            if let Body::BindAck(a) | Body::AlterContextResp(a) = &p.body {
                results.extend(a.results.iter().map(|r| r.result.to_string()));
                if !a.sec_addr.is_empty() {
                    sec_addrs.push(String::from_utf8_lossy(&a.sec_addr).to_string());
                }
            }
        }
        if !results.is_empty() || !their[3].is_empty() {
            t.acks += 1;
            if results != their[3] {
                t.acks_differing.push(format!(
                    "{name} frame {frame}: ours {results:?}, tshark {:?}",
                    their[3]
                ));
            }
        }
        if !sec_addrs.is_empty() || !their[4].is_empty() {
            t.sec_addrs += 1;
            if sec_addrs != their[4] {
                t.sec_addrs_differing.push(format!(
                    "{name} frame {frame}: ours {sec_addrs:?}, tshark {:?}",
                    their[4]
                ));
            }
        }
    }
}

fn agreement_over(captures: &[PathBuf]) -> Agreement {
    let totals = Mutex::new(Agreement::default());
    let next = Mutex::new(captures.iter());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(path) = next.lock().unwrap().next() else {
                        break;
                    };
                    compare(path, &totals);
                }
            });
        }
    });
    totals.into_inner().unwrap()
}

fn assert_agreement(a: &Agreement, what: &str, min_pdus: usize) {
    eprintln!(
        "{what}: {} PDUs in agreement ({} connectionless), {} frames differing, {} PDUs only \
         rpcscope found (tshark did not take those connections for DCE/RPC); bind_ack results \
         {}/{}; secondary addresses {}/{}",
        a.pdus_equal,
        a.datagram_pdus,
        a.frames_differing.len(),
        a.only_ours,
        a.acks - a.acks_differing.len(),
        a.acks,
        a.sec_addrs - a.sec_addrs_differing.len(),
        a.sec_addrs
    );
    for d in a
        .frames_differing
        .iter()
        .chain(&a.acks_differing)
        .chain(&a.sec_addrs_differing)
        .take(20)
    {
        eprintln!("  {d}");
    }
    assert!(a.pdus_equal >= min_pdus, "{what}: too few PDUs compared");
    assert!(
        a.frames_differing.is_empty()
            && a.acks_differing.is_empty()
            && a.sec_addrs_differing.is_empty(),
        "{what}: rpcscope and tshark disagree"
    );
    assert!(
        a.only_ours * 100 <= a.pdus_equal,
        "{what}: {} PDUs tshark did not see",
        a.only_ours
    );
}

/// RPC over HTTP version 2: tshark 4.0 shows only the CONN/A1 RTS PDU of each OUT channel's
/// request; rpcscope records it at the same frame, and every PDU of the channels' bodies.
#[test]
fn rpc_over_http_v2_pdus_include_those_wireshark_shows() {
    if !tshark_found() {
        return;
    }
    let v2 = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/67-http-v2.pcap");
    let a = agreement_over(&[v2]);
    assert!(a.frames_differing.is_empty(), "{:?}", a.frames_differing);
    assert_eq!(a.pdus_equal, 3);
    assert!(a.only_ours >= 40, "{} PDUs", a.only_ours);
}

#[test]
fn pdus_agree_with_wireshark_on_our_captures() {
    if !tshark_found() {
        return;
    }
    // the synthetic captures use ports tshark does not take for DCE/RPC, and tshark 4.0 does
    // not dissect the bodies of RPC over HTTP version 2 (67); its CONN/A1 PDUs, which tshark
    // does show, are checked below
    let mut real = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real"));
    real.retain(|p| !p.to_string_lossy().ends_with("67-http-v2.pcap"));
    let a = agreement_over(&real);
    assert_agreement(&a, "captures/real", 3000);
}

/// Connectionless PDUs of the public captures (PROFINET devices, Suricata's test) and of the
/// synthetic edge cases (fragments out of order, retransmissions, every control PDU).
#[test]
fn connectionless_pdus_agree_with_wireshark() {
    if !tshark_found() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut captures = captures_in(&root.join("public"));
    captures.push(root.join("synthetic/connectionless.pcap"));
    let a = agreement_over(&captures);
    assert!(
        a.datagram_pdus >= 50,
        "{} connectionless PDUs",
        a.datagram_pdus
    );
    assert_agreement(&a, "connectionless captures", 50);
}

#[test]
fn pdus_agree_with_wireshark_over_the_shared_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !corpus.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent (the shared corpus is not part of this clone)",
            corpus.display()
        );
        return;
    }
    if !tshark_found() {
        return;
    }
    let a = agreement_over(&captures_in(&corpus));
    assert_agreement(&a, "../shared/corpus", 15_000);
}
