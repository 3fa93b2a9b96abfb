//! Analysis layer, what the DCE/RPC and SMB layers share while they read connections, owned by
//! the session stage ([`crate::engine::sessions`]) and lent to each connection in turn:
//! finished calls and the output order ([`Outbox`]), what connections teach each other
//! ([`Knowledge`], then the endpoints in the [`Resolver`]), the calls waiting for an answer
//! naming their interface ([`Unlabelled`]), and the records of the PDUs read, when wanted
//! ([`PduRecords`]). The run's
//! counters ([`crate::report::Tally`]) are lent beside it.

use crate::dcerpc::unlabelled::Unlabelled;
use crate::epm::resolver::Resolver;
use crate::knowledge::Knowledge;
use crate::model::PduRecord;
use crate::outbox::Outbox;
use crate::tcp::Held;

/// PDU records waiting to be taken (they are taken after every frame); beyond this they are
/// dropped.
pub const MAX_PENDING_PDU_RECORDS: usize = 10_000;

/// Bytes the stream framers of all connections hold together: DCE/RPC PDUs and SMB messages
/// waiting for their end, and the room their buffers keep. One framer holds at most one PDU
/// (64 KiB) or one SMB message (1 MiB) and a segment, which 100,000 connections would multiply;
/// past this the framer that grows gives up what it holds, as if a gap had cut it
/// (`limit_framer_bytes`).
pub const MAX_FRAMER_BYTES_TOTAL: usize = 16 * 1024 * 1024;

/// The count of bytes the framers hold, against [`MAX_FRAMER_BYTES_TOTAL`], and the frames
/// their unread bytes came in: a call whose first PDU a framer holds has not begun for the
/// associations, but it sorts at that frame, so the output order stays settled below it
/// ([`FramerBytes::oldest`]).
#[derive(Debug, Default)]
pub struct FramerBytes {
    held: usize,
    given_up: u64,
    /// Frames of the first unread byte of every framer that holds some (a multiset).
    since: std::collections::BTreeMap<u64, u32>,
}

impl FramerBytes {
    /// A framer that held `before` holds `now`; true when all framers together hold more than
    /// [`MAX_FRAMER_BYTES_TOTAL`] bytes and this one has something to give up.
    pub fn update(&mut self, before: Held, now: Held) -> bool {
        self.held = self.held - before.bytes + now.bytes;
        if before.since != now.since {
            if let Some(frame) = before.since
                && let std::collections::btree_map::Entry::Occupied(mut e) = self.since.entry(frame)
            {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
            if let Some(frame) = now.since {
                *self.since.entry(frame).or_default() += 1;
            }
        }
        self.held > MAX_FRAMER_BYTES_TOTAL && now.bytes > 0
    }

    /// The frame of the oldest byte a framer holds unread, if any.
    #[must_use]
    pub fn oldest(&self) -> Option<u64> {
        self.since.keys().next().copied()
    }

    /// A framer gave up what it held.
    pub fn gave_up(&mut self) {
        self.given_up += 1;
    }

    /// Bytes held now.
    #[must_use]
    pub fn held(&self) -> usize {
        self.held
    }

    /// Times a framer gave up what it held.
    #[must_use]
    pub fn given_up(&self) -> u64 {
        self.given_up
    }
}

/// The state shared by every connection of the session stage.
#[derive(Debug, Default)]
pub struct SessionContext {
    /// Finished calls, and how far the output order is settled.
    pub outbox: Outbox,
    /// Endpoints, pipes and DCOM interface pointers learned from other connections, not yet
    /// absorbed.
    pub knowledge: Knowledge,
    /// Endpoints announced by endpoint-mapper and OXID answers, and the connections that used
    /// them.
    pub resolver: Resolver,
    /// Calls of connections whose interface is not known yet, waiting for an answer that
    /// names it.
    pub unlabelled: Unlabelled,
    /// Notes of non-call PDUs, when someone wants them.
    pub pdus: PduRecords,
    /// Bytes the stream framers of all connections hold.
    pub framer_bytes: FramerBytes,
}

/// Notes of non-call PDUs (bind, bind_ack, alter_context, ...), collected only when wanted
/// (the terminal interface's call-flow view).
#[derive(Debug, Default)]
pub struct PduRecords {
    records: Option<Vec<PduRecord>>,
}

impl PduRecords {
    /// Starts collecting records.
    pub fn enable(&mut self) {
        self.records.get_or_insert_with(Vec::new);
    }

    /// True when records are collected.
    #[must_use]
    pub fn wanted(&self) -> bool {
        self.records.is_some()
    }

    /// A PDU, when records are collected and fewer than [`MAX_PENDING_PDU_RECORDS`] wait.
    pub fn push(&mut self, n: PduRecord) {
        if let Some(v) = self.records.as_mut()
            && v.len() < MAX_PENDING_PDU_RECORDS
        {
            v.push(n);
        }
    }

    /// Takes the records collected so far.
    pub fn take(&mut self) -> Vec<PduRecord> {
        self.records
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}
