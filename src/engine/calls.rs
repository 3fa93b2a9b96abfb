//! Call stage of the engine, after the session stage ([`super::sessions`]): what is done to
//! each call the session stage released that needs nothing the session stage owns. It reads
//! the Netlogon calls left unread ([`crate::netlogon::Unread`]), applies the filter, and
//! counts the calls for the summary ([`crate::summary::SummaryBuilder`]), which it builds at
//! the end from the counters the other stages hand over. On one thread [`super::Engine`] runs
//! it as it hands the calls over; [`crate::pipeline`] runs it on the thread that receives
//! them, so that this work leaves the session stage's thread.

use std::sync::Arc;

use super::Finished;
use super::sessions::SessionsEnd;
use crate::filter::Filter;
use crate::model::Call;
use crate::summary::SummaryBuilder;

/// The call stage: the filter and the summary's counts of calls.
#[derive(Debug, Default)]
pub struct CallStage {
    filter: Option<Arc<Filter>>,
    summary: SummaryBuilder,
}

impl CallStage {
    /// Keeps only the calls `filter` chooses (the summary counts only those).
    pub(super) fn set_filter(&mut self, filter: Arc<Filter>) {
        self.filter = Some(filter);
    }

    /// Records how many secrets the run was given, for the summary.
    pub(super) fn keys_loaded(&mut self, n: usize) {
        self.summary.keys_loaded(n);
    }

    /// Finishes the calls the session stage released, in the order they ended: reads what was
    /// left unread, drops those the filter does not choose, counts the others.
    pub fn pass(&mut self, calls: &mut Vec<Call>) {
        for c in calls.iter_mut() {
            if let Some(unread) = c.netlogon_unread.take() {
                c.netlogon = unread.read().map(Box::new);
            }
        }
        if let Some(f) = &self.filter {
            calls.retain(|c| f.matches(c));
        }
        for c in calls.iter() {
            self.summary.add(c);
        }
    }

    /// Ends the run: passes the session stage's last calls and builds the summary.
    #[must_use]
    pub fn finish(mut self, end: SessionsEnd) -> Finished {
        let SessionsEnd {
            mut calls,
            endpoints,
            totals,
            flows,
            reassembly,
            defrag,
            tally,
            resolution,
            connectionless,
        } = end;
        self.pass(&mut calls);
        let mut summary = self
            .summary
            .finish(&totals, flows, reassembly, defrag, tally, resolution);
        summary.connectionless = connectionless;
        Finished {
            calls,
            summary,
            endpoints,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::Analysis;

    #[test]
    fn no_call_leaves_the_engine_with_its_netlogon_reading_left_undone() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/captures/real/57-dc-netlogon-lsarpc.pcap"
        );
        let bytes = std::fs::read(path).expect("a shipped capture");
        for threads in [1, 2] {
            let (calls, run) = Analysis::from_bytes(&bytes)
                .threads(threads)
                .calls()
                .expect("a capture");
            let read = calls.iter().filter(|c| c.netlogon.is_some()).count();
            assert!(read >= 11, "{threads} threads: {read} calls read");
            assert!(calls.iter().all(|c| c.netlogon_unread.is_none()));
            // the summary counts what the call stage read
            assert!(!run.summary.netlogon.zerologon.is_empty());
        }
    }
}
