//! Source layer: Microsoft Network Monitor 2.x capture files (`.cap`, the format of Microsoft's
//! protocol example captures and of NetMon 3 and Message Analyzer), read as a stream like pcap.
//!
//! Layout (little-endian): a 128-byte header (`GMBU`, minor and major version, the file's media
//! type, the start time as a SYSTEMTIME, then the offsets and lengths of the frame table and of
//! the user, comment, process and network-information blocks), the frames, then the frame table
//! (one 32-bit file offset per frame). A frame is a 16-byte record header (microseconds since
//! the start time as a 64-bit number, the original and the captured length), the captured
//! bytes, and from version 2.1 a trailer: the frame's own media type (2.1), a process index
//! (2.2), a UTC FILETIME and a time-zone index (2.3).
//!
//! Frames are read in file order up to the frame table, as NetMon and Wireshark write them;
//! the frame table is then read to check that it lists exactly those frames (a running hash of
//! their offsets, so nothing grows with the capture), and a capture whose table points elsewhere
//! is reported as malformed. Times: version 2.3 frames carry UTC; earlier ones are the header's
//! start time plus the frame's offset, the start time taken as UTC (NetMon writes the local
//! time of the capturing machine, which the file does not record). Media types: Ethernet (0
//! and 1), raw IP (7, 8, 9) and converted pcap link types (0xE000 plus the pcap link type) are
//! read; NetMon's own frames (events 0xFFE0, adapter lists 0xFFFB and 0xFFFD, reassembly
//! headers 0xFFFC, DNS caches 0xFFFE, filter strings 0xFFFF) are counted
//! (`netmon_metadata_frames`) and skipped; other media types are counted as unsupported.

use super::{LinkType, Timestamp};

/// Magic of NetMon 2.x files.
pub const MAGIC: [u8; 4] = *b"GMBU";
/// Magic of NetMon 1.x files (not read).
pub const MAGIC_1X: [u8; 4] = *b"RTSS";
/// Bytes of the header's fields (the magic included).
pub const HEADER_FIELDS_BYTES: usize = 64;
/// Where the first frame starts: the header is padded to this.
pub const HEADER_BYTES: u64 = 128;
/// Bytes of a frame's record header.
pub const RECORD_HEADER_BYTES: usize = 16;
/// Seconds from the FILETIME epoch (1601-01-01) to the Unix epoch.
const FILETIME_UNIX_SECS: i64 = 11_644_473_600;

/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Minor version (major is 2); 3 and above read as 2.3.
    pub minor: u8,
    /// The file's media type (every frame's before version 2.1).
    pub network: u16,
    /// The start time, taken as UTC.
    pub start: Timestamp,
    /// Offset of the frame table: frames end there.
    pub frame_table_offset: u32,
    /// Bytes of the frame table (4 per frame).
    pub frame_table_len: u32,
}

impl Header {
    /// Reads the header's fields (`b`: the first [`HEADER_FIELDS_BYTES`] of the file).
    ///
    /// # Errors
    /// Why it is not a NetMon 2.x header that can be read.
    pub fn parse(b: &[u8; HEADER_FIELDS_BYTES]) -> Result<Self, String> {
        let u16_at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if b[..4] == MAGIC_1X {
            return Err("a Network Monitor 1.x capture: only 2.x captures are read".into());
        }
        let (minor, major) = (b[4], b[5]);
        if major != 2 {
            return Err(format!(
                "Network Monitor version {major}.{minor}: only 2.x is read"
            ));
        }
        let (year, month, day) = (u16_at(8), u16_at(10), u16_at(14));
        let (hour, minute, second, milli) = (u16_at(16), u16_at(18), u16_at(20), u16_at(22));
        let start = if (1..=12).contains(&month) && (1..=31).contains(&day) {
            let days = days_from_civil(i64::from(year), u32::from(month), u32::from(day));
            Timestamp {
                secs: days * 86_400
                    + i64::from(hour.min(23)) * 3600
                    + i64::from(minute.min(59)) * 60
                    + i64::from(second.min(59)),
                nanos: u32::from(milli.min(999)) * 1_000_000,
            }
        } else {
            // an unset start time: frame times count from the epoch
            Timestamp::default()
        };
        let frame_table_offset = u32_at(24);
        let frame_table_len = u32_at(28);
        if u64::from(frame_table_offset) < HEADER_BYTES {
            return Err(format!(
                "the frame table starts at byte {frame_table_offset}, inside the header"
            ));
        }
        if frame_table_len % 4 != 0 {
            return Err(format!(
                "a frame table of {frame_table_len} bytes (not a multiple of 4)"
            ));
        }
        Ok(Self {
            minor,
            network: u16_at(6),
            start,
            frame_table_offset,
            frame_table_len,
        })
    }

    /// Bytes of each frame's trailer after its captured bytes.
    #[must_use]
    pub fn trailer_len(&self) -> usize {
        match self.minor {
            0 => 0,
            1 => 2,
            2 => 6,
            _ => 15,
        }
    }

    /// A frame's time and media type from its record header and trailer.
    #[must_use]
    pub fn frame(&self, record: &[u8; RECORD_HEADER_BYTES], trailer: &[u8]) -> (Timestamp, u16) {
        let network = match trailer.get(..2) {
            Some(t) if self.minor >= 1 => u16::from_le_bytes([t[0], t[1]]),
            _ => self.network,
        };
        let filetime = trailer
            .get(6..14)
            .filter(|_| self.minor >= 3)
            .map(|t| u64::from_le_bytes(t.try_into().unwrap_or_default()));
        let ts = match filetime {
            Some(ft) => {
                let secs = i64::try_from(ft / 10_000_000).unwrap_or(i64::MAX);
                Timestamp {
                    secs: secs.saturating_sub(FILETIME_UNIX_SECS),
                    nanos: u32::try_from(ft % 10_000_000).unwrap_or(0) * 100,
                }
            }
            None => {
                let delta_us = u64::from_le_bytes(record[..8].try_into().unwrap_or_default());
                let start_us = self.start.as_micros();
                let us = start_us.saturating_add(i64::try_from(delta_us).unwrap_or(i64::MAX));
                Timestamp {
                    secs: us.div_euclid(1_000_000),
                    nanos: u32::try_from(us.rem_euclid(1_000_000)).unwrap_or(0) * 1000,
                }
            }
        };
        (ts, network)
    }
}

/// The captured and original lengths of a record header.
#[must_use]
pub fn lengths(record: &[u8; RECORD_HEADER_BYTES]) -> (u32, u32) {
    let at =
        |i: usize| u32::from_le_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]]);
    (at(12), at(8))
}

/// The link type frames of NetMon media type `network` are read as.
#[must_use]
pub fn link_type(network: u16) -> LinkType {
    match network {
        0 | 1 => LinkType::ETHERNET,
        7..=9 => LinkType::RAW,
        // Message Analyzer's own types share the converted-pcap range
        0xE080..=0xE08A => LinkType::netmon(network),
        n if n & 0xF000 == 0xE000 => LinkType(u32::from(n & 0x0FFF)),
        n => LinkType::netmon(n),
    }
}

/// A running hash of frame offsets, to compare the frames read with the frame table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffsetHash {
    hash: u64,
    count: u64,
}

impl OffsetHash {
    /// One more frame at `offset`.
    pub fn add(&mut self, offset: u64) {
        self.hash = (self.hash ^ offset).wrapping_mul(0x0000_0100_0000_01b3);
        self.count += 1;
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(minor: u8, network: u16) -> [u8; HEADER_FIELDS_BYTES] {
        let mut h = [0u8; HEADER_FIELDS_BYTES];
        h[..4].copy_from_slice(&MAGIC);
        h[4] = minor;
        h[5] = 2;
        h[6..8].copy_from_slice(&network.to_le_bytes());
        // 2024-02-29 23:59:58.250
        for (i, v) in [2024u16, 2, 4, 29, 23, 59, 58, 250].iter().enumerate() {
            h[8 + 2 * i..10 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        h[24..28].copy_from_slice(&200u32.to_le_bytes());
        h[28..32].copy_from_slice(&8u32.to_le_bytes());
        h
    }

    #[test]
    fn the_start_time_and_offsets_give_each_frame_its_time() {
        let h = Header::parse(&header(1, 1)).unwrap();
        assert_eq!(h.start.rfc3339_micros(), "2024-02-29T23:59:58.250000Z");
        let mut record = [0u8; RECORD_HEADER_BYTES];
        record[..8].copy_from_slice(&1_750_001u64.to_le_bytes());
        let (ts, network) = h.frame(&record, &0xE001u16.to_le_bytes());
        assert_eq!(ts.rfc3339_micros(), "2024-03-01T00:00:00.000001Z");
        assert_eq!(network, 0xE001);
        assert_eq!(link_type(network), LinkType(1));
        assert_eq!(h.trailer_len(), 2);
        let h0 = Header::parse(&header(0, 1)).unwrap();
        assert_eq!(h0.frame(&record, &[]).1, 1, "2.0: the header's media type");
    }

    #[test]
    fn version_2_3_frames_carry_utc() {
        let h = Header::parse(&header(3, 1)).unwrap();
        assert_eq!(h.trailer_len(), 15);
        let mut trailer = [0u8; 15];
        trailer[..2].copy_from_slice(&1u16.to_le_bytes());
        // 2009-02-13T23:31:30.1234567Z as a FILETIME
        let ft: u64 = (1_234_567_890 + 11_644_473_600) * 10_000_000 + 1_234_567;
        trailer[6..14].copy_from_slice(&ft.to_le_bytes());
        let (ts, _) = h.frame(&[0; RECORD_HEADER_BYTES], &trailer);
        assert_eq!((ts.secs, ts.nanos), (1_234_567_890, 123_456_700));
    }

    #[test]
    fn media_types_map_to_link_types_or_are_netmon_s_own() {
        assert_eq!(link_type(0), LinkType::ETHERNET);
        assert_eq!(link_type(8), LinkType::RAW);
        assert_eq!(link_type(0xE000 + 113), LinkType::LINUX_SLL);
        for own in [0xFFE0, 0xFFFB, 0xFFFC, 0xFFFD, 0xFFFE, 0xFFFF] {
            assert!(link_type(own).is_netmon_metadata(), "{own:#x}");
        }
        assert!(!link_type(0xE080).is_netmon_metadata());
        assert!(!link_type(2).is_netmon_metadata());
    }

    #[test]
    fn other_versions_and_impossible_tables_are_refused() {
        let mut h = header(1, 1);
        h[..4].copy_from_slice(&MAGIC_1X);
        assert!(Header::parse(&h).unwrap_err().contains("1.x"));
        let mut h = header(1, 1);
        h[5] = 3;
        assert!(Header::parse(&h).unwrap_err().contains("3.1"));
        let mut h = header(1, 1);
        h[24..28].copy_from_slice(&64u32.to_le_bytes());
        assert!(Header::parse(&h).unwrap_err().contains("inside the header"));
        let mut h = header(1, 1);
        h[28..32].copy_from_slice(&6u32.to_le_bytes());
        assert!(Header::parse(&h).unwrap_err().contains("multiple of 4"));
    }
}
