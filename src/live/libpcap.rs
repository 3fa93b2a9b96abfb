//! libpcap as a [`PacketSource`] (the `live` feature): lists interfaces, opens one with a snap
//! length, a kernel buffer and a BPF filter, and turns libpcap's errors into messages that say
//! what to do (which capability is missing, which interfaces exist, what is wrong with the
//! filter).

use super::{InterfaceCounts, LiveError, Next, PacketSource};
use crate::source::{LinkType, Timestamp};

/// Default snap length: whole packets.
pub const DEFAULT_SNAPLEN: u32 = 262_144;
/// Read timeout: how long a packet may wait in a part-filled kernel block before it is handed
/// over (the latency of a quiet link), and how long a read waits when nothing arrives.
const READ_TIMEOUT_MS: i32 = 100;

/// How to open an interface.
#[derive(Clone, Debug)]
pub struct Options {
    /// Interface name (`rpcscope live --list`).
    pub interface: String,
    /// BPF capture filter, in tcpdump's syntax.
    pub filter: Option<String>,
    /// Bytes kept of each packet.
    pub snaplen: u32,
    /// Capture packets not addressed to this host too.
    pub promiscuous: bool,
    /// Kernel capture buffer, MiB: room for bursts while the capture thread waits for a core.
    /// Packets are packed into it by their captured length (Linux's TPACKET_V3 blocks, handed
    /// over when full or after the read timeout), so 64 MiB holds about 160,000 packets of a
    /// DCE/RPC mix. (In libpcap's immediate mode every packet would take a slot as large as the
    /// largest frame the interface can hand over, 64 KiB on loopback: about 1,000 packets, and
    /// a replay at 560 Mbit/s lost a quarter of them.)
    pub buffer_mib: u32,
}

/// One interface of `live --list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name to give to `-i`.
    pub name: String,
    /// Description, when the system has one.
    pub description: Option<String>,
    /// Addresses.
    pub addresses: Vec<std::net::IpAddr>,
    /// Up, running, loopback.
    pub flags: Vec<&'static str>,
}

/// The interfaces libpcap can capture on.
///
/// # Errors
/// libpcap cannot list them.
pub fn interfaces() -> Result<Vec<Interface>, LiveError> {
    let devices = pcap::Device::list()
        .map_err(|e| LiveError::Open(format!("cannot list interfaces: {e}")))?;
    Ok(devices
        .into_iter()
        .map(|d| {
            let f = &d.flags;
            let flags = [
                (f.is_up(), "up"),
                (f.is_running(), "running"),
                (f.is_loopback(), "loopback"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            Interface {
                name: d.name,
                description: d.desc,
                addresses: d.addresses.iter().map(|a| a.addr).collect(),
                flags,
            }
        })
        .collect())
}

/// An open libpcap capture.
pub struct LibpcapSource {
    capture: pcap::Capture<pcap::Active>,
    link_type: LinkType,
    snaplen: u32,
    name: String,
}

impl std::fmt::Debug for LibpcapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibpcapSource")
            .field("name", &self.name)
            .field("link_type", &self.link_type)
            .finish_non_exhaustive()
    }
}

/// What to tell a user who may not capture.
fn permission_message(interface: &str, libpcap: &str) -> String {
    let exe = std::env::current_exe()
        .map_or_else(|_| "rpcscope".to_string(), |p| p.display().to_string());
    format!(
        "no permission to capture on {interface} ({libpcap}): capturing needs the CAP_NET_RAW \
         capability (and CAP_NET_ADMIN for promiscuous mode). Run as root, or grant them once: \
         sudo setcap cap_net_raw,cap_net_admin=eip {exe}"
    )
}

fn is_permission_error(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("permission") || m.contains("not permitted")
}

/// Opens `options.interface` for capture.
///
/// # Errors
/// [`LiveError::Open`] with a message naming the cause: an unknown interface (the known ones are
/// listed), missing privileges (the capability is named), a filter libpcap rejects (its message).
pub fn open(options: &Options) -> Result<LibpcapSource, LiveError> {
    let name = options.interface.as_str();
    let known = interfaces()?;
    if !known.iter().any(|i| i.name == name) {
        let names: Vec<&str> = known.iter().map(|i| i.name.as_str()).collect();
        let hint = if names.is_empty() {
            "libpcap sees no interface at all, which usually means no permission to capture \
             (run as root or grant CAP_NET_RAW)"
                .to_string()
        } else {
            format!("known interfaces: {}", names.join(", "))
        };
        return Err(LiveError::Open(format!(
            "no interface named {:?} ({hint}; rpcscope live --list describes them)",
            crate::output::sanitize(name)
        )));
    }
    let snaplen = i32::try_from(options.snaplen.clamp(64, DEFAULT_SNAPLEN)).unwrap_or(65_535);
    let inactive = pcap::Capture::from_device(name)
        .map_err(|e| LiveError::Open(format!("cannot use interface {name}: {e}")))?;
    let mut capture = inactive
        // packed blocks, not a 64 KiB slot per packet (see `Options::buffer_mib`)
        .immediate_mode(false)
        .snaplen(snaplen)
        .promisc(options.promiscuous)
        .timeout(READ_TIMEOUT_MS)
        .buffer_size(i32::try_from(u64::from(options.buffer_mib) << 20).unwrap_or(i32::MAX))
        .precision(pcap::Precision::Nano)
        .open()
        .map_err(|e| {
            let m = e.to_string();
            if is_permission_error(&m) {
                LiveError::Open(permission_message(name, &m))
            } else {
                LiveError::Open(format!("cannot capture on {name}: {m}"))
            }
        })?;
    if let Some(filter) = &options.filter {
        capture.filter(filter, true).map_err(|e| {
            LiveError::Open(format!(
                "bad capture filter {:?}: {e}",
                crate::output::sanitize(filter)
            ))
        })?;
    }
    let link_type = LinkType(u32::try_from(capture.get_datalink().0).unwrap_or(u32::MAX));
    if !crate::link::is_supported(link_type) {
        return Err(LiveError::Open(format!(
            "interface {name} delivers {link_type} frames, which rpcscope does not decode \
             (Ethernet, Linux cooked, raw IP and BSD loopback are; `any` captures every interface \
             as Linux cooked)"
        )));
    }
    Ok(LibpcapSource {
        capture,
        link_type,
        snaplen: u32::try_from(snaplen).unwrap_or(DEFAULT_SNAPLEN),
        name: name.to_string(),
    })
}

impl PacketSource for LibpcapSource {
    fn link_type(&self) -> LinkType {
        self.link_type
    }

    fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn next(&mut self) -> Result<Next, String> {
        match self.capture.next_packet() {
            Ok(p) => {
                // With nanosecond precision, tv_usec holds nanoseconds.
                // time_t is 32 bits on some targets.
                #[allow(clippy::useless_conversion)]
                let secs = i64::from(p.header.ts.tv_sec);
                let nanos = u32::try_from(p.header.ts.tv_usec).unwrap_or(0) % 1_000_000_000;
                Ok(Next::Packet(
                    Timestamp { secs, nanos },
                    p.data.to_vec(),
                    p.header.len,
                ))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(Next::Timeout),
            Err(pcap::Error::NoMorePackets) => Ok(Next::End),
            Err(e) => Err(e.to_string()),
        }
    }

    fn waker(&mut self) -> Option<super::Waker> {
        // libpcap's read timeout does not end a read on every platform; pcap_breakloop does.
        let handle = self.capture.breakloop_handle();
        Some(Box::new(move || handle.breakloop()))
    }

    fn counts(&mut self) -> Option<InterfaceCounts> {
        self.capture.stats().ok().map(|s| InterfaceCounts {
            received: u64::from(s.received),
            kernel_dropped: u64::from(s.dropped),
            interface_dropped: u64::from(s.if_dropped),
        })
    }
}
