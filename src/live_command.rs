//! `rpcscope live`: lists interfaces, or captures from one into the terminal interface or JSON
//! Lines, then prints the summary with the capture statistics. Without the `live` feature it
//! says how to get it, and how to read a capture from standard input instead.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use rpcscope::auth::keys::Keyring;
use rpcscope::idl::Library;

use crate::cli::LiveArgs;
#[cfg(feature = "live")]
use crate::fail_line;

/// How to get live capture when it was not built in.
#[cfg(not(feature = "live"))]
const NOT_BUILT: &str = "this rpcscope was built without live capture. Install libpcap \
(Debian/Ubuntu: apt-get install libpcap-dev) and rebuild with the `live` feature: \
cargo install --path . --features live (or cargo build --release --features live). \
Without it, pipe a capture into standard input: \
tcpdump -U -i IFACE -w - | rpcscope calls --json -";

#[cfg(not(feature = "live"))]
pub fn run(
    _args: &LiveArgs,
    _library: Arc<Library>,
    _keys: Option<Arc<Keyring>>,
    _limits: rpcscope::engine::Limits,
) -> ExitCode {
    let _ = writeln!(io::stderr(), "rpcscope: {NOT_BUILT}");
    ExitCode::from(2)
}

#[cfg(feature = "live")]
pub fn run(
    args: &LiveArgs,
    library: Arc<Library>,
    keys: Option<Arc<Keyring>>,
    limits: rpcscope::engine::Limits,
) -> ExitCode {
    use rpcscope::live::{Capture, libpcap};

    if args.list {
        return list();
    }
    let Some(interface) = args.interface.clone() else {
        return fail_line(
            "give an interface: rpcscope live -i IFACE (rpcscope live --list shows them)",
        );
    };
    let options = libpcap::Options {
        interface,
        filter: args.filter.clone(),
        snaplen: args.snaplen,
        promiscuous: !args.no_promisc,
        buffer_mib: args.buffer_mib,
    };
    let source = match libpcap::open(&options) {
        Ok(s) => s,
        Err(e) => return fail_line(&e.to_string()),
    };
    let capture = match Capture::start(source, args.write.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail_line(&e.to_string()),
    };
    // Calls are shown as they end: none waits for a later answer naming its interface.
    let mut engine = rpcscope::engine::Engine::new()
        .without_waiting_for_labels()
        .with_library(Arc::clone(&library));
    if let Some(keys) = keys {
        engine = engine.with_keys(keys);
    }
    engine = engine.with_limits(&limits);
    // JSON Lines when asked, or when standard output is not a terminal (a pipe, a file).
    if args.json || !io::IsTerminal::is_terminal(&io::stdout()) {
        json(capture, engine, args)
    } else {
        let history = usize::try_from(args.history).unwrap_or(usize::MAX);
        match rpcscope::tui::run_live(capture, engine, library, history) {
            Ok(end) => {
                let mut out = io::stdout().lock();
                let written = report(&mut out, &end.summary, &end.capture, args);
                let _ = out.flush();
                match (written, end.capture_error) {
                    (_, Some(e)) => fail_line(&e),
                    (Err(e), None) if e.kind() != io::ErrorKind::BrokenPipe => {
                        fail_line(&e.to_string())
                    }
                    _ => ExitCode::SUCCESS,
                }
            }
            Err(e) => fail_line(&e.to_string()),
        }
    }
}

/// `--json`: calls on standard output as they complete; Ctrl-C (or SIGTERM) stops the capture,
/// and the summary goes to standard error.
#[cfg(feature = "live")]
fn json(
    capture: rpcscope::live::Capture,
    engine: rpcscope::engine::Engine,
    args: &LiveArgs,
) -> ExitCode {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

    for signal in [SIGINT, SIGTERM, SIGHUP] {
        if let Err(e) = signal_hook::flag::register(signal, capture.stop_flag()) {
            return fail_line(&format!("cannot handle signal {signal}: {e}"));
        }
    }
    let _ = writeln!(
        io::stderr(),
        "rpcscope: capturing on {} (Ctrl-C stops)",
        capture.interface()
    );
    let mut out = io::BufWriter::new(io::stdout().lock());
    let analysed = rpcscope::live::json_lines(&capture, engine, &mut out);
    let (stats, capture_error) = capture.finish();
    if let Ok(finished) = &analysed {
        let _ = report(&mut io::stderr().lock(), &finished.summary, &stats, args);
    }
    match (analysed, capture_error) {
        (_, Some(e)) => fail_line(&e.to_string()),
        (Err(e), None) if e.kind() != io::ErrorKind::BrokenPipe => {
            fail_line(&format!("<stdout>: {e}"))
        }
        _ => ExitCode::SUCCESS,
    }
}

/// The end-of-session report: the summary and the capture statistics.
#[cfg(feature = "live")]
fn report<W: Write>(
    out: &mut W,
    summary: &rpcscope::summary::Summary,
    stats: &rpcscope::live::CaptureStats,
    args: &LiveArgs,
) -> io::Result<()> {
    rpcscope::output::text::write_summary(out, summary)?;
    writeln!(out)?;
    writeln!(out, "Live capture")?;
    writeln!(out, "  {}", stats.line())?;
    if let Some(path) = &args.write {
        writeln!(
            out,
            "  {} packets written to {}",
            stats.written,
            path.display()
        )?;
    }
    Ok(())
}

#[cfg(feature = "live")]
fn list() -> ExitCode {
    let interfaces = match rpcscope::live::libpcap::interfaces() {
        Ok(i) => i,
        Err(e) => return fail_line(&e.to_string()),
    };
    let mut out = io::stdout().lock();
    for i in &interfaces {
        let addresses: Vec<String> = i.addresses.iter().map(ToString::to_string).collect();
        let line = format!(
            "{:<16} {:<22} {}{}",
            i.name,
            i.flags.join(","),
            addresses.join(" "),
            i.description
                .as_ref()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default()
        );
        if writeln!(out, "{}", rpcscope::output::sanitize(&line)).is_err() {
            break;
        }
    }
    if interfaces.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "rpcscope: no interface can be captured on (capturing needs root or the CAP_NET_RAW \
             capability)"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
