//! Run-wide tallies shared by every layer: counters by name and anomalies (gaps, resyncs,
//! malformed PDUs, limits reached), each with a few example frames.
//!
//! Limit: [`MAX_EXAMPLES_PER_ANOMALY`] examples are kept per anomaly kind; the count keeps going.

use std::collections::BTreeMap;

/// Examples kept per anomaly kind.
pub const MAX_EXAMPLES_PER_ANOMALY: usize = 5;

/// One example of an anomaly.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AnomalyExample {
    /// Frame where it was noticed (0 when no frame applies, e.g. at the end of the capture).
    pub frame: u64,
    /// What happened (text outputs sanitise it before printing).
    pub detail: String,
}

/// Counts and examples of one anomaly kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AnomalyEntry {
    /// How many times it happened.
    pub count: u64,
    /// The first few occurrences.
    pub examples: Vec<AnomalyExample>,
}

/// Counters and anomalies of a run.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// DCE/RPC PDUs by type name.
    pub pdus: BTreeMap<String, u64>,
    /// Named counters (`big_endian_pdus`, `contexts_rejected`, ...).
    pub counters: BTreeMap<&'static str, u64>,
    /// Refused presentation contexts and binds, by `result/reason` name.
    pub rejections: BTreeMap<String, u64>,
    /// Anomalies by kind.
    pub anomalies: BTreeMap<&'static str, AnomalyEntry>,
}

impl Tally {
    /// Counts a PDU of the type named `ptype` (no allocation once the type was seen).
    pub fn pdu(&mut self, ptype: &str) {
        match self.pdus.get_mut(ptype) {
            Some(n) => *n += 1,
            None => {
                self.pdus.insert(ptype.to_string(), 1);
            }
        }
    }

    /// Adds one to a named counter.
    pub fn count(&mut self, name: &'static str) {
        self.add(name, 1);
    }

    /// Adds `n` to a named counter.
    pub fn add(&mut self, name: &'static str, n: u64) {
        if n > 0 {
            *self.counters.entry(name).or_default() += n;
        }
    }

    /// Records an anomaly; `detail` is built only while examples are still being kept.
    pub fn anomaly(&mut self, kind: &'static str, frame: u64, detail: impl FnOnce() -> String) {
        let e = self.anomalies.entry(kind).or_default();
        e.count += 1;
        if e.examples.len() < MAX_EXAMPLES_PER_ANOMALY {
            e.examples.push(AnomalyExample {
                frame,
                detail: detail(),
            });
        }
    }

    /// Adds the counters and anomalies of another tally (examples up to the limit).
    pub fn absorb(&mut self, other: Tally) {
        for (k, v) in other.pdus {
            *self.pdus.entry(k).or_default() += v;
        }
        for (k, v) in other.counters {
            self.add(k, v);
        }
        for (k, v) in other.rejections {
            *self.rejections.entry(k).or_default() += v;
        }
        for (kind, entry) in other.anomalies {
            let e = self.anomalies.entry(kind).or_default();
            e.count += entry.count;
            let room = MAX_EXAMPLES_PER_ANOMALY.saturating_sub(e.examples.len());
            e.examples.extend(entry.examples.into_iter().take(room));
        }
    }
}
