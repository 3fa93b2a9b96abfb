//! Streaming reader for classic pcap (both byte orders, micro- and nanosecond resolution, and the
//! "modified" 24-byte record variant), pcapng (several sections, several interfaces with their
//! own link types, `if_tsresol` and `if_tsoffset`) and Network Monitor 2.x (its layout in
//! [`super::netmon`]).
//!
//! Input is any [`Read`] (a file or stdin); one record is held in memory at a time, so memory does
//! not grow with the capture. Limit: a packet may hold at most [`MAX_PACKET_BYTES`] captured bytes;
//! a larger length field is reported as a malformed capture. Blocks that carry no packet are
//! skipped without being buffered.

use std::io::{self, BufRead, BufReader, Read};

use super::netmon::{self, OffsetHash};
use super::{Frame, LinkType, Timestamp};

/// Largest captured length accepted for one packet (16 MiB). Real snap lengths are at most
/// 262,144 bytes; anything larger is a corrupt or hostile length field.
pub const MAX_PACKET_BYTES: usize = 16 * 1024 * 1024;

/// Why a capture could not be read. Each variant renders as a one-line reason.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The input does not start with a pcap, pcapng or NetMon magic number.
    #[error("not a pcap, pcapng or NetMon capture (starts with {0})")]
    NotACapture(String),
    /// The input ended in the middle of a header or record.
    #[error("capture truncated: {what} at byte {offset} is cut short")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset in the input where that item starts.
        offset: u64,
    },
    /// A length or structure in the file format is impossible.
    #[error("malformed capture at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset in the input of the offending item.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Which container the reader found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    PcapNg,
    /// Network Monitor 2.x.
    NetMon,
}

#[derive(Clone, Copy, Debug)]
struct PcapState {
    big_endian: bool,
    units_per_sec: u64,
    link_type: LinkType,
    record_header_len: usize,
}

#[derive(Clone, Copy, Debug)]
struct NgInterface {
    link_type: LinkType,
    snaplen: u32,
    units_per_sec: u64,
    offset_secs: i64,
}

#[derive(Debug)]
enum State {
    NetMon {
        header: netmon::Header,
        /// The offsets of the frames read, to compare with the frame table.
        read: OffsetHash,
    },
    Pcap(PcapState),
    PcapNg {
        big_endian: bool,
        interfaces: Vec<NgInterface>,
    },
}

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_OPB: u32 = 2;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Interfaces per pcapng section kept in the table; more is reported as malformed.
pub const MAX_INTERFACES: usize = 4096;

/// A streaming capture reader. Call [`CaptureReader::next_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct CaptureReader<R> {
    input: BufReader<R>,
    state: State,
    offset: u64,
    frames: u64,
    last_ts: Timestamp,
    buf: Vec<u8>,
    /// Bytes of the read buffer the last frame was lent from, consumed at the next read.
    lent: usize,
}

/// The read buffer: a pcap record wholly inside it is handed out without a copy.
pub const READ_BUFFER_BYTES: usize = 1 << 20;

fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and recognises the format.
    ///
    /// # Errors
    /// [`SourceError::NotACapture`] for an unknown magic number, [`SourceError::Truncated`] for an
    /// input shorter than a header, or an I/O error.
    pub fn new(input: R) -> Result<Self, SourceError> {
        let mut input = BufReader::with_capacity(READ_BUFFER_BYTES, input);
        let mut magic = [0u8; 4];
        let n = read_fully(&mut input, &mut magic)?;
        if n == 0 {
            return Err(SourceError::NotACapture("an empty input".into()));
        }
        if n < 4 {
            return Err(SourceError::Truncated {
                what: "file header",
                offset: 0,
            });
        }
        let mut reader = Self {
            input,
            state: State::PcapNg {
                big_endian: false,
                interfaces: Vec::new(),
            },
            offset: 4,
            frames: 0,
            last_ts: Timestamp::default(),
            buf: Vec::new(),
            lent: 0,
        };
        let (units, big_endian, record_header_len) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (1_000_000, false, 16),
            [0xa1, 0xb2, 0xc3, 0xd4] => (1_000_000, true, 16),
            [0x4d, 0x3c, 0xb2, 0xa1] => (1_000_000_000, false, 16),
            [0xa1, 0xb2, 0x3c, 0x4d] => (1_000_000_000, true, 16),
            [0x34, 0xcd, 0xb2, 0xa1] => (1_000_000, false, 24),
            [0xa1, 0xb2, 0xcd, 0x34] => (1_000_000, true, 24),
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                reader.read_section_header(0)?;
                return Ok(reader);
            }
            m if m == netmon::MAGIC || m == netmon::MAGIC_1X => {
                reader.read_netmon_header(m)?;
                return Ok(reader);
            }
            other => {
                return Err(SourceError::NotACapture(format!(
                    "bytes {:02x} {:02x} {:02x} {:02x}",
                    other[0], other[1], other[2], other[3]
                )));
            }
        };
        let mut rest = [0u8; 20];
        if read_fully(&mut reader.input, &mut rest)? < rest.len() {
            return Err(SourceError::Truncated {
                what: "pcap file header",
                offset: 0,
            });
        }
        reader.offset += 20;
        let link = u32_at(&rest, 16, big_endian) & 0xFFFF;
        reader.state = State::Pcap(PcapState {
            big_endian,
            units_per_sec: units,
            link_type: LinkType(link),
            record_header_len,
        });
        Ok(reader)
    }

    /// The container format found in the header.
    #[must_use]
    pub fn format(&self) -> CaptureFormat {
        match self.state {
            State::Pcap(_) => CaptureFormat::Pcap,
            State::PcapNg { .. } => CaptureFormat::PcapNg,
            State::NetMon { .. } => CaptureFormat::NetMon,
        }
    }

    /// Returns the next packet, `Ok(None)` at a clean end of input.
    ///
    /// # Errors
    /// [`SourceError::Truncated`] when the input ends inside a record, [`SourceError::Malformed`]
    /// for impossible lengths, or an I/O error. After an error the reader should not be used.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        self.input.consume(std::mem::take(&mut self.lent));
        match self.state {
            State::Pcap(p) => self.next_pcap(p),
            State::PcapNg { .. } => self.next_pcapng(),
            State::NetMon { header, read } => self.next_netmon(header, read),
        }
    }

    /// Reads the rest of a NetMon header whose magic was consumed, up to the first frame.
    fn read_netmon_header(&mut self, magic: [u8; 4]) -> Result<(), SourceError> {
        let mut fields = [0u8; netmon::HEADER_FIELDS_BYTES];
        fields[..4].copy_from_slice(&magic);
        if read_fully(&mut self.input, &mut fields[4..])? < fields.len() - 4 {
            return Err(SourceError::Truncated {
                what: "NetMon file header",
                offset: 0,
            });
        }
        let header = netmon::Header::parse(&fields)
            .map_err(|reason| SourceError::Malformed { offset: 0, reason })?;
        self.offset = fields.len() as u64;
        self.skip(netmon::HEADER_BYTES - self.offset, 0, "NetMon file header")?;
        self.state = State::NetMon {
            header,
            read: OffsetHash::default(),
        };
        Ok(())
    }

    fn next_netmon(
        &mut self,
        header: netmon::Header,
        mut read: OffsetHash,
    ) -> Result<Option<Frame<'_>>, SourceError> {
        let start = self.offset;
        if start >= u64::from(header.frame_table_offset) {
            self.check_frame_table(header, read)?;
            // read again, the end stays the end
            self.state = State::NetMon {
                header: netmon::Header {
                    frame_table_offset: u32::try_from(self.offset).unwrap_or(u32::MAX),
                    frame_table_len: 0,
                    ..header
                },
                read: OffsetHash::default(),
            };
            return Ok(None);
        }
        let mut record = [0u8; netmon::RECORD_HEADER_BYTES];
        if read_fully(&mut self.input, &mut record)? < record.len() {
            return Err(SourceError::Truncated {
                what: "NetMon frame",
                offset: start,
            });
        }
        let (caplen, original_len) = netmon::lengths(&record);
        let caplen = caplen as usize;
        if caplen > MAX_PACKET_BYTES {
            return Err(SourceError::Malformed {
                offset: start,
                reason: format!(
                    "NetMon frame claims {caplen} captured bytes (limit {MAX_PACKET_BYTES})"
                ),
            });
        }
        let trailer_len = header.trailer_len();
        self.buf.resize(caplen + trailer_len, 0);
        if read_fully(&mut self.input, &mut self.buf)? < self.buf.len() {
            return Err(SourceError::Truncated {
                what: "NetMon frame",
                offset: start,
            });
        }
        self.offset += (record.len() + self.buf.len()) as u64;
        read.add(start);
        self.state = State::NetMon { header, read };
        self.frames += 1;
        let (ts, network) = header.frame(&record, &self.buf[caplen..]);
        self.last_ts = ts;
        Ok(Some(Frame {
            number: self.frames,
            ts,
            link_type: netmon::link_type(network),
            data: &self.buf[..caplen],
            original_len,
        }))
    }

    /// At the frame table: it must list the frames read, in their order.
    fn check_frame_table(
        &mut self,
        header: netmon::Header,
        read: OffsetHash,
    ) -> Result<(), SourceError> {
        let start = self.offset;
        if start != u64::from(header.frame_table_offset) {
            return Err(SourceError::Malformed {
                offset: start,
                reason: format!(
                    "the last NetMon frame runs into the frame table at byte {}",
                    header.frame_table_offset
                ),
            });
        }
        let mut listed = OffsetHash::default();
        let mut entry = [0u8; 4];
        for _ in 0..header.frame_table_len / 4 {
            if read_fully(&mut self.input, &mut entry)? < entry.len() {
                return Err(SourceError::Truncated {
                    what: "NetMon frame table",
                    offset: start,
                });
            }
            listed.add(u64::from(u32::from_le_bytes(entry)));
        }
        self.offset += u64::from(header.frame_table_len);
        if listed != read {
            return Err(SourceError::Malformed {
                offset: start,
                reason: "the NetMon frame table lists frames other than those stored one after \
                         another before it (rpcscope reads such captures in file order)"
                    .into(),
            });
        }
        Ok(())
    }

    fn next_pcap(&mut self, p: PcapState) -> Result<Option<Frame<'_>>, SourceError> {
        let start = self.offset;
        let header_len = p.record_header_len;
        // A record wholly in the read buffer is lent from it.
        let buffered = self.input.fill_buf()?;
        let whole = buffered.get(..header_len).and_then(|hdr| {
            let caplen = u32_at(hdr, 8, p.big_endian) as usize;
            (caplen <= MAX_PACKET_BYTES && buffered.len() >= header_len + caplen)
                .then(|| (caplen, record_times(p, hdr, caplen)))
        });
        if let Some((caplen, (ts, original_len))) = whole {
            self.lent = header_len + caplen;
            self.offset += self.lent as u64;
            self.frames += 1;
            self.last_ts = ts;
            let data = self
                .input
                .buffer()
                .get(header_len..self.lent)
                .unwrap_or(&[]);
            return Ok(Some(Frame {
                number: self.frames,
                ts,
                link_type: p.link_type,
                data,
                original_len,
            }));
        }
        let mut hdr = [0u8; 24];
        let hdr = &mut hdr[..header_len];
        let n = read_fully(&mut self.input, hdr)?;
        if n == 0 {
            return Ok(None);
        }
        if n < hdr.len() {
            return Err(SourceError::Truncated {
                what: "packet record header",
                offset: start,
            });
        }
        let caplen = u32_at(hdr, 8, p.big_endian) as usize;
        if caplen > MAX_PACKET_BYTES {
            return Err(SourceError::Malformed {
                offset: start,
                reason: format!(
                    "packet record claims {caplen} captured bytes (limit {MAX_PACKET_BYTES})"
                ),
            });
        }
        self.offset += hdr.len() as u64;
        self.buf.resize(caplen, 0);
        if read_fully(&mut self.input, &mut self.buf)? < caplen {
            return Err(SourceError::Truncated {
                what: "packet record",
                offset: start,
            });
        }
        self.offset += caplen as u64;
        self.frames += 1;
        let (ts, original_len) = record_times(p, hdr, caplen);
        self.last_ts = ts;
        Ok(Some(Frame {
            number: self.frames,
            ts,
            link_type: p.link_type,
            data: &self.buf,
            original_len,
        }))
    }

    /// Reads the rest of a section header block whose 4-byte type was already consumed.
    fn read_section_header(&mut self, start: u64) -> Result<(), SourceError> {
        let mut head = [0u8; 8];
        if read_fully(&mut self.input, &mut head)? < 8 {
            return Err(SourceError::Truncated {
                what: "pcapng section header",
                offset: start,
            });
        }
        self.offset += 8;
        let big_endian = match u32_at(&head, 4, false) {
            PCAPNG_BYTE_ORDER_MAGIC => false,
            m if m.swap_bytes() == PCAPNG_BYTE_ORDER_MAGIC => true,
            _ => {
                return Err(SourceError::Malformed {
                    offset: start,
                    reason: "pcapng section header has no byte-order magic".into(),
                });
            }
        };
        let total = u64::from(u32_at(&head, 0, big_endian));
        if total < 28 || total % 4 != 0 {
            return Err(SourceError::Malformed {
                offset: start,
                reason: format!("pcapng section header length {total}"),
            });
        }
        self.skip(total - 12, start, "pcapng section header")?;
        self.state = State::PcapNg {
            big_endian,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    fn skip(&mut self, len: u64, start: u64, what: &'static str) -> Result<(), SourceError> {
        let copied = io::copy(&mut (&mut self.input).take(len), &mut io::sink())?;
        if copied < len {
            return Err(SourceError::Truncated {
                what,
                offset: start,
            });
        }
        self.offset += len;
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        loop {
            let start = self.offset;
            let mut head = [0u8; 8];
            let n = read_fully(&mut self.input, &mut head[..4])?;
            if n == 0 {
                return Ok(None);
            }
            if n < 4 {
                return Err(SourceError::Truncated {
                    what: "pcapng block header",
                    offset: start,
                });
            }
            self.offset += 4;
            if u32_at(&head, 0, false) == PCAPNG_SHB {
                self.read_section_header(start)?;
                continue;
            }
            if read_fully(&mut self.input, &mut head[4..])? < 4 {
                return Err(SourceError::Truncated {
                    what: "pcapng block header",
                    offset: start,
                });
            }
            self.offset += 4;
            let State::PcapNg { big_endian, .. } = self.state else {
                return Ok(None);
            };
            let block_type = u32_at(&head, 0, big_endian);
            let total = u64::from(u32_at(&head, 4, big_endian));
            if total < 12 || total % 4 != 0 {
                return Err(SourceError::Malformed {
                    offset: start,
                    reason: format!("pcapng block of type {block_type} has length {total}"),
                });
            }
            let body_len = total - 8;
            if !matches!(
                block_type,
                PCAPNG_IDB | PCAPNG_EPB | PCAPNG_SPB | PCAPNG_OPB
            ) {
                self.skip(body_len, start, "pcapng block")?;
                continue;
            }
            if body_len > (MAX_PACKET_BYTES + 65_536) as u64 {
                return Err(SourceError::Malformed {
                    offset: start,
                    reason: format!("pcapng block length {total} exceeds the packet limit"),
                });
            }
            let body_len = usize::try_from(body_len).unwrap_or(0);
            self.buf.resize(body_len, 0);
            if read_fully(&mut self.input, &mut self.buf)? < body_len {
                return Err(SourceError::Truncated {
                    what: "pcapng block",
                    offset: start,
                });
            }
            self.offset += body_len as u64;
            // The body ends with the repeated total length; it is not checked beyond its presence.
            let body_end = body_len.saturating_sub(4);
            if block_type == PCAPNG_IDB {
                self.add_interface(start, big_endian, body_end)?;
                continue;
            }
            if let Some((iface, ts_units, data_at, caplen, origlen)) =
                self.packet_fields(block_type, big_endian, body_end)
            {
                let Some(data) = self.buf.get(data_at..data_at + caplen) else {
                    return Err(SourceError::Malformed {
                        offset: start,
                        reason: format!("packet block claims {caplen} bytes beyond its end"),
                    });
                };
                let info = match &self.state {
                    State::PcapNg { interfaces, .. } => interfaces.get(iface).copied(),
                    State::Pcap(_) | State::NetMon { .. } => None,
                };
                let (link_type, ts) = match (info, ts_units) {
                    (Some(i), Some(units)) => (
                        i.link_type,
                        Timestamp::from_units(units, i.units_per_sec).offset_secs(i.offset_secs),
                    ),
                    (Some(i), None) => (i.link_type, self.last_ts),
                    (None, _) => (LinkType(u32::MAX), self.last_ts),
                };
                self.frames += 1;
                self.last_ts = ts;
                return Ok(Some(Frame {
                    number: self.frames,
                    ts,
                    link_type,
                    data,
                    original_len: origlen.max(u32::try_from(caplen).unwrap_or(u32::MAX)),
                }));
            }
            return Err(SourceError::Malformed {
                offset: start,
                reason: format!("packet block of type {block_type} is too short"),
            });
        }
    }

    /// Returns (interface index, timestamp units, data offset, captured length, original length).
    fn packet_fields(
        &self,
        block_type: u32,
        be: bool,
        body_end: usize,
    ) -> Option<(usize, Option<u64>, usize, usize, u32)> {
        let b = self.buf.get(..body_end)?;
        match block_type {
            PCAPNG_EPB => {
                if b.len() < 20 {
                    return None;
                }
                let iface = u32_at(b, 0, be) as usize;
                let ts = (u64::from(u32_at(b, 4, be)) << 32) | u64::from(u32_at(b, 8, be));
                let caplen = u32_at(b, 12, be) as usize;
                Some((iface, Some(ts), 20, caplen, u32_at(b, 16, be)))
            }
            PCAPNG_OPB => {
                if b.len() < 20 {
                    return None;
                }
                let iface = usize::from(u16_at(b, 0, be));
                let ts = (u64::from(u32_at(b, 4, be)) << 32) | u64::from(u32_at(b, 8, be));
                let caplen = u32_at(b, 12, be) as usize;
                Some((iface, Some(ts), 20, caplen, u32_at(b, 16, be)))
            }
            PCAPNG_SPB => {
                if b.len() < 4 {
                    return None;
                }
                let origlen = u32_at(b, 0, be);
                let snaplen = match &self.state {
                    State::PcapNg { interfaces, .. } => {
                        interfaces.first().map_or(u32::MAX, |i| i.snaplen)
                    }
                    State::Pcap(_) | State::NetMon { .. } => u32::MAX,
                };
                let snaplen = if snaplen == 0 { u32::MAX } else { snaplen };
                let caplen = (origlen.min(snaplen) as usize).min(b.len() - 4);
                Some((0, None, 4, caplen, origlen))
            }
            _ => None,
        }
    }

    fn add_interface(&mut self, start: u64, be: bool, body_end: usize) -> Result<(), SourceError> {
        let Some(b) = self.buf.get(..body_end) else {
            return Ok(());
        };
        if b.len() < 8 {
            return Err(SourceError::Malformed {
                offset: start,
                reason: "interface description block is too short".into(),
            });
        }
        let mut iface = NgInterface {
            link_type: LinkType(u32::from(u16_at(b, 0, be))),
            snaplen: u32_at(b, 4, be),
            units_per_sec: 1_000_000,
            offset_secs: 0,
        };
        let mut at = 8;
        while at + 4 <= b.len() {
            let code = u16_at(b, at, be);
            let len = usize::from(u16_at(b, at + 2, be));
            let value = b.get(at + 4..at + 4 + len).unwrap_or(&[]);
            match code {
                0 => break,
                9 => {
                    if let Some(&v) = value.first() {
                        let exp = u32::from(v & 0x7f);
                        iface.units_per_sec = if v & 0x80 == 0 {
                            10u64.checked_pow(exp).unwrap_or(1_000_000_000)
                        } else {
                            2u64.checked_pow(exp).unwrap_or(1 << 30)
                        };
                    }
                }
                14 if value.len() == 8 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(value);
                    iface.offset_secs = if be {
                        i64::from_be_bytes(a)
                    } else {
                        i64::from_le_bytes(a)
                    };
                }
                _ => {}
            }
            at += 4 + len.div_ceil(4) * 4;
        }
        if let State::PcapNg { interfaces, .. } = &mut self.state {
            if interfaces.len() >= MAX_INTERFACES {
                return Err(SourceError::Malformed {
                    offset: start,
                    reason: format!("more than {MAX_INTERFACES} interfaces in one section"),
                });
            }
            interfaces.push(iface);
        }
        Ok(())
    }
}

/// The time of a pcap record and its original length (at least what was captured).
fn record_times(p: PcapState, hdr: &[u8], caplen: usize) -> (Timestamp, u32) {
    let be = p.big_endian;
    let secs = u32_at(hdr, 0, be);
    let frac = u32_at(hdr, 4, be);
    let origlen = u32_at(hdr, 12, be);
    let frac_nanos = if p.units_per_sec == 1_000_000 {
        u64::from(frac) * 1000
    } else {
        u64::from(frac)
    };
    let ts = Timestamp {
        secs: i64::from(secs) + i64::try_from(frac_nanos / 1_000_000_000).unwrap_or(0),
        nanos: u32::try_from(frac_nanos % 1_000_000_000).unwrap_or(0),
    };
    (ts, origlen.max(u32::try_from(caplen).unwrap_or(u32::MAX)))
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_fully<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(magic: [u8; 4], be: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = magic.to_vec();
        out.extend(w16(2));
        out.extend(w16(4));
        out.extend(w32(0));
        out.extend(w32(0));
        out.extend(w32(65535));
        out.extend(w32(1));
        for (s, f, d) in records {
            out.extend(w32(*s));
            out.extend(w32(*f));
            out.extend(w32(d.len() as u32));
            out.extend(w32(d.len() as u32 + 3));
            out.extend(*d);
        }
        out
    }

    #[test]
    fn reads_pcap_in_both_byte_orders_and_resolutions() {
        let cases = [
            ([0xd4, 0xc3, 0xb2, 0xa1], false, 500_000_000),
            ([0xa1, 0xb2, 0xc3, 0xd4], true, 500_000_000),
            ([0x4d, 0x3c, 0xb2, 0xa1], false, 500_000),
            ([0xa1, 0xb2, 0x3c, 0x4d], true, 500_000),
        ];
        for (magic, be, nanos) in cases {
            let bytes = pcap(magic, be, &[(10, 500_000, b"abc"), (11, 0, b"de")]);
            let mut r = CaptureReader::new(&bytes[..]).unwrap();
            assert_eq!(r.format(), CaptureFormat::Pcap);
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!((f.number, f.ts.secs, f.ts.nanos), (1, 10, nanos));
            assert_eq!(f.data, b"abc");
            assert!(f.is_truncated());
            assert_eq!(f.link_type, LinkType::ETHERNET);
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!((f.number, f.data), (2, &b"de"[..]));
            assert!(r.next_frame().unwrap().is_none());
        }
    }

    #[test]
    fn records_across_and_beyond_the_read_buffer_are_read_whole() {
        // 9,000-byte records: one straddles each 1 MiB buffer boundary; then one longer than
        // the buffer
        let bodies: Vec<Vec<u8>> = (0..300u32)
            .map(|i| vec![(i % 251) as u8; 9_000])
            .chain(std::iter::once(vec![7u8; READ_BUFFER_BYTES + 5]))
            .collect();
        let records: Vec<(u32, u32, &[u8])> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (i as u32, 0, b.as_slice()))
            .collect();
        let file = pcap([0xd4, 0xc3, 0xb2, 0xa1], false, &records);
        let mut r = CaptureReader::new(&file[..]).unwrap();
        for (i, body) in bodies.iter().enumerate() {
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!((f.number, f.ts.secs), (i as u64 + 1, i as i64));
            assert!(f.data == body.as_slice(), "frame {} differs", i + 1);
            assert_eq!(f.original_len as usize, body.len() + 3);
        }
        assert!(r.next_frame().unwrap().is_none());
    }

    /// A NetMon 2.0 capture of `frames` (Ethernet, 1 ms apart from 2026-12-07T00:00:00Z).
    fn netmon(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; 128];
        let mut table = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            table.push(out.len() as u32);
            out.extend((i as u64 * 1000).to_le_bytes());
            out.extend((f.len() as u32 + 4).to_le_bytes());
            out.extend((f.len() as u32).to_le_bytes());
            out.extend(*f);
        }
        let at = out.len() as u32;
        for t in &table {
            out.extend(t.to_le_bytes());
        }
        out[..6].copy_from_slice(b"GMBU\x00\x02");
        out[6] = 1;
        for (i, v) in [2026u16, 12, 1, 7, 0, 0, 0, 0].iter().enumerate() {
            out[8 + 2 * i..10 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        out[24..28].copy_from_slice(&at.to_le_bytes());
        out[28..32].copy_from_slice(&(table.len() as u32 * 4).to_le_bytes());
        out
    }

    #[test]
    fn reads_netmon_frames_in_order_and_checks_the_frame_table() {
        let bytes = netmon(&[b"first", b"second frame"]);
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        assert_eq!(r.format(), CaptureFormat::NetMon);
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!((f.number, f.data, f.original_len), (1, &b"first"[..], 9));
        assert_eq!(f.link_type, LinkType::ETHERNET);
        assert_eq!(f.ts.rfc3339_micros(), "2026-12-07T00:00:00.000000Z");
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!((f.number, f.data), (2, &b"second frame"[..]));
        assert_eq!(f.ts.rfc3339_micros(), "2026-12-07T00:00:00.001000Z");
        assert!(r.next_frame().unwrap().is_none());
        assert!(r.next_frame().unwrap().is_none(), "the end stays the end");

        let cut = &bytes[..bytes.len() - 20];
        let mut r = CaptureReader::new(cut).unwrap();
        r.next_frame().unwrap();
        assert!(matches!(r.next_frame(), Err(SourceError::Truncated { .. })));
        let mut hostile = bytes.clone();
        hostile[128 + 12..128 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = CaptureReader::new(&hostile[..]).unwrap();
        assert!(matches!(r.next_frame(), Err(SourceError::Malformed { .. })));
        let e = CaptureReader::new(&b"RTSS\x00\x01"[..]).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn reports_truncated_record_and_garbage() {
        let mut bytes = pcap([0xd4, 0xc3, 0xb2, 0xa1], false, &[(1, 0, b"abcdef")]);
        bytes.truncate(bytes.len() - 2);
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        let err = r.next_frame().unwrap_err();
        assert!(
            matches!(err, SourceError::Truncated { offset: 24, .. }),
            "{err}"
        );
        let err = CaptureReader::new(&b"hello world, not a capture"[..]).unwrap_err();
        assert!(matches!(err, SourceError::NotACapture(_)), "{err}");
        assert!(matches!(
            CaptureReader::new(&b""[..]).unwrap_err(),
            SourceError::NotACapture(_)
        ));
    }

    #[test]
    fn rejects_hostile_record_length() {
        let mut bytes = pcap([0xd4, 0xc3, 0xb2, 0xa1], false, &[]);
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(u32::MAX.to_le_bytes());
        bytes.extend(u32::MAX.to_le_bytes());
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        assert!(matches!(
            r.next_frame().unwrap_err(),
            SourceError::Malformed { .. }
        ));
    }

    fn ng_block(be: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut out = Vec::new();
        out.extend(w32(block_type));
        out.extend(w32(total));
        out.extend(body);
        out.resize(8 + padded, 0);
        out.extend(w32(total));
        out
    }

    fn ng_section(be: bool) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = w32(PCAPNG_BYTE_ORDER_MAGIC).to_vec();
        body.extend([0, 1, 0, 0]);
        body.extend([0xff; 8]);
        ng_block(be, PCAPNG_SHB, &body)
    }

    fn ng_idb(be: bool, link: u16, tsresol: Option<u8>) -> Vec<u8> {
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = w16(link).to_vec();
        body.extend(w16(0));
        body.extend(w32(0));
        if let Some(r) = tsresol {
            body.extend(w16(9));
            body.extend(w16(1));
            body.extend([r, 0, 0, 0]);
            body.extend(w16(0));
            body.extend(w16(0));
        }
        ng_block(be, PCAPNG_IDB, &body)
    }

    fn ng_epb(be: bool, iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = w32(iface).to_vec();
        body.extend(w32((ts >> 32) as u32));
        body.extend(w32(ts as u32));
        body.extend(w32(data.len() as u32));
        body.extend(w32(data.len() as u32));
        body.extend(data);
        ng_block(be, PCAPNG_EPB, &body)
    }

    #[test]
    fn reads_pcapng_sections_interfaces_and_resolutions() {
        let mut bytes = ng_section(false);
        bytes.extend(ng_idb(false, 1, None));
        bytes.extend(ng_idb(false, 113, Some(9)));
        bytes.extend(ng_block(false, 5, &[1, 2, 3, 4])); // interface statistics: skipped
        bytes.extend(ng_epb(false, 0, 3_000_001, b"eth"));
        bytes.extend(ng_epb(false, 1, 4_000_000_002, b"sll"));
        // a second, big-endian section whose interface 0 is raw IP
        bytes.extend(ng_section(true));
        bytes.extend(ng_idb(true, 101, Some(0x80 | 10)));
        bytes.extend(ng_epb(true, 0, 2048 + 512, b"raw"));
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        assert_eq!(r.format(), CaptureFormat::PcapNg);
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.number, f.link_type, f.ts.secs, f.ts.nanos),
            (1, LinkType::ETHERNET, 3, 1000)
        );
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.link_type, f.ts.secs, f.ts.nanos),
            (LinkType::LINUX_SLL, 4, 2)
        );
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.number, f.link_type, f.ts.secs, f.ts.nanos),
            (3, LinkType::RAW, 2, 500_000_000)
        );
        assert_eq!(f.data, b"raw");
        assert!(r.next_frame().unwrap().is_none());
    }
}
