//! The `rpcscope` binary: parses arguments, runs the library, prints, and maps errors to exit
//! codes (0 read to the end, 1 could not do its job, 2 bad arguments). A closed output pipe
//! (`rpcscope calls x.pcap | head`) ends the program quietly with status 0.

#![forbid(unsafe_code)]

mod check_command;
mod cli;
mod live_command;
mod progress;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rpcscope::auth::keys::Keyring;
use rpcscope::idl::Library;
use rpcscope::idl::values::decode_kept;
use rpcscope::output::order::OrderedLines;
use rpcscope::output::{json, logs, text};
use rpcscope::{Analysis, RunError};
use std::sync::Arc;

fn main() -> ExitCode {
    let args = cli::parse(std::env::args_os());
    // Expectation files are read before any capture: a bad one is a usage error.
    let check_jobs = match &args.command {
        Some(cli::Command::Check {
            capture,
            expectations,
            ..
        }) => match check_command::jobs(capture, expectations.as_deref()) {
            Ok(jobs) => jobs,
            Err(message) => return usage_error(&message),
        },
        _ => Vec::new(),
    };
    // A bad filter is a usage error, before any capture is read.
    let filter = match args.command.as_ref().and_then(cli::Command::filter) {
        Some(expression) => match rpcscope::filter::Filter::parse(expression) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                let code = usage_error(&format!("--filter: {e}"));
                let _ = writeln!(
                    io::stderr(),
                    "  {}\n  {}",
                    rpcscope::output::sanitize(expression),
                    e.caret()
                );
                return code;
            }
        },
        None => None,
    };
    // A filter on parameters needs them decoded when the calls end, whether they are printed
    // or not.
    let filter_decodes = filter.as_ref().is_some_and(|f| f.uses_parameters());
    // The table and JSON decode parameters on request; the terminal interface always shows them.
    let asked_decode = match &args.command {
        Some(cli::Command::Calls { decode, .. }) => *decode,
        Some(cli::Command::Check { .. }) => check_command::needs_decoding(&check_jobs),
        Some(cli::Command::Tui { .. }) => true,
        Some(cli::Command::Live(l)) => l.decode || (!l.json && io::stdout().is_terminal()),
        Some(_) => false,
        None => opens_interface(args.capture.as_deref()),
    };
    let decode = filter_decodes || asked_decode;
    // The terminal interface decodes the selected call when its detail opens, and `calls`
    // decodes each call as it writes it (on the output's thread): the analysis keeps the stubs.
    let keep_stubs = !filter_decodes
        && match &args.command {
            Some(cli::Command::Tui { .. }) => true,
            Some(cli::Command::Calls { decode, .. }) => *decode,
            Some(cli::Command::Live(l)) => !l.json && io::stdout().is_terminal(),
            Some(_) => false,
            None => opens_interface(args.capture.as_deref()),
        };
    match &args.command {
        Some(cli::Command::Completions { shell }) => {
            return written(cli::completions(*shell, &mut io::stdout().lock()));
        }
        Some(cli::Command::Man { dir: None }) => {
            return written(cli::man_page(&mut io::stdout().lock()));
        }
        Some(cli::Command::Man { dir: Some(dir) }) => {
            return match cli::man_pages(dir) {
                Ok(pages) => {
                    for p in pages {
                        let _ = writeln!(
                            io::stderr(),
                            "wrote {}",
                            rpcscope::output::sanitize(&p.display().to_string())
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&dir.display().to_string(), &e.to_string()),
            };
        }
        _ => {}
    }
    if let Some(cli::Command::CompileIdl {
        sources,
        output,
        source_name,
    }) = &args.command
    {
        return compile_idl(sources, output.as_deref(), source_name.as_deref());
    }
    let library = match load_library(&args.idl, decode) {
        Ok(mut lib) => {
            lib.decode_parameters = decode;
            lib.keep_stubs = keep_stubs;
            // the interface shows the stubs of every call, described or not
            lib.keep_every_stub =
                keep_stubs && !matches!(&args.command, Some(cli::Command::Calls { .. }));
            Arc::new(lib)
        }
        Err(msg) => return fail_line(&msg),
    };
    let keys = match load_keys(&args.keys, &args.keytab) {
        Ok(keys) => keys,
        Err(msg) => return fail_line(&msg),
    };
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    );
    let limits = rpcscope::engine::Limits {
        max_connections: args.max_connections.map(|n| n as usize),
        max_open_calls: args.max_open_calls.map(|n| n as usize),
        max_endpoints: args.max_endpoints.map(|n| n as usize),
    };
    // What every reading of a file is given; a command changes what it needs.
    let base = rpcscope::Setup {
        library: Some(Arc::clone(&library)),
        keys: keys.clone(),
        without_endpoint_records: false,
        threads,
        limits,
        filter,
    };
    let checking = rpcscope::Setup {
        without_endpoint_records: true,
        ..base.clone()
    };
    match &args.command {
        Some(cli::Command::Check { junit, .. }) => {
            return check_command::run(&check_jobs, &checking, junit.as_deref());
        }
        Some(cli::Command::Expect { capture }) => return check_command::expect(capture, &checking),
        _ => {}
    }
    let command = match (args.command, args.capture) {
        (Some(_), Some(extra)) => {
            return fail_line(&format!(
                "{}: a capture goes after the command (rpcscope calls CAPTURE)",
                extra.display()
            ));
        }
        (Some(cli::Command::Tui { capture }), _) => return tui(&capture, base),
        (Some(cli::Command::Live(live)), _) => {
            return live_command::run(&live, library, keys, limits);
        }
        (Some(c), _) => c,
        // the interface when it can be shown: a terminal that draws, keys on standard input
        (None, Some(capture)) if opens_interface(Some(&capture)) => return tui(&capture, base),
        (None, Some(capture)) => cli::Command::Calls {
            json: false,
            format: None,
            decode: false,
            filter: None,
            captures: vec![capture],
        },
        (None, None) => {
            return usage_error("give a capture file (rpcscope --help lists the commands)");
        }
    };
    let paths = match capture_paths(command.captures()) {
        Ok(paths) => paths,
        Err(message) => return usage_error(&message),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let several = paths.len() > 1;
    let mut status = ExitCode::SUCCESS;
    for (i, path) in paths.iter().enumerate() {
        let name = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        let reading = Reading {
            command: &command,
            path,
            label: several.then_some(name.as_str()),
            first: i == 0,
            base: &base,
            library: &library,
            decode,
            hide_parameters: !asked_decode,
        };
        let result = reading
            .run(&mut out)
            .and_then(|run| out.flush().map(|()| run).map_err(RunError::Output));
        match result {
            Ok(run) => {
                if let Some(e) = run.stopped_by {
                    status = fail(&name, &format!("{e} (the frames before it were analysed)"));
                }
            }
            Err(RunError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                return ExitCode::SUCCESS;
            }
            Err(RunError::Output(e)) => return fail("<stdout>", &e.to_string()),
            Err(RunError::Source(e)) => status = fail(&name, &e.to_string()),
            Err(RunError::Open(e)) => status = fail(&name, &e.to_string()),
            Err(e @ RunError::Threads(_)) => status = fail(&name, &e.to_string()),
        }
    }
    status
}

/// The captures the arguments name: each file as given, each folder's captures (`.pcap`,
/// `.pcapng`, `.cap`, sorted), a pattern with `*` or `?` in its file name that the shell did not
/// expand matched in its folder; `-` (standard input) only alone.
fn capture_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let is_capture = |p: &Path| {
        p.is_file()
            && p.extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
    };
    let mut paths = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            if args.len() > 1 {
                return Err("- (standard input) cannot be read with other captures".into());
            }
            paths.push(arg.clone());
        } else if arg.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(arg)
                .map_err(|e| format!("{}: {e}", arg.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_capture(p))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{}: no .pcap, .pcapng or .cap file here",
                    arg.display()
                ));
            }
            found.sort();
            paths.extend(found);
        } else if !arg.exists()
            && let Some(pattern) = arg
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.contains(['*', '?']))
        {
            let dir = arg
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .flatten()
                .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(pattern, n)))
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            if found.is_empty() {
                return Err(format!("{}: no file matches", arg.display()));
            }
            found.sort();
            paths.extend(found);
        } else {
            paths.push(arg.clone());
        }
    }
    Ok(paths)
}

/// Does `name` match `pattern`, where `*` stands for any characters and `?` for one?
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // the last `*` seen, and where in the name it was tried up to
    let (mut pi, mut ni, mut star) = (0, 0, None);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `{"type":"...", "capture":"NAME", ...}`: a JSON line with the capture it comes from, right
/// after its type (every record starts with its type).
fn labelled(line: &[u8], capture: Option<&str>) -> io::Result<Vec<u8>> {
    let Some(capture) = capture else {
        return Ok(line.to_vec());
    };
    let Some(comma) = line.iter().position(|&b| b == b',') else {
        return Ok(line.to_vec());
    };
    let mut name = Vec::new();
    json::write_line(&mut name, &capture)?;
    name.pop(); // its line break
    let mut out = Vec::with_capacity(line.len() + name.len() + 12);
    out.extend_from_slice(&line[..=comma]);
    out.extend_from_slice(b"\"capture\":");
    out.extend_from_slice(&name);
    out.push(b',');
    out.extend_from_slice(&line[comma + 1..]);
    Ok(out)
}

/// One capture read for one of the commands that print what a capture holds.
struct Reading<'a> {
    command: &'a cli::Command,
    path: &'a Path,
    /// The capture's name, when several are read: each record names it.
    label: Option<&'a str>,
    /// The first capture of the run (a table's header, CSV's header line).
    first: bool,
    base: &'a rpcscope::Setup,
    library: &'a Arc<Library>,
    decode: bool,
    /// Parameters were decoded for the filter only: not printed.
    hide_parameters: bool,
}

impl Reading<'_> {
    fn run(&self, out: &mut impl Write) -> Result<rpcscope::Run, RunError> {
        let (command, path, label) = (self.command, self.path, self.label);
        // Standard input, a FIFO or another file that is not a regular file (`<(...)`) is read
        // on one thread, and each call is flushed as soon as it is printed
        // (`tcpdump -U -w - | rpcscope ...`).
        let from_stdin = path.as_os_str() == "-";
        let metadata = std::fs::metadata(path).ok();
        let streaming = from_stdin || metadata.as_ref().is_some_and(|m| !m.is_file());
        // A long read shows its progress on stderr when that is a terminal, but not over a
        // call table being printed on the same terminal.
        let prints_as_it_goes = matches!(
            command,
            cli::Command::Calls { .. } | cli::Command::Pdus { .. }
        );
        let shown = !streaming
            && io::stderr().is_terminal()
            && !(prints_as_it_goes && io::stdout().is_terminal());
        let size = metadata.map_or(0, |m| m.len());
        let progress = progress::Progress::new(shown.then_some(size));
        // the capture reader reads through its own large buffer, which the bar counts
        let open = || File::open(path).map(|f| progress.reader(f));
        let setup = rpcscope::Setup {
            without_endpoint_records: !matches!(command, cli::Command::Endpoints { .. }),
            threads: if streaming { 1 } else { self.base.threads },
            ..self.base.clone()
        };
        let analysis = || {
            Ok(if from_stdin {
                Analysis::from_reader(io::stdin())
            } else if streaming {
                Analysis::from_reader(File::open(path).map_err(RunError::Open)?)
            } else {
                Analysis::opening(open)
            }
            .setup(setup.clone()))
        };
        let drive = |sink: &mut dyn rpcscope::CallSink| analysis()?.into_sink(sink);
        let text_header = |out: &mut dyn Write| -> io::Result<()> {
            match label {
                Some(name) if self.first => {
                    writeln!(out, "==> {} <==", rpcscope::output::sanitize(name))
                }
                Some(name) => writeln!(out, "\n==> {} <==", rpcscope::output::sanitize(name)),
                None => Ok(()),
            }
        };
        match command {
            cli::Command::Calls { json, format, .. } => {
                let format = match (format, json) {
                    (Some(f), _) => *f,
                    (None, true) => cli::CallFormat::Json,
                    (None, false) => cli::CallFormat::Table,
                };
                if format == cli::CallFormat::Table {
                    text_header(out).map_err(RunError::Output)?;
                }
                let mut lines = CallLines {
                    order: OrderedLines::new(&mut *out),
                    format,
                    label,
                    last_end: None,
                    decode_with: (self.decode && !self.hide_parameters)
                        .then(|| Arc::clone(self.library)),
                    hide_parameters: self.hide_parameters,
                    started: format == cli::CallFormat::Csv && !self.first,
                    flush_each: streaming,
                    scratch: Vec::with_capacity(4096),
                };
                let run = drive(&mut lines);
                run.and_then(|run| lines.finish().map(|()| run).map_err(RunError::Output))
            }
            cli::Command::Pdus { json, .. } => {
                if !*json {
                    text_header(out).map_err(RunError::Output)?;
                    writeln!(out, "{}", text::PDUS_HEADER).map_err(RunError::Output)?;
                }
                // A PDU that cannot be written stops the run at the end of its frame.
                let failed = std::cell::RefCell::new(None);
                let mut on_pdu = |p: rpcscope::model::PduRecord| {
                    if failed.borrow().is_some() {
                        return;
                    }
                    let written = if *json {
                        let mut line = Vec::with_capacity(512);
                        json::write_pdu(&mut line, &p)
                            .and_then(|()| labelled(&line, label))
                            .and_then(|line| out.write_all(&line))
                    } else {
                        writeln!(out, "{}", text::pdu_row(&p))
                    };
                    let written =
                        written.and_then(|()| if streaming { out.flush() } else { Ok(()) });
                    if let Err(e) = written {
                        *failed.borrow_mut() = Some(e);
                    }
                };
                analysis().and_then(|a| a.pdus(&mut on_pdu).into_sink(&mut StopWhenFailed(&failed)))
            }
            cli::Command::Endpoints { json, .. } => drive(&mut Unordered).and_then(|run| {
                let written = if *json {
                    run.endpoints.iter().try_for_each(|e| {
                        let mut line = Vec::new();
                        json::write_line(&mut line, e)?;
                        out.write_all(&labelled(&line, label)?)
                    })
                } else {
                    text_header(out).and_then(|()| text::write_endpoints(out, &run.endpoints))
                };
                warn_of_endpoint_limits(&run.summary);
                written.map(|()| run).map_err(RunError::Output)
            }),
            cli::Command::Summary { json, .. } => drive(&mut Unordered).and_then(|run| {
                let written = if *json {
                    let mut line = Vec::new();
                    json::write_line(&mut line, &run.summary)
                        .and_then(|()| labelled(&line, label))
                        .and_then(|line| out.write_all(&line))
                } else {
                    text_header(out).and_then(|()| text::write_summary(out, &run.summary))
                };
                written.map(|()| run).map_err(RunError::Output)
            }),
            cli::Command::Tui { .. }
            | cli::Command::Live(_)
            | cli::Command::CompileIdl { .. }
            | cli::Command::Check { .. }
            | cli::Command::Expect { .. }
            | cli::Command::Completions { .. }
            | cli::Command::Man { .. } => Err(RunError::Output(io::Error::other(
                "not a command that reads captures",
            ))),
        }
    }
}

/// The `calls` command's output: each call rendered as it ends (a JSON line, a table row and the
/// lines under it, a Zeek log line or a CSV row, after the format's header) and written in
/// capture order.
struct CallLines<'a, W: Write> {
    order: OrderedLines<W>,
    format: cli::CallFormat,
    /// The capture's name, when several are read: each record names it.
    label: Option<&'a str>,
    /// When the latest call ended (Zeek's `#close` line).
    last_end: Option<rpcscope::source::Timestamp>,
    /// Decodes the parameters of calls whose stubs the analysis kept (`--decode`).
    decode_with: Option<Arc<Library>>,
    /// Parameters decoded only for `--filter` are not printed.
    hide_parameters: bool,
    /// The table's header was written (it goes out with the first call, or at the end).
    started: bool,
    /// Flush whenever lines were written (reading standard input or a FIFO).
    flush_each: bool,
    /// Where each call is rendered before its line is held in order.
    scratch: Vec<u8>,
}

impl<W: Write> CallLines<'_, W> {
    /// Writes the format's header once, before the first call (`first`: its time).
    fn start(&mut self, first: Option<rpcscope::source::Timestamp>) -> io::Result<()> {
        if !self.started {
            let out = self.order.output();
            match self.format {
                cli::CallFormat::Table => writeln!(out, "{}", text::CALLS_HEADER)?,
                cli::CallFormat::Csv if self.label.is_some() => {
                    writeln!(out, "capture,{}", logs::CSV_HEADER)?;
                }
                cli::CallFormat::Csv => writeln!(out, "{}", logs::CSV_HEADER)?,
                cli::CallFormat::Zeek => logs::write_zeek_header(out, first.unwrap_or_default())?,
                cli::CallFormat::Json | cli::CallFormat::ZeekJson => {}
            }
        }
        self.started = true;
        Ok(())
    }

    /// Writes the calls still held; says on stderr when some could not be kept in order.
    fn finish(mut self) -> io::Result<()> {
        self.start(None)?;
        let (format, last_end) = (self.format, self.last_end);
        let (mut out, stats) = self.order.finish()?;
        if format == cli::CallFormat::Zeek {
            logs::write_zeek_close(&mut out, last_end.unwrap_or_default())?;
        }
        if stats.out_of_order > 0 {
            let _ = writeln!(
                io::stderr(),
                "rpcscope: warning: {} calls written out of capture order: no temporary file \
                 to hold them ({})",
                stats.out_of_order,
                stats.spill_error.as_deref().unwrap_or("unknown error")
            );
        }
        Ok(())
    }
}

impl<W: Write> rpcscope::CallSink for CallLines<'_, W> {
    fn calls(&mut self, calls: &mut Vec<rpcscope::model::Call>) -> io::Result<()> {
        self.start(calls.iter().map(|c| c.start).min())?;
        for call in calls.iter_mut() {
            self.last_end = self.last_end.max(Some(call.end));
            if let (Some(lib), Some(stubs)) = (&self.decode_with, call.stubs.take()) {
                call.decoded = decode_kept(lib, &stubs).map(Box::new);
            }
            if self.hide_parameters {
                call.decoded = None;
            }
            // rendered into one buffer kept across calls, then copied at its exact length: one
            // allocation per line, none to grow it, and held lines count what they take
            let line = &mut self.scratch;
            line.clear();
            match self.format {
                cli::CallFormat::Table => text::write_call(line, call)?,
                cli::CallFormat::Json => json::push_call(line, call)?,
                cli::CallFormat::Zeek => logs::write_zeek_row(line, call)?,
                cli::CallFormat::ZeekJson => logs::write_zeek_json(line, call)?,
                cli::CallFormat::Csv => {
                    if let Some(name) = self.label {
                        line.extend_from_slice(logs::csv_field(name).as_bytes());
                        line.push(b',');
                    }
                    logs::write_csv_row(line, call)?;
                }
            }
            let line = if matches!(
                self.format,
                cli::CallFormat::Json | cli::CallFormat::ZeekJson
            ) {
                labelled(line, self.label)?
            } else {
                line.clone()
            };
            self.order.push(call.sort_key(), line)?;
            if self.decode_with.is_some() {
                // made on this thread: freed here, not by the analysis the record goes back to
                call.decoded = None;
            }
        }
        Ok(())
    }

    fn settled(&mut self, settled: u64) -> io::Result<()> {
        if self.order.release(settled)? && self.flush_each {
            self.order.output().flush()?;
        }
        Ok(())
    }
}

/// A sink for commands that print no calls (`summary`, `endpoints`).
struct Unordered;

/// Keeps no call, and stops the run once writing a PDU record failed.
struct StopWhenFailed<'a>(&'a std::cell::RefCell<Option<io::Error>>);

impl rpcscope::CallSink for StopWhenFailed<'_> {
    fn calls(&mut self, _: &mut Vec<rpcscope::model::Call>) -> io::Result<()> {
        self.settled(0)
    }

    fn settled(&mut self, _: u64) -> io::Result<()> {
        self.0.borrow_mut().take().map_or(Ok(()), Err)
    }
}

impl rpcscope::CallSink for Unordered {
    fn calls(&mut self, _: &mut Vec<rpcscope::model::Call>) -> io::Result<()> {
        Ok(())
    }

    fn settled(&mut self, _: u64) -> io::Result<()> {
        Ok(())
    }
}

/// The exit status of a command that only writes to standard output.
fn written(result: io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail("<stdout>", &e.to_string()),
    }
}

/// True when `rpcscope CAPTURE` opens the terminal interface rather than printing the call
/// table: standard output is a terminal that can draw (not `TERM=dumb`) and the keys can come
/// from standard input (the capture is not `-`).
fn opens_interface(capture: Option<&Path>) -> bool {
    io::stdout().is_terminal()
        && !rpcscope::tui::dumb_terminal()
        && capture.is_some_and(|c| c.as_os_str() != "-")
}

fn tui(path: &std::path::Path, setup: rpcscope::Setup) -> ExitCode {
    match rpcscope::tui::run(path, setup) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&path.display().to_string(), &e.to_string()),
    }
}

/// The secrets of `--keys` files, `--keytab` files and the keys file `RPCSCOPE_KEYS` names;
/// `None` when none was given. Errors name the file and line, never a secret.
fn load_keys(
    files: &[std::path::PathBuf],
    keytabs: &[std::path::PathBuf],
) -> Result<Option<Arc<Keyring>>, String> {
    let from_env = std::env::var_os("RPCSCOPE_KEYS")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    if files.is_empty() && keytabs.is_empty() && from_env.is_none() {
        return Ok(None);
    }
    let mut ring = Keyring::default();
    for f in files.iter().chain(&from_env) {
        ring.load_file(f).map_err(|e| e.to_string())?;
    }
    for k in keytabs {
        ring.load_keytab(k).map_err(|e| e.to_string())?;
    }
    Ok(Some(Arc::new(ring)))
}

/// The built-in interface descriptions and those of `--idl` files and their imports, which
/// take precedence. Microsoft's interfaces (the built-in table) are added when parameters are
/// decoded.
fn load_library(files: &[std::path::PathBuf], decode: bool) -> Result<Library, String> {
    // The descriptions written for rpcscope (the endpoint mapper, MS-EFSR's raw operations),
    // then Microsoft's complete ones over them when parameters are decoded.
    let mut lib = rpcscope::idl::builtin::library().map_err(|e| e.to_string())?;
    if decode {
        lib.merge(rpcscope::idl::table::builtin_library().clone());
    }
    let read = rpcscope::idl::load_files(files)?;
    print_warnings(&read.warnings);
    lib.merge(read);
    Ok(lib)
}

/// IDL warnings shown on stderr at most; the rest are counted.
const MAX_WARNINGS_SHOWN: usize = 100;

/// Warnings about IDL files on stderr, escaped (they quote names from the files), at most
/// [`MAX_WARNINGS_SHOWN`] of them.
fn print_warnings(warnings: &[String]) {
    let mut err = io::stderr().lock();
    for w in warnings.iter().take(MAX_WARNINGS_SHOWN) {
        let _ = writeln!(err, "rpcscope: warning: {}", rpcscope::output::sanitize(w));
    }
    if warnings.len() > MAX_WARNINGS_SHOWN {
        let more = warnings.len() - MAX_WARNINGS_SHOWN;
        let _ = writeln!(err, "rpcscope: warning: {more} more warnings not shown");
    }
}

/// `rpcscope compile-idl`: the description table of IDL files, warnings on stderr.
fn compile_idl(
    sources: &[std::path::PathBuf],
    output: Option<&std::path::Path>,
    source_name: Option<&str>,
) -> ExitCode {
    let lib = match rpcscope::idl::load_files(sources) {
        Ok(lib) => lib,
        Err(msg) => return fail_line(&msg),
    };
    print_warnings(&lib.warnings);
    let named = sources
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let table = rpcscope::idl::table::compile(&lib, source_name.unwrap_or(&named));
    let written = match output {
        Some(path) => std::fs::write(path, &table).map_err(|e| format!("{}: {e}", path.display())),
        None => io::stdout()
            .lock()
            .write_all(table.as_bytes())
            .map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => fail_line(&msg),
    }
}

/// Says on stderr when the endpoint records are incomplete: endpoints beyond
/// `--max-endpoints`, or connections counted but not listed in `used_by` (the summary counts
/// both as anomalies).
fn warn_of_endpoint_limits(summary: &rpcscope::summary::Summary) {
    for kind in ["limit_endpoints", "limit_endpoint_users"] {
        if let Some(example) = summary.anomalies.get(kind).and_then(|a| a.examples.first()) {
            let _ = writeln!(
                io::stderr(),
                "rpcscope: warning: {} ({kind})",
                rpcscope::output::sanitize(&example.detail)
            );
        }
    }
}

/// One line on stderr, with the control characters of names and texts from outside escaped.
fn fail_line(message: &str) -> ExitCode {
    let _ = writeln!(
        io::stderr(),
        "rpcscope: {}",
        rpcscope::output::sanitize(message)
    );
    ExitCode::FAILURE
}

/// A command line that cannot be run as given: the message on stderr, exit status 2.
fn usage_error(message: &str) -> ExitCode {
    let _ = writeln!(
        io::stderr(),
        "rpcscope: {}",
        rpcscope::output::sanitize(message)
    );
    ExitCode::from(2)
}

fn fail(name: &str, reason: &str) -> ExitCode {
    fail_line(&format!("{name}: {reason}"))
}
