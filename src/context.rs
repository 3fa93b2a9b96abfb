//! Analysis layer, what the DCE/RPC and SMB layers share while they read connections, owned by
//! the session stage ([`crate::engine::sessions`]) and lent to each connection in turn:
//! finished calls and the output order ([`Outbox`]), what connections teach each other
//! ([`Knowledge`]), and notes of non-call PDUs for the call-flow view ([`PduNotes`]). The run's
//! counters ([`crate::report::Tally`]) are lent beside it.

use crate::knowledge::Knowledge;
use crate::model::PduNote;
use crate::outbox::Outbox;

/// PDU notes waiting to be taken (they are taken after every frame); beyond this they are
/// dropped.
pub const MAX_PENDING_NOTES: usize = 10_000;

/// The state shared by every connection of the session stage.
#[derive(Debug, Default)]
pub struct SessionContext {
    /// Finished calls, and how far the output order is settled.
    pub outbox: Outbox,
    /// Endpoints, pipes and DCOM interface pointers learned from other connections.
    pub knowledge: Knowledge,
    /// Notes of non-call PDUs, when someone wants them.
    pub notes: PduNotes,
}

/// Notes of non-call PDUs (bind, bind_ack, alter_context, ...), collected only when wanted
/// (the terminal interface's call-flow view).
#[derive(Debug, Default)]
pub struct PduNotes {
    notes: Option<Vec<PduNote>>,
}

impl PduNotes {
    /// Starts collecting notes.
    pub fn enable(&mut self) {
        self.notes.get_or_insert_with(Vec::new);
    }

    /// True when notes are collected.
    #[must_use]
    pub fn wanted(&self) -> bool {
        self.notes.is_some()
    }

    /// A non-call PDU, when notes are collected and fewer than [`MAX_PENDING_NOTES`] wait.
    pub fn push(&mut self, n: PduNote) {
        if let Some(v) = self.notes.as_mut()
            && v.len() < MAX_PENDING_NOTES
        {
            v.push(n);
        }
    }

    /// Takes the notes collected so far.
    pub fn take(&mut self) -> Vec<PduNote> {
        self.notes.as_mut().map(std::mem::take).unwrap_or_default()
    }
}
