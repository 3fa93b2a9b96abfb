//! RPC over HTTP (`ncacn_http`, MS-RPCH) on the lab's captures: `captures/real/66-http-v1.pcap`
//! (version 1: the `ncacn_http/1.0` banner, then PDUs as over TCP) and `67-http-v2.pcap`
//! (version 2: IN and OUT HTTP channels joined into one association per virtual connection).
//! Both hold the same calls from impacket's HTTP transport to Samba (`captures/README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name)
}

fn lines(args: &[&str], path: &Path) -> Vec<Value> {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/lab.keys");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .arg("--keys")
        .arg(keys)
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What each call did: operation, outcome, return code, auth level, decryption.
fn brief(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| {
            format!(
                "{}.{} {} {} {} {}",
                c["interface"]["name"].as_str().unwrap_or("?"),
                c["operation"].as_str().unwrap_or("?"),
                c["outcome"],
                c["status"]["name"],
                c["auth_level"],
                c["decryption"]
            )
        })
        .collect()
}

const SAMR: [&str; 7] = [
    "SamrConnect2",
    "SamrEnumerateDomainsInSamServer",
    "SamrLookupDomainInSamServer",
    "SamrOpenDomain",
    "SamrLookupNamesInDomain",
    "SamrCloseHandle",
    "SamrCloseHandle",
];

#[test]
fn version_1_calls_are_read_after_the_banner() {
    let calls = lines(&["calls", "--json"], &capture("66-http-v1.pcap"));
    let b = brief(&calls);
    assert_eq!(b.len(), 15, "{b:#?}");
    assert_eq!(
        b[0],
        "Epm.ept_lookup \"response\" \"ept_s_not_registered\" null null"
    );
    for (i, op) in SAMR.iter().enumerate() {
        let signed = format!("Samr.{op} \"response\" \"STATUS_SUCCESS\" \"pkt_integrity\" null");
        let sealed =
            format!("Samr.{op} \"response\" \"STATUS_SUCCESS\" \"pkt_privacy\" \"decrypted\"");
        assert_eq!(b[1 + i], signed);
        assert_eq!(b[8 + i], sealed);
    }
    for c in &calls {
        assert_eq!(c["transport"], "ncacn_http");
        assert_eq!(c["interface_source"], "bind");
    }
    assert_eq!(calls[0]["server"], "127.0.0.1:593");
    assert_eq!(calls[1]["server"], "127.0.0.1:59300");
    let summary = lines(&["summary", "--json"], &capture("66-http-v1.pcap")).remove(0);
    // the banner is not taken for a PDU, nor skipped as garbage
    assert_eq!(
        summary["counters"]["bytes_skipped_before_first_pdu"],
        Value::Null
    );
    assert_eq!(summary["tcp"]["dcerpc_connections"], 3);
}

#[test]
fn version_2_channels_are_joined_into_the_calls_of_version_1() {
    let v1 = lines(&["calls", "--json"], &capture("66-http-v1.pcap"));
    let v2 = lines(&["calls", "--json"], &capture("67-http-v2.pcap"));
    assert_eq!(brief(&v2), brief(&v1));
    for c in &v2 {
        assert_eq!(c["transport"], "ncacn_http");
        // the calls are the IN channel's: client to the proxy's port
        assert_eq!(c["server"], "127.0.0.1:80");
        assert!(c["request"]["frames"][0].as_u64() < c["response"]["frames"][0].as_u64());
    }
    // each virtual connection is one association: call ids follow each other within it
    let ids: Vec<u64> = v2.iter().map(|c| c["call_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 5, 6, 7, 8]);
    let summary = lines(&["summary", "--json"], &capture("67-http-v2.pcap")).remove(0);
    assert_eq!(summary["counters"]["rpc_over_http_virtual_connections"], 3);
    assert_eq!(summary["counters"]["http_channels_given_up"], Value::Null);
    assert_eq!(summary["tcp"]["dcerpc_connections"], 3);
    // CONN/B1 in each IN body, CONN/A3 and CONN/C2 in each OUT body (CONN/A1 is in the OUT
    // request's body, which carries nothing else for the association)
    assert!(
        summary["pdus"]["rts"].as_u64().unwrap() >= 9,
        "{}",
        summary["pdus"]
    );
}
