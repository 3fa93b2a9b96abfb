//! rpcscope: makes Microsoft RPC (DCE/RPC, MS-RPCE) traffic readable.
//!
//! # Layers
//!
//! ```text
//! source   (pcap / pcapng, file or stdin)            Frame {number, ts, link type, bytes}
//!   └─ link     (Ethernet/VLAN, SLL, SLL2, raw, null)   TcpSegment | IpFragment
//!       ├─ ip_defrag (IPv4, IPv6 fragments, capped)     TcpSegment
//!       └─ tcp       (flow table, both directions with late segments waiting, reassembly per dir)
//!           │                                           data(offset, bytes, origin) | gap
//!           │  engine::transport → SessionEvents: opened | data | gap | closed | frame_done
//!           └─ engine::sessions (what a connection carries: SMB, Kerberos, DCE/RPC)
//!               ├─ kdc       (Kerberos on port 88, with keys: keys learned)
//!               ├─ smb       (named pipes over SMB1/2/3)
//!               └─ dcerpc::framing    (PDU boundaries, resync after gaps)   FramedPdu
//!                   └─ dcerpc::association (contexts, calls, fragments)      Call
//!                       │  dcerpc::security (auth contexts; unsealing with auth::*)
//!                       └─ summary / output (JSON Lines, tables, summary)
//! ```
//!
//! Each layer consumes the one above it and knows nothing of the ones below; identifiers they
//! all share (UUIDs, codes, names) are in [`dce`]. The [`engine`] does no I/O; an [`Analysis`]
//! reads a capture into it, on one thread or, with [`Setup::threads`], as a [`pipeline`] of its
//! two stages and the output, and hands over the typed calls ([`model::Call`]), the endpoints and
//! the summary. Every buffer and table is bounded by a named constant in the module
//! that owns it; reaching a limit is counted in the summary.

#![forbid(unsafe_code)]

pub mod analysis;
pub mod auth;
pub mod check;
pub mod context;
pub mod dce;
pub mod dcerpc;
pub mod dcom;
pub mod engine;
pub mod epm;
pub mod filter;
pub mod hash;
pub mod idl;
pub mod ip_defrag;
pub mod kdc;
pub mod knowledge;
pub mod link;
pub mod live;
pub mod model;
pub mod ndr;
pub mod netlogon;
pub mod outbox;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod rpch;
pub mod smb;
pub mod source;
pub mod status;
pub mod summary;
pub mod tcp;
pub mod tui;

pub use analysis::{Analysis, CallSink, Calls, Pdus, Run, RunError, Setup, analyze, analyze_with};
