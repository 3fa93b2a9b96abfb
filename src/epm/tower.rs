//! Protocol towers (C706 appendix L; MS-RPCE §2.2.1.1.7): a floor count, then floors of
//! (protocol id + left-hand data, right-hand data). Floor 1 names the interface, floor 2 the
//! transfer syntax, floor 3 the RPC protocol, and the rest the transport address. All lengths in
//! a tower are little-endian; ports and IPv4 addresses are big-endian. Unknown floors are kept as
//! bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::dce::{SyntaxId, Uuid};

/// Floors read per tower at most; a longer floor count is refused.
pub const MAX_FLOORS: usize = 16;

/// One floor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Floor {
    /// Protocol identifier (first byte of the left-hand side).
    pub protocol: u8,
    /// Rest of the left-hand side.
    pub lhs: Vec<u8>,
    /// Right-hand side.
    pub rhs: Vec<u8>,
}

/// A decoded tower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tower {
    /// Floors in order.
    pub floors: Vec<Floor>,
}

/// Why tower bytes could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TowerError {
    /// The bytes end inside a floor.
    #[error("tower cut short")]
    Short,
    /// More floors than [`MAX_FLOORS`].
    #[error("tower claims {0} floors")]
    TooManyFloors(u16),
}

fn u16_le(b: &[u8], at: usize) -> Result<u16, TowerError> {
    b.get(at..at + 2)
        .map(|x| u16::from_le_bytes([x[0], x[1]]))
        .ok_or(TowerError::Short)
}

/// Parses tower octets.
///
/// # Errors
/// [`TowerError`] when the floors do not fit the bytes.
pub fn parse(b: &[u8]) -> Result<Tower, TowerError> {
    let count = u16_le(b, 0)?;
    if usize::from(count) > MAX_FLOORS {
        return Err(TowerError::TooManyFloors(count));
    }
    let mut at = 2;
    let mut floors = Vec::new();
    for _ in 0..count {
        let lhs_len = usize::from(u16_le(b, at)?);
        let lhs = b.get(at + 2..at + 2 + lhs_len).ok_or(TowerError::Short)?;
        at += 2 + lhs_len;
        let rhs_len = usize::from(u16_le(b, at)?);
        let rhs = b.get(at + 2..at + 2 + rhs_len).ok_or(TowerError::Short)?;
        at += 2 + rhs_len;
        let (&protocol, lhs) = lhs.split_first().ok_or(TowerError::Short)?;
        floors.push(Floor {
            protocol,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
        });
    }
    Ok(Tower { floors })
}

/// Where a tower points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Interface of floor 1.
    pub interface: Option<SyntaxId>,
    /// `ncacn_ip_tcp`, `ncacn_np`, `ncacn_http`, `ncadg_ip_udp`, `ncalrpc`, or `unknown(...)`.
    pub protocol: String,
    /// IP address or NetBIOS / DNS name.
    pub host: Option<String>,
    /// TCP or UDP port.
    pub port: Option<u16>,
    /// Named pipe (ncacn_np) or LRPC port name (ncalrpc).
    pub pipe: Option<String>,
    /// String binding, e.g. `ncacn_ip_tcp:10.0.0.5[49667]`.
    pub binding: String,
}

fn text(b: &[u8]) -> String {
    let s: String = b
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| char::from(c))
        .collect();
    s
}

fn be16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

impl Tower {
    /// The interface of floor 1 (UUID, major version from the left-hand side, minor from the
    /// right-hand side, all little-endian).
    #[must_use]
    pub fn interface(&self) -> Option<SyntaxId> {
        let f = self.floors.first().filter(|f| f.protocol == 0x0d)?;
        let raw: [u8; 16] = f.lhs.get(..16)?.try_into().ok()?;
        let major = f
            .lhs
            .get(16..18)
            .map_or(0, |v| u16::from_le_bytes([v[0], v[1]]));
        let minor = f
            .rhs
            .get(..2)
            .map_or(0, |v| u16::from_le_bytes([v[0], v[1]]));
        Some(SyntaxId {
            uuid: Uuid::from_wire(&raw, true),
            major,
            minor,
        })
    }

    /// The endpoint the tower describes; `None` when floor 1 is not an interface.
    #[must_use]
    pub fn endpoint(&self) -> Option<Endpoint> {
        let interface = self.interface()?;
        let rest = self.floors.get(2..).unwrap_or(&[]);
        let ids: Vec<u8> = rest.iter().map(|f| f.protocol).collect();
        let mut host = None;
        let mut port = None;
        let mut name = None;
        for f in rest {
            match f.protocol {
                0x07 | 0x08 | 0x1f => port = be16(&f.rhs),
                0x09 => {
                    host = match f.rhs.len() {
                        4 => {
                            Some(Ipv4Addr::new(f.rhs[0], f.rhs[1], f.rhs[2], f.rhs[3]).to_string())
                        }
                        16 => <[u8; 16]>::try_from(&f.rhs[..])
                            .ok()
                            .map(|a| Ipv6Addr::from(a).to_string()),
                        _ => None,
                    };
                }
                0x11 | 0x01 => host = Some(text(&f.rhs)).filter(|h| !h.is_empty()),
                0x0f | 0x10 => name = Some(text(&f.rhs)),
                _ => {}
            }
        }
        let first = ids.first().copied();
        let has = |p: u8| ids.iter().skip(1).any(|&x| x == p);
        let protocol = match first {
            Some(0x0b) if has(0x07) => "ncacn_ip_tcp".to_string(),
            Some(0x0b) if has(0x0f) => "ncacn_np".to_string(),
            Some(0x0b) if has(0x1f) => "ncacn_http".to_string(),
            Some(0x0a) if has(0x08) => "ncadg_ip_udp".to_string(),
            Some(0x0c) => "ncalrpc".to_string(),
            Some(0x0b) if has(0x20) => "ncacn_unix_stream".to_string(),
            _ => format!(
                "unknown({})",
                ids.iter()
                    .map(|x| format!("0x{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        let pipe = if protocol == "ncacn_np" {
            name.clone()
        } else {
            None
        };
        let h = host.clone().unwrap_or_default();
        let binding = match protocol.as_str() {
            "ncacn_ip_tcp" | "ncacn_http" | "ncadg_ip_udp" => {
                format!(
                    "{protocol}:{h}[{}]",
                    port.map(|p| p.to_string()).unwrap_or_default()
                )
            }
            "ncacn_np" | "ncalrpc" => format!("{protocol}:{h}[{}]", name.unwrap_or_default()),
            _ => format!("{protocol}:{h}"),
        };
        Some(Endpoint {
            interface: Some(interface),
            protocol,
            host,
            port,
            pipe,
            binding,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 5-floor ncacn_ip_tcp tower for samr 1.0 at `ip`:`port`.
    pub(crate) fn tcp_tower(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut t = 5u16.to_le_bytes().to_vec();
        let mut floor = |lhs: &[u8], rhs: &[u8]| {
            t.extend((lhs.len() as u16).to_le_bytes());
            t.extend(lhs);
            t.extend((rhs.len() as u16).to_le_bytes());
            t.extend(rhs);
        };
        let mut f1 = vec![0x0d];
        f1.extend([
            0x78, 0x57, 0x34, 0x12, 0x34, 0x12, 0xcd, 0xab, 0xef, 0x00, 0x01, 0x23, 0x45, 0x67,
            0x89, 0xac,
        ]);
        f1.extend(1u16.to_le_bytes());
        floor(&f1, &0u16.to_le_bytes());
        let mut f2 = vec![0x0d];
        f2.extend([
            0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10,
            0x48, 0x60,
        ]);
        f2.extend(2u16.to_le_bytes());
        floor(&f2, &0u16.to_le_bytes());
        floor(&[0x0b], &0u16.to_le_bytes());
        floor(&[0x07], &port.to_be_bytes());
        floor(&[0x09], &ip);
        t
    }

    #[test]
    fn decodes_a_tcp_tower_to_a_string_binding() {
        let t = parse(&tcp_tower([10, 0, 0, 5], 49667)).unwrap();
        let e = t.endpoint().unwrap();
        assert_eq!(e.binding, "ncacn_ip_tcp:10.0.0.5[49667]");
        let i = e.interface.unwrap();
        assert_eq!(i.uuid.to_string(), "12345778-1234-abcd-ef00-0123456789ac");
        assert_eq!((i.major, i.minor), (1, 0));
        assert_eq!((e.port, e.host.as_deref()), (Some(49667), Some("10.0.0.5")));
    }

    #[test]
    fn decodes_named_pipe_and_netbios_floors() {
        let mut b = tcp_tower([0; 4], 0);
        // replace floors 4 and 5: named pipe and NetBIOS host
        let cut = b.len() - (2 + 1 + 2 + 2) - (2 + 1 + 2 + 4);
        b.truncate(cut);
        for (id, rhs) in [(0x0fu8, &b"\\PIPE\\lsass\0"[..]), (0x11, &b"\\\\DC1\0"[..])] {
            b.extend(1u16.to_le_bytes());
            b.push(id);
            b.extend((rhs.len() as u16).to_le_bytes());
            b.extend(rhs);
        }
        let e = parse(&b).unwrap().endpoint().unwrap();
        assert_eq!(e.protocol, "ncacn_np");
        assert_eq!(e.binding, "ncacn_np:\\\\DC1[\\PIPE\\lsass]");
        assert_eq!(e.pipe.as_deref(), Some("\\PIPE\\lsass"));
    }

    #[test]
    fn refuses_short_and_hostile_towers() {
        assert_eq!(parse(&[5, 0, 40, 0, 1]), Err(TowerError::Short));
        assert_eq!(parse(&[0xff, 0xff]), Err(TowerError::TooManyFloors(0xffff)));
        let unknown = parse(&[1, 0, 1, 0, 0x42, 0, 0]).unwrap();
        assert!(unknown.endpoint().is_none(), "floor 1 is not an interface");
    }
}
