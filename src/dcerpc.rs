//! DCE/RPC (C706 chapter 12, MS-RPCE §2.2): the layer above TCP, SMB named pipes and UDP.
//! Identifiers, codes and names it shares with the layers it feeds are in [`crate::dce`].
//!
//! - [`pdu`]: parsing of one whole PDU (header, body, auth verifier, exact stub boundaries).
//! - [`framing`]: turns a reassembled byte stream into PDUs, finds DCE/RPC by a strict header
//!   test, and resynchronises after a gap.
//! - [`association`]: presentation contexts, authentication and calls of one association;
//!   multi-fragment reassembly per call and call completion.
//! - [`connectionless`]: calls over UDP (no connection, no bind), keyed by activity and
//!   sequence number, reported like the others.
//! - [`security`]: auth contexts; unsealing and signature checks with the user's keys.
//! - [`call_report`]: the observer of associations: stub consumers, call records, what answers
//!   teach; [`unlabelled`]: calls without a bind waiting for an answer naming their interface.

pub mod association;
pub mod call;
pub mod call_report;
pub mod channel;
pub mod connectionless;
pub mod framing;
pub mod pdu;
pub mod security;
pub mod stubs;
pub mod unlabelled;
