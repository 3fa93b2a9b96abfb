//! The interface's state and its only way of changing: [`App::update`] with an [`Action`]. No
//! terminal here, so every behaviour is tested without one.
//!
//! Limit: [`MAX_CALLS`] calls are kept for browsing; later ones are counted (the status line
//! says so) and still appear in the statistics of the summary. A live capture keeps the newest
//! calls instead: beyond its history ([`App::live`]) the oldest age out, connection rows keep
//! their totals, and the status line counts what aged out.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ratatui::layout::Rect;

use super::action::Action;
use crate::dce::body::Body;
use crate::dcerpc::pdu::parse_header;
use crate::epm::resolver::EndpointRecord;
use crate::filter::Filter;
use crate::idl::values::{CallStubs, SideStub, TreeLine, decode_call_tree, plan_of};
use crate::model::{Auth, Call, Interface, Outcome, PduRecord};
use crate::output::text::pdu_detail;
use crate::source::Timestamp;
use crate::status::Severity;
use crate::summary::Summary;

/// Calls kept for browsing.
pub const MAX_CALLS: usize = 1_000_000;
/// Calls whose decoded parameters are kept (a decoded call takes a few kilobytes); later
/// calls are listed without them and the status line counts them.
pub const MAX_DECODED_CALLS: usize = 50_000;
/// Non-call PDUs (binds, acks, ...) kept for the call-flow view.
pub const MAX_NOTES: usize = 200_000;
/// Stub bytes kept over all calls so that the selected call's parameters are decoded on
/// demand; the stubs of later calls are not kept (their parameters are not shown) and the
/// status line counts them.
pub const MAX_KEPT_STUB_BYTES: usize = 256 * 1024 * 1024;

/// The order of the calls view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSort {
    /// In capture order.
    Capture,
    /// Longest first (unanswered last).
    Duration,
    /// By `Interface.Operation`.
    Operation,
    /// By server endpoint.
    Server,
    /// Faults and failing return codes first.
    Outcome,
}

impl CallSort {
    fn next(self) -> Self {
        match self {
            Self::Capture => Self::Duration,
            Self::Duration => Self::Operation,
            Self::Operation => Self::Server,
            Self::Server => Self::Outcome,
            Self::Outcome => Self::Capture,
        }
    }

    /// Name shown in the title.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Capture => "capture order",
            Self::Duration => "duration",
            Self::Operation => "operation",
            Self::Server => "server",
            Self::Outcome => "outcome",
        }
    }
}

/// The order of the statistics view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatSort {
    /// By `Interface.Operation`.
    Name,
    /// Most calls first.
    Calls,
    /// Most faults and errors first.
    Errors,
    /// Slowest 95th percentile first.
    P95,
    /// Slowest call first.
    Max,
}

impl StatSort {
    fn next(self) -> Self {
        match self {
            Self::Name => Self::Calls,
            Self::Calls => Self::Errors,
            Self::Errors => Self::P95,
            Self::P95 => Self::Max,
            Self::Max => Self::Name,
        }
    }

    /// Name shown in the title.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Name => "operation",
            Self::Calls => "calls",
            Self::Errors => "faults and errors",
            Self::P95 => "p95",
            Self::Max => "max",
        }
    }
}

/// The order of the endpoints view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointSort {
    /// As the answers came (their frames).
    Frame,
    /// By interface.
    Interface,
    /// By string binding.
    Binding,
    /// Most connections first.
    Uses,
}

impl EndpointSort {
    fn next(self) -> Self {
        match self {
            Self::Frame => Self::Interface,
            Self::Interface => Self::Binding,
            Self::Binding => Self::Uses,
            Self::Uses => Self::Frame,
        }
    }

    /// Name shown in the title.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Frame => "answer",
            Self::Interface => "interface",
            Self::Binding => "binding",
            Self::Uses => "connections",
        }
    }
}

/// The order of the connections view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnSort {
    /// As first seen.
    FirstSeen,
    /// Most calls first.
    Calls,
    /// Most faults first.
    Faults,
    /// By client.
    Client,
    /// By server endpoint.
    Server,
}

impl ConnSort {
    fn next(self) -> Self {
        match self {
            Self::FirstSeen => Self::Calls,
            Self::Calls => Self::Faults,
            Self::Faults => Self::Client,
            Self::Client => Self::Server,
            Self::Server => Self::FirstSeen,
        }
    }

    /// Name shown in the title.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::FirstSeen => "first seen",
            Self::Calls => "calls",
            Self::Faults => "faults",
            Self::Client => "client",
            Self::Server => "server",
        }
    }
}

/// The views, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Every call.
    Calls,
    /// Associations: client → server endpoint.
    Connections,
    /// Ladder diagram of one connection.
    Flow,
    /// Endpoint resolution.
    Endpoints,
    /// Response times per interface and operation.
    Stats,
}

impl View {
    /// All views in tab order.
    pub const ALL: [View; 5] = [
        View::Calls,
        View::Connections,
        View::Flow,
        View::Endpoints,
        View::Stats,
    ];

    /// Tab title.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            View::Calls => "Calls",
            View::Connections => "Connections",
            View::Flow => "Call flow",
            View::Endpoints => "Endpoints",
            View::Stats => "Statistics",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|&v| v == self).unwrap_or(0)
    }
}

/// What the call-flow view shows of the chosen connection (`h` switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowScope {
    /// The connection (or pipe) alone: the endpoint-mapper answer that announced its endpoint,
    /// its binds and its calls.
    Connection,
    /// Everything its client host did: every endpoint-mapper answer it received and every
    /// connection it opened.
    Host,
}

/// What the calls view's time column shows (`t` switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeMode {
    /// Time of day of the call's first frame, UTC.
    Utc,
    /// Time since the first call of the capture.
    SinceFirst,
    /// Time since the call on the row above.
    SincePrevious,
}

impl TimeMode {
    fn next(self) -> Self {
        match self {
            TimeMode::Utc => TimeMode::SinceFirst,
            TimeMode::SinceFirst => TimeMode::SincePrevious,
            TimeMode::SincePrevious => TimeMode::Utc,
        }
    }

    /// The time column's header.
    #[must_use]
    pub fn header(self) -> &'static str {
        match self {
            TimeMode::Utc => "Time (UTC)",
            TimeMode::SinceFirst => "Since first",
            TimeMode::SincePrevious => "Since above",
        }
    }
}

/// What typed characters go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Keys are commands.
    Normal,
    /// Typing a search.
    Search,
    /// Typing a filter.
    Filter,
    /// Typing the name of the file the chosen calls are exported to.
    Export,
}

/// Something the interface asks of the terminal or the file system (taken by the event loop
/// with [`App::take_request`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Put this text on the clipboard.
    Clipboard(String),
    /// Write the chosen calls to this file: CSV when its name ends in `.csv`, JSON Lines
    /// otherwise.
    Export(PathBuf),
}

/// The file name the export prompt offers first.
pub const DEFAULT_EXPORT_FILE: &str = "rpcscope-calls.jsonl";

/// Which pane has the focus when the detail is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The list.
    List,
    /// The detail pane (its fields).
    Detail,
}

/// An association: one TCP connection, or one pipe of an SMB connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRow {
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// `ncacn_ip_tcp` or `ncacn_np`.
    pub transport: &'static str,
    /// Pipe name.
    pub pipe: Option<Arc<str>>,
    /// SMB FileId.
    pub file_id: Option<Arc<str>>,
    /// Interfaces called, by name (or UUID).
    pub interfaces: Vec<String>,
    /// Auth type/level of the first authenticated call.
    pub auth: Option<String>,
    /// Calls.
    pub calls: u64,
    /// Faults.
    pub faults: u64,
    /// First call's start.
    pub start: Timestamp,
    /// From the first call's first frame to the last call's last frame, µs.
    pub duration_us: i64,
    span: (i64, i64),
    /// Frame of the endpoint-mapper answer that announced the server endpoint.
    pub endpoint_frame: Option<u64>,
    /// Indices of its calls in [`App::calls`].
    pub call_indices: Vec<usize>,
    /// One of its calls passes the filter (the row is in `conn_filtered`).
    pub shown: bool,
    /// Why the server refused a bind or alter_context of the association (every context
    /// rejected, or a bind_nak), when it did.
    pub refused: Option<String>,
}

impl ConnRow {
    /// The string binding of the server endpoint (`ncacn_ip_tcp:10.0.0.5[49667]`,
    /// `ncacn_np:10.0.0.5[\pipe\samr]`).
    #[must_use]
    pub fn binding(&self) -> String {
        binding(self.transport, self.server, self.pipe.as_deref())
    }

    /// How the client knew the endpoint: resolved through the endpoint mapper or OXID resolver
    /// (a partially bound handle), a well-known endpoint (the endpoint mapper's port, SMB's,
    /// RPC over HTTP's, or a named pipe), or a port no answer in the capture announced.
    #[must_use]
    pub fn resolution(&self) -> String {
        const WELL_KNOWN_PORTS: [u16; 4] = [135, 139, 445, 593];
        match self.endpoint_frame {
            Some(f) => format!("resolved (answer in frame {f})"),
            None if self.transport == "ncacn_np"
                || WELL_KNOWN_PORTS.contains(&self.server.port()) =>
            {
                "well-known endpoint".to_string()
            }
            None => "not announced in the capture".to_string(),
        }
    }
}

/// What tells the associations of the connections view apart: client, server, transport, SMB
/// FileId and pipe name (a FileId the server gives again to another pipe is another row).
type ConnKey = (
    SocketAddr,
    SocketAddr,
    &'static str,
    Option<Arc<str>>,
    Option<Arc<str>>,
);

/// Response-time statistics of one operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatRow {
    /// `Interface.Operation`.
    pub name: String,
    /// Calls.
    pub calls: u64,
    /// Faults.
    pub faults: u64,
    /// Answers whose return code says failure.
    pub errors: u64,
    /// Durations (µs) of answered calls: min, mean, p50, p95, max.
    pub times: Option<[u64; 5]>,
    /// Counts per duration bucket (powers of 4 µs from 16 µs).
    pub histogram: Vec<u64>,
}

/// Rows a search looks at before the interface looks at the keyboard again: a search runs
/// in slices between frames, so a search of any list answers keys (Esc cancels it) while it
/// runs (`cargo bench --bench tui` times the slices on 100,000 calls).
pub const SEARCH_ROWS_PER_SLICE: usize = 2_048;

/// A search under way: the rows of `view` from `origin`, wrapping around.
#[derive(Debug)]
struct SearchJob {
    /// Lower-case text looked for.
    needle: String,
    /// The view searched; switching views drops the search.
    view: View,
    /// The selected row when the search began (back to it when cancelled).
    origin: usize,
    /// Rows of the view when the search began.
    rows: usize,
    /// Next step to look at: step `s` is row `(origin + s) % rows`, or `(origin - s)` going
    /// up.
    next: usize,
    /// Looking upwards (`N`).
    upwards: bool,
    /// One past the last step to look at.
    end: usize,
    /// The flow view's items, made once per search.
    flow: Vec<FlowRow>,
}

/// The parameter tree of the call whose detail is open, and which of its lines are folded.
#[derive(Debug)]
struct DetailTree {
    /// Index into `calls`.
    call: usize,
    /// Every line, indented two spaces per level.
    lines: Vec<TreeLine>,
    /// Lines whose deeper lines below are hidden.
    folded: Vec<bool>,
}

impl DetailTree {
    fn depth(&self, i: usize) -> usize {
        self.lines[i].text.len() - self.lines[i].text.trim_start().len()
    }

    /// Lines after `i` that are deeper than it: its children and theirs.
    fn below(&self, i: usize) -> usize {
        let d = self.depth(i);
        (i + 1..self.lines.len())
            .take_while(|&j| self.depth(j) > d)
            .count()
    }

    /// The lines shown: those not under a folded line.
    fn visible(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut hidden_deeper_than = None;
        for i in 0..self.lines.len() {
            if let Some(d) = hidden_deeper_than {
                if self.depth(i) > d {
                    continue;
                }
                hidden_deeper_than = None;
            }
            out.push(i);
            if self.folded[i] {
                hidden_deeper_than = Some(self.depth(i));
            }
        }
        out
    }
}

/// Where the user was before following a link: Esc goes back to it.
#[derive(Clone, Debug)]
struct Place {
    view: View,
    selected: [usize; 5],
    offset: [usize; 5],
    detail: bool,
    focus: Focus,
    field: usize,
    flow: Option<usize>,
    flow_scope: FlowScope,
    conn_endpoint: Option<Arc<EndpointUsers>>,
}

/// The endpoint the connections view was reached from: what its title names, and the
/// connections (`client->server`) that used it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUsers {
    /// `Samr v1.0 at ncacn_ip_tcp:10.0.0.5[49667] (answer in frame 9)`.
    pub label: String,
    /// The endpoint's `used_by`.
    pub used_by: Vec<String>,
}

/// Places kept to go back to, at most (the oldest are forgotten).
pub const MAX_BACK: usize = 64;

/// Earlier filters kept for ↑ and ↓ in the filter bar, at most.
pub const MAX_FILTER_HISTORY: usize = 50;

/// Histogram buckets of the statistics view.
pub const HISTOGRAM_BUCKETS: usize = 8;

/// The detail pane as it was last drawn.
#[derive(Debug, Default, Clone)]
pub struct DetailDrawn {
    /// The call shown (its index in `App::calls`).
    pub call: Option<usize>,
    /// The first row shown, counted after wrapping.
    pub top: u16,
    /// The selectable item (parameter line, PDU field, stub row) drawn on each row inside the
    /// pane's border, from its top; `None` for rows of other text.
    pub items: Vec<Option<usize>>,
}

/// The state.
#[derive(Debug)]
pub struct App {
    /// Capture name for the title.
    pub title: String,
    /// Calls in arrival (output) order.
    pub calls: Vec<Call>,
    /// Calls not kept because of [`MAX_CALLS`].
    pub calls_dropped: u64,
    /// Kept calls that hold decoded parameters, against [`MAX_DECODED_CALLS`].
    decoded_kept: usize,
    /// Calls whose decoded parameters were not kept because of [`MAX_DECODED_CALLS`].
    pub decoded_dropped: u64,
    /// Stub bytes kept, against [`MAX_KEPT_STUB_BYTES`].
    stub_bytes_kept: usize,
    /// Calls whose stubs were not kept because of [`MAX_KEPT_STUB_BYTES`].
    pub stubs_dropped: u64,
    /// Descriptions the kept stubs are decoded with.
    library: Option<std::sync::Arc<crate::idl::Library>>,
    /// The parameter tree of the call whose detail is open: (index into `calls`, lines).
    detail_tree: Option<DetailTree>,
    /// A live capture: calls beyond `history` age out (oldest first).
    pub live: bool,
    /// Calls kept for browsing.
    pub history: usize,
    /// Calls that aged out of a live view.
    pub aged_out: u64,
    /// Live capture statistics.
    pub capture: Option<crate::live::CaptureStats>,
    /// Non-call PDUs, in arrival order.
    pub notes: Vec<PduRecord>,
    /// Order of the connections view.
    pub conn_sort: ConnSort,
    /// What the calls view's time column shows.
    pub time_mode: TimeMode,
    /// Order of the calls view (`s` there).
    pub call_sort: CallSort,
    /// Order of the statistics view (`s` there).
    pub stat_sort: StatSort,
    /// Order of the endpoints view (`s` there).
    pub endpoint_sort: EndpointSort,
    /// Endpoints (when the analysis is done).
    pub endpoints: Vec<EndpointRecord>,
    /// Summary (when the analysis is done).
    pub summary: Option<Box<Summary>>,
    /// Why reading stopped early, if it did.
    pub stopped_by: Option<String>,
    /// Bytes read and total.
    pub progress: (u64, u64),
    /// The analysis ended.
    pub done: bool,
    /// Current view.
    pub view: View,
    /// Selected row per view.
    pub selected: [usize; 5],
    /// First visible row per view.
    pub offset: [usize; 5],
    /// Visible list rows.
    pub page: usize,
    /// Detail pane open (Calls view).
    pub detail: bool,
    /// Focus when the detail is open.
    pub focus: Focus,
    /// Selected field of the detail pane.
    pub field: usize,
    /// Input mode.
    pub input: Input,
    /// Search text.
    pub search: String,
    /// The selected row when `/` was pressed: each key typed searches from it again, Esc
    /// goes back to it.
    search_origin: usize,
    /// The search under way, looked at a slice at a time by [`App::work`].
    search_job: Option<SearchJob>,
    /// The file name typed at the export prompt.
    pub export_path: String,
    /// What the event loop is asked to do next.
    request: Option<Request>,
    /// Filters applied before, newest last (↑ and ↓ in the filter bar).
    filter_history: Vec<String>,
    /// Position in `filter_history` while browsing it.
    history_at: Option<usize>,
    /// Filter text (calls and connections views).
    pub filter: String,
    /// The last whole expression typed, in force.
    filter_compiled: Option<Filter>,
    /// Calls shown in the calls view (indices into `calls`).
    pub filtered: Vec<usize>,
    /// Endpoints shown (indices into `endpoints`): with a filter, those announced by a call
    /// it chooses or used by one.
    pub ep_filtered: Vec<usize>,
    /// Associations.
    pub connections: Vec<ConnRow>,
    conn_index: BTreeMap<ConnKey, usize>,
    /// Connections shown (indices into `connections`).
    pub conn_filtered: Vec<usize>,
    /// The connections view shows only the connections that used this endpoint, reached from
    /// it with Enter.
    pub conn_endpoint: Option<Arc<EndpointUsers>>,
    /// Where links were followed from, newest last.
    back: Vec<Place>,
    /// The open detail was opened by following a link (Esc goes back rather than closing it).
    detail_from_link: bool,
    /// The connection shown in the flow view (index into `connections`).
    pub flow: Option<usize>,
    /// What the flow view shows of it: its own items, or all of its client host's.
    pub flow_scope: FlowScope,
    /// Where the list of the current view was drawn (its block, borders included): clicks
    /// inside it select the row drawn under them.
    pub list_area: Rect,
    /// Where the detail pane was drawn (empty when closed): a click there focuses it.
    pub detail_area: Rect,
    /// What the detail pane showed on its rows when last drawn: a click chooses the item
    /// drawn under it, and the pane keeps its place while the chosen item stays in view.
    pub detail_drawn: DetailDrawn,
    /// Help overlay shown.
    pub help: bool,
    /// First line of the help shown (the view keeps it within the help).
    pub help_scroll: usize,
    /// Keep the last call selected as calls arrive.
    pub follow: bool,
    /// Quit requested.
    pub quit: bool,
    /// Status message (e.g. "no match").
    pub message: Option<String>,
    stats_cache: Option<(usize, Vec<StatRow>)>,
}

/// A call whose stubs stayed sealed: its answer says nothing readable.
#[must_use]
pub fn sealed(c: &Call) -> bool {
    matches!(c.decryption, Some("no_key" | "failed"))
}

/// Symbol and word for an outcome.
#[must_use]
pub fn outcome_mark(c: &Call) -> String {
    match (c.outcome, c.status) {
        (Outcome::Response, Some(st)) => match st.severity() {
            Severity::Error => format!("✗ {}", st.label()),
            Severity::Warning => format!("! {}", st.label()),
            Severity::Success if st.code == 0 => "✓ ok".to_string(),
            Severity::Success => format!("✓ {}", st.label()),
        },
        (Outcome::Response, None) if sealed(c) => match c.decryption {
            Some("failed") => "? sealed, not decrypted".to_string(),
            _ => "? sealed, no key".to_string(),
        },
        (Outcome::Response, None) => "✓ ok".to_string(),
        (Outcome::Fault, _) => format!(
            "✗ {}",
            c.fault_name()
                .unwrap_or(std::borrow::Cow::Borrowed("fault"))
        ),
        (Outcome::NoResponse, _) => "… no response".to_string(),
        _ => "! incomplete".to_string(),
    }
}

/// A duration as the views show it (ms, or s from a second on).
#[must_use]
pub fn duration(us: Option<u64>) -> String {
    match us {
        Some(us) if us >= 1_000_000 => format!("{:.2} s", us as f64 / 1e6),
        Some(us) => format!("{:.3} ms", us as f64 / 1e3),
        None => "-".to_string(),
    }
}

/// The cells of a call's row in the calls view: frame, time (UTC), client, server,
/// `Interface.Operation`, outcome, duration.
#[must_use]
pub fn call_row(c: &Call) -> [String; 7] {
    let frame = c.first_frame().unwrap_or(0);
    let start = c.start.rfc3339_micros();
    [
        frame.to_string(),
        start.get(11..26).unwrap_or("").to_string(),
        c.client.to_string(),
        c.server.to_string(),
        crate::output::sanitize(&call_label(c)),
        outcome_mark(c),
        duration(c.duration_us),
    ]
}

/// A Wireshark display filter that shows the frames of one call: its two ends, its call ID
/// (sequence number and activity for connectionless calls), between its first and last frame.
#[must_use]
pub fn wireshark_filter(c: &Call) -> String {
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => format!("ip.addr == {v4}"),
        IpAddr::V6(v6) => format!("ipv6.addr == {v6}"),
    };
    let l4 = if c.transport == "ncadg_ip_udp" {
        "udp"
    } else {
        "tcp"
    };
    let frames: Vec<u64> = [&c.request, &c.response]
        .into_iter()
        .flatten()
        .flat_map(|s| s.frames)
        .collect();
    let mut parts = vec![
        ip(c.client),
        ip(c.server),
        format!("{l4}.port == {}", c.client.port()),
        format!("{l4}.port == {}", c.server.port()),
    ];
    match c.activity {
        Some(act) => {
            parts.push(format!("dcerpc.dg_act_id == {act}"));
            parts.push(format!("dcerpc.dg_seqnum == {}", c.call_id));
        }
        None => parts.push(format!("dcerpc.cn_call_id == {}", c.call_id)),
    }
    if let (Some(first), Some(last)) = (frames.iter().min(), frames.iter().max()) {
        parts.push(format!("frame.number >= {first} && frame.number <= {last}"));
    }
    parts.join(" && ")
}

/// Lower-case text a call is searched by: what its row shows (frame, client, server,
/// `Interface.Operation`, outcome, duration), and the interface UUID, return code and pipe.
fn call_text(c: &Call) -> String {
    let frame = c.first_frame().unwrap_or(0);
    let uuid = c
        .interface
        .as_ref()
        .map(|i| i.syntax.uuid.to_string())
        .unwrap_or_default();
    let status = c
        .status
        .map(|s| format!("0x{:08x}", s.code))
        .unwrap_or_default();
    format!(
        "{frame} {} {} {} {} {} {uuid} {status} {} {}",
        c.client,
        c.server,
        call_label(c),
        outcome_mark(c),
        duration(c.duration_us),
        c.fault_name().as_deref().unwrap_or(""),
        c.pipe.as_deref().unwrap_or("")
    )
    .to_lowercase()
}

/// The header fields of a PDU head (a call's first bytes): label, value and byte range.
#[must_use]
pub fn pdu_fields(head: &[u8]) -> Vec<(String, String, std::ops::Range<usize>)> {
    let Ok(h) = parse_header(head) else {
        return Vec::new();
    };
    let le = h.little_endian();
    let rd16 = |at: usize| {
        head.get(at..at + 2).map_or(0, |b| {
            if le {
                u16::from_le_bytes([b[0], b[1]])
            } else {
                u16::from_be_bytes([b[0], b[1]])
            }
        })
    };
    let rd32 = |at: usize| {
        head.get(at..at + 4).map_or(0, |b| {
            let a = [b[0], b[1], b[2], b[3]];
            if le {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            }
        })
    };
    let mut out = vec![
        (
            "rpc_vers".to_string(),
            format!("{}.{}", h.version, h.version_minor),
            0..2,
        ),
        ("ptype".to_string(), h.ptype.to_string(), 2..3),
        (
            "pfc_flags".to_string(),
            format!("0x{:02x}", h.flags.0),
            3..4,
        ),
        (
            "drep".to_string(),
            if le {
                "little-endian".to_string()
            } else {
                "big-endian".to_string()
            },
            4..8,
        ),
        ("frag_length".to_string(), h.frag_len.to_string(), 8..10),
        ("auth_length".to_string(), h.auth_len.to_string(), 10..12),
        ("call_id".to_string(), h.call_id.to_string(), 12..16),
    ];
    match h.ptype.0 {
        0 => {
            out.push(("alloc_hint".into(), rd32(16).to_string(), 16..20));
            out.push(("p_cont_id".into(), rd16(20).to_string(), 20..22));
            out.push(("opnum".into(), rd16(22).to_string(), 22..24));
            if h.flags.object_uuid() {
                let object = head
                    .get(24..40)
                    .and_then(|b| <&[u8; 16]>::try_from(b).ok())
                    .map_or_else(
                        || "(cut short)".to_string(),
                        |b| crate::dce::Uuid::from_wire(b, le).to_string(),
                    );
                out.push(("object".into(), object, 24..40));
            }
        }
        2 => {
            out.push(("alloc_hint".into(), rd32(16).to_string(), 16..20));
            out.push(("p_cont_id".into(), rd16(20).to_string(), 20..22));
        }
        3 => {
            out.push(("p_cont_id".into(), rd16(20).to_string(), 20..22));
            out.push(("status".into(), format!("0x{:08x}", rd32(24)), 24..28));
        }
        _ => {}
    }
    out
}

/// `Interface.Operation` of a call.
#[must_use]
pub fn call_label(c: &Call) -> String {
    let iface = c
        .interface
        .as_ref()
        .map_or_else(|| "?".to_string(), interface_label);
    let op = c.operation.as_deref().map_or_else(
        || {
            c.opnum
                .map_or_else(|| "?".to_string(), |n| format!("opnum {n}"))
        },
        str::to_string,
    );
    format!("{iface}.{op}")
}

/// An interface by name, or by UUID when it has none.
fn interface_label(i: &Interface) -> String {
    i.name
        .as_deref()
        .map_or_else(|| i.syntax.uuid.to_string(), str::to_string)
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    let i = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted
        .get(i.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

impl App {
    /// An empty state for a capture called `title`.
    #[must_use]
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            calls: Vec::new(),
            calls_dropped: 0,
            decoded_kept: 0,
            decoded_dropped: 0,
            stub_bytes_kept: 0,
            stubs_dropped: 0,
            library: None,
            detail_tree: None,
            live: false,
            history: MAX_CALLS,
            aged_out: 0,
            capture: None,
            notes: Vec::new(),
            conn_sort: ConnSort::FirstSeen,
            time_mode: TimeMode::Utc,
            call_sort: CallSort::Capture,
            stat_sort: StatSort::Name,
            endpoint_sort: EndpointSort::Frame,
            endpoints: Vec::new(),
            summary: None,
            stopped_by: None,
            progress: (0, 0),
            done: false,
            view: View::Calls,
            selected: [0; 5],
            offset: [0; 5],
            page: 20,
            detail: false,
            focus: Focus::List,
            field: 0,
            input: Input::Normal,
            search: String::new(),
            search_origin: 0,
            export_path: String::new(),
            request: None,
            search_job: None,
            filter_history: Vec::new(),
            history_at: None,
            filter: String::new(),
            filter_compiled: None,
            filtered: Vec::new(),
            ep_filtered: Vec::new(),
            connections: Vec::new(),
            conn_index: BTreeMap::new(),
            conn_filtered: Vec::new(),
            flow: None,
            conn_endpoint: None,
            back: Vec::new(),
            detail_from_link: false,
            flow_scope: FlowScope::Host,
            list_area: Rect::default(),
            detail_area: Rect::default(),
            detail_drawn: DetailDrawn::default(),
            help: false,
            help_scroll: 0,
            follow: false,
            quit: false,
            message: None,
            stats_cache: None,
        }
    }

    /// Decodes the parameters of the selected call with `library` when its detail opens (the
    /// analysis keeps the stubs: [`crate::idl::Library::keep_stubs`]).
    #[must_use]
    pub fn with_library(mut self, library: Option<std::sync::Arc<crate::idl::Library>>) -> Self {
        self.library = library;
        self
    }

    /// The parameter tree of the selected call when its detail is open, the lines under a
    /// folded one left out: decoded on demand from its kept stubs (each line with where its
    /// bytes are), or its decoded parameters.
    #[must_use]
    pub fn parameter_tree(&self) -> Vec<&TreeLine> {
        self.open_tree()
            .map(|t| t.visible().into_iter().map(|i| &t.lines[i]).collect())
            .unwrap_or_default()
    }

    /// For each line [`App::parameter_tree`] shows: how many lines its folding hides
    /// (`Some(0)` for an open line with lines under it, `None` for a line without any).
    #[must_use]
    pub fn fold_marks(&self) -> Vec<Option<usize>> {
        self.open_tree()
            .map(|t| {
                t.visible()
                    .into_iter()
                    .map(|i| {
                        let below = t.below(i);
                        (below > 0).then_some(if t.folded[i] { below } else { 0 })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Enter on the `n`th line of the parameter tree: folds or unfolds the lines under it.
    fn toggle_fold(&mut self, n: usize) {
        let Some(j) = self.selected_index() else {
            return;
        };
        if let Some(t) = self.detail_tree.as_mut().filter(|t| t.call == j)
            && let Some(&i) = t.visible().get(n)
            && t.below(i) > 0
        {
            t.folded[i] = !t.folded[i];
        }
    }

    fn open_tree(&self) -> Option<&DetailTree> {
        let j = self.selected_index()?;
        self.detail_tree.as_ref().filter(|t| t.call == j)
    }

    /// Index into `calls` of the selected call (as [`App::selected_call`]).
    pub(crate) fn selected_index(&self) -> Option<usize> {
        self.filtered
            .get(self.selected[View::Calls.index()])
            .copied()
    }

    /// Decodes the selected call when its detail is open and it is not decoded yet.
    fn refresh_detail(&mut self) {
        let Some(i) = self.selected_index().filter(|_| self.detail) else {
            return;
        };
        if self.detail_tree.as_ref().is_some_and(|t| t.call == i) {
            return;
        }
        let Some(c) = self.calls.get(i) else {
            return;
        };
        let lines = match (&c.stubs, &c.decoded) {
            (Some(stubs), _) => decode_on_demand(self.library.as_deref(), stubs),
            (None, Some(_)) => crate::output::text::parameter_tree(c)
                .into_iter()
                .map(|text| TreeLine { text, at: None })
                .collect(),
            (None, None) => Vec::new(),
        };
        let folded = vec![false; lines.len()];
        self.detail_tree = Some(DetailTree {
            call: i,
            lines,
            folded,
        });
    }

    /// An empty state for a live capture called `title` that keeps the newest `history` calls.
    #[must_use]
    pub fn live(title: &str, history: usize) -> Self {
        Self {
            live: true,
            history: history.max(1),
            ..Self::new(title)
        }
    }

    /// Removes the oldest `n` calls (and the connection rows left without calls), keeping every
    /// index and selection pointing at the same rows.
    fn age_out(&mut self, n: usize) {
        let n = n.min(self.calls.len());
        if n == 0 {
            return;
        }
        let decoded = self.calls[..n]
            .iter()
            .filter(|c| c.decoded.is_some())
            .count();
        self.decoded_kept -= decoded.min(self.decoded_kept);
        let stub_bytes: usize = self.calls[..n]
            .iter()
            .filter_map(|c| c.stubs.as_ref())
            .map(|s| s.len())
            .sum();
        self.stub_bytes_kept -= stub_bytes.min(self.stub_bytes_kept);
        self.detail_tree = None;
        self.calls.drain(..n);
        self.aged_out += n as u64;
        self.stats_cache = None;
        let before = self.filtered.len();
        self.filtered.retain(|&i| i >= n);
        self.filtered.iter_mut().for_each(|i| *i -= n);
        let gone_rows = before - self.filtered.len();
        let v = View::Calls.index();
        self.selected[v] = self.selected[v].saturating_sub(gone_rows);
        self.offset[v] = self.offset[v].saturating_sub(gone_rows);
        for row in &mut self.connections {
            row.call_indices.retain(|&i| i >= n);
            row.call_indices.iter_mut().for_each(|i| *i -= n);
        }
        if self.connections.iter().all(|c| !c.call_indices.is_empty()) {
            return;
        }
        // Connections without calls left go; the others are renumbered.
        let mut renumber = vec![None; self.connections.len()];
        let mut next = 0;
        for (old, c) in self.connections.iter().enumerate() {
            if !c.call_indices.is_empty() {
                renumber[old] = Some(next);
                next += 1;
            }
        }
        self.connections.retain(|c| !c.call_indices.is_empty());
        self.conn_index.retain(|_, ci| match renumber[*ci] {
            Some(new) => {
                *ci = new;
                true
            }
            None => false,
        });
        let before = self.conn_filtered.len();
        self.conn_filtered = self
            .conn_filtered
            .iter()
            .filter_map(|&ci| renumber[ci])
            .collect();
        let v = View::Connections.index();
        let gone_rows = before - self.conn_filtered.len();
        self.selected[v] = self.selected[v].saturating_sub(gone_rows);
        self.offset[v] = self.offset[v].saturating_sub(gone_rows);
        self.flow = self.flow.and_then(|ci| renumber[ci]);
    }

    /// Rows of the current view.
    #[must_use]
    pub fn rows(&self) -> usize {
        match self.view {
            View::Calls => self.filtered.len(),
            View::Connections => self.conn_filtered.len(),
            View::Flow => self.flow_rows().len(),
            View::Endpoints => self.ep_filtered.len(),
            View::Stats => self.stats_len(),
        }
    }

    fn stats_len(&self) -> usize {
        self.stats_cache.as_ref().map_or(0, |(_, s)| s.len())
    }

    /// The selected call of the calls view.
    #[must_use]
    pub fn selected_call(&self) -> Option<&Call> {
        self.calls.get(self.selected_index()?)
    }

    /// Selected row of the current view.
    #[must_use]
    pub fn cursor(&self) -> usize {
        self.selected[self.view.index()]
    }

    /// First visible row of the current view.
    #[must_use]
    pub fn first_visible(&self) -> usize {
        self.offset[self.view.index()]
    }

    /// The client host of the flow view (the IP of the selected connection's client).
    #[must_use]
    pub fn flow_host(&self) -> Option<IpAddr> {
        let conn = self.flow.and_then(|i| self.connections.get(i))?;
        Some(conn.client.ip())
    }

    /// Items of the flow view, in frame order. For the client host of the chosen connection
    /// ([`FlowScope::Host`]): the endpoint-mapper answers it received, the binds and other
    /// non-call PDUs of its associations, and its calls; for the connection alone
    /// ([`FlowScope::Connection`]): the answer that announced its endpoint, its PDUs and calls.
    #[must_use]
    pub fn flow_rows(&self) -> Vec<FlowRow> {
        let Some(conn) = self.flow.and_then(|i| self.connections.get(i)) else {
            return Vec::new();
        };
        let host = conn.client.ip();
        let whole_host = self.flow_scope == FlowScope::Host;
        let in_scope = |client: SocketAddr, key: Option<usize>| {
            if whole_host {
                client.ip() == host
            } else {
                key == self.flow
            }
        };
        let binding = conn.binding();
        let mut rows = Vec::new();
        for (e, ep) in self.endpoints.iter().enumerate() {
            let announced =
                whole_host || (conn.endpoint_frame == Some(ep.frame) && ep.binding == binding);
            if announced && ep.asked_by.ip() == host {
                rows.push((ep.frame, FlowRow::Lookup(e)));
            }
        }
        for (ci, c) in self.connections.iter().enumerate() {
            if !in_scope(c.client, Some(ci)) {
                continue;
            }
            for &i in &c.call_indices {
                let c = &self.calls[i];
                if !self.passes(c) {
                    continue;
                }
                let frame = c.first_frame().unwrap_or(0);
                rows.push((frame, FlowRow::Call(i)));
            }
        }
        for (i, n) in self.notes.iter().enumerate() {
            let key = || self.conn_index.get(&note_key(n)).copied();
            let wanted = if whole_host {
                n.client.ip() == host
            } else {
                n.client == conn.client && key() == self.flow
            };
            if wanted {
                rows.push((n.frame, FlowRow::Note(i)));
            }
        }
        rows.sort_by_key(|(frame, _)| *frame);
        rows.into_iter().map(|(_, r)| r).collect()
    }

    /// The items of the flow view drawn from the first visible one: as many as fit in the
    /// page's lines (a call takes two), at least one.
    #[must_use]
    pub fn flow_window(&self, rows: &[FlowRow]) -> std::ops::Range<usize> {
        let start = self.offset[View::Flow.index()].min(rows.len());
        let mut used = 0;
        let mut end = start;
        for r in &rows[start..] {
            if used + r.lines() > self.page.max(1) && end > start {
                break;
            }
            used += r.lines();
            end += 1;
        }
        start..end
    }

    /// The lifeline (server endpoint or endpoint mapper) an item of the flow view goes to.
    #[must_use]
    pub fn flow_lane(&self, row: FlowRow) -> String {
        match row {
            FlowRow::Lookup(e) => self.endpoints.get(e).map_or_else(String::new, |e| {
                // the lifeline of the conversation that asked, over whichever transport
                let (client, server) = (e.asked_by, e.answered_by);
                let conversation = [
                    "ncacn_ip_tcp",
                    crate::dcerpc::connectionless::TRANSPORT,
                    crate::rpch::TRANSPORT,
                ]
                .into_iter()
                .find_map(|t| self.conn_index.get(&(client, server, t, None, None)));
                if let Some(row) = conversation.and_then(|&ci| self.connections.get(ci)) {
                    return row.binding();
                }
                let (host, port) = (server.ip(), server.port());
                format!("ncacn_ip_tcp:{host}[{port}]")
            }),
            FlowRow::Call(i) => self
                .calls
                .get(i)
                .and_then(|c| self.connection_of(c))
                .and_then(|ci| self.connections.get(ci))
                .map_or_else(String::new, ConnRow::binding),
            FlowRow::Note(n) => self.notes.get(n).map_or_else(String::new, |n| {
                // a PDU of no call seen (a connectionless ping of an unknown call) goes to its
                // server all the same
                self.conn_index
                    .get(&note_key(n))
                    .and_then(|&ci| self.connections.get(ci))
                    .map_or_else(
                        || binding(n.transport, n.server, n.pipe.as_deref()),
                        ConnRow::binding,
                    )
            }),
        }
    }

    /// Statistics rows (computed when first needed after calls change).
    pub fn stats(&mut self) -> &[StatRow] {
        let stale = self
            .stats_cache
            .as_ref()
            .is_none_or(|(n, _)| *n != self.calls.len());
        if stale {
            let mut rows = self.compute_stats();
            let slowest = |r: &StatRow, i: usize| r.times.map_or(0, |t| t[i]);
            // largest first; ties keep the operations' order
            match self.stat_sort {
                StatSort::Name => {}
                StatSort::Calls => rows.sort_by_key(|r| std::cmp::Reverse(r.calls)),
                StatSort::Errors => rows.sort_by_key(|r| std::cmp::Reverse(r.faults + r.errors)),
                StatSort::P95 => rows.sort_by_key(|r| std::cmp::Reverse(slowest(r, 3))),
                StatSort::Max => rows.sort_by_key(|r| std::cmp::Reverse(slowest(r, 4))),
            }
            self.stats_cache = Some((self.calls.len(), rows));
        }
        self.stats_cache.as_ref().map_or(&[], |(_, s)| s.as_slice())
    }

    fn compute_stats(&self) -> Vec<StatRow> {
        let mut by_op: BTreeMap<String, (u64, u64, u64, Vec<u64>)> = BTreeMap::new();
        for c in self.calls.iter().filter(|c| self.passes(c)) {
            // without an interface, `?.opnum 3` of one server is not that of another
            let label = match &c.interface {
                Some(_) => call_label(c),
                None => format!("{} at {}", call_label(c), c.server),
            };
            let e = by_op.entry(label).or_default();
            e.0 += 1;
            if c.outcome == Outcome::Fault {
                e.1 += 1;
            }
            if c.status.is_some_and(|s| s.severity() == Severity::Error) {
                e.2 += 1;
            }
            if let (Some(d), true) = (c.duration_us, c.outcome.answered()) {
                e.3.push(d);
            }
        }
        by_op
            .into_iter()
            .map(|(name, (calls, faults, errors, mut times))| {
                times.sort_unstable();
                let mut histogram = vec![0u64; HISTOGRAM_BUCKETS];
                for &t in &times {
                    let mut b = 0;
                    let mut edge = 16u64;
                    while t > edge && b + 1 < HISTOGRAM_BUCKETS {
                        edge *= 4;
                        b += 1;
                    }
                    histogram[b] += 1;
                }
                let summary = (!times.is_empty()).then(|| {
                    let sum: u64 = times.iter().sum();
                    [
                        times[0],
                        sum / times.len() as u64,
                        percentile(&times, 50),
                        percentile(&times, 95),
                        times[times.len() - 1],
                    ]
                });
                StatRow {
                    name,
                    calls,
                    faults,
                    errors,
                    times: summary,
                    histogram,
                }
            })
            .collect()
    }

    /// The row of the association `key` (made when new, first seen at `start`), and whether
    /// it is new.
    fn connection_row(&mut self, key: ConnKey, start: Timestamp) -> (usize, bool) {
        if let Some(&ci) = self.conn_index.get(&key) {
            return (ci, false);
        }
        let ci = self.connections.len();
        self.connections.push(ConnRow {
            client: key.0,
            server: key.1,
            transport: key.2,
            pipe: key.4.clone(),
            file_id: key.3.clone(),
            start,
            interfaces: Vec::new(),
            auth: None,
            calls: 0,
            faults: 0,
            duration_us: 0,
            span: (0, 0),
            endpoint_frame: None,
            call_indices: Vec::new(),
            shown: false,
            refused: None,
        });
        self.conn_index.insert(key, ci);
        (ci, true)
    }

    /// Notes the refusals among the PDUs from `first` on: the association's row says why,
    /// and an association refused before any call gets a row of its own (its interfaces from
    /// the bind just before).
    fn note_refusals(&mut self, first: usize) {
        /// PDUs looked back at for the bind a refusal answers, at most.
        const BIND_LOOKBACK: usize = 32;
        for n in first..self.notes.len() {
            let note = &self.notes[n];
            let refused = match &note.body {
                Body::BindNak(_) => true,
                Body::BindAck(a) | Body::AlterContextResp(a) => {
                    !a.results.is_empty() && a.results.iter().all(|r| !matches!(r.result, 0 | 3))
                }
                _ => false,
            };
            if !refused {
                continue;
            }
            let key = note_key(note);
            let why = crate::output::sanitize(&pdu_detail(note));
            let offered: Vec<String> = self.notes[n.saturating_sub(BIND_LOOKBACK)..n]
                .iter()
                .rev()
                .filter(|b| note_key(b) == key)
                .find_map(|b| match &b.body {
                    Body::Bind(bind) | Body::AlterContext(bind) => Some(
                        bind.contexts
                            .iter()
                            .map(|c| {
                                let s = c.abstract_syntax;
                                crate::dce::names::interface_name(s.uuid, s.major)
                                    .map_or_else(|| s.uuid.to_string(), str::to_string)
                            })
                            .collect(),
                    ),
                    _ => None,
                })
                .unwrap_or_default();
            let (ci, new) = self.connection_row(key, note.ts);
            let row = &mut self.connections[ci];
            row.refused = Some(why);
            for i in offered {
                if !row.interfaces.contains(&i) {
                    row.interfaces.push(i);
                }
            }
            if new && self.filter_compiled.is_none() && self.conn_endpoint.is_none() {
                row.shown = true;
                self.conn_filtered.push(ci);
            }
        }
    }

    fn add_calls(&mut self, calls: Vec<Call>) {
        for mut c in calls {
            if !self.live && self.calls.len() >= MAX_CALLS {
                self.calls_dropped += 1;
                continue;
            }
            if c.decoded.is_some() {
                if self.decoded_kept >= MAX_DECODED_CALLS {
                    c.decoded = None;
                    self.decoded_dropped += 1;
                } else {
                    self.decoded_kept += 1;
                }
            }
            if let Some(stubs) = &c.stubs {
                if self.stub_bytes_kept + stubs.len() > MAX_KEPT_STUB_BYTES {
                    c.stubs = None;
                    self.stubs_dropped += 1;
                } else {
                    self.stub_bytes_kept += stubs.len();
                }
            }
            let i = self.calls.len();
            let passes = self.passes(&c);
            if passes {
                self.filtered.push(i);
            }
            let key = (
                c.client,
                c.server,
                c.transport,
                c.file_id.clone(),
                c.pipe.clone(),
            );
            let ci = self.connection_row(key, c.start).0;
            let row = &mut self.connections[ci];
            row.calls += 1;
            if c.outcome == Outcome::Fault {
                row.faults += 1;
            }
            if row.pipe.is_none() {
                row.pipe.clone_from(&c.pipe);
            }
            if row.auth.is_none() {
                row.auth = c.auth.map(Auth::label);
            }
            row.endpoint_frame = row.endpoint_frame.or(c.endpoint_frame);
            let iface = c.interface.as_ref().map(interface_label);
            if let Some(n) = iface
                && !row.interfaces.contains(&n)
            {
                row.interfaces.push(n);
            }
            let span = (c.start.as_micros(), c.end.as_micros());
            row.span = if row.calls == 1 {
                span
            } else {
                (row.span.0.min(span.0), row.span.1.max(span.1))
            };
            row.duration_us = row.span.1 - row.span.0;
            row.call_indices.push(i);
            if passes && !row.shown {
                row.shown = true;
                if self.conn_endpoint.is_none() {
                    self.conn_filtered.push(ci);
                }
            }
            self.calls.push(c);
        }
        if self.live && self.calls.len() > self.history {
            // Age out a sixteenth more than needed, so the renumbering is not paid per call.
            let excess = self.calls.len() - self.history;
            self.age_out(excess.max(self.history / 16));
        }
        if self.call_sort != CallSort::Capture {
            self.sort_calls();
        }
        if self.follow {
            self.select(self.rows().saturating_sub(1));
        }
    }

    /// Puts the calls view in [`CallSort`]'s order (capture order: as they were added).
    fn sort_calls(&mut self) {
        let calls = &self.calls;
        let failed = |c: &Call| {
            c.outcome == Outcome::Fault || c.status.is_some_and(|s| s.severity() == Severity::Error)
        };
        match self.call_sort {
            CallSort::Capture => self.filtered.sort_unstable(),
            CallSort::Duration => self.filtered.sort_by(|&a, &b| {
                let d = |i: usize| {
                    calls[i]
                        .duration_us
                        .map_or(-1, |d| i64::try_from(d).unwrap_or(i64::MAX))
                };
                d(b).cmp(&d(a)).then(a.cmp(&b))
            }),
            CallSort::Operation => {
                self.filtered
                    .sort_by_cached_key(|&i| (call_label(&calls[i]), i));
            }
            CallSort::Server => self.filtered.sort_by_key(|&i| (calls[i].server, i)),
            CallSort::Outcome => self.filtered.sort_by_key(|&i| (!failed(&calls[i]), i)),
        }
    }

    /// Puts the endpoints in [`EndpointSort`]'s order (stable: ties keep the answers' order).
    fn sort_endpoints(&mut self) {
        match self.endpoint_sort {
            EndpointSort::Frame => self.endpoints.sort_by_key(|e| e.frame),
            EndpointSort::Interface => self
                .endpoints
                .sort_by_cached_key(|e| (e.interface_label().is_none(), e.interface_label())),
            EndpointSort::Binding => self.endpoints.sort_by(|a, b| a.binding.cmp(&b.binding)),
            EndpointSort::Uses => self
                .endpoints
                .sort_by_key(|e| std::cmp::Reverse(e.used_by.len())),
        }
        self.list_endpoints();
    }

    fn sort_connections(&mut self) {
        let rows = &self.connections;
        let key = self.conn_sort;
        self.conn_filtered.sort_by(|&a, &b| {
            let (x, y) = (&rows[a], &rows[b]);
            match key {
                ConnSort::FirstSeen => a.cmp(&b),
                ConnSort::Calls => y.calls.cmp(&x.calls).then(a.cmp(&b)),
                ConnSort::Faults => y.faults.cmp(&x.faults).then(a.cmp(&b)),
                ConnSort::Client => x.client.cmp(&y.client).then(a.cmp(&b)),
                ConnSort::Server => x.binding().cmp(&y.binding()).then(a.cmp(&b)),
            }
        });
    }

    /// Bind and alter_context PDUs of the association of a call (its presentation contexts).
    #[must_use]
    pub fn contexts_of(&self, c: &Call) -> Vec<&PduRecord> {
        self.notes
            .iter()
            .filter(|n| n.client == c.client && n.server == c.server && n.file_id == c.file_id)
            .filter(|n| {
                matches!(
                    n.body,
                    Body::Bind(_)
                        | Body::BindAck(_)
                        | Body::BindNak(_)
                        | Body::AlterContext(_)
                        | Body::AlterContextResp(_)
                )
            })
            .take(6)
            .collect()
    }

    fn conn_text(&self, ci: usize) -> String {
        self.connections.get(ci).map_or_else(String::new, |r| {
            format!(
                "{} {} {} {} {}",
                r.client,
                r.server,
                r.binding(),
                r.interfaces.join(" "),
                r.transport
            )
            .to_lowercase()
        })
    }

    /// ` (filter: EXPR)` for the titles of the views the filter applies to, empty without one.
    #[must_use]
    pub fn filter_note(&self) -> String {
        if self.filter_compiled.is_none() {
            return String::new();
        }
        format!(" (filter: {})", self.filter.trim())
    }

    /// True when `c` passes the filter in force.
    fn passes(&self, c: &Call) -> bool {
        self.filter_compiled.as_ref().is_none_or(|f| f.matches(c))
    }

    /// Applies the filter being typed: the calls it chooses, the connections with one of
    /// them. While the text is not a whole expression (`iface ==`), the message line says
    /// what is wrong and the last whole one stays in force.
    fn refilter(&mut self) {
        if self.filter.trim().is_empty() {
            self.filter_compiled = None;
        } else {
            match Filter::parse(&self.filter) {
                Ok(f) => {
                    self.filter_compiled = Some(f);
                    self.message = None;
                }
                Err(e) => {
                    self.message = Some(format!("filter: {e}"));
                    return;
                }
            }
        }
        self.stats_cache = None;
        self.filtered = (0..self.calls.len())
            .filter(|&i| self.passes(&self.calls[i]))
            .collect();
        self.list_connections();
        self.list_endpoints();
        self.sort_calls();
        self.selected[View::Calls.index()] = 0;
        self.offset[View::Calls.index()] = 0;
        self.selected[View::Connections.index()] = 0;
        self.offset[View::Connections.index()] = 0;
    }

    /// The connections the connections view lists: those with a call the filter chooses, and
    /// when reached from an endpoint, only those that used it; in the chosen order.
    fn list_connections(&mut self) {
        let used = self.conn_endpoint.clone();
        let mut conn_filtered = Vec::new();
        for ci in 0..self.connections.len() {
            let row = &self.connections[ci];
            // a refused association without calls is listed while no filter chooses calls
            let shown = row
                .call_indices
                .iter()
                .any(|&i| self.calls.get(i).is_some_and(|c| self.passes(c)))
                || row.call_indices.is_empty() && self.filter_compiled.is_none();
            self.connections[ci].shown = shown;
            let c = &self.connections[ci];
            let wanted = used
                .as_ref()
                .is_none_or(|u| u.used_by.contains(&format!("{}->{}", c.client, c.server)));
            if shown && wanted {
                conn_filtered.push(ci);
            }
        }
        self.conn_filtered = conn_filtered;
        self.sort_connections();
    }

    /// The endpoints the endpoints view lists: all without a filter; with one, those whose
    /// answer is a call it chooses or that a call it chooses used.
    fn list_endpoints(&mut self) {
        if self.filter_compiled.is_none() {
            self.ep_filtered = (0..self.endpoints.len()).collect();
            return;
        }
        let mut frames = std::collections::HashSet::new();
        for &i in &self.filtered {
            let c = &self.calls[i];
            frames.extend(c.endpoint_frame);
            if let Some(r) = &c.response {
                frames.extend(r.frames);
            }
        }
        self.ep_filtered = (0..self.endpoints.len())
            .filter(|&e| frames.contains(&self.endpoints[e].frame))
            .collect();
    }

    /// The row of the endpoints view showing endpoint `e` (index into `endpoints`).
    fn endpoint_row(&self, e: usize) -> Option<usize> {
        self.ep_filtered.iter().position(|&x| x == e)
    }

    /// Where the user is now, to come back to.
    fn here(&self) -> Place {
        Place {
            view: self.view,
            selected: self.selected,
            offset: self.offset,
            detail: self.detail,
            focus: self.focus,
            field: self.field,
            flow: self.flow,
            flow_scope: self.flow_scope,
            conn_endpoint: self.conn_endpoint.clone(),
        }
    }

    /// Remembers where the user is before a link takes them elsewhere.
    fn follow_link(&mut self) {
        if self.back.len() == MAX_BACK {
            self.back.remove(0);
        }
        self.back.push(self.here());
    }

    /// Back to where the last link was followed from; false when there is none.
    fn go_back(&mut self) -> bool {
        let Some(p) = self.back.pop() else {
            return false;
        };
        let relist = p.conn_endpoint != self.conn_endpoint;
        self.view = p.view;
        self.selected = p.selected;
        self.offset = p.offset;
        self.detail = p.detail;
        self.focus = p.focus;
        self.field = p.field;
        self.flow = p.flow;
        self.flow_scope = p.flow_scope;
        self.conn_endpoint = p.conn_endpoint;
        self.detail_from_link = false;
        if relist {
            self.list_connections();
        }
        // the lists may have changed since (a filter): stay within them
        let (field, row) = (self.field, self.cursor());
        self.select(row);
        self.field = field;
        true
    }

    /// The endpoint-mapper or OXID answer that announced the server endpoint of call `c`
    /// (index into `endpoints`).
    #[must_use]
    pub fn answer_of(&self, c: &Call) -> Option<usize> {
        let frame = c.endpoint_frame?;
        let key = format!("{}->{}", c.client, c.server);
        let port = c.server.port();
        let at_frame = || {
            self.endpoints
                .iter()
                .enumerate()
                .filter(|(_, e)| e.frame == frame)
        };
        at_frame()
            .find(|(_, e)| e.used_by.contains(&key))
            .or_else(|| at_frame().find(|(_, e)| e.port == Some(port)))
            .or_else(|| at_frame().next())
            .map(|(i, _)| i)
    }

    /// `a`: from the selected call to the answer that announced its endpoint.
    fn go_to_answer(&mut self) {
        let call = match self.view {
            View::Calls => self.selected_call(),
            View::Flow => match self.flow_rows().get(self.cursor()) {
                Some(FlowRow::Call(i)) => self.calls.get(*i),
                _ => None,
            },
            _ => None,
        };
        let Some(c) = call else {
            self.message = Some("choose a call first".to_string());
            return;
        };
        match self.answer_of(c) {
            Some(e) => {
                let Some(row) = self.endpoint_row(e) else {
                    self.message = Some("the filter hides the answer of this call".to_string());
                    return;
                };
                self.follow_link();
                self.switch(View::Endpoints.index());
                self.select(row);
            }
            None => {
                self.message = Some(if c.endpoint_frame.is_some() {
                    "the answer that announced this endpoint is not in the endpoints view"
                        .to_string()
                } else {
                    "no answer in the capture announced this call's endpoint".to_string()
                });
            }
        }
    }

    /// Searchable text of a row of the current view (`flow`: the call-flow rows, made once
    /// per search: making them is a sort of the client's items).
    fn row_text(&mut self, row: usize, flow: &[FlowRow]) -> String {
        match self.view {
            View::Calls => self
                .filtered
                .get(row)
                .map(|&i| call_text(&self.calls[i]))
                .unwrap_or_default(),
            View::Connections => self
                .conn_filtered
                .get(row)
                .map(|&i| self.conn_text(i))
                .unwrap_or_default(),
            View::Flow => match flow.get(row) {
                Some(FlowRow::Call(i)) => call_text(&self.calls[*i]),
                Some(FlowRow::Lookup(e)) => self.endpoints[*e].binding.to_lowercase(),
                Some(FlowRow::Note(n)) => pdu_detail(&self.notes[*n]).to_lowercase(),
                None => String::new(),
            },
            View::Endpoints => self
                .ep_filtered
                .get(row)
                .and_then(|&e| self.endpoints.get(e))
                .map(|e| {
                    format!(
                        "{} {} {}",
                        e.binding,
                        e.via,
                        e.interface
                            .as_ref()
                            .and_then(|i| i.name.clone())
                            .unwrap_or_default()
                    )
                    .to_lowercase()
                })
                .unwrap_or_default(),
            View::Stats => self
                .stats()
                .get(row)
                .map(|s| s.name.to_lowercase())
                .unwrap_or_default(),
        }
    }

    /// Starts a search of the current view for `self.search`: from the selected row itself
    /// while the text is typed (each key narrows it), from the next row for `n`.
    fn start_search(&mut self, from_next: bool) {
        self.start_search_towards(from_next, false);
    }

    /// As [`App::start_search`], upwards when `upwards` (`N`: the previous match).
    fn start_search_towards(&mut self, from_next: bool, upwards: bool) {
        let rows = self.rows();
        self.search_job = None;
        self.message = None;
        if self.search.is_empty() || rows == 0 {
            return;
        }
        let origin = if from_next {
            self.cursor()
        } else {
            self.search_origin.min(rows - 1)
        };
        let first = usize::from(from_next);
        self.search_job = Some(SearchJob {
            needle: self.search.to_lowercase(),
            view: self.view,
            origin,
            rows,
            next: first,
            upwards,
            end: rows + first,
            flow: if self.view == View::Flow {
                self.flow_rows()
            } else {
                Vec::new()
            },
        });
        self.work();
    }

    /// True while a search is under way: the caller keeps calling [`App::work`] between
    /// looks at the keyboard.
    #[must_use]
    pub fn busy(&self) -> bool {
        self.search_job.is_some()
    }

    /// What the interface asks of the terminal or the file system, once.
    pub fn take_request(&mut self) -> Option<Request> {
        self.request.take()
    }

    /// The calls an export writes: those the calls view shows, in its order.
    #[must_use]
    pub fn chosen_calls(&self) -> Vec<&Call> {
        self.filtered
            .iter()
            .filter_map(|&i| self.calls.get(i))
            .collect()
    }

    /// How far the search under way is, in percent.
    #[must_use]
    pub fn search_progress(&self) -> Option<usize> {
        self.search_job
            .as_ref()
            .map(|j| j.next * 100 / j.end.max(1))
    }

    /// Looks at the next [`SEARCH_ROWS_PER_SLICE`] rows of the search under way: selects the
    /// first match and ends the search, or says there is none once every row was looked at.
    pub fn work(&mut self) {
        let Some(mut job) = self.search_job.take() else {
            return;
        };
        if job.view != self.view {
            return;
        }
        let stop = (job.next + SEARCH_ROWS_PER_SLICE).min(job.end);
        for step in job.next..stop {
            let row = if job.upwards {
                (job.origin + job.rows - step % job.rows) % job.rows
            } else {
                (job.origin + step) % job.rows
            };
            if self.row_text(row, &job.flow).contains(&job.needle) {
                self.select(row);
                self.message = None;
                return;
            }
        }
        job.next = stop;
        if stop >= job.end {
            self.select(job.origin);
            self.message = Some(format!("no match for {:?}", self.search));
            return;
        }
        self.search_job = Some(job);
    }

    /// Stops the search under way, the selection back where it began.
    fn cancel_search(&mut self) {
        if let Some(job) = self.search_job.take()
            && job.view == self.view
        {
            self.select(job.origin);
        }
    }

    /// Keeps `filter` in the history (once, newest last).
    fn remember_filter(&mut self) {
        let text = self.filter.trim().to_string();
        self.history_at = None;
        if text.is_empty() {
            return;
        }
        self.filter_history.retain(|f| *f != text);
        self.filter_history.push(text);
        if self.filter_history.len() > MAX_FILTER_HISTORY {
            self.filter_history.remove(0);
        }
    }

    /// ↑ (`older`) or ↓ in the filter bar: the previous or next filter of the history.
    fn browse_filters(&mut self, older: bool) {
        let n = self.filter_history.len();
        if n == 0 {
            return;
        }
        let at = match (self.history_at, older) {
            (None, true) => Some(n - 1),
            (None, false) => None,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) => (i + 1 < n).then_some(i + 1),
        };
        self.history_at = at;
        self.filter = at.map_or_else(String::new, |i| self.filter_history[i].clone());
        self.refilter();
    }

    /// Selects `row` of the current view and scrolls it into sight (in the flow view, with
    /// all the lines of its item).
    fn select(&mut self, row: usize) {
        let v = self.view.index();
        let flow = (self.view == View::Flow).then(|| self.flow_rows());
        let n = flow.as_ref().map_or_else(|| self.rows(), Vec::len);
        let row = row.min(n.saturating_sub(1));
        self.selected[v] = row;
        let page = self.page.max(1);
        if row < self.offset[v] {
            self.offset[v] = row;
        } else if let Some(flow) = flow {
            // the first item from which the lines up to the selected one's last fit the page,
            // no earlier than the current first
            let mut used = 0;
            let mut first = row + 1;
            while first > self.offset[v] {
                let lines = flow.get(first - 1).map_or(1, |r| r.lines());
                if used + lines > page {
                    break;
                }
                used += lines;
                first -= 1;
            }
            self.offset[v] = self.offset[v].max(first.min(row));
        } else if row >= self.offset[v] + page {
            self.offset[v] = row + 1 - page;
        }
        self.field = 0;
    }

    /// Rows a page moves in the current view: the page's lines, or in the flow view the
    /// items drawn on it.
    fn page_rows(&self) -> usize {
        if self.view == View::Flow {
            self.flow_window(&self.flow_rows()).len().max(1)
        } else {
            self.page.max(1)
        }
    }

    /// A click at column `x`, row `y` of the screen: the list row drawn there is selected
    /// (the list focused); a click on the detail pane focuses it and chooses the parameter,
    /// field or stub row drawn there.
    fn click(&mut self, x: u16, y: u16) {
        let inside = |a: Rect| x >= a.x && x < a.right() && y >= a.y && y < a.bottom();
        if self.detail && inside(self.detail_area) {
            self.focus = Focus::Detail;
            let row = usize::from(y.saturating_sub(self.detail_area.y + 1));
            if let Some(&Some(item)) = self.detail_drawn.items.get(row) {
                self.field = item;
            }
            return;
        }
        let list = self.list_area;
        // the block's top border and the header line come before the first row
        let first_line = list.y + 2;
        if !inside(list) || y < first_line || y + 1 >= list.bottom() {
            return;
        }
        let line = usize::from(y - first_line);
        let target = if self.view == View::Flow {
            let rows = self.flow_rows();
            let window = self.flow_window(&rows);
            let mut at = 0;
            let mut hit = None;
            for r in window {
                at += rows[r].lines();
                if line < at {
                    hit = Some(r);
                    break;
                }
            }
            hit
        } else {
            Some(self.first_visible() + line).filter(|&r| r < self.rows())
        };
        if let Some(row) = target {
            self.focus = Focus::List;
            self.select(row);
        }
    }

    /// The selectable items of the detail: the lines of the parameter tree, the header
    /// fields of the request's and the response's first PDU, then the rows of 16 bytes of the
    /// request's and the response's whole stubs.
    fn detail_items(&self) -> usize {
        let Some(c) = self.selected_call() else {
            return 0;
        };
        let fields: usize = c.heads.iter().map(|h| pdu_fields(h).len()).sum();
        let stub_rows: usize = whole_stubs(c).iter().map(|s| s.len().div_ceil(16)).sum();
        self.parameter_tree().len() + fields + stub_rows
    }

    fn move_by(&mut self, delta: i64) {
        if self.detail && self.focus == Focus::Detail {
            let last = self.detail_items().saturating_sub(1);
            let field = usize::try_from((self.field as i64 + delta).max(0)).unwrap_or(0);
            self.field = field.min(last);
            return;
        }
        let target = (self.cursor() as i64 + delta).max(0);
        self.select(usize::try_from(target).unwrap_or(0));
    }

    /// Applies one action.
    pub fn update(&mut self, action: Action) {
        self.apply(action);
        self.refresh_detail();
    }

    /// An action while a prompt (search, filter, export) takes the keys: true when the prompt
    /// used it.
    fn typed(&mut self, action: &Action) -> bool {
        match (self.input, action) {
            (Input::Search, Action::Char(c)) => {
                self.search.push(*c);
                self.start_search(false);
            }
            (Input::Search, Action::Backspace) => {
                self.search.pop();
                self.start_search(false);
            }
            (Input::Filter, Action::Char(c)) => {
                self.filter.push(*c);
                self.refilter();
            }
            (Input::Filter, Action::Backspace) => {
                self.filter.pop();
                self.refilter();
            }
            (Input::Filter, Action::Up | Action::Down) => {
                self.browse_filters(matches!(action, Action::Up));
            }
            (Input::Export, Action::Char(c)) => self.export_path.push(*c),
            (Input::Export, Action::Backspace) => {
                self.export_path.pop();
            }
            (_, Action::Enter) => {
                match self.input {
                    // a search goes on after Enter until it finds or ends
                    Input::Search | Input::Normal => {}
                    Input::Filter => self.remember_filter(),
                    Input::Export => {
                        let path = self.export_path.trim();
                        if !path.is_empty() {
                            self.request = Some(Request::Export(PathBuf::from(path)));
                        }
                    }
                }
                self.input = Input::Normal;
            }
            (_, Action::Back) => {
                match self.input {
                    Input::Filter => {
                        self.filter.clear();
                        self.refilter();
                        self.history_at = None;
                    }
                    Input::Search => {
                        self.search_job = None;
                        self.select(self.search_origin);
                    }
                    Input::Export | Input::Normal => {}
                }
                self.input = Input::Normal;
            }
            _ => return false,
        }
        true
    }

    /// What `y` copies: in the focused detail the chosen line (a parameter, a PDU field, a
    /// row of stub bytes), otherwise the selected row as the view shows it.
    fn copied_text(&mut self) -> Option<String> {
        if self.detail && self.focus == Focus::Detail {
            let c = self.selected_call()?;
            let tree = self.parameter_tree();
            if let Some(line) = tree.get(self.field) {
                return Some(line.text.trim().to_string());
            }
            let mut item = tree.len();
            for head in &c.heads {
                for (k, v, _) in pdu_fields(head) {
                    if item == self.field {
                        return Some(format!("{k} {v}"));
                    }
                    item += 1;
                }
            }
            for bytes in whole_stubs(c) {
                let rows = bytes.len().div_ceil(16);
                if let Some(row) = self.field.checked_sub(item).filter(|&r| r < rows) {
                    let chunk = bytes.get(row * 16..(row * 16 + 16).min(bytes.len()))?;
                    return Some(chunk.iter().map(|b| format!("{b:02x}")).collect());
                }
                item += rows;
            }
            return None;
        }
        let row = self.cursor();
        if self.view == View::Calls {
            return self.selected_call().map(|c| call_row(c).join("\t"));
        }
        let flow = if self.view == View::Flow {
            self.flow_rows()
        } else {
            Vec::new()
        };
        Some(self.row_text(row, &flow)).filter(|t| !t.is_empty())
    }

    fn apply(&mut self, action: Action) {
        if self.input != Input::Normal && self.typed(&action) {
            return;
        }
        if !matches!(
            action,
            Action::Calls(_)
                | Action::Notes(_)
                | Action::Progress(..)
                | Action::Capture(_)
                | Action::Endpoints(_)
        ) {
            self.message = None;
        }
        let page = if self.detail && self.focus == Focus::Detail {
            i64::from(self.detail_area.height.saturating_sub(2).max(1))
        } else {
            i64::try_from(self.page_rows()).unwrap_or(1)
        };
        // while the help is open, the moving keys scroll it
        let help_moved = match action {
            Action::Up => Some(-1),
            Action::Down => Some(1),
            Action::PageUp => Some(-page),
            Action::PageDown => Some(page),
            Action::Scroll(n) => Some(i64::from(n)),
            Action::Home => Some(i64::MIN),
            Action::End => Some(i64::MAX),
            _ => None,
        };
        if let (true, Some(by)) = (self.help, help_moved) {
            let at = i64::try_from(self.help_scroll).unwrap_or(i64::MAX);
            self.help_scroll = usize::try_from(at.saturating_add(by).max(0)).unwrap_or(usize::MAX);
            return;
        }
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            // with the detail focused, its first and last field
            Action::Home if self.detail && self.focus == Focus::Detail => self.field = 0,
            Action::End if self.detail && self.focus == Focus::Detail => {
                self.field = self.detail_items().saturating_sub(1);
            }
            Action::Home => self.select(0),
            Action::End => self.select(usize::MAX),
            Action::NextView => self.switch((self.view.index() + 1) % View::ALL.len()),
            Action::PrevView => {
                self.switch((self.view.index() + View::ALL.len() - 1) % View::ALL.len())
            }
            Action::View(n) if (1..=View::ALL.len()).contains(&n) => self.switch(n - 1),
            Action::View(_) | Action::Char(_) | Action::Backspace => {}
            Action::Enter => self.enter(),
            Action::Back => {
                if self.busy() {
                    self.cancel_search();
                    self.message = Some("search cancelled".to_string());
                } else if self.help {
                    self.help = false;
                } else if self.detail && !self.detail_from_link {
                    self.detail = false;
                    self.focus = Focus::List;
                } else if !self.back.is_empty() {
                    self.go_back();
                } else if self.detail {
                    self.detail = false;
                    self.focus = Focus::List;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.refilter();
                } else if self.view == View::Flow {
                    self.switch(View::Connections.index());
                }
            }
            Action::FocusNext => {
                if self.detail {
                    self.focus = if self.focus == Focus::List {
                        Focus::Detail
                    } else {
                        Focus::List
                    };
                } else {
                    self.update(Action::NextView);
                }
            }
            Action::StartSearch => {
                self.search_job = None;
                self.search_origin = self.cursor();
                self.input = Input::Search;
                self.search.clear();
            }
            Action::StartFilter => self.input = Input::Filter,
            Action::ToggleTime => self.time_mode = self.time_mode.next(),
            Action::GoToAnswer => self.go_to_answer(),
            Action::Copy => match self.copied_text() {
                Some(text) => self.request = Some(Request::Clipboard(text)),
                None => self.message = Some("nothing to copy here".to_string()),
            },
            Action::CopyWiresharkFilter => {
                let text = match self.view {
                    View::Calls => self.selected_call().map(wireshark_filter),
                    View::Flow => match self.flow_rows().get(self.cursor()) {
                        Some(FlowRow::Call(i)) => self.calls.get(*i).map(wireshark_filter),
                        _ => None,
                    },
                    _ => None,
                };
                match text {
                    Some(text) => self.request = Some(Request::Clipboard(text)),
                    None => self.message = Some("choose a call first".to_string()),
                }
            }
            Action::StartExport => {
                if self.export_path.is_empty() {
                    self.export_path = DEFAULT_EXPORT_FILE.to_string();
                }
                self.input = Input::Export;
            }
            Action::NextMatch => self.start_search(true),
            Action::PreviousMatch => self.start_search_towards(true, true),
            Action::Help => {
                self.help = !self.help;
                self.help_scroll = 0;
            }
            Action::ToggleFollow => {
                self.follow = !self.follow;
                if self.follow {
                    self.select(usize::MAX);
                }
            }
            Action::Scroll(n) => self.move_by(i64::from(n)),
            Action::Click(x, y) => self.click(x, y),
            Action::ToggleFlowScope => {
                self.flow_scope = match self.flow_scope {
                    FlowScope::Connection => FlowScope::Host,
                    FlowScope::Host => FlowScope::Connection,
                };
                if self.view == View::Flow {
                    self.select(0);
                }
            }
            Action::Resize(h) => self.page = usize::from(h).max(1),
            Action::Quit => self.quit = true,
            Action::Calls(calls) => self.add_calls(calls),
            Action::Notes(notes) if self.live => {
                let first = self.notes.len();
                self.notes
                    .extend(notes.into_iter().filter(|n| !n.is_call_pdu()));
                self.note_refusals(first);
                if self.notes.len() > MAX_NOTES {
                    let excess = self.notes.len() - MAX_NOTES;
                    self.notes.drain(..excess.max(MAX_NOTES / 16));
                }
            }
            Action::Notes(notes) => {
                let first = self.notes.len();
                let room = MAX_NOTES.saturating_sub(self.notes.len());
                let notes = notes.into_iter().filter(|n| !n.is_call_pdu());
                self.notes.extend(notes.take(room));
                self.note_refusals(first);
            }
            Action::Capture(stats) => self.capture = Some(stats),
            Action::Endpoints(endpoints) => {
                self.endpoints = endpoints;
                self.sort_endpoints();
            }
            Action::Sort => match self.view {
                View::Calls => {
                    self.call_sort = self.call_sort.next();
                    self.sort_calls();
                }
                View::Stats => {
                    self.stat_sort = self.stat_sort.next();
                    self.stats_cache = None;
                }
                View::Connections => {
                    self.conn_sort = self.conn_sort.next();
                    self.sort_connections();
                }
                View::Endpoints => {
                    self.endpoint_sort = self.endpoint_sort.next();
                    self.sort_endpoints();
                }
                View::Flow => {}
            },
            Action::Progress(read, total) => self.progress = (read, total),
            Action::Done(summary, endpoints, stopped) => {
                self.sort_connections();
                self.summary = Some(summary);
                self.endpoints = endpoints;
                self.sort_endpoints();
                self.stopped_by = stopped;
                self.done = true;
            }
        }
    }

    fn switch(&mut self, i: usize) {
        self.view = View::ALL[i.min(View::ALL.len() - 1)];
        self.detail = false;
        self.focus = Focus::List;
        if self.view == View::Flow && self.flow.is_none() {
            self.flow = self.selected_call().and_then(|c| self.connection_of(c));
        }
        if self.view == View::Stats {
            self.stats();
        }
        let row = self.cursor();
        self.select(row);
    }

    fn connection_of(&self, c: &Call) -> Option<usize> {
        let key = (
            c.client,
            c.server,
            c.transport,
            c.file_id.clone(),
            c.pipe.clone(),
        );
        self.conn_index.get(&key).copied()
    }

    fn enter(&mut self) {
        match self.view {
            View::Calls if self.detail && self.focus == Focus::Detail => {
                self.toggle_fold(self.field);
            }
            View::Calls => {
                if self.selected_call().is_some() {
                    self.detail = true;
                    self.detail_from_link = false;
                    self.focus = Focus::List;
                }
            }
            View::Connections => {
                let Some(ci) = self.conn_filtered.get(self.cursor()).copied() else {
                    return;
                };
                self.follow_link();
                self.flow = Some(ci);
                self.flow_scope = FlowScope::Connection;
                self.switch(View::Flow.index());
                self.select(0);
            }
            View::Flow => match self.flow_rows().get(self.cursor()).copied() {
                Some(FlowRow::Call(i)) => {
                    if let Some(row) = self.filtered.iter().position(|&x| x == i) {
                        self.follow_link();
                        self.switch(View::Calls.index());
                        self.select(row);
                        self.detail = true;
                        self.detail_from_link = true;
                    }
                }
                Some(FlowRow::Lookup(e)) => {
                    if let Some(row) = self.endpoint_row(e) {
                        self.follow_link();
                        self.switch(View::Endpoints.index());
                        self.select(row);
                    }
                }
                Some(FlowRow::Note(_)) | None => {}
            },
            View::Endpoints => {
                let Some(e) = self
                    .ep_filtered
                    .get(self.cursor())
                    .and_then(|&e| self.endpoints.get(e))
                else {
                    return;
                };
                if e.used_by.is_empty() {
                    self.message = Some("no later connection used this endpoint".to_string());
                    return;
                }
                let users = EndpointUsers {
                    label: format!(
                        "{} at {} (answer in frame {})",
                        e.interface_label()
                            .unwrap_or_else(|| "an object exporter".into()),
                        e.binding,
                        e.frame
                    ),
                    used_by: e.used_by.clone(),
                };
                self.follow_link();
                self.conn_endpoint = Some(Arc::new(users));
                self.list_connections();
                self.switch(View::Connections.index());
                self.select(0);
            }
            View::Stats => {}
        }
    }
}

/// An item of the flow view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowRow {
    /// The endpoint-mapper answer (index into `endpoints`) that announced the endpoint.
    Lookup(usize),
    /// A bind, bind_ack, alter_context, ... (index into `notes`).
    Note(usize),
    /// A call (index into `calls`).
    Call(usize),
}

impl FlowRow {
    /// Lines the item takes in the flow view: a call's request and its answer, one for the
    /// rest.
    #[must_use]
    pub fn lines(self) -> usize {
        match self {
            FlowRow::Call(_) => 2,
            FlowRow::Lookup(_) | FlowRow::Note(_) => 1,
        }
    }
}

/// Rows of 16 bytes one page of a stub's hex shows in the detail pane.
pub const STUB_PAGE_ROWS: usize = 32;

/// The request's and the response's stubs of a call as kept whole for its detail (empty when
/// not kept, not captured whole, or a fault).
#[must_use]
pub fn whole_stubs(c: &Call) -> [&[u8]; 2] {
    fn whole(side: &SideStub) -> &[u8] {
        match side {
            SideStub::Whole(bytes) => bytes,
            SideStub::NotWhole | SideStub::Fault => &[],
        }
    }
    c.stubs
        .as_ref()
        .map_or([&[], &[]], |s| [whole(&s.request), whole(&s.response)])
}

/// The connection-view key of a PDU that is not part of a call.
fn note_key(n: &PduRecord) -> ConnKey {
    (
        n.client,
        n.server,
        n.transport,
        n.file_id.clone(),
        n.pipe.clone(),
    )
}

/// The string binding of a server endpoint: `transport:host[port]`, or `ncacn_np:host[pipe]`.
fn binding(transport: &str, server: SocketAddr, pipe: Option<&str>) -> String {
    let (host, port) = (server.ip(), server.port());
    match pipe {
        Some(p) if transport == "ncacn_np" => format!("ncacn_np:{host}[{p}]"),
        _ if transport == "ncacn_np" => format!("ncacn_np:{host}[?]"),
        _ => format!("{transport}:{host}[{port}]"),
    }
}

/// The parameter tree of a call decoded from its kept stubs with the operation's plan.
fn decode_on_demand(library: Option<&crate::idl::Library>, stubs: &CallStubs) -> Vec<TreeLine> {
    let Some(lib) = library else {
        return Vec::new();
    };
    match plan_of(lib, stubs) {
        Ok(plan) => decode_call_tree(&plan, stubs.opnum, stubs)
            .into_iter()
            .map(|mut l| {
                l.text = crate::output::sanitize(&l.text);
                l
            })
            .collect(),
        Err(why) => vec![TreeLine {
            text: format!("not decoded: {why}"),
            at: None,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call of `pipe` on FileId 7 to `server`, without an interface.
    fn call(server: &str, pipe: &str, call_id: u32) -> Call {
        let mut c = Call::for_tests(call_id, u64::from(call_id), u64::from(call_id));
        c.client = "10.0.0.1:50000".parse().unwrap();
        c.server = server.parse().unwrap();
        c.transport = "ncacn_np";
        c.file_id = Some("7".into());
        c.pipe = Some(pipe.into());
        c.opnum = Some(3);
        c
    }

    #[test]
    fn a_file_id_given_again_to_another_pipe_is_another_connection() {
        let mut app = App::new("t");
        app.update(Action::Calls(vec![
            call("10.0.0.2:445", "samr", 1),
            call("10.0.0.2:445", "samr", 2),
            call("10.0.0.2:445", "lsarpc", 3),
        ]));
        let pipes: Vec<_> = app.connections.iter().map(|r| r.pipe.clone()).collect();
        assert_eq!(pipes, [Some("samr".into()), Some("lsarpc".into())]);
        assert_eq!(app.connections[0].calls, 2);
    }

    #[test]
    fn statistics_keep_unknown_interfaces_of_different_servers_apart() {
        let mut app = App::new("t");
        app.update(Action::Calls(vec![
            call("10.0.0.2:445", "x", 1),
            call("10.0.0.3:445", "x", 2),
            call("10.0.0.3:445", "x", 3),
        ]));
        let rows: Vec<(String, u64)> = app
            .stats()
            .iter()
            .map(|r| (r.name.clone(), r.calls))
            .collect();
        assert_eq!(
            rows,
            [
                ("?.opnum 3 at 10.0.0.2:445".to_string(), 1),
                ("?.opnum 3 at 10.0.0.3:445".to_string(), 2)
            ]
        );
    }

    #[test]
    fn a_request_s_object_uuid_is_shown_in_its_header_fields() {
        let object = "99fcfec4-5260-101b-bbcb-00aa0021347a";
        let uuid = crate::dce::Uuid::parse(object).unwrap();
        let mut head = vec![5, 0, 0, 0x83, 0x10, 0, 0, 0];
        head.extend(40u16.to_le_bytes());
        head.extend(0u16.to_le_bytes());
        head.extend(7u32.to_le_bytes());
        head.extend(0u32.to_le_bytes());
        head.extend(0u16.to_le_bytes());
        head.extend(3u16.to_le_bytes());
        // the first three fields little-endian, as the data representation says
        let mut wire = uuid.0;
        wire[0..4].reverse();
        wire[4..6].reverse();
        wire[6..8].reverse();
        head.extend(wire);
        let fields = pdu_fields(&head);
        let shown = fields.iter().find(|(k, _, _)| k == "object").unwrap();
        assert_eq!((shown.1.as_str(), shown.2.clone()), (object, 24..40));
        let cut = pdu_fields(&head[..30]);
        let shown = cut.iter().find(|(k, _, _)| k == "object").unwrap();
        assert_eq!(shown.1, "(cut short)");
    }
}
