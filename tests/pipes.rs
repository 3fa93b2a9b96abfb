//! NDR pipes decoded from real transport captures (captures/real/40-49, made with the
//! interface of captures/idl/pipetest.idl); the expected chunk sequences are those the
//! capture generator sent (captures/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use rpcscope::idl::decode::PipeReport;
use rpcscope::model::{Call, Outcome};

fn library() -> Arc<rpcscope::idl::Library> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lib = rpcscope::idl::builtin::library().unwrap();
    let text = std::fs::read_to_string(root.join("captures/idl/pipetest.idl")).unwrap();
    lib.merge(rpcscope::idl::parse(&text, "pipetest.idl").unwrap());
    Arc::new(lib)
}

fn calls(name: &str) -> Vec<Call> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name);
    let bytes = std::fs::read(path).unwrap();
    rpcscope::analyze_with(&bytes, Some(library())).unwrap().0
}

fn pipes(c: &Call) -> &[PipeReport] {
    c.pipes
        .as_deref()
        .unwrap_or_else(|| panic!("no pipes on {:?}", c.operation))
}

#[test]
fn a_one_mebibyte_in_pipe_across_a_thousand_fragments() {
    let got = calls("40-pipe-in-1mib.pcap");
    let upload = got
        .iter()
        .find(|c| c.operation.as_deref() == Some("PtUpload"))
        .unwrap();
    assert_eq!(upload.request.as_ref().unwrap().fragments, 1049);
    let p = &pipes(upload)[0];
    assert_eq!(
        (p.param.as_deref(), p.direction, p.element_type.as_deref()),
        (Some("data"), "in", Some("byte"))
    );
    assert_eq!(
        (p.chunks_total, p.elements, p.bytes),
        (63, 1_048_576, 1_048_576)
    );
    assert!(p.terminated && p.anomalies.is_empty(), "{:?}", p.anomalies);
    let first: Vec<u64> = p.chunks.iter().take(10).map(|c| c.count).collect();
    assert_eq!(first, [4096, 65536, 1000, 333, 1, 7, 12289, 2048, 65536, 3]);
    assert!(
        p.chunks
            .windows(2)
            .all(|w| w[0].offset < w[1].offset && w[0].frame <= w[1].frame)
    );
}

#[test]
fn many_small_chunks_in_an_out_pipe() {
    let got = calls("41-pipe-out-small-chunks.pcap");
    let p = &pipes(&got[0])[0];
    assert_eq!((p.direction, p.chunks_total, p.bytes), ("out", 500, 16250));
    assert!(
        p.chunks
            .iter()
            .enumerate()
            .all(|(i, c)| c.count == (37 * i as u64) % 64 + 1)
    );
    assert!(p.terminated);
}

#[test]
fn both_directions_empty_pipes_and_struct_elements() {
    let got = calls("42-pipe-both.pcap");
    let echo = pipes(&got[0]);
    assert_eq!(echo.len(), 2);
    assert_eq!(
        echo[0].chunks.iter().map(|c| c.count).collect::<Vec<_>>(),
        [3000, 1, 250, 4096, 17]
    );
    assert_eq!((echo[1].direction, echo[1].bytes), ("out", 7364));
    let empty = calls("43-pipe-empty.pcap");
    for c in &empty {
        for p in pipes(c) {
            assert_eq!((p.chunks_total, p.terminated), (0, true));
        }
    }
    let recs = calls("44-pipe-struct.pcap");
    let p = &pipes(&recs[0])[0];
    assert_eq!(p.element_type.as_deref(), Some("RECORD"));
    assert_eq!(
        p.chunks.iter().map(|c| c.count).collect::<Vec<_>>(),
        [1, 2, 50, 7, 100, 140]
    );
    // 8-byte records (a long, a short, 2 bytes of padding) but no padding after the last
    // record of each chunk (C706 §14.3.11): 6 chunks, 300 records
    assert_eq!(p.bytes, 300 * 8 - 6 * 2);
}

#[test]
fn ndr64_pipes() {
    let got = calls("45-pipe-ndr64.pcap");
    assert_eq!(got[0].transfer_syntax, Some("ndr64"));
    let up = &pipes(&got[0])[0];
    assert_eq!(
        up.chunks.iter().map(|c| c.count).collect::<Vec<_>>(),
        [1000, 3, 4096, 77, 5000]
    );
    assert!(
        up.terminated && up.anomalies.is_empty(),
        "{:?}",
        up.anomalies
    );
    let down = &pipes(&got[1])[0];
    assert_eq!(
        (down.chunks_total, down.bytes, down.terminated),
        (100, 3218, true)
    );
}

#[test]
fn a_fault_in_the_middle_and_a_truncated_capture() {
    let got = calls("46-pipe-fault-mid.pcap");
    let cut: Vec<&PipeReport> = got
        .iter()
        .filter(|c| c.outcome == Outcome::Fault)
        .map(|c| &pipes(c)[0])
        .collect();
    assert_eq!(cut.len(), 2);
    assert!(
        cut[0]
            .anomalies
            .contains(&"fault:nca_s_fault_pipe_closed".to_string())
    );
    assert!(
        cut[1]
            .anomalies
            .contains(&"fault:nca_s_fault_pipe_comm_error".to_string())
    );
    assert!(
        cut.iter()
            .all(|p| !p.terminated && p.anomalies.contains(&"missing_terminator".to_string()))
    );
    // whole chunks, then the chunk the fault cut, as captures/README.md describes them
    let partial = |p: &PipeReport| {
        let c = p.partial_chunk.clone().unwrap();
        (p.chunks_total, p.elements, c.count, c.elements)
    };
    assert_eq!(partial(cut[0]), (79, 2524, 44, 36));
    assert_eq!(partial(cut[1]), (5, 160, 140, 87));
    let last = got.last().unwrap();
    assert!(
        pipes(last)[0].terminated,
        "the call after the faults is whole"
    );
    let trunc = calls("47-pipe-truncated.pcap");
    let p = &pipes(&trunc[0])[0];
    assert!(!p.terminated);
    assert_eq!(p.anomalies, ["missing_terminator"]);
    assert_eq!(
        partial(p),
        (264, 8532, 41, 12),
        "264 whole chunks and 12 bytes of the next"
    );
}

#[test]
fn without_an_idl_byte_pipes_are_guessed_and_marked() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
    let plain = |name: &str| {
        rpcscope::analyze(&std::fs::read(path.join(name)).unwrap())
            .unwrap()
            .0
    };
    let up = plain("40-pipe-in-1mib.pcap");
    let p = &pipes(&up[0])[0];
    assert!(p.guess && p.param.is_none() && p.element_type.is_none());
    assert_eq!(
        (p.direction, p.chunks_total, p.bytes),
        ("in", 63, 1_048_576)
    );
    let down = plain("41-pipe-out-small-chunks.pcap");
    let p = &pipes(&down[0])[0];
    assert!(p.guess);
    assert_eq!((p.direction, p.chunks_total, p.bytes), ("out", 500, 16250));
    // Struct elements are not a byte pipe: no guess, and no guess on calls without pipes.
    assert!(
        plain("44-pipe-struct.pcap")
            .iter()
            .all(|c| c.pipes.is_none())
    );
    assert!(plain("05-ntlm-sign.pcap").iter().all(|c| c.pipes.is_none()));
}

/// With `--decode`, the other parameters of the pipe operations are decoded around the pipes;
/// the servers' return values (the number of elements they received or sent) match the
/// elements the pipe decoder counted, in NDR and NDR64.
#[test]
fn decoded_parameters_agree_with_the_pipes() {
    let mut lib = (*library()).clone();
    lib.decode_parameters = true;
    let lib = Arc::new(lib);
    let mut checked = 0;
    for name in [
        "41-pipe-out-small-chunks.pcap",
        "42-pipe-both.pcap",
        "43-pipe-empty.pcap",
        "44-pipe-struct.pcap",
        "45-pipe-ndr64.pcap",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures/real")
            .join(name);
        let bytes = std::fs::read(path).unwrap();
        let (calls, _) = rpcscope::analyze_with(&bytes, Some(Arc::clone(&lib))).unwrap();
        for c in calls
            .iter()
            .filter(|c| c.pipes.is_some() && c.outcome == Outcome::Response)
        {
            let d = serde_json::to_value(c.decoded.as_ref().unwrap()).unwrap();
            assert_eq!(d["errors"], serde_json::json!([]), "{name}: {d}");
            let received = pipes(c).iter().map(|p| p.elements).max().unwrap();
            assert_eq!(d["out"]["return"], received, "{name} {:?}", c.operation);
            for p in pipes(c) {
                let side = if p.direction == "in" { "in" } else { "out" };
                let param = p.param.as_deref().unwrap();
                assert_eq!(
                    d[side][param]["pipe_elements"], p.elements,
                    "{name} {param}"
                );
                assert_eq!(
                    d[side][param]["pipe_chunks"], p.chunks_total,
                    "{name} {param}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} calls checked");
}

/// 48: the server faults a PtUpload after 20 of its 66 request fragments; the client sends the
/// other 46, which stay with the faulted call and complete its [in] pipe.
#[test]
fn request_fragments_after_a_fault_complete_the_faulted_calls_in_pipe() {
    let got = calls("48-pipe-in-fault.pcap");
    let summary: Vec<(u32, &str, u32)> = got
        .iter()
        .map(|c| {
            (
                c.call_id,
                c.outcome.name(),
                c.request.as_ref().map_or(0, |r| r.fragments),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(1, "response", 1), (2, "fault", 66), (3, "response", 2)]
    );
    assert_eq!(
        got[1].fault_name().as_deref(),
        Some("nca_s_fault_pipe_closed")
    );
    let up = &pipes(&got[1])[0];
    assert_eq!(
        up.chunks.iter().map(|c| c.count).collect::<Vec<_>>(),
        [16384, 1, 8000, 333, 24576, 7, 16235]
    );
    assert!(up.terminated, "{:?}", up.anomalies);
}

/// 49: elements of `{hyper; byte}` (size 9, alignment 8) with no padding after a chunk's last
/// element; every chunk of both pipes is found, across fragment boundaries too.
#[test]
fn struct_elements_aligned_to_8_in_real_pipes() {
    let got = calls("49-pipe-hyper-struct.pcap");
    let first = pipes(&got[0]);
    let counts = |p: &PipeReport| p.chunks.iter().map(|c| c.count).collect::<Vec<_>>();
    assert_eq!(counts(&first[0]), [2, 6, 3]);
    assert_eq!(counts(&first[1]), [3, 1, 5, 2]);
    let second = pipes(&got[1]);
    assert_eq!(counts(&second[0]), [40, 1, 70, 9, 80]);
    assert_eq!(second[1].chunks_total, 73);
    assert_eq!(second[1].elements, 200);
    for p in first.iter().chain(second) {
        assert!(p.terminated && p.anomalies.is_empty(), "{p:?}");
    }
}
