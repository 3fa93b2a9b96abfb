//! The `rpcscope` binary: parses arguments, runs the library, prints, and maps errors to exit
//! codes (0 read to the end, 1 could not do its job, 2 bad arguments). A closed output pipe
//! (`rpcscope calls x.pcap | head`) ends the program quietly with status 0.

mod cli;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::process::ExitCode;

use rpcscope::output::{json, text};

fn main() -> ExitCode {
    let args = cli::parse(std::env::args_os());
    let path = args.command.capture().clone();
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let input: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        match File::open(&path) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
            Err(e) => return fail(&name, &e.to_string()),
        }
    };
    let run = match rpcscope::run(input) {
        Ok(run) => run,
        Err(e) => return fail(&name, &e.to_string()),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = match &args.command {
        cli::Command::Calls { json: true, .. } => run
            .analysis
            .calls
            .iter()
            .try_for_each(|c| json::write_line(&mut out, c)),
        cli::Command::Calls { json: false, .. } => text::write_calls(&mut out, &run.analysis.calls),
        cli::Command::Summary { json: true, .. } => {
            json::write_line(&mut out, &run.analysis.summary)
        }
        cli::Command::Summary { json: false, .. } => {
            text::write_summary(&mut out, &run.analysis.summary)
        }
    }
    .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return fail("<stdout>", &e.to_string()),
    }
    match run.stopped_by {
        Some(e) => fail(&name, &format!("{e} (the frames before it were analysed)")),
        None => ExitCode::SUCCESS,
    }
}

fn fail(name: &str, reason: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "rpcscope: {name}: {reason}");
    ExitCode::FAILURE
}
