//! The peers' own test expectations, as rpcscope expectation files: every `test.yaml` of
//! suricata-verify in the shared corpus (skipped without `../shared`) is turned, where it says
//! something rpcscope reports, into `[[call]]` and `[[bind]]` entries (call id, opnum, fragment
//! counts, stub sizes, interface, client and server, bind results) and checked with
//! `rpcscope::check`; so is every `dce_rpc.log` baseline of Zeek's (each row a call: client,
//! server, interface, operation), which `tests/logs.rs` also compares field by field. Where a
//! peer's expectation and the wire disagree, the entry is listed with the reason, and
//! `docs/differences-from-wireshark.md` shows the bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rpcscope::check::report::Outcome;
use rpcscope::check::{check_capture, file};

/// Expectations of suricata-verify that name things differently from Microsoft's IDL:
/// (capture, a part of the entry's text). Suricata's names come from Zeek's table.
const KNOWN: &[(&str, &str)] = &[
    // MS-RPCE's management interface: Zeek's table calls it `mgmt` and opnum 4
    // `inq_princ_name`, the IDL `rpc__mgmt_inq_princ_name`
    (
        "dcerpc-dce-iface-02.pcap",
        "interface = mgmt, operation = inq_princ_name",
    ),
    // MS-DSSP opnum 9: `Opnum9NotUsedOnWire` in the published IDL, an older name in Zeek's table
    (
        "dcerpc-dce-stub-data-02.pcap",
        "interface = dssetup, operation = DsRolerUpgradeDownlevelServer",
    ),
];

/// Captures whose requests carry an object UUID (PFC_OBJECT_UUID: DCOM). For those calls
/// Suricata's `stub_data_size` counts the 16-byte object UUID in the request's stub and 8 bytes
/// of the response's header (alloc_hint, context id, cancel count, reserved) in the response's;
/// the expected sizes are taken back by as much, and then checked exactly
/// (`docs/differences-from-wireshark.md`).
const OBJECT_UUID_STUBS: &[&str] = &["bug-6191.pcap", "dcerpc-dce-iface-02.pcap"];

/// One `- filter:` of a suricata-verify `test.yaml`: its count and its `match:` pairs.
#[derive(Debug, Default)]
struct Filter {
    count: Option<u64>,
    fields: Vec<(String, String)>,
}

/// The filters of a `test.yaml` (the small subset of YAML those files use: a list of
/// `- filter:` maps with `count:` and a `match:` map of scalars).
fn filters(yaml: &str) -> Vec<Filter> {
    let mut out: Vec<Filter> = Vec::new();
    let mut match_indent: Option<usize> = None;
    for line in yaml.lines() {
        let content = line.split(" #").next().unwrap_or("");
        let trimmed = content.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        if trimmed == "- filter:" {
            out.push(Filter::default());
            match_indent = None;
            continue;
        }
        let Some(filter) = out.last_mut() else {
            continue;
        };
        if let Some(m) = match_indent {
            if indent > m {
                if let Some((k, v)) = trimmed.split_once(": ") {
                    let v = v.trim().trim_matches('"').trim_matches('\'');
                    filter.fields.push((k.to_string(), v.to_string()));
                }
                continue;
            }
            match_indent = None;
        }
        if trimmed == "match:" {
            match_indent = Some(indent);
        } else if let Some(n) = trimmed.strip_prefix("count: ") {
            filter.count = n.trim().parse().ok();
        }
    }
    out
}

fn quoted(s: &str) -> String {
    format!("{:?}", s)
}

/// The expectation entries a filter says, as TOML, or nothing when it says nothing rpcscope
/// reports (`object_uuid_stubs`: see [`OBJECT_UUID_STUBS`]).
fn entries(f: &Filter, object_uuid_stubs: bool) -> String {
    let get = |k: &str| {
        f.fields
            .iter()
            .find(|(key, _)| key == k || key.strip_prefix("smb.") == Some(k))
            .map(|(_, v)| v.as_str())
    };
    if get("event_type") != Some("dcerpc") {
        return String::new();
    }
    let ends = match (
        get("src_ip"),
        get("src_port"),
        get("dest_ip"),
        get("dest_port"),
    ) {
        (Some(a), Some(p), Some(b), Some(q)) => {
            let addr = |ip: &str, port: &str| {
                if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                }
            };
            format!(
                "client = {}\nserver = {}\n",
                quoted(&addr(a, p)),
                quoted(&addr(b, q))
            )
        }
        _ => String::new(),
    };
    let mut toml = String::new();
    match get("dcerpc.request") {
        Some("BIND" | "ALTER_CONTEXT") => {
            for i in 0..16 {
                let Some(uuid) = get(&format!("dcerpc.interfaces[{i}].uuid")) else {
                    break;
                };
                let _ = writeln!(toml, "[[bind]]\ninterface = {}", quoted(uuid));
                if let Some(r) = get(&format!("dcerpc.interfaces[{i}].ack_result")) {
                    let _ = writeln!(toml, "result = {r}");
                }
                if let Some(r) = get(&format!("dcerpc.interfaces[{i}].ack_reason")) {
                    let _ = writeln!(toml, "reason = {r}");
                }
                let alter = get("dcerpc.request") == Some("ALTER_CONTEXT");
                let _ = writeln!(toml, "alter = {alter}\n{ends}count = {{ min = 1 }}\n");
            }
        }
        Some("REQUEST") | None => {
            let mut call = String::new();
            for (key, field) in [
                ("dcerpc.call_id", "call_id"),
                ("dcerpc.req.opnum", "opnum"),
                ("dcerpc.opnum", "opnum"),
                ("dcerpc.req.frag_cnt", "request_fragments"),
                ("dcerpc.res.frag_cnt", "response_fragments"),
                ("dcerpc.req.stub_data_size", "request_stub_len"),
                ("dcerpc.res.stub_data_size", "response_stub_len"),
            ] {
                if let Some(v) = get(key) {
                    let v = match (field, object_uuid_stubs, v.parse::<u64>()) {
                        ("request_stub_len", true, Ok(n)) => n.saturating_sub(16).to_string(),
                        ("response_stub_len", true, Ok(n)) => n.saturating_sub(8).to_string(),
                        _ => v.to_string(),
                    };
                    let _ = writeln!(call, "{field} = {v}");
                }
            }
            let interface =
                get("dcerpc.interfaces[0].uuid").or_else(|| get("dcerpc.interfaces[0].service"));
            if let Some(i) = interface {
                let _ = writeln!(call, "interface = {}", quoted(i));
            }
            if let Some(p) = get("dcerpc.interfaces[0].procedure") {
                let _ = writeln!(call, "operation = {}", quoted(p));
            }
            if call.is_empty() {
                return String::new();
            }
            let count = f
                .count
                .map_or_else(|| "{ min = 1 }".to_string(), |n| n.to_string());
            let _ = writeln!(toml, "[[call]]\n{call}{ends}count = {count}\n");
        }
        Some(_) => {}
    }
    toml
}

fn suricata_tests(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let expected = e.path();
        let Some(capture) = expected
            .to_str()
            .and_then(|p| p.strip_suffix(".expected"))
            .map(PathBuf::from)
        else {
            continue;
        };
        let mut dirs = vec![expected];
        while let Some(d) = dirs.pop() {
            for f in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = f.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.file_name().is_some_and(|n| n == "test.yaml") {
                    found.push((capture.clone(), p));
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn suricata_verify_expectations_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/suricata-verify");
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent (the shared corpus is not part of this clone)",
            dir.display()
        );
        return;
    }
    let mut library = rpcscope::idl::table::builtin_library().clone();
    library.decode_parameters = false;
    let setup = rpcscope::Setup {
        library: Some(std::sync::Arc::new(library)),
        without_endpoint_records: true,
        threads: 1,
        ..rpcscope::Setup::default()
    };
    let (mut held, mut known, mut unexpected) = (0, 0, Vec::new());
    for (capture, yaml) in suricata_tests(&dir) {
        let name = capture.file_name().unwrap().to_string_lossy().to_string();
        let object_uuid_stubs = OBJECT_UUID_STUBS.contains(&name.as_str());
        let text: String = filters(&std::fs::read_to_string(&yaml).unwrap())
            .iter()
            .map(|f| entries(f, object_uuid_stubs))
            .collect();
        if text.is_empty() {
            continue;
        }
        let parsed =
            file::parse(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", yaml.display()));
        let report = check_capture(
            &capture,
            &parsed,
            &text,
            setup.clone(),
            (&name, "test.yaml"),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        for f in &report.findings {
            if f.verdict == Outcome::Passed {
                held += 1;
            } else if KNOWN.iter().any(|(c, t)| *c == name && f.title.contains(t)) {
                known += 1;
            } else {
                unexpected.push(format!("{name}: {} {:?}", f.title, f.details));
            }
        }
    }
    eprintln!(
        "suricata-verify: {held} expectations hold, {known} name an operation otherwise, {} fail",
        unexpected.len()
    );
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert!(held >= 60, "{held} expectations checked");
    assert_eq!(known, KNOWN.len(), "each known difference still occurs");
}

#[test]
fn the_yaml_subset_is_read() {
    let f = filters(
        "checks:\n- filter:\n    count: 2\n    match:\n      event_type: dcerpc\n      dcerpc.call_id: 27 # c\n      dcerpc.interfaces[0].uuid: \"abc\"\n- filter:\n    match:\n      event_type: alert\n",
    );
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].count, Some(2));
    assert_eq!(
        f[0].fields,
        vec![
            ("event_type".into(), "dcerpc".into()),
            ("dcerpc.call_id".into(), "27".into()),
            ("dcerpc.interfaces[0].uuid".into(), "abc".into()),
        ]
    );
    assert_eq!(
        entries(&f[0], false),
        "[[call]]\ncall_id = 27\ninterface = \"abc\"\ncount = 2\n\n"
    );
    assert!(entries(&f[1], false).is_empty());
}

/// Zeek's rows that the wire contradicts: (capture, a part of the entry's text).
const ZEEK_KNOWN: &[(&str, &str)] = &[
    // the call left open at the end (EcDoRpc, frame 800) is logged as a second copy of the call
    // before it: one EcRRegisterPushNotification more and one EcDoRpc fewer than on the wire
    ("mapi.pcap", "operation = EcRRegisterPushNotification"),
    (
        "mapi.pcap",
        "operation = EcDoRpc, client = 192.168.0.173:1073",
    ),
];

#[test]
fn zeek_baselines_hold_as_expectation_files() {
    let zeek = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/zeek");
    if !zeek.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent (the shared corpus is not part of this clone)",
            zeek.display()
        );
        return;
    }
    let setup = rpcscope::Setup {
        without_endpoint_records: true,
        threads: 1,
        ..rpcscope::Setup::default()
    };
    let (mut held, mut known, mut unexpected) = (0, 0, Vec::new());
    for entry in std::fs::read_dir(&zeek).unwrap().flatten() {
        let expected = entry.path();
        let Some(capture) = expected
            .to_str()
            .and_then(|p| p.strip_suffix(".expected"))
            .map(PathBuf::from)
        else {
            continue;
        };
        for test in std::fs::read_dir(&expected).unwrap().flatten() {
            let Ok(log) = std::fs::read_to_string(test.path().join("dce_rpc.log")) else {
                continue;
            };
            let fields: Vec<&str> = log
                .lines()
                .find_map(|l| l.strip_prefix("#fields\t"))
                .unwrap()
                .split('\t')
                .collect();
            // each distinct row once, with how many times Zeek logged it
            let mut rows: Vec<(String, u64)> = Vec::new();
            for line in log.lines().filter(|l| !l.starts_with('#')) {
                let value = |name: &str| {
                    fields
                        .iter()
                        .position(|f| *f == name)
                        .and_then(|i| line.split('\t').nth(i))
                        .unwrap_or("-")
                };
                let mut entry = format!(
                    "[[call]]\nclient = \"{}:{}\"\nserver = \"{}:{}\"\n",
                    value("id.orig_h"),
                    value("id.orig_p"),
                    value("id.resp_h"),
                    value("id.resp_p")
                );
                for (field, name) in [("interface", "endpoint"), ("operation", "operation")] {
                    if value(name) != "-" {
                        entry.push_str(&format!("{field} = {:?}\n", value(name)));
                    }
                }
                match rows.iter_mut().find(|(e, _)| *e == entry) {
                    Some((_, n)) => *n += 1,
                    None => rows.push((entry, 1)),
                }
            }
            let text: String = rows
                .iter()
                .map(|(e, n)| format!("{e}count = {n}\n\n"))
                .collect();
            let parsed = file::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let name = capture.file_name().unwrap().to_string_lossy().to_string();
            let report = check_capture(
                &capture,
                &parsed,
                &text,
                setup.clone(),
                (&name, "dce_rpc.log"),
            )
            .unwrap();
            for f in &report.findings {
                if f.verdict == Outcome::Passed {
                    held += 1;
                } else if ZEEK_KNOWN
                    .iter()
                    .any(|(c, t)| *c == name && f.title.contains(t))
                {
                    known += 1;
                } else {
                    unexpected.push(format!("{name}: {} {:?}", f.title, f.details));
                }
            }
        }
    }
    eprintln!("Zeek: {held} rows hold, {known} contradicted by the wire");
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(known, ZEEK_KNOWN.len());
    assert!(held >= 8, "{held} rows");
}
