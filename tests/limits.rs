//! Bounded tables reached by input big enough to reach them: an association with more open
//! calls than `MAX_OPEN_CALLS` ends the oldest ones first (counted in `summary`), and the calls
//! after them are still paired with their answers; a capture with more open calls than
//! `MAX_OPEN_CALLS_TOTAL` over many connections ends calls early too, each reported once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use rpcscope::dcerpc::association::MAX_OPEN_CALLS;
use rpcscope::outbox::MAX_OPEN_CALLS_TOTAL;
use support::*;

#[test]
fn a_full_association_ends_its_oldest_open_calls_first() {
    let extra = 100;
    let last_id = 2 + u32::try_from(MAX_OPEN_CALLS + extra).unwrap();
    let mut client = bind(1, 0);
    let mut server = bind_ack(1);
    for id in 2..last_id {
        client.extend(request(id, 0, 1, 8, 3));
    }
    // only the ten newest calls are answered
    for id in last_id - 10..last_id {
        server.extend(response(id, 0, 8, 3));
    }
    let mut conv = Conversation::new(49_800);
    conv.client(&client, &[1400]);
    conv.server(&server, &[1400]);
    conv.close();
    let bytes = pcap(&conv.frames());
    let (calls, run) = rpcscope::analyze(&bytes).unwrap();
    assert_eq!(calls.len(), MAX_OPEN_CALLS + extra);
    let answered: Vec<u32> = calls
        .iter()
        .filter(|c| c.outcome == rpcscope::model::Outcome::Response)
        .map(|c| c.call_id)
        .collect();
    assert_eq!(answered, (last_id - 10..last_id).collect::<Vec<_>>());
    // the calls ended early are the oldest, in order
    let ids: Vec<u32> = calls.iter().map(|c| c.call_id).take(extra).collect();
    assert_eq!(
        ids,
        (2..2 + u32::try_from(extra).unwrap()).collect::<Vec<_>>()
    );
    let limit = run
        .summary
        .anomalies
        .get("limit_open_calls")
        .map(|a| a.count);
    assert_eq!(limit, Some(u64::try_from(extra).unwrap()));
}

#[test]
fn unanswered_calls_spread_over_many_connections_are_bounded_for_the_whole_run() {
    let (connections, per_connection) = (400u16, 100u32);
    let total = usize::from(connections) * per_connection as usize;
    assert!(total > MAX_OPEN_CALLS_TOTAL && per_connection < MAX_OPEN_CALLS as u32);
    let mut frames = Vec::new();
    for i in 0..connections {
        let mut client = bind(1, 0);
        for id in 2..2 + per_connection {
            client.extend(request(id, 0, 1, 8, 3));
        }
        let mut conv = Conversation::new(49_800);
        conv.client_port = 20_000 + i;
        conv.client(&client, &[1400]);
        // never answered, never closed: every call stays open to the end of the capture
        frames.extend(conv.frames());
    }
    let (calls, run) = rpcscope::analyze(&pcap(&frames)).unwrap();
    assert_eq!(calls.len(), total, "every call reported once");
    let mut seen: Vec<(std::net::SocketAddr, u32)> =
        calls.iter().map(|c| (c.client, c.call_id)).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total);
    let ended_early = run.summary.anomalies["limit_open_calls_total"].count;
    let over = (total - MAX_OPEN_CALLS_TOTAL) as u64;
    // at most one call more than the limit stays open per connection opened past it
    assert!(
        ended_early <= over && ended_early + u64::from(connections) >= over,
        "{ended_early} ended early, {over} over the limit"
    );
    assert!(!run.summary.anomalies.contains_key("limit_open_calls"));
}

#[test]
fn the_connection_limit_can_be_set_per_run() {
    // 60 connections open at once, each a bind and one unanswered request.
    let mut frames = Vec::new();
    for i in 0..60u16 {
        let mut client = bind(1, 0);
        client.extend(request(2, 0, 1, 8, 3));
        let mut conv = Conversation::new(49_800);
        conv.client_port = 20_000 + i;
        conv.client(&client, &[1400]);
        frames.extend(conv.frames());
    }
    let capture = pcap(&frames);
    let run = |max_connections| {
        let setup = rpcscope::Setup {
            limits: rpcscope::engine::Limits {
                max_connections,
                ..Default::default()
            },
            ..rpcscope::Setup::default()
        };
        let mut calls = 0;
        let run = rpcscope::Analysis::from_reader(&capture[..])
            .setup(setup)
            .for_each_call(|_| {
                calls += 1;
                Ok(())
            })
            .unwrap();
        (calls, run.summary.tcp.evicted)
    };
    assert_eq!(run(None), (60, 0), "the default holds them all");
    let (calls, evicted) = run(Some(20));
    assert_eq!(calls, 60, "evicted connections still report their calls");
    assert!(evicted >= 40, "{evicted} evicted");
}

/// More connections in the table at once than it holds (`--max-connections`' default,
/// 100,000; ended connections linger in it), each a bind and one call to the endpoint mapper
/// from its own client address: the table fills, evicts, and the run's peak memory
/// stays within the 256 MiB budget (a connection cost about 2.6 KB before the association's
/// contexts, its bind buffer and the flow key were made smaller, and this capture took
/// 261 MiB through `calls --json`).
#[test]
fn a_full_connection_table_stays_within_the_memory_budget() {
    const BUDGET_KIB: u64 = 256 * 1024;
    let total = 150_000u32;
    let mut frames = Vec::new();
    for i in 0..total {
        let mut client = bind(1, 0);
        client.extend(request(2, 0, 1, 8, 3));
        let mut server = bind_ack(1);
        server.extend(response(2, 0, 8, 3));
        let mut conv = Conversation::new(135);
        conv.client_ip = std::net::Ipv4Addr::from(0x0a00_0000 | i);
        conv.client(&client, &[1400]);
        conv.server(&server, &[1400]);
        // closed within the linger time: every connection stays in the table until evicted
        conv.close();
        frames.extend(conv.frames());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connections.pcap");
    // 1.35 million frames within 14 s: every connection is still lingering when the table fills
    std::fs::write(&path, pcap_every(&frames, 10)).unwrap();
    drop(frames);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["calls", "--json", "--threads", "2"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = 0usize;
        let mut buf = [0u8; 1 << 16];
        while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        lines
    });
    let guard = std::time::Duration::from_secs(120);
    let (status, peak) = wait_measuring(&mut child, guard, "calls --json");
    let calls = reader.join().unwrap();
    assert!(status.success());
    assert_eq!(calls, total as usize, "every call reported once");
    assert!(
        peak < BUDGET_KIB,
        "peak {peak} KiB over the {BUDGET_KIB} KiB budget"
    );
    let (_, run) = rpcscope::analyze(&std::fs::read(&path).unwrap()).unwrap();
    assert!(run.summary.tcp.evicted > 0, "the table was full");
}

/// RPC over HTTP channels whose request heads never end: what they hold counts with the run's
/// framer bytes, so past `MAX_FRAMER_BYTES_TOTAL` the channel that grows gives up, and the run
/// holds at most that (not 16 KiB per direction times the connections).
#[test]
fn rpc_over_http_heads_that_never_end_are_bounded_for_the_run() {
    use rpcscope::context::MAX_FRAMER_BYTES_TOTAL;
    use rpcscope::rpch::MAX_HTTP_HEAD_BYTES;
    let head_bytes = MAX_HTTP_HEAD_BYTES - 100;
    let connections = MAX_FRAMER_BYTES_TOTAL / head_bytes + 200;
    let mut head = b"RPC_IN_DATA /rpc/rpcproxy.dll?srv:593 HTTP/1.1\r\nX-Pad: ".to_vec();
    head.resize(head_bytes, b'a');
    let mut frames = Vec::new();
    for i in 0..connections {
        let mut conv = Conversation::new(80);
        conv.client_ip = std::net::Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250) as u8 + 1);
        conv.client(&head, &[1400]);
        frames.extend(conv.frames());
    }
    let (_, run) = rpcscope::analyze(&pcap(&frames)).unwrap();
    let given_up = run.summary.counters["limit_framer_bytes"];
    assert!(given_up >= 100, "{given_up} channels gave up");
    assert_eq!(run.summary.counters["http_channels_given_up"], given_up);
}

/// One endpoint announced by 4,000 endpoint-mapper answers, then 4,000 connections to it
/// (`tools/adversarial.py announced`): every answer counts its first `MAX_USED_BY`
/// connections, 256,000 uses in all, and the records list `MAX_LISTED_USERS_TOTAL` of them;
/// `endpoints` says on stderr that the lists are incomplete. (Without the run-wide limit,
/// 10^5 answers listed 6.4 million connections: 958 MiB.)
#[test]
fn the_connections_endpoints_list_are_bounded_for_the_run() {
    use rpcscope::epm::resolver::{MAX_LISTED_USERS_TOTAL, MAX_USED_BY};
    let answers = 4_000usize;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("announced.pcap");
    let made = std::process::Command::new("python3")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tools/adversarial.py", "announced", &answers.to_string()])
        .arg(&path)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: python3 cannot run tools/adversarial.py here");
        return;
    }
    assert!(answers * MAX_USED_BY > MAX_LISTED_USERS_TOTAL);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["endpoints", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let records: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), answers);
    let listed: usize = records
        .iter()
        .map(|r| r["used_by"].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, MAX_LISTED_USERS_TOTAL);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("limit_endpoint_users"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} uses",
            answers * MAX_USED_BY - MAX_LISTED_USERS_TOTAL
        )),
        "{stderr}"
    );
}

/// Calls to more than `MAX_SUMMARY_INTERFACES` interfaces (each of 4,100 connections binds an
/// interface of its own): the summary keeps the first ones apart and counts the rest together
/// under no interface, with the `limit_summary_interfaces` anomaly.
#[test]
fn interfaces_beyond_the_summarys_limit_are_counted_together() {
    use rpcscope::summary::MAX_SUMMARY_INTERFACES;
    let total = MAX_SUMMARY_INTERFACES + 4;
    let mut frames = Vec::new();
    for i in 0..total {
        let mut client = bind(1, 0);
        // the first bytes of the abstract syntax's UUID: an interface per connection
        client[32..36].copy_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
        client.extend(request(2, 0, 1, 8, 3));
        let mut server = bind_ack(1);
        server.extend(response(2, 0, 8, 3));
        let mut conv = Conversation::new(135);
        conv.client_ip = std::net::Ipv4Addr::from(0x0a00_0000 | u32::try_from(i).unwrap());
        conv.client(&client, &[1400]);
        conv.server(&server, &[1400]);
        conv.close();
        frames.extend(conv.frames());
    }
    let (calls, run) = rpcscope::analyze(&pcap(&frames)[..]).unwrap();
    assert_eq!(calls.len(), total);
    let interfaces = &run.summary.interfaces;
    assert_eq!(interfaces.len(), MAX_SUMMARY_INTERFACES + 1);
    let together: Vec<_> = interfaces.iter().filter(|i| i.uuid.is_none()).collect();
    assert_eq!(together.len(), 1);
    assert_eq!(together[0].calls, 4);
    assert!(
        run.summary
            .anomalies
            .contains_key("limit_summary_interfaces"),
        "{:?}",
        run.summary.anomalies.keys()
    );
    let counted: u64 = interfaces.iter().map(|i| i.calls).sum();
    assert_eq!(counted, u64::try_from(total).unwrap());
}
