//! Network layer: IP fragment reassembly under a cap, for IPv4 (RFC 791) and IPv6 (the
//! Fragment header, RFC 8200 §4.5). Fragments are collected per (source, destination,
//! identification, protocol); a datagram is handed on once every byte up to the last fragment is
//! present. Overlapping fragments keep the bytes that arrived first.
//!
//! Limits, for both versions together: [`MAX_DATAGRAMS_IN_PROGRESS`] datagrams at once (the
//! oldest is evicted), at most [`MAX_DATAGRAM_BYTES`] per datagram, and
//! [`FRAGMENT_TIMEOUT_SECS`] of capture time between a datagram's first and last fragment.
//! Every eviction is counted in [`DefragStats`], per IP version.

use std::net::IpAddr;

use crate::hash::FastMap;
use crate::link::IpFragment;
use crate::source::Timestamp;

/// Datagrams being reassembled at once; beyond this the oldest is dropped and counted.
pub const MAX_DATAGRAMS_IN_PROGRESS: usize = 1024;
/// Largest reassembled datagram payload (the IPv4 maximum, and IPv6's without jumbograms).
pub const MAX_DATAGRAM_BYTES: usize = 65_535;
/// A datagram whose fragments span more capture time than this is dropped and counted.
pub const FRAGMENT_TIMEOUT_SECS: i64 = 30;

/// Counters of the defragmenter per IP version, reported in the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// IPv4 fragments and datagrams.
    pub ipv4: FragmentCounts,
    /// IPv6 fragments and datagrams.
    pub ipv6: FragmentCounts,
}

impl DefragStats {
    fn of(&mut self, address: IpAddr) -> &mut FragmentCounts {
        if address.is_ipv4() {
            &mut self.ipv4
        } else {
            &mut self.ipv6
        }
    }
}

/// What became of the fragments of one IP version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentCounts {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Datagrams dropped because of the limits (count, size or timeout).
    pub dropped: u64,
}

/// A reassembled IP datagram payload.
#[derive(Debug)]
pub struct Datagram {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (for IPv6, the next header the Fragment header named: see
    /// [`crate::link::upper_layer`]).
    pub protocol: u8,
    /// The whole payload.
    pub payload: Vec<u8>,
    /// Frame of the first fragment that arrived.
    pub first_frame: u64,
    /// Capture time of that frame.
    pub first_ts: Timestamp,
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    /// Byte ranges received, kept sorted and merged.
    have: Vec<(usize, usize)>,
    total: Option<usize>,
    first_seen: Timestamp,
    first_frame: u64,
    order: u64,
}

type Key = (IpAddr, IpAddr, u32, u8);

/// The reassembly table.
#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: FastMap<Key, Pending>,
    /// (order, key) of the datagrams as they were started, oldest first, to evict the oldest in
    /// O(1); entries of datagrams since finished or dropped are skipped (and dropped when they
    /// outnumber the datagrams in progress).
    started: std::collections::VecDeque<(u64, Key)>,
    next_order: u64,
    stats: DefragStats,
}

impl Defragmenter {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// The frame of the first fragment of the oldest datagram still being reassembled at `now`
    /// (those that waited longer than [`FRAGMENT_TIMEOUT_SECS`] are dropped and counted): no
    /// datagram completed later can begin before it.
    pub fn oldest_frame(&mut self, now: Timestamp) -> Option<u64> {
        while let Some(&(order, key)) = self.started.front() {
            match self.pending.get(&key) {
                Some(p) if p.order == order => {
                    if now.secs - p.first_seen.secs <= FRAGMENT_TIMEOUT_SECS {
                        return Some(p.first_frame);
                    }
                    self.pending.remove(&key);
                    self.stats.of(key.0).dropped += 1;
                }
                _ => {}
            }
            self.started.pop_front();
        }
        None
    }

    /// Adds a fragment of frame `frame`, captured at `ts`; returns the datagram when it is
    /// complete.
    pub fn add(&mut self, frag: &IpFragment<'_>, frame: u64, ts: Timestamp) -> Option<Datagram> {
        self.stats.of(frag.src).fragments += 1;
        // the rare IPv6 fragment whose start the slicer read as extension headers, joined
        let joined;
        let payload = if frag.lead.is_empty() {
            frag.payload
        } else {
            joined = [frag.lead, frag.payload].concat();
            &joined[..]
        };
        let key = (frag.src, frag.dst, frag.id, frag.protocol);
        let start = frag.offset as usize;
        let end = start + payload.len();
        if end > MAX_DATAGRAM_BYTES {
            self.pending.remove(&key);
            self.stats.of(frag.src).dropped += 1;
            return None;
        }
        if let Some(p) = self.pending.get(&key)
            && ts.secs - p.first_seen.secs > FRAGMENT_TIMEOUT_SECS
        {
            self.pending.remove(&key);
            self.stats.of(frag.src).dropped += 1;
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_DATAGRAMS_IN_PROGRESS {
            while let Some((order, oldest)) = self.started.pop_front() {
                if self.pending.get(&oldest).is_some_and(|p| p.order == order) {
                    self.pending.remove(&oldest);
                    self.stats.of(oldest.0).dropped += 1;
                    break;
                }
            }
        }
        let order = self.next_order;
        self.next_order += 1;
        if !self.pending.contains_key(&key) {
            self.started.push_back((order, key));
            if self.started.len() > 2 * MAX_DATAGRAMS_IN_PROGRESS {
                let pending = &self.pending;
                self.started
                    .retain(|(o, k)| pending.get(k).is_some_and(|p| p.order == *o) || *o == order);
            }
        }
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            data: Vec::new(),
            have: Vec::new(),
            total: None,
            first_seen: ts,
            first_frame: frame,
            order,
        });
        if !frag.more {
            p.total = Some(end);
        }
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        // Copy only the parts not received yet: first arrival wins on overlap.
        let mut cursor = start;
        for &(a, b) in &p.have {
            if b <= cursor || a >= end {
                continue;
            }
            if a > cursor {
                copy(&mut p.data, payload, start, cursor, a);
            }
            cursor = cursor.max(b);
        }
        if cursor < end {
            copy(&mut p.data, payload, start, cursor, end);
        }
        p.have.push((start, end));
        p.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(p.have.len());
        for &(a, b) in &p.have {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        p.have = merged;
        let total = p.total?;
        if p.have.first() == Some(&(0, total))
            || p.have.first().is_some_and(|&(a, b)| a == 0 && b >= total)
        {
            let mut done = self.pending.remove(&key)?;
            done.data.truncate(total);
            self.stats.of(frag.src).reassembled += 1;
            return Some(Datagram {
                src: frag.src,
                dst: frag.dst,
                protocol: frag.protocol,
                payload: done.data,
                first_frame: done.first_frame,
                first_ts: done.first_seen,
            });
        }
        None
    }
}

fn copy(dst: &mut [u8], src: &[u8], src_at: usize, from: usize, to: usize) {
    if let (Some(d), Some(s)) = (dst.get_mut(from..to), src.get(from - src_at..to - src_at)) {
        d.copy_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(offset: u32, more: bool, payload: &[u8]) -> IpFragment<'_> {
        IpFragment {
            src: IpAddr::from([1, 1, 1, 1]),
            dst: IpAddr::from([2, 2, 2, 2]),
            id: 7,
            protocol: 6,
            offset,
            more,
            lead: &[],
            payload,
        }
    }

    #[test]
    fn reassembles_out_of_order_and_overlapping_fragments() {
        let mut d = Defragmenter::new();
        let ts = Timestamp::default();
        assert!(d.add(&frag(16, false, b"QRSTUVWX"), 1, ts).is_none());
        assert!(d.add(&frag(0, true, b"ABCDEFGH"), 1, ts).is_none());
        // overlaps the first fragment: the original bytes stay
        let got = d.add(&frag(8, true, b"IJKLMNOPzz"), 1, ts).unwrap();
        assert_eq!(got.payload, b"ABCDEFGHIJKLMNOPQRSTUVWX");
        assert_eq!(d.stats().ipv4.reassembled, 1);
    }

    #[test]
    fn a_full_table_drops_its_oldest_datagram_first() {
        let mut d = Defragmenter::new();
        let ts = Timestamp::default();
        let with_id = |id: u32, offset: u32, more: bool| IpFragment {
            id,
            ..frag(offset, more, b"ABCDEFGH")
        };
        // one more datagram than the table holds, each with its first fragment only
        for id in 0..=u32::try_from(MAX_DATAGRAMS_IN_PROGRESS).unwrap() {
            assert!(d.add(&with_id(id, 0, true), 1, ts).is_none());
        }
        assert_eq!(d.stats().ipv4.dropped, 1);
        // datagram 0 was dropped: its last fragment alone completes nothing
        assert!(d.add(&with_id(0, 8, false), 1, ts).is_none());
        // which dropped datagram 1, the oldest then; datagram 2 still completes
        assert_eq!(d.stats().ipv4.dropped, 2);
        let got = d.add(&with_id(2, 8, false), 1, ts).unwrap();
        assert_eq!(got.payload, b"ABCDEFGHABCDEFGH");
        // many datagrams started and finished keep the order queue bounded
        for id in 3000..9000u32 {
            d.add(&with_id(id, 0, true), 1, ts);
            d.add(&with_id(id, 8, false), 1, ts);
        }
        assert!(d.started.len() <= 2 * MAX_DATAGRAMS_IN_PROGRESS + 1);
    }

    #[test]
    fn drops_oversized_and_counts() {
        let mut d = Defragmenter::new();
        let big = vec![0u8; 100];
        assert!(
            d.add(&frag(65_528, false, &big), 1, Timestamp::default())
                .is_none()
        );
        assert_eq!(d.stats().ipv4.dropped, 1);
    }

    /// IPv6 fragments with the same identification as IPv4 ones are other datagrams; the
    /// start of a fragment read as extension headers (`lead`) comes before its payload; each
    /// version has its own counts.
    #[test]
    fn ipv6_fragments_are_reassembled_apart_from_ipv4_ones() {
        let mut d = Defragmenter::new();
        let ts = Timestamp::default();
        let v6 =
            |offset: u32, more: bool, lead: &'static [u8], payload: &'static [u8]| IpFragment {
                src: "2001:db8::1".parse().unwrap(),
                dst: "2001:db8::2".parse().unwrap(),
                lead,
                ..frag(offset, more, payload)
            };
        assert!(d.add(&v6(8, false, b"IJ", b"KLMNOP"), 1, ts).is_none());
        assert!(d.add(&frag(0, true, b"abcdefgh"), 2, ts).is_none());
        let got = d.add(&v6(0, true, b"", b"ABCDEFGH"), 3, ts).unwrap();
        assert_eq!(got.payload, b"ABCDEFGHIJKLMNOP");
        assert_eq!(got.src.to_string(), "2001:db8::1");
        assert_eq!(got.first_frame, 1);
        let s = d.stats();
        assert_eq!((s.ipv6.fragments, s.ipv6.reassembled), (2, 1));
        assert_eq!((s.ipv4.fragments, s.ipv4.reassembled), (1, 0));
    }
}
