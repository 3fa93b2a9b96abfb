//! Command-line interface: `rpcscope calls|endpoints|summary [--json] CAPTURE` (`CAPTURE` may be
//! `-` for standard input), and `rpcscope [tui] CAPTURE` for the terminal interface.

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
    Calls {
        /// Print JSON Lines (one "call" object per line) instead of a table.
        #[arg(long)]
        json: bool,
        /// Decode the [in] and [out] parameters of calls to the interfaces an IDL describes
        /// (the built-in ones and those of --idl).
        #[arg(long)]
        decode: bool,
        /// pcap or pcapng file, or - for standard input.
        capture: PathBuf,
    },
    /// Endpoints learned from endpoint-mapper and DCOM OXID answers, and which later
    /// connections used them.
    Endpoints {
        /// Print JSON Lines (one "endpoint" object per line) instead of a table.
        #[arg(long)]
        json: bool,
        /// pcap or pcapng file, or - for standard input.
        capture: PathBuf,
    },
    /// Totals: frames, connections, PDUs, calls per interface and operation, faults,
    /// authentication levels and anomalies.
    Summary {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// pcap or pcapng file, or - for standard input.
        capture: PathBuf,
    },
}

impl Command {
    /// The capture argument.
    #[must_use]
    pub fn capture(&self) -> &PathBuf {
        match self {
            Self::Calls { capture, .. }
            | Self::Endpoints { capture, .. }
            | Self::Summary { capture, .. }
            | Self::Tui { capture } => capture,
        }
    }
}

/// Parses arguments (exits with usage on error, as clap does).
#[must_use]
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Args {
    Args::parse_from(args)
}
