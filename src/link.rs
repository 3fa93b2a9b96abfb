//! Link and network layers: turns a captured frame into a TCP segment, a UDP datagram, or an
//! IP fragment (IPv4, or IPv6 with a Fragment header, RFC 8200 §4.5) to be reassembled by
//! [`crate::ip_defrag`].
//!
//! Link types: Ethernet II with 802.1Q / QinQ tags, Linux SLL and SLL2, raw IPv4/IPv6 and
//! BSD/OpenBSD loopback. IPv4 and IPv6 (with extension headers) are sliced by `etherparse` with
//! lax length checks, so a frame cut by the snap length still yields the bytes that were captured;
//! the number of TCP payload bytes that were cut is reported in [`TcpSegment::missing_tail`].

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    EtherType, Ethernet2Slice, IpNumber, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, LaxIpSlice,
    LaxIpv6Slice, LaxNetSlice, LaxSlicedPacket, TcpSlice, UdpSlice,
};

use crate::source::LinkType;

/// TCP control flags that matter for reassembly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN: the sequence number is the initial one.
    pub syn: bool,
    /// ACK: `ack` is meaningful.
    pub ack: bool,
    /// FIN: the sender has finished.
    pub fin: bool,
    /// RST: the connection is aborted.
    pub rst: bool,
}

/// One TCP segment, borrowed from the frame (or from a reassembled IPv4 datagram).
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (or of the SYN).
    pub seq: u32,
    /// Acknowledgement number (valid when `flags.ack`).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// Payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload bytes that the IP length promises but the snap length cut off.
    pub missing_tail: u32,
}

/// One UDP datagram, borrowed from the frame (or from a reassembled IPv4 datagram).
#[derive(Clone, Copy, Debug)]
pub struct UdpDatagram<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Payload bytes that were captured.
    pub payload: &'a [u8],
}

/// An IP fragment that needs reassembly before what it carries can be read: an IPv4 fragment,
/// or an IPv6 packet with a Fragment header that fragments its payload.
#[derive(Clone, Copy, Debug)]
pub struct IpFragment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification: IPv4's 16-bit field, or the 32 bits of IPv6's Fragment header.
    pub id: u32,
    /// Protocol of the reassembled payload: IPv4's protocol field, or the next header the IPv6
    /// Fragment header names (possibly an extension header, read after reassembly).
    pub protocol: u8,
    /// Offset of this fragment's payload in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// The start of this fragment's payload that the IP slicer read as IPv6 extension headers
    /// after the Fragment header (empty unless the Fragment header is followed by one); the
    /// fragment's payload is `lead` then `payload`.
    pub lead: &'a [u8],
    /// This fragment's payload (after `lead`).
    pub payload: &'a [u8],
}

/// What a frame turned out to carry.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
    /// An IP fragment (any protocol; reassemble, then read what [`upper_layer`] finds).
    IpFragment(IpFragment<'a>),
    /// Something rpcscope does not analyse (ARP, ICMP, ...).
    Other,
}

/// Why a frame could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The link type is not one rpcscope reads.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(LinkType),
    /// The headers are cut short or inconsistent.
    #[error("malformed {0} header")]
    Malformed(&'static str),
}

const AF_INET: u32 = 2;

/// True when frames of `link_type` can be decoded (checked before a live capture starts).
#[must_use]
pub fn is_supported(link_type: LinkType) -> bool {
    !matches!(
        decode(link_type, &[]),
        Err(LinkError::UnsupportedLinkType(_))
    )
}

/// Decodes one frame of the given link type.
///
/// # Errors
/// [`LinkError`] when the link type is unknown or a header cannot be parsed; never panics.
pub fn decode(link_type: LinkType, data: &[u8]) -> Result<Decoded<'_>, LinkError> {
    let net = match link_type {
        LinkType::ETHERNET => {
            let eth = Ethernet2Slice::from_slice_without_fcs(data)
                .map_err(|_| LinkError::Malformed("Ethernet"))?;
            match eth.ether_type() {
                // the common case without the whole-packet slicer (which also reads the TCP
                // header, read again below)
                EtherType::IPV4 | EtherType::IPV6 => ip_net(eth.payload_slice()),
                _ => {
                    LaxSlicedPacket::from_ethernet(data)
                        .map_err(|_| LinkError::Malformed("Ethernet"))?
                        .net
                }
            }
        }
        LinkType::LINUX_SLL => {
            let proto = data.get(14..16).ok_or(LinkError::Malformed("Linux SLL"))?;
            let payload = data.get(16..).unwrap_or(&[]);
            ether_net(EtherType(u16::from_be_bytes([proto[0], proto[1]])), payload)
        }
        LinkType::LINUX_SLL2 => {
            let proto = data.get(0..2).ok_or(LinkError::Malformed("Linux SLL2"))?;
            let payload = data.get(20..).ok_or(LinkError::Malformed("Linux SLL2"))?;
            ether_net(EtherType(u16::from_be_bytes([proto[0], proto[1]])), payload)
        }
        LinkType::NULL | LinkType::LOOP => {
            let family = data.get(0..4).ok_or(LinkError::Malformed("loopback"))?;
            let le = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
            let be = u32::from_be_bytes([family[0], family[1], family[2], family[3]]);
            // AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 depending on the BSD.
            if !matches!(le, AF_INET | 24 | 28 | 30) && !matches!(be, AF_INET | 24 | 28 | 30) {
                return Ok(Decoded::Other);
            }
            Some(from_ip(data.get(4..).unwrap_or(&[]))?)
        }
        LinkType::RAW
        | LinkType::RAW_BSD
        | LinkType::RAW_OPENBSD
        | LinkType::IPV4
        | LinkType::IPV6 => Some(from_ip(data)?),
        other => return Err(LinkError::UnsupportedLinkType(other)),
    };
    from_net(net.as_ref())
}

/// The network layer after an EtherType (none when it is not IP or its header is unreadable).
fn ether_net(ether_type: EtherType, payload: &[u8]) -> Option<LaxNetSlice<'_>> {
    match ether_type {
        EtherType::IPV4 | EtherType::IPV6 => ip_net(payload),
        _ => LaxSlicedPacket::from_ether_type(ether_type, payload).net,
    }
}

/// An IP header and payload after a link header (none when the header is unreadable).
fn ip_net(data: &[u8]) -> Option<LaxNetSlice<'_>> {
    LaxIpSlice::from_slice(data).ok().map(|(ip, _)| ip.into())
}

/// An IP packet with no link header.
fn from_ip(data: &[u8]) -> Result<LaxNetSlice<'_>, LinkError> {
    LaxIpSlice::from_slice(data)
        .map(|(ip, _)| ip.into())
        .map_err(|_| LinkError::Malformed("IP"))
}

fn from_net<'a>(net: Option<&LaxNetSlice<'a>>) -> Result<Decoded<'a>, LinkError> {
    match net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let payload = v4.payload();
            if payload.fragmented {
                return Ok(Decoded::IpFragment(IpFragment {
                    src: IpAddr::from(h.source()),
                    dst: IpAddr::from(h.destination()),
                    id: u32::from(h.identification()),
                    protocol: h.protocol().0,
                    offset: u32::from(h.fragments_offset().value()) * 8,
                    more: h.more_fragments(),
                    lead: &[],
                    payload: payload.payload,
                }));
            }
            if payload.ip_number == IpNumber::UDP {
                return Ok(parse_udp(
                    IpAddr::from(h.source()),
                    IpAddr::from(h.destination()),
                    payload.payload,
                )
                .map_or(Decoded::Other, Decoded::Udp));
            }
            if payload.ip_number != IpNumber::TCP {
                return Ok(Decoded::Other);
            }
            let ip_start = h.slice();
            let declared_end = usize::from(h.total_len());
            let seg = parse_tcp(
                IpAddr::from(h.source()),
                IpAddr::from(h.destination()),
                payload.payload,
            )?;
            Ok(Decoded::Tcp(with_missing_tail(seg, ip_start, declared_end)))
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let payload = v6.payload();
            let h = v6.header();
            if !payload.fragmented && payload.ip_number == IpNumber::UDP {
                return Ok(parse_udp(
                    IpAddr::from(h.source_addr()),
                    IpAddr::from(h.destination_addr()),
                    payload.payload,
                )
                .map_or(Decoded::Other, Decoded::Udp));
            }
            if payload.fragmented {
                return Ok(ipv6_fragment(v6).map_or(Decoded::Other, Decoded::IpFragment));
            }
            if payload.ip_number != IpNumber::TCP {
                return Ok(Decoded::Other);
            }
            let ip_start = h.slice();
            let declared_end = 40 + usize::from(h.payload_length());
            let seg = parse_tcp(
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
                payload.payload,
            )?;
            Ok(Decoded::Tcp(with_missing_tail(seg, ip_start, declared_end)))
        }
        _ => Ok(Decoded::Other),
    }
}

/// The fragment an IPv6 packet whose payload is fragmented carries: the fields of its first
/// Fragment header and the bytes after that header.
fn ipv6_fragment<'a>(v6: &LaxIpv6Slice<'a>) -> Option<IpFragment<'a>> {
    let h = v6.header();
    let exts = v6.extensions();
    let mut after = 0;
    let mut fragment = None;
    for ext in exts.clone() {
        after += match &ext {
            Ipv6ExtensionSlice::HopByHop(x)
            | Ipv6ExtensionSlice::Routing(x)
            | Ipv6ExtensionSlice::DestinationOptions(x) => x.slice().len(),
            Ipv6ExtensionSlice::Authentication(x) => x.slice().len(),
            Ipv6ExtensionSlice::Fragment(x) => x.slice().len(),
        };
        if let Ipv6ExtensionSlice::Fragment(f) = ext {
            fragment = Some(f);
            break;
        }
    }
    let f = fragment?;
    Some(IpFragment {
        src: IpAddr::from(h.source_addr()),
        dst: IpAddr::from(h.destination_addr()),
        id: f.identification(),
        protocol: f.next_header().0,
        offset: u32::from(f.fragment_offset().value()) * 8,
        more: f.more_fragments(),
        lead: exts.slice().get(after..).unwrap_or(&[]),
        payload: v6.payload().payload,
    })
}

/// The protocol and bytes a reassembled datagram carries: IPv4's as they are; after IPv6
/// extension headers that followed the Fragment header, those headers skipped.
#[must_use]
pub fn upper_layer(src: IpAddr, protocol: u8, payload: &[u8]) -> (u8, &[u8]) {
    if src.is_ipv4() {
        return (protocol, payload);
    }
    let (_, next, rest, _) = Ipv6ExtensionsSlice::from_slice_lax(IpNumber(protocol), payload);
    (next.0, rest)
}

/// Sets `missing_tail` from the IP length field: bytes the IP header promises after the captured
/// payload. Pointer arithmetic on two slices of the same frame (safe: addresses are only compared).
fn with_missing_tail<'a>(
    mut seg: TcpSegment<'a>,
    ip_start: &[u8],
    declared_end: usize,
) -> TcpSegment<'a> {
    let payload_at = (seg.payload.as_ptr() as usize).saturating_sub(ip_start.as_ptr() as usize);
    let captured_end = payload_at + seg.payload.len();
    // A header of 0 means "unknown length" (e.g. TSO captures); nothing is then assumed missing.
    if declared_end > captured_end && declared_end > payload_at {
        seg.missing_tail = u32::try_from(declared_end - captured_end).unwrap_or(u32::MAX);
    }
    seg
}

/// Parses a TCP header and payload carried between `src` and `dst`.
///
/// # Errors
/// [`LinkError::Malformed`] when the TCP header is cut short or its data offset is invalid.
pub fn parse_tcp(src: IpAddr, dst: IpAddr, data: &[u8]) -> Result<TcpSegment<'_>, LinkError> {
    let tcp = TcpSlice::from_slice(data).map_err(|_| LinkError::Malformed("TCP"))?;
    Ok(TcpSegment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload: tcp.payload(),
        missing_tail: 0,
    })
}

/// Parses a UDP header and payload carried between `src` and `dst` (the payload as captured,
/// at most the length the header announces); `None` when the header is cut short (UDP is not
/// analysed beyond Kerberos, so such a frame is only not TCP).
#[must_use]
pub fn parse_udp(src: IpAddr, dst: IpAddr, data: &[u8]) -> Option<UdpDatagram<'_>> {
    let udp = UdpSlice::from_slice_lax(data).ok()?;
    Some(UdpDatagram {
        src: SocketAddr::new(src, udp.source_port()),
        dst: SocketAddr::new(dst, udp.destination_port()),
        payload: udp.payload(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 + TCP (ports 49152 → 135, seq 1000, PSH|ACK) with payload "hi".
    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 20 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ];
        p.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend([0xc0, 0x00, 0x00, 0x87]);
        p.extend(1000u32.to_be_bytes());
        p.extend(7u32.to_be_bytes());
        p.extend([0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend(payload);
        p
    }

    fn eth(ether_type: u16, tags: &[u16], ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for tag in tags {
            f.extend(tag.to_be_bytes());
            f.extend([0, 5]);
        }
        f.extend(ether_type.to_be_bytes());
        f.extend(ip);
        f
    }

    fn tcp_of(d: Decoded<'_>) -> TcpSegment<'_> {
        match d {
            Decoded::Tcp(t) => t,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn decodes_ethernet_vlan_qinq_sll_sll2_null_and_raw() {
        let ip = ipv4_tcp(b"hi");
        let frames = [
            (LinkType::ETHERNET, eth(0x0800, &[], &ip)),
            (LinkType::ETHERNET, eth(0x0800, &[0x8100], &ip)),
            (LinkType::ETHERNET, eth(0x0800, &[0x88a8, 0x8100], &ip)),
            (LinkType::LINUX_SLL, {
                let mut f = vec![0u8; 14];
                f.extend([0x08, 0x00]);
                f.extend(&ip);
                f
            }),
            (LinkType::LINUX_SLL2, {
                let mut f = vec![0x08, 0x00];
                f.extend([0u8; 18]);
                f.extend(&ip);
                f
            }),
            (LinkType::NULL, {
                let mut f = 2u32.to_le_bytes().to_vec();
                f.extend(&ip);
                f
            }),
            (LinkType::RAW, ip.clone()),
        ];
        for (lt, f) in &frames {
            let seg = tcp_of(decode(*lt, f).unwrap());
            assert_eq!(seg.src.to_string(), "10.0.0.1:49152", "{lt}");
            assert_eq!(seg.dst.port(), 135);
            assert_eq!((seg.seq, seg.ack, seg.payload), (1000, 7, &b"hi"[..]));
            assert!(seg.flags.ack && !seg.flags.syn);
            assert_eq!(seg.missing_tail, 0);
        }
    }

    #[test]
    fn reports_bytes_cut_by_snap_length() {
        let ip = ipv4_tcp(b"0123456789");
        let f = eth(0x0800, &[], &ip);
        let cut = &f[..f.len() - 4];
        let seg = tcp_of(decode(LinkType::ETHERNET, cut).unwrap());
        assert_eq!(seg.payload, b"012345");
        assert_eq!(seg.missing_tail, 4);
    }

    #[test]
    fn decodes_ipv6_with_extension_header() {
        let tcp = &ipv4_tcp(b"v6")[20..];
        let mut p = vec![0x60, 0, 0, 0];
        let plen = (8 + tcp.len()) as u16;
        p.extend(plen.to_be_bytes());
        p.extend([0, 64]); // next header: hop-by-hop
        p.extend([0u8; 15]);
        p.push(1);
        p.extend([0u8; 15]);
        p.push(2);
        p.extend([6, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop → TCP, with a PadN option
        p.extend(tcp);
        let seg = tcp_of(decode(LinkType::RAW, &p).unwrap());
        assert_eq!(seg.src.to_string(), "[::1]:49152");
        assert_eq!(seg.payload, b"v6");
    }

    /// An IPv6 packet whose Fragment header says `offset` and `more`, carrying `data` after
    /// it, the header naming `next` as what the reassembled payload starts with.
    fn ipv6_fragment_packet(next: u8, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend(u16::try_from(8 + data.len()).unwrap().to_be_bytes());
        p.extend([44, 64]); // next header: Fragment
        p.extend([0x20, 0x01, 0x0d, 0xb8]);
        p.extend([0u8; 11]);
        p.push(1);
        p.extend([0x20, 0x01, 0x0d, 0xb8]);
        p.extend([0u8; 11]);
        p.push(2);
        p.extend([next, 0]);
        p.extend((((offset / 8) << 3) | u16::from(more)).to_be_bytes());
        p.extend(0xdead_beef_u32.to_be_bytes());
        p.extend(data);
        p
    }

    #[test]
    fn decodes_ipv6_fragments_and_what_follows_their_fragment_header() {
        let tcp = &ipv4_tcp(b"over IPv6 in two fragments")[20..];
        let first = ipv6_fragment_packet(6, 0, true, &tcp[..16]);
        let Decoded::IpFragment(f) = decode(LinkType::RAW, &first).unwrap() else {
            panic!("a fragment");
        };
        assert_eq!(f.src.to_string(), "2001:db8::1");
        assert_eq!(
            (f.id, f.protocol, f.offset, f.more),
            (0xdead_beef, 6, 0, true)
        );
        assert!(f.lead.is_empty());
        assert_eq!(f.payload, &tcp[..16]);
        let last = ipv6_fragment_packet(6, 16, false, &tcp[16..]);
        let Decoded::IpFragment(f) = decode(LinkType::RAW, &last).unwrap() else {
            panic!("a fragment");
        };
        assert_eq!((f.offset, f.more), (16, false));
        assert_eq!(f.payload, &tcp[16..]);
        // destination options after the Fragment header belong to the fragmented part: the
        // slicer reads them as a header, the fragment gives them back in `lead`
        let mut with_options = vec![6, 0, 1, 4, 0, 0, 0, 0];
        with_options.extend(&tcp[..8]);
        let p = ipv6_fragment_packet(60, 0, true, &with_options);
        let Decoded::IpFragment(f) = decode(LinkType::RAW, &p).unwrap() else {
            panic!("a fragment");
        };
        assert_eq!(f.protocol, 60);
        assert_eq!([f.lead, f.payload].concat(), with_options);
        let src = f.src;
        let (protocol, payload) = upper_layer(src, 60, &with_options);
        assert_eq!((protocol, payload), (6, &tcp[..8]));
        // a whole packet with a Fragment header that fragments nothing is read as it is
        let atomic = ipv6_fragment_packet(6, 0, false, tcp);
        assert_eq!(
            tcp_of(decode(LinkType::RAW, &atomic).unwrap()).payload,
            b"over IPv6 in two fragments"
        );
    }

    #[test]
    fn returns_fragment_and_errors_without_panicking() {
        let mut ip = ipv4_tcp(b"fragment");
        ip[6] = 0x20; // more fragments
        match decode(LinkType::RAW, &ip).unwrap() {
            Decoded::IpFragment(f) => assert!(f.more && f.offset == 0 && f.protocol == 6),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode(LinkType(9999), &ip).unwrap_err(),
            LinkError::UnsupportedLinkType(LinkType(9999))
        );
        assert!(decode(LinkType::ETHERNET, &[1, 2, 3]).is_err());
        assert!(decode(LinkType::LINUX_SLL2, &[8]).is_err());
    }

    #[test]
    fn tells_which_link_types_it_decodes() {
        for lt in [
            LinkType::ETHERNET,
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::RAW,
            LinkType::NULL,
            LinkType::IPV4,
        ] {
            assert!(is_supported(lt), "{lt}");
        }
        assert!(!is_supported(LinkType(249)), "netfilter log");
    }
}
