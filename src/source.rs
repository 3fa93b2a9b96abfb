//! Capture sources: the first layer. A source yields [`Frame`]s (one per captured packet, numbered
//! from 1 as Wireshark counts them) with their link type, timestamp and capture lengths.
//!
//! Offline reading (classic pcap, pcapng and Network Monitor 2.x, from a file or stdin) lives in
//! [`mod@file`] (NetMon's layout in [`netmon`]); it is pure Rust and streams, so memory does not
//! grow with the size of the capture.

pub mod file;
pub mod netmon;

use std::fmt;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (may be negative for odd captures).
    pub secs: i64,
    /// Nanoseconds within the second, always below 1,000,000,000.
    pub nanos: u32,
}

impl Timestamp {
    /// Builds a timestamp from a count of `units` per second (e.g. 1_000_000 for microseconds).
    /// Resolutions finer than nanoseconds are rounded down to nanoseconds.
    #[must_use]
    pub fn from_units(value: u64, units_per_sec: u64) -> Self {
        let units_per_sec = units_per_sec.max(1);
        let secs = value / units_per_sec;
        let rem = u128::from(value % units_per_sec);
        let nanos = rem * 1_000_000_000 / u128::from(units_per_sec);
        Self {
            secs: i64::try_from(secs).unwrap_or(i64::MAX),
            nanos: u32::try_from(nanos).unwrap_or(0),
        }
    }

    /// Microseconds since the epoch (saturating).
    #[must_use]
    pub fn as_micros(self) -> i64 {
        self.secs
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(self.nanos / 1000))
    }

    /// Adds a whole number of seconds (a pcapng `if_tsoffset`).
    #[must_use]
    pub fn offset_secs(self, secs: i64) -> Self {
        Self {
            secs: self.secs.saturating_add(secs),
            nanos: self.nanos,
        }
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2024-05-01T10:11:12.123456Z`.
    #[must_use]
    pub fn rfc3339_micros(self) -> String {
        let mut text = Vec::with_capacity(27);
        self.push_rfc3339_micros(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Appends [`Self::rfc3339_micros`] to `out` without formatting machinery (it is written
    /// once per call record).
    pub fn push_rfc3339_micros(self, out: &mut Vec<u8>) {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hour, min, sec) = (sod / 3600, (sod % 3600) / 60, sod % 60);
        let micros = self.nanos / 1000;
        if !(0..=9999).contains(&y) {
            // a year of other than four digits: rare enough for `write!`
            let _ = std::io::Write::write_fmt(
                out,
                format_args!("{y:04}-{m:02}-{d:02}T{hour:02}:{min:02}:{sec:02}.{micros:06}Z"),
            );
            return;
        }
        let digits = |out: &mut Vec<u8>, value: u64, width: u32| {
            for place in (0..width).rev() {
                out.push(b'0' + u8::try_from(value / 10u64.pow(place) % 10).unwrap_or(0));
            }
        };
        let as_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
        digits(out, as_u64(y), 4);
        out.push(b'-');
        digits(out, u64::from(m), 2);
        out.push(b'-');
        digits(out, u64::from(d), 2);
        out.push(b'T');
        digits(out, as_u64(hour), 2);
        out.push(b':');
        digits(out, as_u64(min), 2);
        out.push(b':');
        digits(out, as_u64(sec), 2);
        out.push(b'.');
        digits(out, u64::from(micros), 6);
        out.push(b'Z');
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in the writer's byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II (with optional 802.1Q / QinQ tags).
    pub const ETHERNET: Self = Self(1);
    /// Raw IP on some BSDs (DLT_RAW = 12).
    pub const RAW_BSD: Self = Self(12);
    /// Raw IP on OpenBSD (DLT_RAW = 14).
    pub const RAW_OPENBSD: Self = Self(14);
    /// Raw IPv4 or IPv6, version taken from the first nibble.
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// Linux cooked capture v1 (16-byte header).
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6.
    pub const IPV6: Self = Self(229);
    /// Linux cooked capture v2 (20-byte header).
    pub const LINUX_SLL2: Self = Self(276);

    /// Link types above pcap's 16-bit range: a Network Monitor media type with no pcap
    /// equivalent, in the low 16 bits ([`netmon::link_type`]).
    const NETMON_BASE: u32 = 0x0001_0000;

    /// The link type of NetMon media type `network` that has no pcap equivalent.
    #[must_use]
    pub const fn netmon(network: u16) -> Self {
        Self(Self::NETMON_BASE | network as u32)
    }

    /// True for NetMon's own frames (events, adapter lists, reassembly headers, DNS caches,
    /// filter strings: media types 0xFFE0 and 0xFFFB to 0xFFFF), which carry no packet.
    #[must_use]
    pub fn is_netmon_metadata(self) -> bool {
        self.0 >> 16 == 1 && matches!(self.0 & 0xFFFF, 0xFFE0 | 0xFFFB..=0xFFFF)
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::NULL => "NULL",
            Self::ETHERNET => "ETHERNET",
            Self::RAW_BSD | Self::RAW_OPENBSD | Self::RAW => "RAW",
            Self::LOOP => "LOOP",
            Self::LINUX_SLL => "LINUX_SLL",
            Self::IPV4 => "IPV4",
            Self::IPV6 => "IPV6",
            Self::LINUX_SLL2 => "LINUX_SLL2",
            Self(n) if n >> 16 == 1 => return write!(f, "NetMon media type {:#06x}", n & 0xFFFF),
            _ => return write!(f, "linktype {}", self.0),
        };
        f.write_str(name)
    }
}

/// One captured packet, borrowed from the source's buffer until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based position in the capture (pcapng: counting packet blocks only).
    pub number: u64,
    /// When the packet was captured.
    pub ts: Timestamp,
    /// Link-layer type of the interface the packet was captured on.
    pub link_type: LinkType,
    /// The captured bytes (possibly fewer than `original_len`).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub original_len: u32,
}

impl Frame<'_> {
    /// True when the snap length cut the packet short.
    #[must_use]
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.original_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_epoch_and_leap_day() {
        assert_eq!(
            Timestamp { secs: 0, nanos: 0 }.rfc3339_micros(),
            "1970-01-01T00:00:00.000000Z"
        );
        // 2024-02-29T12:34:56.789012Z
        let ts = Timestamp {
            secs: 1_709_210_096,
            nanos: 789_012_345,
        };
        assert_eq!(ts.rfc3339_micros(), "2024-02-29T12:34:56.789012Z");
    }

    #[test]
    fn rfc3339_before_the_epoch_and_past_year_9999() {
        let at = |secs| Timestamp { secs, nanos: 999 }.rfc3339_micros();
        assert_eq!(at(-1), "1969-12-31T23:59:59.000000Z");
        assert_eq!(at(-62_167_219_200), "0000-01-01T00:00:00.000000Z");
        assert_eq!(at(-62_167_219_201), "-001-12-31T23:59:59.000000Z");
        assert_eq!(at(253_402_300_800), "10000-01-01T00:00:00.000000Z");
    }

    #[test]
    fn from_units_converts_micro_and_nano() {
        let us = Timestamp::from_units(1_500_000, 1_000_000);
        assert_eq!((us.secs, us.nanos), (1, 500_000_000));
        let ns = Timestamp::from_units(2_000_000_123, 1_000_000_000);
        assert_eq!((ns.secs, ns.nanos), (2, 123));
    }
}
