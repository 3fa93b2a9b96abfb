//! The terminal interface: state changes through actions (no terminal), every view rendered
//! with ratatui's TestBackend at 80x24 and 160x48 (insta snapshots), and the real binary driven
//! in tmux.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rpcscope::tui::action::Action;
use rpcscope::tui::app::{App, ConnSort, FlowRow, FlowScope, Focus, View};
use rpcscope::tui::view::{self, Theme};

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name)
}

fn loaded(name: &str) -> App {
    loaded_with(name, rpcscope::idl::builtin::library().unwrap())
}

fn loaded_with(name: &str, library: rpcscope::idl::Library) -> App {
    loaded_with_keys(name, library, None)
}

fn loaded_with_keys(
    name: &str,
    mut library: rpcscope::idl::Library,
    keys: Option<std::sync::Arc<rpcscope::auth::keys::Keyring>>,
) -> App {
    let bytes = std::fs::read(capture(name)).unwrap();
    let mut notes = Vec::new();
    // As the binary does: stubs kept and the selected call's parameters decoded when its
    // detail opens.
    library.decode_parameters = true;
    library.keep_stubs = true;
    library.keep_every_stub = true;
    let library = std::sync::Arc::new(library);
    let setup = rpcscope::Setup {
        library: Some(library.clone()),
        keys,
        threads: 1,
        ..rpcscope::Setup::default()
    };
    let mut on_pdu = |n| notes.push(n);
    let (calls, run) = rpcscope::Analysis::from_bytes(&bytes)
        .setup(setup)
        .pdus(&mut on_pdu)
        .calls()
        .unwrap();
    let mut app = App::new(name).with_library(Some(library));
    app.update(Action::Notes(notes));
    app.update(Action::Calls(calls));
    app.update(Action::Done(Box::new(run.summary), run.endpoints, None));
    app
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, app, Theme { color: false }))
        .unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Moves the calls view's selection down to the first call `wanted` chooses.
fn select_first(app: &mut App, wanted: impl Fn(&rpcscope::model::Call) -> bool) {
    let row = app
        .filtered
        .iter()
        .position(|&i| wanted(&app.calls[i]))
        .expect("a call the test needs");
    for _ in 0..row {
        app.update(Action::Down);
    }
}

/// The library the binary decodes with: the built-in table and the built-in IDL.
fn full_library() -> rpcscope::idl::Library {
    let mut library = rpcscope::idl::table::builtin_library().clone();
    library.merge(rpcscope::idl::builtin::library().unwrap());
    library
}

#[test]
fn the_filter_bar_takes_the_filter_language() {
    use rpcscope::model::Outcome;
    let mut app = loaded("12-faults.pcap");
    let all = app.filtered.len();
    let count = |app: &rpcscope::tui::app::App, pick: &dyn Fn(&rpcscope::model::Call) -> bool| {
        app.calls.iter().filter(|c| pick(c)).count()
    };
    app.update(Action::StartFilter);
    for c in "outcome == fault and not opnum == 0".chars() {
        app.update(Action::Char(c));
    }
    let want = count(&app, &|c| c.outcome == Outcome::Fault && c.opnum != Some(0));
    assert!(want > 0 && want < all, "{want} of {all}");
    assert_eq!(app.filtered.len(), want);
    let in_stats: u64 = app.stats().iter().map(|r| r.calls).sum();
    assert_eq!(
        in_stats, want as u64,
        "statistics count the chosen calls only"
    );
    assert!(
        app.conn_filtered.iter().all(|&ci| app.connections[ci]
            .call_indices
            .iter()
            .any(|&i| app.filtered.contains(&i))),
        "only connections with a chosen call"
    );
    // an unfinished expression says what is wrong and keeps the last whole one in force
    for c in " and opnum >".chars() {
        app.update(Action::Char(c));
    }
    assert_eq!(app.filtered.len(), want);
    let message = app.message.clone().unwrap_or_default();
    assert!(message.contains("expected a value after '>'"), "{message}");
    for c in " 2".chars() {
        app.update(Action::Char(c));
    }
    let want = count(&app, &|c| {
        c.outcome == Outcome::Fault && c.opnum.is_some_and(|n| n > 2)
    });
    assert_eq!(app.filtered.len(), want);
    assert!(app.message.is_none());
    app.update(Action::Back);
    assert_eq!(app.filtered.len(), all);
}

#[test]
fn moves_filters_and_searches_without_a_terminal() {
    let mut app = loaded("12-faults.pcap");
    assert_eq!(app.filtered.len(), 9);
    app.update(Action::Resize(5));
    app.update(Action::End);
    assert_eq!(app.cursor(), 8);
    assert_eq!(
        app.first_visible(),
        4,
        "the last row is scrolled into the 5-row page"
    );
    app.update(Action::Home);
    app.update(Action::Down);
    assert_eq!(app.cursor(), 1);
    // filter: only the faults
    app.update(Action::StartFilter);
    for c in "fault".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    assert_eq!(app.filtered.len(), 6);
    assert!(
        app.filtered
            .iter()
            .all(|&i| app.calls[i].outcome == rpcscope::model::Outcome::Fault)
    );
    app.update(Action::Back);
    assert_eq!(app.filtered.len(), 9, "Esc clears the filter");
    // search jumps to the next match and wraps
    app.update(Action::StartSearch);
    for c in "op_rng".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    let hit = app.selected_call().unwrap();
    assert_eq!(hit.fault_name().as_deref(), Some("nca_s_op_rng_error"));
    app.update(Action::StartSearch);
    for c in "no such thing".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    assert!(app.message.as_deref().unwrap().starts_with("no match"));
}

#[test]
fn the_search_follows_the_typing_over_the_text_the_rows_show() {
    let mut app = loaded("02-epm-map-samr.pcap");
    app.update(Action::StartSearch);
    let mut seen = Vec::new();
    for c in "Samr.SamrLookupN".chars() {
        app.update(Action::Char(c));
        seen.push(app.cursor());
    }
    // "s" is the first row already (its server's address has none, its operation does);
    // "Samr." moves to the first SAMR call, the whole name to SamrLookupNamesInDomain
    assert_eq!(seen[0], 0, "{seen:?}");
    assert_eq!(seen[4], 1, "{seen:?}");
    let hit = app.selected_call().unwrap();
    assert_eq!(hit.operation.as_deref(), Some("SamrLookupNamesInDomain"));
    // Backspace widens the search again, from where it began
    for _ in 0.."LookupN".len() {
        app.update(Action::Backspace);
    }
    assert_eq!(app.cursor(), 1);
    // Esc puts the selection back where the search began
    app.update(Action::Back);
    assert_eq!(app.cursor(), 0);
    // what the outcome column shows, and frame numbers
    app.update(Action::StartSearch);
    for c in "✓ ok".chars() {
        app.update(Action::Char(c));
    }
    assert_eq!(app.cursor(), 0);
    app.update(Action::Enter);
    app.update(Action::NextMatch);
    assert_eq!(app.cursor(), 1, "n: the next row showing ✓ ok");
    app.update(Action::PreviousMatch);
    assert_eq!(app.cursor(), 0, "N: the previous one");
    app.update(Action::PreviousMatch);
    assert_eq!(app.cursor(), app.rows() - 1, "N wraps to the last row");
    app.update(Action::StartSearch);
    for c in "35 ".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    assert_eq!(
        app.selected_call()
            .unwrap()
            .request
            .as_ref()
            .unwrap()
            .frames[0],
        35
    );
}

#[test]
fn a_search_of_a_long_list_runs_in_slices_and_esc_stops_it() {
    use rpcscope::tui::app::SEARCH_ROWS_PER_SLICE;
    let bytes = std::fs::read(capture("02-epm-map-samr.pcap")).unwrap();
    let (calls, _) = rpcscope::analyze(&bytes[..]).unwrap();
    let n = 100_000;
    let mut many: Vec<_> = (0..n)
        .map(|i| {
            let mut c = calls[1 + i % (calls.len() - 1)].clone();
            c.call_id = u32::try_from(i).unwrap();
            c
        })
        .collect();
    // only the last call goes to the endpoint mapper
    many[n - 1] = calls[0].clone();
    let mut app = App::new("many");
    app.update(Action::Calls(many));
    app.update(Action::Down);
    // a search no row matches: one slice per update, then more on each App::work
    app.update(Action::StartSearch);
    for c in "nowhere".chars() {
        app.update(Action::Char(c));
    }
    assert!(app.busy(), "100,000 rows are not looked at in one slice");
    let progress = app.search_progress().unwrap();
    assert!(
        progress * n / 100 <= SEARCH_ROWS_PER_SLICE,
        "one slice looked at {progress}%"
    );
    app.update(Action::Back);
    assert!(!app.busy(), "Esc stops the search");
    assert_eq!(app.cursor(), 1, "and leaves the selection where it was");
    // a search that finds the last row gets there slice by slice
    app.update(Action::StartSearch);
    for c in "Epm.ept_map".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    let mut slices = 1;
    while app.busy() {
        app.work();
        slices += 1;
    }
    assert_eq!(app.cursor(), n - 1);
    assert!(
        slices >= n / SEARCH_ROWS_PER_SLICE,
        "{slices} slices for {n} rows"
    );
    // a key while a search runs is answered: switching views drops it
    app.update(Action::Home);
    app.update(Action::StartSearch);
    for c in "nowhere".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    assert!(app.busy());
    app.update(Action::View(2));
    app.work();
    assert!(!app.busy());
}

#[test]
fn the_filter_bar_recalls_earlier_filters() {
    let mut app = loaded("02-epm-map-samr.pcap");
    for text in ["iface == samr", "op ~ close"] {
        app.update(Action::StartFilter);
        for c in text.chars() {
            app.update(Action::Char(c));
        }
        app.update(Action::Enter);
        app.update(Action::Back);
        assert_eq!(app.filtered.len(), 9, "Esc cleared {text}");
    }
    app.update(Action::StartFilter);
    app.update(Action::Up);
    assert_eq!(app.filter, "op ~ close");
    assert_eq!(app.filtered.len(), 2, "the recalled filter is in force");
    app.update(Action::Up);
    assert_eq!(app.filter, "iface == samr");
    assert_eq!(app.filtered.len(), 8);
    app.update(Action::Up);
    assert_eq!(app.filter, "iface == samr", "the oldest stays");
    app.update(Action::Down);
    app.update(Action::Down);
    assert_eq!(app.filter, "", "past the newest: an empty bar");
    assert_eq!(app.filtered.len(), 9);
}

#[test]
fn rows_and_detail_lines_are_copied_to_the_clipboard() {
    use rpcscope::tui::app::Request;
    let mut app = loaded("02-epm-map-samr.pcap");
    app.update(Action::Down);
    app.update(Action::Copy);
    let Some(Request::Clipboard(row)) = app.take_request() else {
        panic!("y asks for the clipboard");
    };
    let cells: Vec<&str> = row.split('\t').collect();
    assert_eq!(cells[0], "20", "{row}");
    assert_eq!(cells[4], "Samr.SamrConnect2", "{row}");
    assert_eq!(cells[5], "✓ ok", "{row}");
    assert!(app.take_request().is_none(), "asked once");
    // the chosen line of the focused detail: a parameter, then a row of stub bytes
    app.update(Action::Enter);
    app.update(Action::FocusNext);
    let line = app.parameter_tree()[0].text.trim().to_string();
    app.update(Action::Copy);
    assert_eq!(
        app.take_request(),
        Some(Request::Clipboard(line.clone())),
        "{line}"
    );
    app.update(Action::End);
    app.update(Action::Copy);
    let stub = rpcscope::tui::app::whole_stubs(app.selected_call().unwrap())[1].to_vec();
    let last_row: String = stub[(stub.len() - 1) / 16 * 16..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(app.take_request(), Some(Request::Clipboard(last_row)));
    // what the terminal receives
    let mut terminal = Vec::new();
    let said =
        rpcscope::tui::export::carry_out(&app, Request::Clipboard("Samr".into()), &mut terminal);
    assert_eq!(terminal, b"\x1b]52;c;U2Ftcg==\x07");
    assert!(said.contains("copied") && said.ends_with("Samr"), "{said}");
}

#[test]
fn the_wireshark_filter_of_a_call_shows_its_frames_in_tshark() {
    use rpcscope::tui::app::Request;
    let tshark = Command::new("tshark").arg("-v").output();
    if tshark.is_err() {
        eprintln!("skipped: tshark is not installed (.ci/run installs it)");
        return;
    }
    for name in [
        "02-epm-map-samr.pcap",
        "21-np-impacket.pcap",
        "16-ipv6.pcap",
    ] {
        let mut app = loaded(name);
        app.update(Action::End);
        app.update(Action::CopyWiresharkFilter);
        let Some(Request::Clipboard(filter)) = app.take_request() else {
            panic!("w asks for the clipboard");
        };
        let c = app.selected_call().unwrap();
        let out = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(capture(name))
            .args(["-Y", &filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{filter}: {out:?}");
        let frames: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        let request = c.request.as_ref().unwrap().frames;
        let response = c.response.as_ref().unwrap().frames;
        assert!(
            frames.contains(&request[0]) && frames.contains(&response[1]),
            "{name}: {filter} gives {frames:?}, the call is {request:?} {response:?}"
        );
        assert!(
            frames
                .iter()
                .all(|f| (request[0]..=response[1]).contains(f)),
            "{name}: {filter} gives {frames:?}"
        );
    }
}

#[test]
fn the_chosen_calls_are_exported_as_the_calls_command_writes_them() {
    use rpcscope::tui::app::{DEFAULT_EXPORT_FILE, Input, Request};
    let name = "12-faults.pcap";
    let mut app = loaded(name);
    let expression = "outcome == fault";
    app.update(Action::StartFilter);
    for c in expression.chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    app.update(Action::StartExport);
    assert_eq!(app.input, Input::Export);
    assert_eq!(app.export_path, DEFAULT_EXPORT_FILE);
    let dir = std::env::temp_dir().join(format!("rpcscope-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, csv) in [("faults.jsonl", false), ("faults.csv", true)] {
        let path = dir.join(file);
        app.update(Action::StartExport);
        for _ in 0..app.export_path.chars().count() {
            app.update(Action::Backspace);
        }
        for c in path.display().to_string().chars() {
            app.update(Action::Char(c));
        }
        app.update(Action::Enter);
        let Some(request @ Request::Export(_)) = app.take_request() else {
            panic!("Enter asks for the export");
        };
        let said = rpcscope::tui::export::carry_out(&app, request, &mut Vec::new());
        assert!(said.starts_with("wrote 6 calls"), "{said}");
        let mut args = vec!["calls", "--filter", expression];
        if csv {
            args.extend(["--format", "csv"]);
        } else {
            args.push("--json");
        }
        let cli = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
            .args(&args)
            .arg(capture(name))
            .output()
            .unwrap();
        assert!(cli.status.success());
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, String::from_utf8(cli.stdout).unwrap(), "{file}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // a file that cannot be written is a message, not a failure
    let said = rpcscope::tui::export::carry_out(
        &app,
        Request::Export("/nonexistent-dir/x.jsonl".into()),
        &mut Vec::new(),
    );
    assert!(said.starts_with("could not write"), "{said}");
}

#[test]
fn the_help_scrolls_to_its_last_key_on_a_small_screen() {
    let mut app = loaded("02-epm-map-samr.pcap");
    app.update(Action::Help);
    let top = screen(&mut app, 80, 24);
    assert!(top.contains("more lines below"), "{top}");
    assert!(!top.contains(" quit"), "{top}");
    let cursor = app.cursor();
    app.update(Action::End);
    let end = screen(&mut app, 80, 24);
    assert!(end.contains(" quit"), "{end}");
    assert!(end.contains("0 more lines below"), "{end}");
    assert_eq!(
        app.cursor(),
        cursor,
        "the list behind the help did not move"
    );
    app.update(Action::PageUp);
    let up = screen(&mut app, 80, 24);
    assert!(!up.contains(" quit"), "{up}");
    // every key of the help is reached by scrolling
    app.update(Action::Home);
    let mut seen = String::new();
    for _ in 0..40 {
        seen.push_str(&screen(&mut app, 80, 24));
        app.update(Action::Down);
    }
    for (key, _) in rpcscope::tui::view::HELP {
        assert!(seen.contains(key), "{key}");
    }
}

#[test]
fn links_lead_from_a_call_to_its_answer_and_on_and_esc_comes_back_the_same_way() {
    let mut app = loaded("02-epm-map-samr.pcap");
    app.update(Action::Down);
    let call = app.selected_call().unwrap().clone();
    assert_eq!(call.operation.as_deref(), Some("SamrConnect2"));
    // the call's detail says where its endpoint came from
    app.update(Action::Enter);
    let detail = screen(&mut app, 160, 48);
    assert!(
        detail.contains("announced by the answer in frame 9 (a: go to it)"),
        "{detail}"
    );
    app.update(Action::Back);
    // a: the answer that announced the endpoint
    app.update(Action::GoToAnswer);
    assert_eq!(app.view, View::Endpoints);
    let answer = &app.endpoints[app.cursor()];
    assert_eq!(Some(answer.frame), call.endpoint_frame);
    assert!(answer.binding.ends_with("[49152]"), "{}", answer.binding);
    // Enter: the connections that used it, and only those
    app.update(Action::Enter);
    assert_eq!(app.view, View::Connections);
    assert_eq!(app.conn_filtered.len(), 1);
    let conn = &app.connections[app.conn_filtered[0]];
    assert_eq!((conn.client, conn.server), (call.client, call.server));
    let text = screen(&mut app, 160, 48);
    assert!(
        text.contains("that used Samr v1.0 at ncacn_ip_tcp:127.0.0.1[49152]"),
        "{text}"
    );
    // Enter: its flow; on the answer there, Enter goes to it; on a call, to its detail
    app.update(Action::Enter);
    assert_eq!(app.view, View::Flow);
    let rows = app.flow_rows();
    let call_row = rows
        .iter()
        .position(|r| matches!(r, FlowRow::Call(_)))
        .unwrap();
    for _ in 0..call_row {
        app.update(Action::Down);
    }
    app.update(Action::Enter);
    assert_eq!(app.view, View::Calls);
    assert!(app.detail);
    assert_eq!(app.selected_call().unwrap().call_id, call.call_id);
    // Esc retraces every step
    app.update(Action::Back);
    assert_eq!(
        app.view,
        View::Flow,
        "back to the flow, not only the detail closed"
    );
    assert_eq!(app.cursor(), call_row);
    app.update(Action::Back);
    assert_eq!(app.view, View::Connections);
    assert_eq!(app.conn_filtered.len(), 1, "still those of the endpoint");
    app.update(Action::Back);
    assert_eq!(app.view, View::Endpoints);
    app.update(Action::Back);
    assert_eq!(app.view, View::Calls);
    assert_eq!(
        app.cursor(),
        1,
        "on the call the first link was followed from"
    );
    assert_eq!(app.conn_filtered.len(), 2, "all connections listed again");
    // a call whose endpoint no answer announced says so
    app.update(Action::Home);
    app.update(Action::GoToAnswer);
    assert_eq!(app.view, View::Calls);
    assert!(
        app.message.as_deref().unwrap().contains("no answer"),
        "{:?}",
        app.message
    );
}

#[test]
fn refused_binds_are_listed_and_an_empty_capture_says_why() {
    for (name, refused) in [("13-bind-reject.pcap", 2), ("14-bind-nak.pcap", 5)] {
        let mut app = loaded(name);
        let rows: Vec<_> = app
            .connections
            .iter()
            .filter(|c| c.calls == 0 && c.refused.is_some())
            .collect();
        assert_eq!(rows.len(), refused, "{name}");
        for r in &rows {
            assert!(
                app.conn_filtered
                    .iter()
                    .any(|&ci| app.connections[ci].client == r.client),
                "{name}: listed"
            );
            let bound = app
                .notes
                .iter()
                .any(|n| n.client == r.client && n.ptype == rpcscope::dce::codes::PacketType::BIND);
            assert_eq!(
                !r.interfaces.is_empty(),
                bound,
                "{name}: the interface of the bind, when it was read"
            );
        }
        app.update(Action::View(2));
        let text = screen(&mut app, 160, 48);
        assert_eq!(
            text.matches("0, bind refused").count(),
            refused,
            "{name}:\n{text}"
        );
        // its flow shows the refusal
        let first_refused = app
            .conn_filtered
            .iter()
            .position(|&ci| app.connections[ci].refused.is_some())
            .unwrap();
        for _ in 0..first_refused {
            app.update(Action::Down);
        }
        app.update(Action::Enter);
        let flow = screen(&mut app, 160, 48);
        assert!(
            flow.contains("bind_nak") || flow.contains("provider_rejection"),
            "{name}:\n{flow}"
        );
    }
    // a filter chooses calls: refused associations have none
    let mut app = loaded("14-bind-nak.pcap");
    app.update(Action::StartFilter);
    for c in "iface == epm".chars() {
        app.update(Action::Char(c));
    }
    assert_eq!(app.conn_filtered.len(), 1);
    // SMB3 encrypted without keys: the calls view says why it is empty
    let mut app = loaded("25-np-smb3-encrypted.pcap");
    assert!(app.calls.is_empty());
    let text = screen(&mut app, 100, 30);
    assert!(
        text.contains("No DCE/RPC call was found")
            && text.contains("146 SMB3 messages are encrypted"),
        "{text}"
    );
    let text = screen(&mut app, 160, 30);
    assert!(
        text.contains("146 encrypted SMB3 messages not decrypted"),
        "the status line says so in every view:\n{text}"
    );
}

#[test]
fn a_dcom_activation_says_what_it_activated_asked_for_and_created() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/suricata-verify/dcerpc-ctxids.pcap");
    if !path.exists() {
        eprintln!("skipped: ../shared/corpus is not here (a user's clone)");
        return;
    }
    let bytes = std::fs::read(&path).unwrap();
    let (calls, run) = rpcscope::Analysis::from_bytes(&bytes).calls().unwrap();
    let mut app = App::new("dcerpc-ctxids.pcap");
    app.update(Action::Calls(calls));
    app.update(Action::Done(Box::new(run.summary), run.endpoints, None));
    select_first(&mut app, |c| {
        c.operation.as_deref() == Some("RemoteGetClassObject")
    });
    app.update(Action::Enter);
    let text = screen(&mut app, 300, 60);
    for line in [
        "activation MMC20.Application {49b2791a-b1ae-4c90-9b8e-e860ba07f889}",
        "asks for IClassFactory {00000001-0000-0000-c000-000000000046}",
        "created IClassFactory IPID 0000cc0b-0668-04ec-0953-aacaf2a4d05b, OXID \
         0xb5c018689dc8086e",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // the call made on that interface pointer: IClassFactory named, its object the IPID
    let on_it = app
        .calls
        .iter()
        .find(|c| c.operation.as_deref() == Some("CreateInstance"))
        .unwrap();
    assert_eq!(
        on_it.interface.as_ref().unwrap().name.as_deref(),
        Some("ClassFactory")
    );
    assert_eq!(
        on_it.object.unwrap().to_string(),
        "0000cc0b-0668-04ec-0953-aacaf2a4d05b"
    );
}

#[test]
fn a_terminal_too_small_is_told_so_and_the_filter_chooses_endpoints_too() {
    let mut app = loaded("02-epm-map-samr.pcap");
    let text = screen(&mut app, 30, 8).replace('\n', " ");
    assert!(
        text.contains("The terminal is 30x8; rpcscope needs at least 40x10"),
        "{text}"
    );
    let text = screen(&mut app, 40, 10);
    assert!(text.contains("Calls"), "{text}");
    // the endpoints view lists the answers of the calls the filter chooses
    app.update(Action::View(4));
    assert_eq!(app.rows(), 1);
    app.update(Action::StartFilter);
    for c in "op == SamrConnect2".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    assert_eq!(app.rows(), 1, "its connection used the endpoint");
    let text = screen(&mut app, 160, 48);
    assert!(text.contains("(filter: op == SamrConnect2)"), "{text}");
    app.update(Action::Back);
    app.update(Action::StartFilter);
    for c in "op == nothing".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Enter);
    assert_eq!(app.rows(), 0);
    let text = screen(&mut app, 160, 48);
    assert!(text.contains("Endpoint resolution (0 of 1"), "{text}");
}

#[test]
fn a_failed_call_says_why_in_its_detail() {
    let mut app = loaded("12-faults.pcap");
    select_first(&mut app, |c| c.fault_status.is_some());
    app.update(Action::Enter);
    let text = screen(&mut app, 160, 48);
    let c = app.selected_call().unwrap();
    let line = format!(
        "fault 0x{:08x} {}",
        c.fault_status.unwrap(),
        c.fault_name().unwrap()
    );
    assert!(text.contains(&line), "{line}\n{text}");
    // a call answered with a failing return code: its name
    let mut app = loaded("53-winreg.pcap");
    let denied = app
        .filtered
        .iter()
        .position(|&i| {
            app.calls[i]
                .status
                .is_some_and(|s| s.label() == "ERROR_ACCESS_DENIED")
        })
        .unwrap();
    for _ in 0..denied {
        app.update(Action::Down);
    }
    app.update(Action::Enter);
    let text = screen(&mut app, 160, 48);
    assert!(
        text.contains("return code 0x00000005 ERROR_ACCESS_DENIED"),
        "{text}"
    );
}

#[test]
fn the_parameter_tree_folds_and_unfolds_under_the_chosen_line() {
    let mut app = loaded("02-epm-map-samr.pcap");
    app.update(Action::Enter);
    app.update(Action::FocusNext);
    let whole: Vec<String> = app
        .parameter_tree()
        .iter()
        .map(|l| l.text.clone())
        .collect();
    let out = whole.iter().position(|l| l.trim() == "out").unwrap();
    let depth = |l: &str| l.len() - l.trim_start().len();
    let under = whole[out + 1..]
        .iter()
        .take_while(|l| depth(l) > depth(&whole[out]))
        .count();
    assert!(under > 3, "{whole:?}");
    for _ in 0..out {
        app.update(Action::Down);
    }
    // Enter folds the [out] parameters: their lines go, the line says how many
    app.update(Action::Enter);
    let folded: Vec<String> = app
        .parameter_tree()
        .iter()
        .map(|l| l.text.clone())
        .collect();
    assert_eq!(folded.len(), whole.len() - under);
    assert_eq!(app.fold_marks()[out], Some(under));
    let text = screen(&mut app, 160, 48);
    assert!(
        text.contains(&format!("out ▸ {under} lines folded (Enter)")),
        "{text}"
    );
    // the next item is now what came after the folded lines: the PDU fields
    app.update(Action::Down);
    app.update(Action::Copy);
    let Some(rpcscope::tui::app::Request::Clipboard(next)) = app.take_request() else {
        panic!("copy");
    };
    assert!(next.starts_with("rpc_vers"), "{next}");
    // and Enter again unfolds
    app.update(Action::Up);
    app.update(Action::Enter);
    assert_eq!(app.parameter_tree().len(), whole.len());
    // a line without lines under it does not fold
    app.update(Action::Up);
    app.update(Action::Enter);
    assert_eq!(app.parameter_tree().len(), whole.len());
}

#[test]
fn drills_into_details_connections_and_flows() {
    let mut app = loaded("02-epm-map-samr.pcap");
    app.update(Action::Enter);
    assert!(app.detail);
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Focus::Detail);
    app.update(Action::Down);
    assert_eq!(
        app.field, 1,
        "arrows move within the detail when it has the focus"
    );
    // g and G act on the focused detail, not on the call list behind it
    let cursor = app.cursor();
    app.update(Action::End);
    let last = app.field;
    assert!(last > 1, "{last}");
    app.update(Action::Down);
    assert_eq!(app.field, last, "the last field stays the last");
    app.update(Action::Up);
    assert_eq!(app.field, last - 1);
    app.update(Action::Home);
    assert_eq!(app.field, 0);
    assert_eq!(app.cursor(), cursor, "the call list did not move");
    app.update(Action::Back);
    assert!(!app.detail);
    app.update(Action::View(2));
    assert_eq!(app.view, View::Connections);
    assert_eq!(app.connections.len(), 2);
    app.update(Action::Down);
    app.update(Action::Enter);
    assert_eq!(app.view, View::Flow);
    // The connection alone: the answer that announced its endpoint, its bind and ack, its 8
    // calls.
    assert_eq!(app.flow_scope, FlowScope::Connection);
    let rows = app.flow_rows();
    assert_eq!(rows.len(), 1 + 2 + 8, "{rows:?}");
    assert!(matches!(rows[0], FlowRow::Lookup(_)));
    app.update(Action::ToggleFlowScope);
    let rows = app.flow_rows();
    // The client host's whole story: the bind to the endpoint mapper and its ack, the ept_map
    // call, the answer's endpoint, the bind on the announced port and its ack, then 8 calls.
    assert_eq!(rows.len(), 2 + 1 + 1 + 2 + 8);
    let lookup = rows
        .iter()
        .position(|r| matches!(r, FlowRow::Lookup(_)))
        .unwrap();
    let samr_bind = rows
        .iter()
        .position(|r| matches!(r, FlowRow::Note(n) if rpcscope::output::text::pdu_detail(&app.notes[*n]).contains("Samr v1.0")))
        .unwrap();
    assert!(
        lookup < samr_bind,
        "the lookup comes before the bind on the port it announced"
    );
    assert_eq!(app.flow_lane(rows[lookup]), "ncacn_ip_tcp:127.0.0.1[135]");
    assert_eq!(
        app.flow_lane(rows[samr_bind]),
        "ncacn_ip_tcp:127.0.0.1[49152]"
    );
    app.update(Action::View(2));
    app.update(Action::Sort);
    assert_eq!(app.conn_sort, ConnSort::Calls);
    let first = app.conn_filtered[0];
    assert_eq!(app.connections[first].calls, 8, "most calls first");
    app.update(Action::View(4));
    app.update(Action::Enter);
    assert_eq!(
        app.view,
        View::Connections,
        "Enter on an endpoint lists the connections that used it"
    );
    app.update(Action::Help);
    assert!(app.help);
    app.update(Action::Back);
    assert!(!app.help);
    app.update(Action::Quit);
    assert!(app.quit);
}

#[test]
fn the_call_flow_pages_by_its_lines_and_clicks_land_on_the_item_drawn() {
    // A flow longer than the screen, calls taking two lines each.
    let mut app = loaded("53-winreg.pcap");
    app.update(Action::View(2));
    app.update(Action::Sort);
    assert_eq!(
        app.conn_sort,
        ConnSort::Calls,
        "the pipe with the most calls first"
    );
    app.update(Action::Enter);
    assert_eq!(app.view, View::Flow);
    let rows = app.flow_rows();
    assert!(rows.len() > 20, "{}", rows.len());
    screen(&mut app, 80, 24);
    let page = app.page;
    // G: the last item and both its lines are drawn
    app.update(Action::End);
    assert_eq!(app.cursor(), rows.len() - 1);
    let window = app.flow_window(&rows);
    assert_eq!(window.end, rows.len(), "the last item is in the window");
    let lines: usize = window.clone().map(|r| rows[r].lines()).sum();
    assert!(lines <= page, "{lines} lines on a page of {page}");
    let text = screen(&mut app, 80, 24);
    let last = &app.calls[match rows[rows.len() - 1] {
        FlowRow::Call(i) => i,
        other => panic!("the flow ends with a call: {other:?}"),
    }];
    // its request and answer arrows are the last two lines drawn in the list
    let first_line = usize::from(app.list_area.y) + 2;
    let screen_lines: Vec<&str> = text.lines().collect();
    let request = screen_lines[first_line + lines - 2];
    let answer = screen_lines[first_line + lines - 1];
    let op = rpcscope::tui::app::call_label(last);
    let op = op.rsplit('.').next().unwrap();
    assert!(request.contains(op), "{request:?} has {op}:\n{text}");
    assert!(
        answer.contains(rpcscope::tui::app::outcome_mark(last).as_str()),
        "{answer:?}:\n{text}"
    );
    // PgUp then PgDn: the selection stays on the screen each time
    for action in [Action::PageUp, Action::PageUp, Action::PageDown] {
        app.update(action);
        let window = app.flow_window(&app.flow_rows());
        assert!(
            window.contains(&app.cursor()),
            "{window:?} {}",
            app.cursor()
        );
    }
    // a click on the second line of a call selects that call, the line below it the next item
    app.update(Action::Home);
    screen(&mut app, 80, 24);
    let first_line = app.list_area.y + 2;
    let mut line = 0;
    let mut expected = Vec::new();
    for (i, r) in rows.iter().enumerate().take(8) {
        for _ in 0..r.lines() {
            expected.push((line, i));
            line += 1;
        }
    }
    for (line, item) in expected {
        app.update(Action::Click(10, first_line + line));
        assert_eq!(app.cursor(), item, "line {line}");
    }
}

#[test]
fn with_the_detail_under_the_list_the_selected_call_stays_drawn() {
    // At 80 columns the detail opens under the list, which keeps about half the rows.
    let mut app = loaded("53-winreg.pcap");
    app.update(Action::Enter);
    assert!(app.detail);
    for _ in 0..app.calls.len() {
        screen(&mut app, 80, 24);
        app.update(Action::Down);
        let text = screen(&mut app, 80, 24);
        let c = app.selected_call().unwrap();
        let frame = c.request.as_ref().unwrap().frames[0].to_string();
        let list_rows: Vec<&str> = text
            .lines()
            .skip(3)
            .take(app.page)
            .map(|l| l.trim_start_matches('│'))
            .collect();
        assert!(
            list_rows
                .iter()
                .any(|l| l.starts_with(&format!("{frame} "))),
            "frame {frame} of the selected call is drawn:\n{text}"
        );
    }
}

#[test]
fn follow_mode_keeps_the_newest_call_selected() {
    let bytes = std::fs::read(capture("05-ntlm-sign.pcap")).unwrap();
    let (calls, _) = rpcscope::analyze(&bytes[..]).unwrap();
    let mut app = App::new("live");
    app.update(Action::ToggleFollow);
    let (a, b) = calls.split_at(10);
    app.update(Action::Calls(a.to_vec()));
    assert_eq!(app.cursor(), 9);
    app.update(Action::Calls(b.to_vec()));
    assert_eq!(app.cursor(), calls.len() - 1);
    // the list starts under the tabs, its border and its header: screen row 3 is its first row
    screen(&mut app, 80, 24);
    app.update(Action::Click(5, 3 + 2));
    assert_eq!(app.cursor(), app.first_visible() + 2);
}

#[test]
fn every_view_renders_at_four_sizes() {
    for (w, h) in [(80u16, 24u16), (100, 30), (120, 40), (160, 48)] {
        let mut app = loaded("02-epm-map-samr.pcap");
        let mut shots = Vec::new();
        shots.push(("calls", screen(&mut app, w, h)));
        app.update(Action::Enter);
        shots.push(("calls-detail", screen(&mut app, w, h)));
        app.update(Action::Back);
        app.update(Action::View(2));
        shots.push(("connections", screen(&mut app, w, h)));
        app.update(Action::Down);
        app.update(Action::Enter);
        shots.push(("flow", screen(&mut app, w, h)));
        app.update(Action::View(4));
        shots.push(("endpoints", screen(&mut app, w, h)));
        app.update(Action::View(5));
        shots.push(("stats", screen(&mut app, w, h)));
        app.update(Action::Help);
        shots.push(("help", screen(&mut app, w, h)));
        app.update(Action::Help);
        // a filter on, sorted by duration, the detail open and scrolled to its end
        app.update(Action::View(1));
        app.update(Action::StartFilter);
        for c in "iface == samr".chars() {
            app.update(Action::Char(c));
        }
        app.update(Action::Enter);
        app.update(Action::Sort);
        app.update(Action::Sort);
        shots.push(("calls-filtered-sorted", screen(&mut app, w, h)));
        app.update(Action::Enter);
        app.update(Action::FocusNext);
        app.update(Action::End);
        shots.push(("calls-detail-scrolled", screen(&mut app, w, h)));
        for (name, text) in shots {
            insta::assert_snapshot!(format!("tui_{name}_{w}x{h}"), text);
        }
    }
}

/// The text of the list rows drawn (between the header line and the bottom border).
fn list_rows(text: &str, app: &App) -> Vec<String> {
    let top = usize::from(app.list_area.y) + 2;
    text.lines()
        .skip(top)
        .take(usize::from(app.list_area.height.saturating_sub(3)))
        .map(ToString::to_string)
        .collect()
}

#[test]
fn at_every_width_rows_keep_their_ports_and_statuses_and_mark_what_is_cut() {
    for name in [
        "12-faults.pcap",
        "16-ipv6.pcap",
        "54-srvsvc-wkssvc.pcap",
        "58-dc-dcsync.pcap",
    ] {
        for w in [80u16, 100, 120, 160] {
            let mut app = loaded(name);
            // calls: the server with its port and the whole outcome of every row drawn
            let text = screen(&mut app, w, 30);
            let rows = list_rows(&text, &app);
            for (k, &i) in app.filtered.iter().take(rows.len()).enumerate() {
                let c = &app.calls[i];
                let row = &rows[k];
                assert!(row.contains(&c.server.to_string()), "{name} at {w}: {row}");
                assert!(
                    row.contains(&rpcscope::tui::app::outcome_mark(c)),
                    "{name} at {w}: {row}"
                );
                // the operation is whole, or the cut is marked
                let label = rpcscope::tui::app::call_label(c);
                assert!(
                    row.contains(&label) || row.contains('…'),
                    "{name} at {w}: {row}"
                );
            }
            // connections: the server endpoint with its port
            app.update(Action::View(2));
            let text = screen(&mut app, w, 30);
            let rows = list_rows(&text, &app);
            for (k, &ci) in app.conn_filtered.iter().take(rows.len()).enumerate() {
                let binding = app.connections[ci].binding();
                assert!(rows[k].contains(&binding), "{name} at {w}: {}", rows[k]);
            }
            // statistics: every time with its unit
            app.update(Action::View(5));
            let text = screen(&mut app, w, 30);
            for row in list_rows(&text, &app)
                .iter()
                .filter(|r| !r.trim_matches(['│', ' ']).is_empty())
            {
                let times = row.matches(" ms").count() + row.matches(" s ").count();
                let numbers = row
                    .split_whitespace()
                    .filter(|t| {
                        t.contains('.') && t.chars().all(|c| c.is_ascii_digit() || c == '.')
                    })
                    .count();
                assert_eq!(
                    times, numbers,
                    "{name} at {w}: a time without its unit: {row}"
                );
            }
        }
    }
}

#[test]
fn the_time_column_shows_utc_then_time_since_the_first_call_then_since_the_row_above() {
    let mut app = loaded("02-epm-map-samr.pcap");
    let text = screen(&mut app, 160, 48);
    assert!(
        text.contains("Time (UTC)") && text.contains("10:47:30.323"),
        "{text}"
    );
    app.update(Action::ToggleTime);
    let text = screen(&mut app, 160, 48);
    let rows = list_rows(&text, &app);
    assert!(text.contains("Since first"), "{text}");
    assert!(rows[0].contains("+0.000 ms"), "{}", rows[0]);
    // the second call started 45 ms after the first (10:47:30.368 against .323)
    let second = app.calls[1].start.as_micros() - app.calls[0].start.as_micros();
    let expected = format!("+{:.3} ms", second as f64 / 1e3);
    assert!(rows[1].contains(&expected), "{expected}: {}", rows[1]);
    app.update(Action::ToggleTime);
    let text = screen(&mut app, 160, 48);
    let rows = list_rows(&text, &app);
    assert!(text.contains("Since above"), "{text}");
    let third = app.calls[2].start.as_micros() - app.calls[1].start.as_micros();
    let expected = format!("+{:.3} ms", third as f64 / 1e3);
    assert!(rows[2].contains(&expected), "{expected}: {}", rows[2]);
    app.update(Action::ToggleTime);
    assert_eq!(app.time_mode, rpcscope::tui::app::TimeMode::Utc);
}

#[test]
fn faults_are_marked_without_colour() {
    let mut app = loaded("12-faults.pcap");
    let text = screen(&mut app, 160, 30);
    assert!(text.contains("✗ nca_s_op_rng_error"), "{text}");
    assert!(text.contains("✓ ok"));
}

fn tmux(args: &[&str]) -> Option<String> {
    let out = Command::new("tmux").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_binary_runs_in_a_real_terminal() {
    let cmd = format!(
        "exec {} {}",
        env!("CARGO_BIN_EXE_rpcscope"),
        capture("12-faults.pcap").display()
    );
    let Some(session) = tmux_script("terminal", &cmd) else {
        eprintln!("SKIPPED the_binary_runs_in_a_real_terminal: tmux cannot run here");
        return;
    };
    let pane = |wait_for: &str| pane_text(&session, wait_for);
    let first = pane("9 calls");
    assert!(first.contains("Calls (9)"), "{first}");
    assert!(first.contains("✗ nca_s_op_rng_error"), "{first}");
    tmux(&["send-keys", "-t", &session, "5"]);
    let stats = pane("Response times");
    assert!(stats.contains("Samr.SamrConnect2"), "{stats}");
    tmux(&["send-keys", "-t", &session, "?", "End"]);
    let help = pane(" quit");
    assert!(help.contains("Keys"), "{help}");
    tmux(&["send-keys", "-t", &session, "Escape", "q"]);
    let mut gone = false;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        if tmux(&["display", "-p", "-t", &session, "#{pane_dead}"]).is_some_and(|d| d.trim() == "1")
        {
            gone = true;
            break;
        }
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(gone, "q quits");
}

/// The calls of a capture, in completion order as a live capture hands them out.
fn live_calls(name: &str) -> Vec<rpcscope::model::Call> {
    let bytes = std::fs::read(capture(name)).unwrap();
    let mut reader = rpcscope::source::file::CaptureReader::new(&bytes[..]).unwrap();
    let mut engine = rpcscope::engine::Engine::new();
    let mut calls = Vec::new();
    while let Some(frame) = reader.next_frame().unwrap() {
        engine.process(&frame);
        calls.extend(engine.take_calls());
    }
    calls.extend(engine.finish().calls);
    calls
}

#[test]
fn in_a_real_terminal_a_long_flow_scrolls_to_its_end_filters_sorts_and_links_back() {
    let cmd = format!(
        "exec {} {}",
        env!("CARGO_BIN_EXE_rpcscope"),
        capture("53-winreg.pcap").display()
    );
    let Some(session) = tmux_script("flow", &cmd) else {
        eprintln!("SKIPPED: tmux cannot run here");
        return;
    };
    let pane = |wait_for: &str| pane_text(&session, wait_for);
    let keys = |k: &[&str]| {
        let mut args = vec!["send-keys", "-t", session.as_str()];
        args.extend_from_slice(k);
        tmux(&args);
    };
    let calls = pane("calls —");
    assert!(calls.contains("Winreg."), "{calls}");
    // the pipe with the most calls, its flow, and its last item
    keys(&["2", "s"]);
    pane("by calls");
    keys(&["Enter"]);
    let flow = pane("Flow of");
    assert!(
        !flow.contains("ERROR_ACCESS_DENIED"),
        "the flow is longer than the screen:\n{flow}"
    );
    // the pipe's calls end with denied writes, then BaseRegCloseKey
    keys(&["G"]);
    let end = pane("ERROR_ACCESS_DENIED");
    let lines: Vec<&str> = end.lines().collect();
    let denied = lines
        .iter()
        .rposition(|l| l.contains("ERROR_ACCESS_DENIED"))
        .unwrap();
    let last_call = lines
        .iter()
        .rposition(|l| l.contains("BaseRegCloseKey ─"))
        .unwrap();
    assert!(last_call > denied, "{end}");
    assert!(
        lines[last_call + 1].contains("✓ ok"),
        "the last call's answer is drawn under it:\n{end}"
    );
    // a link from the flow to the call's detail, and Esc back to the same place
    keys(&["Enter"]);
    let detail = pane("Detail");
    assert!(detail.contains("BaseRegCloseKey"), "{detail}");
    keys(&["Escape"]);
    let back = pane("Flow of");
    assert!(back.contains("ERROR_ACCESS_DENIED"), "{back}");
    // a filter, then the calls sorted by duration: titles say both
    keys(&["1", "f"]);
    keys(&["-l", "op ~ openkey"]);
    keys(&["Enter", "s", "s"]);
    let sorted = pane("by duration");
    assert!(sorted.contains("filter: op ~ openkey"), "{sorted}");
    assert!(!sorted.contains("BaseRegCloseKey"), "{sorted}");
    keys(&["q"]);
    let mut gone = false;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        if tmux(&["display", "-p", "-t", &session, "#{pane_dead}"]).is_some_and(|d| d.trim() == "1")
        {
            gone = true;
            break;
        }
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(gone, "q quits");
}

#[test]
fn live_view_ages_out_the_oldest_calls_and_keeps_the_totals() {
    // Several connections, several calls each: 02 resolves SAMR through the endpoint mapper.
    let calls = live_calls("02-epm-map-samr.pcap");
    assert!(calls.len() >= 8, "{}", calls.len());
    let history = 100;
    let mut app = App::live("lo (live)", history);
    app.update(Action::Resize(10));
    let mut sent = 0u64;
    for round in 0..40 {
        app.update(Action::Calls(calls.clone()));
        sent += calls.len() as u64;
        if round == 20 {
            app.update(Action::End);
        }
        assert!(app.calls.len() <= history, "{}", app.calls.len());
        assert_eq!(app.calls.len() as u64 + app.aged_out, sent);
        // Every index still points at a kept call, and every connection row at its own calls.
        assert!(app.filtered.iter().all(|&i| i < app.calls.len()));
        for row in &app.connections {
            assert!(!row.call_indices.is_empty());
            for &i in &row.call_indices {
                assert_eq!(app.calls[i].client, row.client);
            }
        }
        assert!(app.selected_call().is_some());
    }
    assert!(app.aged_out > 0);
    // Connection rows count every call they saw, aged out or not.
    let kept_rows: u64 = app.connections.iter().map(|r| r.calls).sum();
    assert!(kept_rows > app.calls.len() as u64);
    // Every view still draws.
    for v in 1..=5 {
        app.update(Action::View(v));
        app.update(Action::End);
        let _ = screen(&mut app, 100, 20);
    }
}

#[test]
fn live_status_line_shows_the_capture_statistics() {
    let mut app = App::live("lo (live)", 1000);
    app.update(Action::Calls(live_calls("12-faults.pcap")));
    app.update(Action::Capture(rpcscope::live::CaptureStats {
        captured: 1234,
        received: 2468,
        kernel_dropped: 5,
        interface_dropped: 6,
        queue_dropped: 7,
        written: 1234,
    }));
    let text = screen(&mut app, 160, 12);
    let status = text.lines().last().unwrap();
    assert!(status.starts_with("lo (live) — 9 calls"), "{status}");
    assert!(
        status.contains("1234 packets, dropped 5 kernel / 6 interface / 7 rpcscope"),
        "{status}"
    );
    assert!(status.contains("capturing"), "{status}");
}

/// Decoded parameters are kept for at most `MAX_DECODED_CALLS` calls; later calls are listed
/// without them and the status line counts them.
#[test]
fn decoded_parameters_are_kept_for_a_bounded_number_of_calls() {
    use rpcscope::tui::app::MAX_DECODED_CALLS;
    let bytes = std::fs::read(capture("05-ntlm-sign.pcap")).unwrap();
    let (calls, run) = rpcscope::analyze(&bytes[..]).unwrap();
    let mut one = calls[0].clone();
    one.decoded = Some(Box::default());
    let mut app = App::new("many");
    app.update(Action::Calls(vec![one; MAX_DECODED_CALLS + 7]));
    assert_eq!(app.calls.len(), MAX_DECODED_CALLS + 7);
    assert_eq!(app.decoded_dropped, 7);
    assert!(app.calls[MAX_DECODED_CALLS - 1].decoded.is_some());
    assert!(app.calls[MAX_DECODED_CALLS].decoded.is_none());
    app.update(Action::Done(Box::new(run.summary), run.endpoints, None));
    let text = screen(&mut app, 200, 10);
    assert!(text.contains("parameters of 7 calls not kept"), "{text}");
}

/// The analysis keeps the stubs; the detail pane decodes the selected call when it opens, and
/// choosing a parameter line highlights that parameter's bytes in its stub.
#[test]
fn the_selected_call_is_decoded_on_demand_and_its_parameter_bytes_highlighted() {
    // Microsoft's interfaces, as the binary has them
    let mut app = loaded_with("52-svcctl-psexec.pcap", full_library());
    assert!(app.calls.iter().all(|c| c.decoded.is_none()));
    select_first(&mut app, |c| {
        c.operation.as_deref() == Some("RCreateServiceW")
    });
    assert!(
        app.parameter_tree().is_empty(),
        "nothing decoded before the detail opens"
    );
    app.update(Action::Enter);
    let tree = app.parameter_tree().to_vec();
    assert!(tree[0].text.contains("lpBinaryPathName"), "{tree:?}");
    let line = tree
        .iter()
        .position(|l| {
            l.text
                .trim_start()
                .starts_with("lpServiceName: \"PSEXESVC\"")
        })
        .unwrap();
    let (side, range) = tree[line].at.clone().unwrap();
    assert_eq!(side, rpcscope::idl::values::Direction::In);
    // a conformant varying string: maximum, offset, actual count, then the UTF-16 characters
    let c = app.selected_call().unwrap();
    let Some(rpcscope::idl::values::SideStub::Whole(stub)) =
        c.stubs.as_ref().map(|s| s.request.clone())
    else {
        panic!("the request stub is kept");
    };
    let utf16: Vec<u8> = "PSEXESVC\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(
        stub[range.clone()].ends_with(&utf16),
        "{:02x?}",
        &stub[range.clone()]
    );
    assert_eq!(range.len(), 12 + utf16.len());
    app.update(Action::FocusNext);
    for _ in 0..line {
        app.update(Action::Down);
    }
    let text = screen(&mut app, 160, 60);
    assert!(
        text.contains(&format!(
            "request stub, bytes {}..{}",
            range.start, range.end
        )),
        "{text}"
    );
}

/// The detail pane keeps the chosen item in view on a small terminal: a parameter far down a
/// long tree with its bytes under it, and the last field of the PDU heads.
#[test]
fn the_detail_pane_scrolls_to_the_chosen_item() {
    let mut app = loaded_with("52-svcctl-psexec.pcap", full_library());
    select_first(&mut app, |c| {
        c.operation.as_deref() == Some("RCreateServiceW")
    });
    app.update(Action::Enter);
    app.update(Action::FocusNext);
    let tree: Vec<rpcscope::idl::values::TreeLine> =
        app.parameter_tree().into_iter().cloned().collect();
    let top = screen(&mut app, 100, 30);
    let far = tree
        .iter()
        .rposition(|l| l.at.is_some() && l.text.trim().len() > 6)
        .unwrap();
    let text: String = tree[far].text.trim().chars().take(30).collect();
    assert!(
        !top.contains(&text),
        "the test needs a line below the first screen: {text}"
    );
    for _ in 0..far {
        app.update(Action::Down);
    }
    let shown = screen(&mut app, 100, 30);
    assert!(shown.contains(&text), "{text}\n{shown}");
    assert!(shown.contains("stub, bytes"), "{shown}");
    // the last field of the response's head
    let head = app.selected_call().unwrap().heads[1].clone();
    let (k, v, _) = rpcscope::tui::app::pdu_fields(&head).pop().unwrap();
    let field = format!("response {k:<12} {v}");
    assert!(!shown.contains(&field), "{shown}");
    for _ in 0..app.parameter_tree().len() {
        app.update(Action::Down);
    }
    let shown = screen(&mut app, 100, 30);
    assert!(shown.contains(&field), "{field}\n{shown}");
}

#[test]
fn a_call_no_description_covers_shows_its_stubs_in_hex() {
    let mut app = loaded("42-pipe-both.pcap");
    let c = app.selected_call().unwrap().clone();
    assert!(c.interface.as_ref().unwrap().name.is_none(), "undescribed");
    let [request, response] = rpcscope::tui::app::whole_stubs(&c);
    assert_eq!(request.len() as u64, c.request.as_ref().unwrap().stub_len);
    assert_eq!(response.len() as u64, c.response.as_ref().unwrap().stub_len);
    app.update(Action::Enter);
    app.update(Action::FocusNext);
    let shown = screen(&mut app, 160, 48);
    assert!(
        shown.contains("not decoded: no description of the interface"),
        "{shown}"
    );
    app.update(Action::End);
    let shown = screen(&mut app, 160, 48);
    assert!(
        shown.contains(&format!("response stub, {} bytes", response.len())),
        "{shown}"
    );
}

#[test]
fn the_detail_pages_through_the_whole_stub_in_hex() {
    let mut app = loaded_with("54-srvsvc-wkssvc.pcap", full_library());
    select_first(&mut app, |c| {
        c.operation.as_deref() == Some("NetrShareEnum")
    });
    app.update(Action::Enter);
    app.update(Action::FocusNext);
    let stub = rpcscope::tui::app::whole_stubs(app.selected_call().unwrap())[1].to_vec();
    assert!(stub.len() > 4096, "{}", stub.len());
    let rows = stub.len().div_ceil(16);
    let pages = rows.div_ceil(rpcscope::tui::app::STUB_PAGE_ROWS);
    let hex = |row: usize| -> String {
        stub[row * 16..(row * 16 + 16).min(stub.len())]
            .iter()
            .map(|b| format!("{b:02x} "))
            .collect::<String>()
            .trim_end()
            .to_string()
    };
    // the last row of the stub: its page, its bytes, highlighted in view
    app.update(Action::End);
    let end = screen(&mut app, 160, 48);
    assert!(
        end.contains(&format!(
            "response stub, {} bytes, page {pages} of {pages}",
            stub.len()
        )),
        "{end}"
    );
    let last = format!("{:04x}  {}", (rows - 1) * 16, hex(rows - 1));
    assert!(end.contains(&last), "{last}\n{end}");
    // PgUp moves a pane's height of rows back, onto the previous page
    app.update(Action::PageUp);
    let back = screen(&mut app, 160, 48);
    let row = rows - 1 - usize::from(app.detail_area.height - 2);
    assert!(
        back.contains(&format!("{:04x}  {}", row * 16, hex(row))),
        "row {row}\n{back}"
    );
    assert!(
        back.contains(&format!("page {} of {pages}", row / 32 + 1)),
        "{back}"
    );
}

/// The stubs kept for decoding on demand are bounded by `MAX_KEPT_STUB_BYTES` over all calls;
/// the stubs of later calls are not kept and the status line counts those calls.
#[test]
fn kept_stubs_are_bounded_in_bytes() {
    use rpcscope::idl::values::{CallStubs, SideStub};
    use rpcscope::tui::app::MAX_KEPT_STUB_BYTES;
    let bytes = std::fs::read(capture("05-ntlm-sign.pcap")).unwrap();
    let (calls, run) = rpcscope::analyze(&bytes[..]).unwrap();
    let third = MAX_KEPT_STUB_BYTES / 3 + 1;
    let with_stub = || {
        let mut c = calls[0].clone();
        // zeroed memory is not touched until written: three of these cost little
        c.stubs = Some(Box::new(CallStubs {
            interface: (rpcscope::dce::Uuid::default(), 0),
            opnum: 0,
            request: SideStub::Whole(vec![0; third]),
            response: SideStub::NotWhole,
            little_endian: [true; 2],
            syntax: rpcscope::ndr::Syntax::Ndr,
        }));
        c
    };
    let mut app = App::new("big");
    app.update(Action::Calls(vec![with_stub(), with_stub(), with_stub()]));
    assert_eq!(app.stubs_dropped, 1);
    assert!(app.calls[1].stubs.is_some() && app.calls[2].stubs.is_none());
    app.update(Action::Done(Box::new(run.summary), run.endpoints, None));
    let text = screen(&mut app, 200, 10);
    assert!(text.contains("parameters of 1 calls not kept"), "{text}");
}

#[test]
fn a_decrypted_call_is_marked_and_its_parameters_decoded_on_demand() {
    let mut ring = rpcscope::auth::keys::Keyring::default();
    ring.load_file(&capture("lab.keys")).unwrap();
    let mut app = loaded_with_keys(
        "58-dc-dcsync.pcap",
        full_library(),
        Some(std::sync::Arc::new(ring)),
    );
    // Samba's DsGetNCChanges for krbtgt, the one that works.
    select_first(&mut app, |c| {
        c.operation
            .as_deref()
            .is_some_and(|o| o.ends_with("DRSGetNCChanges"))
            && c.status.is_some_and(|s| s.code == 0)
    });
    app.update(Action::Enter);
    let text = screen(&mut app, 160, 48);
    assert!(text.contains("decryption decrypted"), "{text}");
    assert!(text.contains("signature valid"), "{text}");
    let tree = app.parameter_tree().to_vec();
    assert!(
        tree.iter()
            .any(|l| l.text.contains("CN=krbtgt,CN=Users,DC=rpclab,DC=test")),
        "{tree:?}"
    );
}

#[test]
fn a_sealed_call_without_its_key_is_never_shown_as_ok() {
    let mut app = loaded_with_keys("58-dc-dcsync.pcap", full_library(), None);
    let text = screen(&mut app, 160, 48);
    let drs: Vec<&str> = text.lines().filter(|l| l.contains("DRSBind")).collect();
    assert!(!drs.is_empty(), "{text}");
    for line in drs.iter().filter(|l| !l.contains("access_denied")) {
        assert!(line.contains("? sealed, no key"), "{line}");
        assert!(!line.contains("✓ ok"), "{line}");
    }
}

#[test]
fn connections_say_how_their_endpoint_was_known() {
    let app = loaded("02-epm-map-samr.pcap");
    let how: Vec<String> = app.connections.iter().map(|c| c.resolution()).collect();
    assert!(how.contains(&"well-known endpoint".to_string()), "{how:?}");
    assert!(
        how.iter()
            .any(|h| h.starts_with("resolved (answer in frame")),
        "{how:?}"
    );
    let mut app = App::new("starts-mid-connection");
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/synthetic/starts-mid-connection.pcap"),
    )
    .unwrap();
    let (calls, run) = rpcscope::Analysis::from_bytes(&bytes).calls().unwrap();
    app.update(Action::Calls(calls));
    app.update(Action::Done(Box::new(run.summary), run.endpoints, None));
    assert_eq!(
        app.connections[0].resolution(),
        "not announced in the capture",
        "a dynamic port no answer announced is not a well-known endpoint"
    );
}

#[test]
fn ctrl_c_in_a_prompt_quits_instead_of_typing() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = loaded("02-epm-map-samr.pcap");
    app.update(Action::StartFilter);
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    assert!(matches!(
        rpcscope::tui::key_action(ctrl('c'), &app),
        Some(Action::Quit)
    ));
    assert!(rpcscope::tui::key_action(ctrl('u'), &app).is_none());
    let plain = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
    assert!(matches!(
        rpcscope::tui::key_action(plain, &app),
        Some(Action::Char('c'))
    ));
}

/// Runs `script` with `sh` in a detached tmux pane that stays after it ends; returns the session
/// name, or `None` where tmux cannot run.
fn tmux_script(name: &str, script: &str) -> Option<String> {
    tmux(&["-V"])?;
    let session = format!("rpcscope-{name}-{}", std::process::id());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "140",
        "-y",
        "30",
        "sh",
        "-c",
        script,
    ])?;
    tmux(&["set-option", "-t", &session, "remain-on-exit", "on"])?;
    Some(session)
}

/// The pane's text once it shows `wait_for` (or after about five seconds).
fn pane_text(session: &str, wait_for: &str) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        text = tmux(&["capture-pane", "-t", session, "-p"]).unwrap_or_default();
        if text.contains(wait_for) {
            break;
        }
    }
    text
}

/// The interface on `12-faults.pcap` in a tmux pane (see [`tmux_script`]), once it shows its
/// calls: the session, the screen then, and the process id; `None` where tmux cannot run.
fn faults_in_tmux(name: &str) -> Option<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!(
        "echo $$ > {}; exec {} {}",
        pid_file.display(),
        env!("CARGO_BIN_EXE_rpcscope"),
        capture("12-faults.pcap").display()
    );
    let session = tmux_script(name, &script)?;
    let shown = pane_text(&session, "Calls (9)");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    Some((session, shown, pid.trim().to_string()))
}

#[test]
fn sigterm_restores_the_terminal() {
    let Some((session, shown, pid)) = faults_in_tmux("sigterm") else {
        eprintln!("SKIPPED sigterm_restores_the_terminal: tmux cannot run here");
        return;
    };
    let state = |s: &str| {
        tmux(&[
            "display",
            "-p",
            "-t",
            s,
            "#{alternate_on} #{mouse_any_flag}",
        ])
    };
    let during = state(&session).unwrap_or_default();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let mut after = String::new();
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        after = tmux(&[
            "display",
            "-p",
            "-t",
            &session,
            "#{pane_dead} #{alternate_on} #{mouse_any_flag}",
        ])
        .unwrap_or_default();
        if after.starts_with('1') {
            break;
        }
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(shown.contains("Calls (9)"), "{shown}");
    assert_eq!(
        during.trim(),
        "1 1",
        "the interface was on the alternate screen with the mouse"
    );
    assert_eq!(
        after.trim(),
        "1 0 0",
        "ended, off the alternate screen, mouse reporting off"
    );
}

/// A terminal that goes away (its window closed: here the tmux session killed) ends the
/// interface. The process gets SIGHUP while crossterm's key reader spins on the dead descriptor
/// (crossterm-rs/crossterm#793), out of the event loop's reach; it used to stay there at full
/// CPU for ever, deaf to SIGTERM too.
#[test]
fn the_interface_ends_when_its_terminal_goes_away() {
    let Some((session, shown, pid)) = faults_in_tmux("hangup") else {
        eprintln!("SKIPPED the_interface_ends_when_its_terminal_goes_away: tmux cannot run here");
        return;
    };
    tmux(&["kill-session", "-t", &session]);
    // running (R, S) until it ends; then gone, or a zombie nobody reaped
    let state = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()))
            .flatten()
    };
    let mut ended = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if matches!(state(), None | Some('Z' | 'X')) {
            ended = true;
            break;
        }
    }
    if !ended {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }
    assert!(shown.contains("Calls (9)"), "{shown}");
    assert!(ended, "still running 5 s after its terminal went away");
}

#[test]
fn where_the_interface_cannot_be_shown_the_calls_or_an_error_are_printed() {
    let bin = env!("CARGO_BIN_EXE_rpcscope");
    let faults = capture("12-faults.pcap");
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a capture\n").unwrap();
    let script = format!(
        "TERM=dumb {bin} {f}; echo DUMB=$?; {bin} - < {f}; echo STDIN=$?; {bin} tui {t}; echo TEXT=$?; {bin} tui -; echo DASH=$?",
        f = faults.display(),
        t = text.display()
    );
    let Some(session) = tmux_script("fallbacks", &script) else {
        eprintln!("SKIPPED where_the_interface_cannot_be_shown: tmux cannot run here");
        return;
    };
    let text = pane_text(&session, "DASH=");
    tmux(&["kill-session", "-t", &session]);
    assert!(
        text.contains("DUMB=0") && text.contains("STDIN=0"),
        "{text}"
    );
    let (dumb, rest) = text.split_once("DUMB=0").unwrap();
    let (stdin, _) = rest.split_once("STDIN=0").unwrap();
    assert!(
        dumb.contains("Samr.SamrConnect2"),
        "TERM=dumb prints the table: {text}"
    );
    assert!(
        stdin.contains("Epm.ept_map") && stdin.contains("Samr.SamrConnect2"),
        "standard input prints the table: {text}"
    );
    assert!(
        text.contains("not a pcap, pcapng or NetMon capture"),
        "{text}"
    );
    assert!(text.contains("TEXT=1"), "{text}");
    assert!(
        text.contains("reads its keys from standard input") && text.contains("DASH=1"),
        "{text}"
    );
}

#[test]
fn calls_and_statistics_sort_by_their_columns() {
    use rpcscope::tui::app::{CallSort, StatSort};
    let mut app = loaded("12-faults.pcap");
    app.update(Action::Sort);
    assert_eq!(app.call_sort, CallSort::Duration);
    let durations: Vec<i64> = app
        .filtered
        .iter()
        .map(|&i| app.calls[i].duration_us.map_or(-1, |d| d as i64))
        .collect();
    assert!(durations.windows(2).all(|w| w[0] >= w[1]), "{durations:?}");
    assert!(durations.first() > durations.last(), "{durations:?}");
    for _ in 0..3 {
        app.update(Action::Sort);
    }
    assert_eq!(app.call_sort, CallSort::Outcome);
    let faults: Vec<bool> = app
        .filtered
        .iter()
        .map(|&i| app.calls[i].outcome == rpcscope::model::Outcome::Fault)
        .collect();
    assert!(
        faults.windows(2).all(|w| w[0] >= w[1]),
        "faults first: {faults:?}"
    );
    app.update(Action::Sort);
    assert_eq!(app.call_sort, CallSort::Capture);
    assert!(app.filtered.windows(2).all(|w| w[0] < w[1]));

    app.update(Action::View(5));
    let by_name: Vec<String> = app.stats().iter().map(|r| r.name.clone()).collect();
    app.update(Action::Sort);
    assert_eq!(app.stat_sort, StatSort::Calls);
    let calls: Vec<u64> = app.stats().iter().map(|r| r.calls).collect();
    assert!(calls.windows(2).all(|w| w[0] >= w[1]), "{calls:?}");
    assert_eq!(calls.len(), by_name.len());
    app.update(Action::Sort);
    let bad: Vec<u64> = app.stats().iter().map(|r| r.faults + r.errors).collect();
    assert!(bad.windows(2).all(|w| w[0] >= w[1]), "{bad:?}");
}

#[test]
fn endpoints_sort_by_their_columns() {
    use rpcscope::tui::app::EndpointSort;
    let mut app = loaded("03-anonymous.pcap");
    app.update(Action::View(4));
    let frames: Vec<u64> = app.endpoints.iter().map(|e| e.frame).collect();
    assert!(frames.windows(2).all(|w| w[0] <= w[1]), "{frames:?}");
    app.update(Action::Sort);
    assert_eq!(app.endpoint_sort, EndpointSort::Interface);
    let names: Vec<String> = app
        .endpoints
        .iter()
        .filter_map(|e| e.interface_label())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    app.update(Action::Sort);
    let bindings: Vec<&str> = app.endpoints.iter().map(|e| e.binding.as_str()).collect();
    assert!(bindings.windows(2).all(|w| w[0] <= w[1]), "{bindings:?}");
    app.update(Action::Sort);
    let uses: Vec<usize> = app.endpoints.iter().map(|e| e.used_by.len()).collect();
    assert!(uses.windows(2).all(|w| w[0] >= w[1]), "{uses:?}");
    assert!(
        uses.first() > uses.last(),
        "some endpoints were used, some not: {uses:?}"
    );
    app.update(Action::Sort);
    assert_eq!(app.endpoint_sort, EndpointSort::Frame);
}

/// A click in the detail pane chooses the parameter, PDU field or stub row drawn under the
/// pointer, also on the second row of a line the pane wrapped, and the pane stays where it was.
#[test]
fn a_click_in_the_detail_chooses_the_line_drawn_under_it() {
    for (w, h) in [(50u16, 30u16), (80, 24), (160, 48)] {
        let mut app = loaded_with("52-svcctl-psexec.pcap", full_library());
        select_first(&mut app, |c| {
            c.operation.as_deref() == Some("RCreateServiceW")
        });
        app.update(Action::Enter);
        app.update(Action::FocusNext);
        let tree: Vec<String> = app
            .parameter_tree()
            .into_iter()
            .map(|l| l.text.clone())
            .collect();
        let call = app.selected_call().unwrap().clone();
        let mut fields = Vec::new();
        for (which, head) in [("request", &call.heads[0]), ("response", &call.heads[1])] {
            for (k, v, _) in rpcscope::tui::app::pdu_fields(head) {
                fields.push(format!("{which:<8} {k:<12} {v}"));
            }
        }
        // what item `i` shows, without spaces (the pane wraps at them)
        let text_of = |i: usize| -> String {
            let text = tree
                .get(i)
                .or_else(|| fields.get(i - tree.len()))
                .cloned()
                .unwrap_or_else(|| format!("{:04x}", (i - tree.len() - fields.len()) * 16));
            text.split_whitespace().collect()
        };
        // down the tree far enough that the pane scrolled
        for _ in 0..tree.len() / 2 {
            app.update(Action::Down);
        }
        let shown = screen(&mut app, w, h);
        let area = app.detail_area;
        let rows: Vec<String> = shown
            .lines()
            .skip(usize::from(area.y) + 1)
            .take(usize::from(area.height) - 2)
            .map(|l| {
                l.chars()
                    .skip(usize::from(area.x) + 1)
                    .take(usize::from(area.width) - 2)
                    .filter(|c| !c.is_whitespace())
                    .collect()
            })
            .collect();
        let items = app.detail_drawn.items.clone();
        assert!(app.detail_drawn.top > 0, "the pane scrolled\n{shown}");
        assert_eq!(items.len(), rows.len());
        let mut wrapped = false;
        for (r, (row, item)) in rows.iter().zip(&items).enumerate() {
            let Some(i) = item else { continue };
            // a parameter line (its fold mark aside), a PDU field, a stub row from its offset
            let expected = text_of(*i);
            let own: String = row.split('▸').next().unwrap().to_string();
            assert!(
                expected.contains(&own) || own.starts_with(&expected),
                "row {r}: {row:?} is not item {i} {expected:?}\n{shown}"
            );
            wrapped |= r > 0 && items[r - 1] == *item;
        }
        if w == 50 {
            assert!(wrapped, "a line the pane wrapped, for the test\n{shown}");
        }
        // a click on each row drawn with an item chooses that item, which stays on the row it
        // was clicked on (or moves up as little as shows its bytes under it)
        let before = app.field;
        for (r, item) in items.iter().enumerate() {
            let Some(i) = *item else { continue };
            // the pane as it is drawn now, and the row the item is on in it
            screen(&mut app, w, h);
            let Some(at) = app.detail_drawn.items.iter().position(|&d| d == Some(i)) else {
                continue;
            };
            let y = area.y + 1 + u16::try_from(at).unwrap();
            app.update(Action::Click(area.x + 4, y));
            assert_eq!(app.field, i, "row {r}");
            let again = screen(&mut app, w, h);
            let now = app.detail_drawn.items.iter().position(|&d| d == Some(i));
            assert!(now.is_some_and(|n| n <= at), "row {at}: {now:?}\n{again}");
            if i >= tree.len() {
                assert_eq!(now, Some(at), "a field or stub row stays put\n{again}");
            }
        }
        assert!(
            items.iter().flatten().any(|&i| i != before),
            "the clicks chose other items than the one chosen by keys"
        );
    }
}

/// Connectionless traffic in the call flow of a host: the endpoint mapper's answer over UDP is
/// drawn on the UDP lifeline that carried it, the control PDUs (ping, working, nocall, ack)
/// appear between the calls, and one of no call seen goes to its server's lifeline.
#[test]
fn a_connectionless_flow_shows_its_control_pdus_and_its_udp_endpoint_mapper() {
    let mut app = loaded("../synthetic/connectionless.pcap");
    app.update(Action::View(2));
    app.update(Action::Enter);
    app.update(Action::ToggleFlowScope);
    let shown = screen(&mut app, 160, 48);
    let header = shown.lines().nth(2).unwrap();
    assert!(header.contains("ncadg_ip_udp:10.2.0.2[135]"), "{shown}");
    assert!(!header.contains("ncacn_ip_tcp"), "{shown}");
    // a ping of a call never seen goes to its server's lifeline, not to an unknown one
    assert!(header.contains("ncadg_ip_udp:10.2.0.2[2000]"), "{shown}");
    assert!(
        !header.trim_end_matches('│').trim_end().ends_with('?'),
        "{shown}"
    );
    for ptype in ["ping:", "working:", "nocall:", "ack:"] {
        assert!(shown.contains(ptype), "{ptype}\n{shown}");
    }
}
