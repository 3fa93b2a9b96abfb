//! Endpoint resolution: endpoint-mapper answers decoded, endpoints linked to the connections that
//! used them, and calls on those connections labelled even without a bind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name)
}

fn analyze(path: &Path) -> (Vec<Value>, Vec<Value>) {
    let bytes = std::fs::read(path).unwrap();
    let (calls, run) = rpcscope::analyze(&bytes[..]).unwrap();
    (
        calls.iter().map(support::call_json).collect(),
        run.endpoints
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect(),
    )
}

#[test]
fn calls_without_bind_take_the_interface_from_the_ept_map_answer() {
    let (calls, endpoints) = analyze(&capture("34-epm-no-bind.pcap"));
    assert_eq!(endpoints.len(), 3);
    for e in &endpoints {
        assert_eq!(e["via"], "ept_map");
        assert_eq!(e["used_by"].as_array().unwrap().len(), 1, "{e}");
    }
    let dynamic: Vec<&Value> = calls
        .iter()
        .filter(|c| c["server"] != "127.0.0.1:135")
        .collect();
    assert!(dynamic.len() >= 20);
    for c in dynamic {
        assert_eq!(c["interface_source"], "epm", "{c}");
        let frame = c["endpoint_frame"].as_u64().unwrap();
        let announced = endpoints.iter().find(|e| e["frame"] == frame).unwrap();
        assert_eq!(c["interface"]["uuid"], announced["interface"]["uuid"]);
        assert!(announced["binding"].as_str().unwrap().ends_with(&format!(
            "[{}]",
            c["server"].as_str().unwrap().rsplit(':').next().unwrap()
        )));
    }
}

#[test]
fn ept_map_answers_are_decoded_on_the_call() {
    let (calls, _) = analyze(&capture("30-epm-resolve-three.pcap"));
    let maps: Vec<&Value> = calls
        .iter()
        .filter(|c| c["operation"] == "ept_map")
        .collect();
    assert_eq!(maps.len(), 5);
    let empty = maps
        .iter()
        .filter(|c| c["epm"]["endpoints"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(empty, 2, "netlogon and svcctl are not registered on TCP");
    for c in &maps {
        let epm = &c["epm"];
        assert!(epm["requested_interface"]["uuid"].is_string(), "{c}");
        let status = epm["status"].as_u64().unwrap();
        if epm["endpoints"].as_array().unwrap().is_empty() {
            assert_eq!(status, 0x16c9_a0d6);
            assert_eq!(epm["status_name"], "ept_s_not_registered");
        } else {
            assert_eq!(status, 0);
            assert_eq!(
                epm["endpoints"][0]["interface"]["uuid"],
                epm["requested_interface"]["uuid"]
            );
        }
    }
}

#[test]
fn a_paged_ept_lookup_is_followed_to_its_end() {
    let (calls, endpoints) = analyze(&capture("32-epm-lookup-paged.pcap"));
    assert_eq!(endpoints.len(), 51);
    assert!(endpoints.iter().all(|e| e["via"] == "ept_lookup"));
    let lookups: Vec<&Value> = calls
        .iter()
        .filter(|c| c["operation"] == "ept_lookup")
        .collect();
    let last = lookups
        .iter()
        .rev()
        .find(|c| c["epm"]["inquiry"] == "rpc_c_ep_all_elts")
        .unwrap();
    assert!(lookups.len() >= 10);
    assert!(
        lookups
            .iter()
            .any(|c| c["epm"]["inquiry"] == "rpc_c_ep_match_by_if")
    );
    assert!(last["epm"]["status_name"].is_string());
    let free = calls.iter().find(|c| c["opnum"] == 4).unwrap();
    assert_eq!(free["epm"]["status"], 0);
}

#[test]
fn exchange_calls_on_dynamic_ports_are_linked_to_their_ept_map_answer() {
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/zeek/mapi.pcap");
    if !pcap.exists() {
        eprintln!(
            "SKIPPED: {} is absent (the shared corpus is not part of this clone)",
            pcap.display()
        );
        return;
    }
    let (calls, endpoints) = analyze(&pcap);
    let dynamic: Vec<&Value> = calls
        .iter()
        .filter(|c| c["transport"] == "ncacn_ip_tcp" && c["server"] != "192.168.0.2:135")
        .collect();
    assert_eq!(dynamic.len(), 170);
    for c in &dynamic {
        let frame = c["endpoint_frame"]
            .as_u64()
            .unwrap_or_else(|| panic!("not linked: {c}"));
        let e = endpoints
            .iter()
            .find(|e| e["frame"] == frame && e["protocol"] == "ncacn_ip_tcp")
            .unwrap();
        let port = c["server"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap();
        assert_eq!(e["port"], port);
        assert_eq!(c["interface"]["uuid"], e["interface"]["uuid"], "{c}");
        let expected = if port == 1032 { "Emsmdb" } else { "Nspi" };
        assert_eq!(c["interface"]["name"], expected);
        // the connections that began before the answer are listed as its users too
        let conn = format!(
            "{}->{}",
            c["client"].as_str().unwrap(),
            c["server"].as_str().unwrap()
        );
        assert!(
            e["used_by"].as_array().unwrap().iter().any(|u| u == &conn),
            "{conn} not in {e}"
        );
    }
}

/// The records of `pcap` (a little-endian classic pcap of Ethernet frames over IPv4) split by
/// whether either TCP port is `port`.
fn split_by_port(pcap: &[u8], port: u16) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(pcap[at..at + 16 + len].to_vec());
        at += 16 + len;
    }
    records.into_iter().partition(|r| {
        let ip = &r[16 + 14..];
        let tcp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        let ports = [
            u16::from_be_bytes([tcp[0], tcp[1]]),
            u16::from_be_bytes([tcp[2], tcp[3]]),
        ];
        ports.contains(&port)
    })
}

/// A capture that starts after a connection's bind, with the endpoint-mapper answer that
/// announces its port later in the file: the calls wait for the answer and take its interface,
/// decoded as if the bind had been seen, and reading the capture as a stream gives the same.
#[test]
fn calls_of_a_connection_older_than_the_answer_take_its_interface() {
    // 02: ept_map for Samr (port 135, frames 1-15), then a Samr connection to 49152 (bind in
    // frame 16, bind_ack in frame 18, then eight calls). Here: the Samr connection from frame 19
    // on, then the endpoint-mapper conversation, its times moved after it.
    let original = std::fs::read(capture("02-epm-map-samr.pcap")).unwrap();
    let (epm, rest) = split_by_port(&original, 135);
    let mid_connection: Vec<Vec<u8>> = rest
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| i + epm.len() >= 18)
        .map(|(_, r)| r)
        .collect();
    let last_secs = u32::from_le_bytes(mid_connection.last().unwrap()[..4].try_into().unwrap());
    let mut cut = original[..24].to_vec();
    for r in &mid_connection {
        cut.extend_from_slice(r);
    }
    for r in &epm {
        let mut r = r.clone();
        r[..4].copy_from_slice(&(last_secs + 5).to_le_bytes());
        cut.extend_from_slice(&r);
    }
    let answer_frame = mid_connection.len() as u64 + 9;

    let mut lib = rpcscope::idl::table::builtin_library().clone();
    lib.decode_parameters = true;
    let lib = std::sync::Arc::new(lib);
    let json = |calls: &[rpcscope::model::Call]| -> Vec<Value> {
        calls.iter().map(support::call_json).collect()
    };
    let (calls, run) = rpcscope::Analysis::from_bytes(&cut)
        .library(std::sync::Arc::clone(&lib))
        .calls()
        .unwrap();
    let calls = json(&calls);
    let samr: Vec<&Value> = calls
        .iter()
        .filter(|c| c["server"] == "127.0.0.1:49152")
        .collect();
    assert_eq!(samr.len(), 8, "{calls:#?}");
    for c in &samr {
        assert_eq!(c["interface"]["name"], "Samr", "{c}");
        assert_eq!(c["interface_source"], "epm");
        assert_eq!(c["endpoint_frame"], answer_frame);
        assert!(c["operation"].as_str().unwrap().starts_with("Samr"), "{c}");
        assert_eq!(c["status"]["type"], "ntstatus", "{c}");
        let decoded = &c["decoded"];
        assert!(decoded["errors"].as_array().unwrap().is_empty(), "{c}");
        assert!(!decoded["out"].as_object().unwrap().is_empty(), "{c}");
    }
    assert_eq!(samr[0]["operation"], "SamrConnect2");
    let first_frames: Vec<u64> = calls
        .iter()
        .map(|c| c["request"]["frames"][0].as_u64().unwrap())
        .collect();
    assert!(
        first_frames.is_sorted(),
        "still in capture order: {first_frames:?}"
    );
    let endpoint = run
        .endpoints
        .iter()
        .find(|e| e.port == Some(49152))
        .unwrap();
    assert_eq!(endpoint.used_by, ["127.0.0.1:39410->127.0.0.1:49152"]);

    let (streamed, _) = rpcscope::Analysis::from_reader(&cut[..])
        .library(lib)
        .calls()
        .unwrap();
    assert_eq!(json(&streamed), calls, "a stream gives the same calls");
}

/// Every endpoint-mapper call of our captures decoded with the built-in IDL (`--decode`): no
/// errors, and the ports of its towers (read here from the tower bytes, not with
/// `epm::tower`) are the endpoints the endpoint-mapper view reports.
#[test]
fn the_builtin_epm_idl_decodes_every_endpoint_mapper_call() {
    let mut lib = rpcscope::idl::builtin::library().unwrap();
    lib.decode_parameters = true;
    let lib = std::sync::Arc::new(lib);
    let mut maps = 0;
    let mut entries = 0;
    for name in [
        "01-epm-lookup.pcap",
        "02-epm-map-samr.pcap",
        "30-epm-resolve-three.pcap",
        "31-epm-resolve-samba.pcap",
        "32-epm-lookup-paged.pcap",
        "33-epm-after-map.pcap",
        "35-epm-ipv6.pcap",
    ] {
        let bytes = std::fs::read(capture(name)).unwrap();
        let (calls, _) = rpcscope::analyze_with(&bytes[..], Some(lib.clone())).unwrap();
        for c in calls.iter().map(support::call_json) {
            if c["interface"]["name"] != "Epm" || c["outcome"] != "response" {
                continue;
            }
            let d = &c["decoded"];
            assert_eq!(d["errors"], serde_json::json!([]), "{name}: {c}");
            let out = &d["out"];
            assert_eq!(out["status"], c["epm"]["status"], "{name}");
            if c["operation"] == "ept_map" {
                maps += 1;
                let towers = out["towers"].as_array().unwrap();
                assert_eq!(out["num_towers"], towers.len(), "{name}");
                let ports: Vec<String> = towers
                    .iter()
                    .map(|t| {
                        let hex = t["tower_octet_string"].as_str().unwrap();
                        assert_eq!(
                            Some(hex.len() / 2),
                            t["tower_length"].as_u64().map(|n| n as usize)
                        );
                        // Floor 4 of a TCP tower: lhs 0x07, rhs the port (big-endian).
                        let at = hex.find("0100070200").expect("a TCP floor");
                        u16::from_str_radix(&hex[at + 10..at + 14], 16)
                            .unwrap()
                            .to_string()
                    })
                    .collect();
                let expected: Vec<String> = c["epm"]["endpoints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        let b = e["binding"].as_str().unwrap();
                        b[b.rfind('[').unwrap() + 1..b.len() - 1].to_string()
                    })
                    .collect();
                assert_eq!(ports, expected, "{name}");
            } else if c["operation"] == "ept_lookup" {
                let found = out["entries"].as_array().unwrap();
                assert_eq!(out["num_ents"], found.len(), "{name}");
                entries += found.len();
                for e in found {
                    assert!(e["tower"]["tower_octet_string"].is_string(), "{name}: {e}");
                    assert!(e["annotation"].is_string(), "{name}: {e}");
                }
            }
        }
    }
    assert!(maps >= 5, "{maps} ept_map calls");
    assert!(entries >= 20, "{entries} ept_lookup entries");
}
