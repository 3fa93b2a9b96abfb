//! A pcapng writer for `live -w`: one section, one interface (nanosecond timestamps), one
//! Enhanced Packet Block per packet, and an Interface Statistics Block with the capture's
//! counters when the file is closed. The file is flushed about once a second while capturing,
//! so an interrupted session still leaves a readable file up to the last flush.

use std::io::{self, Write};

use crate::source::{LinkType, Timestamp};

/// Section Header Block.
const SHB: u32 = 0x0A0D_0D0A;
/// Interface Description Block.
const IDB: u32 = 1;
/// Interface Statistics Block.
const ISB: u32 = 5;
/// Enhanced Packet Block.
const EPB: u32 = 6;

/// Counters written in the closing statistics block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClosingCounts {
    /// Packets the interface received (`isb_ifrecv`).
    pub received: u64,
    /// Packets the interface dropped (`isb_ifdrop`).
    pub interface_dropped: u64,
    /// Packets the operating system dropped (`isb_osdrop`).
    pub kernel_dropped: u64,
}

/// Writes packets of one interface as pcapng.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: W,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    packets: u64,
}

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
    body.extend_from_slice(value);
    body.resize(body.len().next_multiple_of(4), 0);
}

fn end_of_options(body: &mut Vec<u8>) {
    body.extend_from_slice(&[0; 4]);
}

fn nanos(ts: Timestamp) -> u64 {
    u64::try_from(ts.secs)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(ts.nanos))
}

impl<W: Write> PcapngWriter<W> {
    /// Starts a file: section header and the description of the interface `name` with its
    /// link type and snap length.
    ///
    /// # Errors
    /// Writing fails.
    pub fn new(mut out: W, link_type: LinkType, snaplen: u32, name: &str) -> io::Result<Self> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1A2B_3C4D_u32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let app = format!("rpcscope {}", env!("CARGO_PKG_VERSION"));
        option(&mut shb, 4, app.as_bytes()); // shb_userappl
        end_of_options(&mut shb);
        write_block(&mut out, SHB, &shb)?;

        let mut idb = Vec::new();
        idb.extend_from_slice(&u16::try_from(link_type.0).unwrap_or(0).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&snaplen.to_le_bytes());
        option(&mut idb, 2, name.as_bytes()); // if_name
        option(&mut idb, 9, &[9]); // if_tsresol: nanoseconds
        end_of_options(&mut idb);
        write_block(&mut out, IDB, &idb)?;
        Ok(Self {
            out,
            first_ts: None,
            last_ts: None,
            packets: 0,
        })
    }

    /// Appends one packet.
    ///
    /// # Errors
    /// Writing fails.
    pub fn packet(&mut self, ts: Timestamp, data: &[u8], original_len: u32) -> io::Result<()> {
        let mut head = [0u8; 20];
        let t = nanos(ts);
        head[4..8].copy_from_slice(&u32::try_from(t >> 32).unwrap_or(0).to_le_bytes());
        head[8..12].copy_from_slice(&u32::try_from(t & 0xFFFF_FFFF).unwrap_or(0).to_le_bytes());
        let captured = u32::try_from(data.len()).unwrap_or(u32::MAX);
        head[12..16].copy_from_slice(&captured.to_le_bytes());
        head[16..20].copy_from_slice(&original_len.max(captured).to_le_bytes());
        let padded = data.len().next_multiple_of(4);
        let total = u32::try_from(12 + head.len() + padded).unwrap_or(u32::MAX);
        self.out.write_all(&EPB.to_le_bytes())?;
        self.out.write_all(&total.to_le_bytes())?;
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        self.out.write_all(&[0; 3][..padded - data.len()])?;
        self.out.write_all(&total.to_le_bytes())?;
        self.first_ts.get_or_insert(ts);
        self.last_ts = Some(ts);
        self.packets += 1;
        Ok(())
    }

    /// Packets written.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Pushes buffered packets to the file.
    ///
    /// # Errors
    /// Writing fails.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Ends the file with the interface statistics and flushes it.
    ///
    /// # Errors
    /// Writing fails.
    pub fn close(mut self, counts: ClosingCounts) -> io::Result<W> {
        let last = self.last_ts.unwrap_or_default();
        let mut isb = Vec::new();
        isb.extend_from_slice(&0u32.to_le_bytes()); // interface 0
        let t = nanos(last);
        isb.extend_from_slice(&u32::try_from(t >> 32).unwrap_or(0).to_le_bytes());
        isb.extend_from_slice(&u32::try_from(t & 0xFFFF_FFFF).unwrap_or(0).to_le_bytes());
        if let Some(first) = self.first_ts {
            option(&mut isb, 2, &split_ts(first)); // isb_starttime
            option(&mut isb, 3, &split_ts(last)); // isb_endtime
        }
        option(&mut isb, 4, &counts.received.to_le_bytes()); // isb_ifrecv
        option(&mut isb, 5, &counts.interface_dropped.to_le_bytes()); // isb_ifdrop
        option(&mut isb, 7, &counts.kernel_dropped.to_le_bytes()); // isb_osdrop
        end_of_options(&mut isb);
        write_block(&mut self.out, ISB, &isb)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A timestamp as pcapng's two 32-bit halves (high first), in the interface's resolution.
fn split_ts(ts: Timestamp) -> [u8; 8] {
    let t = nanos(ts);
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&u32::try_from(t >> 32).unwrap_or(0).to_le_bytes());
    b[4..].copy_from_slice(&u32::try_from(t & 0xFFFF_FFFF).unwrap_or(0).to_le_bytes());
    b
}

fn write_block<W: Write>(out: &mut W, block_type: u32, body: &[u8]) -> io::Result<()> {
    let total = u32::try_from(12 + body.len()).unwrap_or(u32::MAX);
    out.write_all(&block_type.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::file::CaptureReader;

    #[test]
    fn written_file_reads_back_with_timestamps_lengths_and_link_type() {
        let mut w = PcapngWriter::new(Vec::new(), LinkType::ETHERNET, 65_535, "lo").unwrap();
        let t1 = Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_789,
        };
        let t2 = Timestamp {
            secs: 1_700_000_001,
            nanos: 5,
        };
        w.packet(t1, &[1, 2, 3, 4, 5], 5).unwrap();
        w.packet(t2, &[9; 8], 100).unwrap();
        assert_eq!(w.packets(), 2);
        let bytes = w
            .close(ClosingCounts {
                received: 7,
                interface_dropped: 1,
                kernel_dropped: 2,
            })
            .unwrap();
        let mut r = CaptureReader::new(bytes.as_slice()).unwrap();
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.number, f.ts, f.data, f.original_len),
            (1, t1, &[1u8, 2, 3, 4, 5][..], 5)
        );
        assert_eq!(f.link_type, LinkType::ETHERNET);
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!((f.ts, f.data.len(), f.original_len), (t2, 8, 100));
        assert!(f.is_truncated());
        assert!(r.next_frame().unwrap().is_none());
    }
}
