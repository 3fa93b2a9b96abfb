//! Command-line interface: `rpcscope calls|pdus|endpoints|summary [--json] CAPTURE...` (captures,
//! folders of them, or `-` for standard input), `rpcscope check` and `rpcscope expect` for regression tests on
//! captures, `rpcscope [tui] CAPTURE` for the terminal interface,
//! `rpcscope live -i IFACE` for a live capture, and `completions` and `man`, which print the
//! shell completions and the manual page made from this definition.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Makes Microsoft RPC (DCE/RPC) traffic readable. With only a capture, opens the terminal
/// interface (or prints the calls when standard output is not a terminal).
#[derive(Debug, Parser)]
#[command(name = "rpcscope", version, about, long_about = None)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// IDL file describing interfaces whose NDR pipes are decoded, and their parameters with
    /// `calls --decode` (repeatable); the endpoint mapper and MS-EFSR's raw file operations are
    /// built in.
    #[arg(long = "idl", global = true, value_name = "FILE")]
    pub idl: Vec<PathBuf>,
    /// Keys file with the secrets that unseal protected calls (repeatable): one per line,
    /// `password USER[@DOMAIN] PASSWORD`, `nthash USER[@DOMAIN] HEX`, `keytab PATH`,
    /// `netlogon COMPUTER$ SECRET`, `smb3 SESSION_ID KEY`; see docs/decryption.md. The file
    /// named by RPCSCOPE_KEYS is read too. Secrets never appear in any output.
    #[arg(long = "keys", global = true, value_name = "FILE")]
    pub keys: Vec<PathBuf>,
    /// MIT keytab with Kerberos keys (repeatable).
    #[arg(long = "keytab", global = true, value_name = "PATH")]
    pub keytab: Vec<PathBuf>,
    /// Threads for analysing a file (default: the number of cores). With more than one,
    /// reading, analysis and output run side by side (three stages, so more than three add
    /// nothing); the output is the same for any number.
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// TCP connections tracked at once (default 50,000; each costs about 2 KB while
    /// tracked). Past it the least recently active tenth is finished early and counted
    /// (`evicted`); raise it for captures with more connections open at once, lower it to
    /// bound memory.
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1_000..=10_000_000))]
    pub max_connections: Option<u32>,
    /// Calls awaiting an answer, all connections together (default 8,192). Past it, a
    /// connection that opens a call first reports its own oldest open call as it stands
    /// (`limit_open_calls_total`); raise it for captures with more calls in flight at once.
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(100..=10_000_000))]
    pub max_open_calls: Option<u32>,
    /// Endpoints learned from endpoint-mapper and OXID answers that are kept (default
    /// 100,000). Later ones are counted (`limit_endpoints`), not kept, and connections to them
    /// are not labelled; raise it for long captures of a busy server.
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_endpoints: Option<u32>,
    /// pcap or pcapng file to open in the terminal interface.
    pub capture: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Browse the capture in the terminal interface: calls, connections, call flow, endpoint
    /// resolution and statistics.
    Tui {
        /// pcap or pcapng file.
        capture: PathBuf,
    },
    /// List every DCE/RPC call: client, server, interface, operation, outcome, duration.
    #[command(after_help = CALLS_EXAMPLES)]
    Calls {
        /// Print JSON Lines (one "call" object per line) instead of a table (the same as
        /// --format json).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Output format: table (the default), json (JSON Lines), zeek (a dce_rpc.log in Zeek's
        /// TSV layout), zeek-json (Zeek's JSON log), csv.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<CallFormat>,
        /// Decode the [in] and [out] parameters of calls to the interfaces an IDL describes
        /// (the built-in ones and those of --idl).
        #[arg(long)]
        decode: bool,
        /// Only the calls this expression chooses, e.g. 'iface == samr and status != 0'
        /// (docs/filter.md).
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// pcap or pcapng files, folders of them, or - for standard input; with several, each
        /// record names its capture.
        #[arg(required = true, value_name = "CAPTURE")]
        captures: Vec<PathBuf>,
    },
    /// Every DCE/RPC PDU in the order read: type, call_id, flags, lengths, sec_trailer, the
    /// contexts a bind offers and each result of its bind_ack (with the secondary address),
    /// a request's context and opnum, a fault's status; connectionless PDUs with their
    /// activity, fragment number, interface and opnum.
    #[command(after_help = PDUS_EXAMPLES)]
    Pdus {
        /// Print JSON Lines (one "pdu" object per line) instead of a list.
        #[arg(long)]
        json: bool,
        /// pcap or pcapng files, folders of them, or - for standard input; with several, each
        /// record names its capture.
        #[arg(required = true, value_name = "CAPTURE")]
        captures: Vec<PathBuf>,
    },
    /// Endpoints learned from endpoint-mapper and DCOM OXID answers, and which later
    /// connections used them.
    #[command(after_help = ENDPOINTS_EXAMPLES)]
    Endpoints {
        /// Print JSON Lines (one "endpoint" object per line) instead of a table.
        #[arg(long)]
        json: bool,
        /// pcap or pcapng files, folders of them, or - for standard input; with several, each
        /// record names its capture.
        #[arg(required = true, value_name = "CAPTURE")]
        captures: Vec<PathBuf>,
    },
    /// Check captures against expectation files: expected and forbidden calls, bind results,
    /// totals (docs/check.md). Exit status 0 when every expectation holds, 1 when one fails or a
    /// capture cannot be read, 2 for a bad expectation file.
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        /// A capture, or a folder whose captures are checked against the NAME.expect.toml
        /// beside each (captures without one are skipped).
        capture: PathBuf,
        /// The expectation file (default: NAME.expect.toml beside the capture).
        expectations: Option<PathBuf>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Write a starting expectation file for `check` from what a capture holds: every distinct
    /// call and context result with its count, times, ports and call ids left out.
    #[command(after_help = EXPECT_EXAMPLES)]
    Expect {
        /// pcap or pcapng file.
        capture: PathBuf,
    },
    /// Capture from a network interface and analyse as it happens: the terminal interface, or
    /// JSON Lines with --json (needs the `live` feature; without it, pipe a capture into
    /// `rpcscope calls --json -`).
    Live(LiveArgs),
    /// Compile IDL files and folders into a description table (the built-in one is
    /// `src/idl/data/ms-rpc.tsv`, compiled from Microsoft's published IDL; see docs/idl.md).
    CompileIdl {
        /// IDL files or folders (every .idl file under a folder is read).
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// Write the table here instead of to standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// The source named in the table's first line (default: the paths as given).
        #[arg(long, value_name = "TEXT")]
        source_name: Option<String>,
    },
    /// Totals: frames, connections, PDUs, calls per interface and operation, faults,
    /// authentication levels and anomalies.
    #[command(after_help = SUMMARY_EXAMPLES)]
    Summary {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Count only the calls this expression chooses (the capture's totals stay whole),
        /// e.g. 'host == 10.0.0.5' (docs/filter.md).
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// pcap or pcapng files, folders of them, or - for standard input; with several, each
        /// record names its capture.
        #[arg(required = true, value_name = "CAPTURE")]
        captures: Vec<PathBuf>,
    },
    /// Print the completion script of a shell, e.g.
    /// `rpcscope completions bash > ~/.local/share/bash-completion/completions/rpcscope`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or with --dir write it and one page per command there,
    /// e.g. `rpcscope man --dir ~/.local/share/man/man1`.
    Man {
        /// Write rpcscope.1 and rpcscope-COMMAND.1 into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// How `rpcscope calls` writes calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CallFormat {
    /// One row per call, with the lines under it.
    Table,
    /// JSON Lines, one `"type": "call"` object per call.
    Json,
    /// Zeek's `dce_rpc.log`, TSV.
    Zeek,
    /// Zeek's `dce_rpc.log`, JSON.
    #[value(name = "zeek-json")]
    ZeekJson,
    /// CSV with a header line.
    Csv,
}

/// Options of `rpcscope live`.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// List the interfaces that can be captured on, and exit.
    #[arg(long)]
    pub list: bool,
    /// Interface to capture on (see --list).
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        required_unless_present = "list"
    )]
    pub interface: Option<String>,
    /// Capture filter in tcpdump's syntax, e.g. 'tcp port 135 or tcp port 445 or tcp portrange
    /// 49152-65535'.
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,
    /// Bytes kept of each packet (calls whose PDUs are cut short cannot be decoded).
    #[arg(long, value_name = "N", default_value_t = 262_144,
          value_parser = clap::value_parser!(u32).range(64..=262_144))]
    pub snaplen: u32,
    /// Also write every captured packet to this pcapng file, to re-open the session offline.
    #[arg(short = 'w', long = "write", value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// Print each call as a JSON line as soon as it completes (flushed; for jq) instead of
    /// showing the terminal interface (also the default when standard output is not a
    /// terminal).
    #[arg(long)]
    pub json: bool,
    /// With --json, decode the [in] and [out] parameters of calls an IDL describes.
    #[arg(long)]
    pub decode: bool,
    /// Calls kept for browsing in the terminal interface; older ones age out (the totals keep
    /// counting them).
    #[arg(long, value_name = "CALLS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub history: u64,
    /// Kernel capture buffer in MiB (as tcpdump's -B, which counts KiB); raise it when the
    /// status line shows packets dropped by the kernel.
    #[arg(short = 'B', long = "buffer", value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=2047))]
    pub buffer_mib: u32,
    /// Do not put the interface in promiscuous mode (only traffic to and from this host).
    #[arg(long)]
    pub no_promisc: bool,
}

impl Command {
    /// The `--filter` expression of the commands that take one.
    #[must_use]
    pub fn filter(&self) -> Option<&str> {
        match self {
            Self::Calls { filter, .. } | Self::Summary { filter, .. } => filter.as_deref(),
            _ => None,
        }
    }

    /// The capture arguments (none for `live` and the commands without captures).
    #[must_use]
    pub fn captures(&self) -> &[PathBuf] {
        match self {
            Self::Calls { captures, .. }
            | Self::Pdus { captures, .. }
            | Self::Endpoints { captures, .. }
            | Self::Summary { captures, .. } => captures,
            Self::Check { capture, .. } | Self::Expect { capture } | Self::Tui { capture } => {
                std::slice::from_ref(capture)
            }
            Self::Live(_)
            | Self::CompileIdl { .. }
            | Self::Completions { .. }
            | Self::Man { .. } => &[],
        }
    }
}

const CALLS_EXAMPLES: &str = "Examples:

  The calls as a table:  rpcscope calls capture.pcapng

  One JSON object per call:  rpcscope calls --json capture.pcap | jq .operation

  A dce_rpc.log for a Zeek pipeline:  rpcscope calls --format zeek capture.pcap > dce_rpc.log

  Parameters, sealed calls unsealed:  rpcscope calls --decode --keys lab.keys dc.pcap

  Denied Samr calls to one subnet:  rpcscope calls --filter 'iface == samr and status == STATUS_ACCESS_DENIED and server == 10.0.0.0/24' dc.pcap

  Calls as they happen:  tcpdump -i eth0 -U -w - tcp | rpcscope calls --json -";

const PDUS_EXAMPLES: &str = "Examples:

  Every PDU, one line each:  rpcscope pdus capture.pcap

  The results of every bind:  rpcscope pdus --json capture.pcap | jq -c 'select(.bind_ack) | .bind_ack.results'";

const CHECK_EXAMPLES: &str = "Examples:

  Start from what a capture holds:  rpcscope expect svc.pcap > svc.expect.toml

  Check it (after editing):  rpcscope check svc.pcap svc.expect.toml

  Every capture of a folder, for CI:  rpcscope check captures/ --junit results.xml";

const EXPECT_EXAMPLES: &str = "Examples:

  rpcscope expect svc.pcap > svc.expect.toml && rpcscope check svc.pcap svc.expect.toml";

const ENDPOINTS_EXAMPLES: &str = "Examples:

  Each endpoint announced, and who used it:  rpcscope endpoints capture.pcap

  One JSON object per endpoint:  rpcscope endpoints --json capture.pcap";

const SUMMARY_EXAMPLES: &str = "Examples:

  Totals, per interface, anomalies:  rpcscope summary capture.pcap

  The anomalies alone:  rpcscope summary --json capture.pcap | jq .anomalies";

/// The completion script of `shell` for `rpcscope`.
///
/// # Errors
/// Writing fails.
pub fn completions(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut command = <Args as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "rpcscope", out);
    Ok(())
}

/// The manual page of `rpcscope` (roff), which names a page per command.
///
/// # Errors
/// Writing fails.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let command = <Args as clap::CommandFactory>::command();
    clap_mangen::Man::new(command).render(out)
}

/// Writes `rpcscope.1` and `rpcscope-COMMAND.1` for every command into `dir`; the files
/// written.
///
/// # Errors
/// A file cannot be written.
pub fn man_pages(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let command = <Args as clap::CommandFactory>::command();
    let mut pages = vec![("rpcscope".to_string(), command.clone())];
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("rpcscope-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("rpcscope {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        pages.push((name, page));
    }
    let mut written = Vec::new();
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        clap_mangen::Man::new(page).render(&mut file)?;
        std::io::Write::flush(&mut file)?;
        written.push(path);
    }
    Ok(written)
}

/// Parses arguments (exits with usage on error, as clap does).
#[must_use]
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Args {
    Args::parse_from(args)
}
