//! Rendering: a pure function of [`App`]. Only the visible rows of a list are built, so a
//! million calls scroll as fast as ten. Faults and incomplete calls are marked by a symbol as
//! well as a colour, so the screens read the same without colour (`NO_COLOR`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row, Table, Tabs, Wrap};

use super::app::{
    self, App, FlowRow, FlowScope, Focus, Input, TimeMode, View, call_label, duration,
    outcome_mark, sealed,
};
use super::columns::{Column, Cut, fit, fit_widths};
use crate::idl::values::{Direction as Side, SideStub};
use crate::model::{Call, Outcome};
use crate::output::sanitize;
use crate::output::text::pdu_detail;
use crate::status::Severity;

/// Colours, or none.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    /// Use colours.
    pub color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    fn header(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn outcome(self, outcome: Outcome) -> Style {
        match outcome {
            Outcome::Fault => self.fg(Color::Red),
            Outcome::Incomplete => self.fg(Color::Yellow),
            Outcome::NoResponse => self.fg(Color::Magenta),
            Outcome::Response => self.fg(Color::Green),
        }
    }
    /// A call's outcome, its return code counted: a failing code is red, a warning yellow.
    fn call_outcome(self, c: &Call) -> Style {
        match (c.outcome, c.status.map(|s| s.severity())) {
            (Outcome::Response, Some(Severity::Error)) => self.fg(Color::Red),
            (Outcome::Response, Some(Severity::Warning)) => self.fg(Color::Yellow),
            // answered, but sealed: whether it worked is not known
            (Outcome::Response, None) if sealed(c) => self.fg(Color::Yellow),
            (o, _) => self.outcome(o),
        }
    }
}

/// The smallest terminal the views are drawn in; a smaller one gets a message saying so.
pub const MIN_WIDTH: u16 = 40;
/// See [`MIN_WIDTH`].
pub const MIN_HEIGHT: u16 = 10;

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, app: &mut App, theme: Theme) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "The terminal is {}x{}; rpcscope needs at least {MIN_WIDTH}x{MIN_HEIGHT}. q quits.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .split(area);
    let titles: Vec<Line<'_>> = View::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| Line::from(format!("{} {}", i + 1, v.title())))
        .collect();
    let current = View::ALL.iter().position(|&v| v == app.view).unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(current)
            .highlight_style(theme.selected())
            .divider("│"),
        parts[0],
    );
    let body = parts[1];
    let (list, detail) = if app.view == View::Calls {
        calls_layout(app, body)
    } else {
        (body, None)
    };
    // Table borders and header (the flow's lifeline names) take three rows.
    app.page = usize::from(list.height.saturating_sub(3)).max(1);
    app.list_area = list;
    app.detail_area = detail.unwrap_or_default();
    match app.view {
        View::Calls => app.detail_drawn = draw_calls(f, app, list, detail, theme),
        View::Connections => draw_connections(f, app, body, theme),
        View::Flow => draw_flow(f, app, body, theme),
        View::Endpoints => draw_endpoints(f, app, body, theme),
        View::Stats => draw_stats(f, app, body, theme),
    }
    draw_status(f, app, parts[2], theme);
    if app.help {
        draw_help(f, app, area);
    }
}

fn window(app: &App, len: usize) -> std::ops::Range<usize> {
    let start = app.first_visible().min(len);
    start..(start + app.page).min(len)
}

/// `Name {uuid}` for a COM interface or class, the UUID alone when it has no name.
fn named(name: Option<&str>, uuid: &str) -> String {
    match name {
        Some(n) => format!("{n} {{{uuid}}}"),
        None => format!("{{{uuid}}}"),
    }
}

/// The detail lines of a DCOM activation or OXID resolution: the class activated, the
/// interfaces asked for, the interface pointers created (IID, IPID, OXID).
fn dcom_lines(c: &Call) -> Vec<(&'static str, String)> {
    let Some(o) = c.oxid.as_ref() else {
        return Vec::new();
    };
    let iface_name = |iid: &str| {
        crate::dce::Uuid::parse(iid)
            .and_then(|u| crate::dce::names::interface_name(u, 0))
            .map(|n| format!("I{n}"))
    };
    let mut out = Vec::new();
    if let Some(clsid) = &o.clsid {
        out.push(("activation", named(o.class_name.as_deref(), clsid)));
    }
    for iid in &o.requested_interfaces {
        out.push(("asks for", named(iface_name(iid).as_deref(), iid)));
    }
    for p in &o.interface_pointers {
        out.push((
            "created",
            format!(
                "{} IPID {}, OXID {}",
                iface_name(&p.iid).unwrap_or_else(|| format!("{{{}}}", p.iid)),
                p.ipid,
                p.oxid
            ),
        ));
    }
    out
}

/// Examples of each anomaly the empty calls view repeats, at most.
const WHY_EXAMPLES: usize = 3;

/// What the calls view says when the capture has no call: what the analysis saw instead
/// (encrypted SMB3, connections without DCE/RPC, refused binds) from the summary.
fn why_no_calls(app: &App) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from("No DCE/RPC call was found in this capture.")];
    let Some(summary) = &app.summary else {
        return lines;
    };
    let encrypted = summary
        .counters
        .get("smb3_encrypted_messages")
        .copied()
        .unwrap_or(0);
    if encrypted > 0 {
        lines.push(Line::from(format!(
            "{encrypted} SMB3 messages are encrypted and were not decrypted: the calls inside \
             them need the session's key (--keys with an `smb3 SESSION_ID KEY` line, or \
             --keytab; docs/decryption.md)."
        )));
    }
    lines.push(Line::from(format!(
        "{} frames, {} TCP connections ({} with DCE/RPC, {} with SMB).",
        summary.frames.total,
        summary.tcp.connections,
        summary.tcp.dcerpc_connections,
        summary.tcp.smb_connections
    )));
    if !app.conn_filtered.is_empty() {
        lines.push(Line::from(format!(
            "{} associations had a bind refused (view 2).",
            app.conn_filtered.len()
        )));
    }
    for (kind, entry) in &summary.anomalies {
        lines.push(Line::from(format!("{kind}: {}", entry.count)));
        for e in entry.examples.iter().take(WHY_EXAMPLES) {
            lines.push(Line::from(format!("  {}", sanitize(&e.detail))));
        }
    }
    lines
}

/// The texts of column `k` of each row.
fn column_texts<T: AsRef<[String]>>(cells: &[T], k: usize) -> Vec<String> {
    cells.iter().map(|c| c.as_ref()[k].clone()).collect()
}

/// A list's rows: the texts of each shown row (its index in the view, its cells) cut to the
/// widths of the columns kept, the selected row highlighted, and `style(i, k)` for the cells
/// with a style of their own (shown row `i`, column `k`).
fn list_rows<T: AsRef<[String]>>(
    shown: &[usize],
    cells: &[T],
    columns: &[Column],
    widths: &[Option<usize>],
    cursor: usize,
    theme: Theme,
    style: impl Fn(usize, usize) -> Option<Style>,
) -> Vec<Row<'static>> {
    shown
        .iter()
        .zip(cells)
        .enumerate()
        .map(|(i, (&r, texts))| {
            let row: Vec<Cell<'static>> = texts
                .as_ref()
                .iter()
                .zip(columns)
                .zip(widths)
                .enumerate()
                .filter_map(|(k, ((text, col), w))| {
                    let cell = Cell::from(fit(text, (*w)?, col.cut));
                    Some(match style(i, k) {
                        Some(s) => cell.style(s),
                        None => cell,
                    })
                })
                .collect();
            let selected = if r == cursor {
                theme.selected()
            } else {
                Style::default()
            };
            Row::new(row).style(selected)
        })
        .collect()
}

/// The headers and widths of the columns [`fit_widths`] kept.
fn shown_columns(
    columns: &[Column],
    widths: &[Option<usize>],
) -> (Vec<&'static str>, Vec<Constraint>) {
    columns
        .iter()
        .zip(widths)
        .filter_map(|(c, w)| {
            Some((
                c.header,
                Constraint::Length(u16::try_from((*w)?).unwrap_or(u16::MAX)),
            ))
        })
        .unzip()
}

/// A time after another (`+1.250 s`, `+0.120 ms`), `-` when there is none.
fn since(us: Option<i64>) -> String {
    match us {
        Some(us) if us < 0 => format!("-{}", duration(Some(us.unsigned_abs()))),
        Some(us) => format!("+{}", duration(Some(us.unsigned_abs()))),
        None => "-".to_string(),
    }
}

fn table<'a>(
    title: String,
    header: Vec<&'a str>,
    rows: Vec<Row<'a>>,
    widths: Vec<Constraint>,
    theme: Theme,
) -> Table<'a> {
    Table::new(rows, widths)
        .header(Row::new(header).style(theme.header()))
        .block(Block::default().borders(Borders::ALL).title(title))
        .column_spacing(1)
}

/// The calls list and, when open, the detail pane: side by side from 120 columns, one above
/// the other below.
fn calls_layout(app: &App, area: Rect) -> (Rect, Option<Rect>) {
    if !app.detail {
        return (area, None);
    }
    let dir = if area.width >= 120 {
        Direction::Horizontal
    } else {
        Direction::Vertical
    };
    let p = Layout::default()
        .direction(dir)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .split(area);
    (p[0], Some(p[1]))
}

/// Draws the calls list and, when open, the detail of the selected call (what it drew is
/// returned).
fn draw_calls(
    f: &mut Frame<'_>,
    app: &App,
    list: Rect,
    detail: Option<Rect>,
    theme: Theme,
) -> app::DetailDrawn {
    let range = window(app, app.filtered.len());
    let shown: Vec<(usize, &Call)> = range
        .clone()
        .filter_map(|r| Some((r, app.calls.get(*app.filtered.get(r)?)?)))
        .collect();
    let first_start = app.calls.first().map(|c| c.start.as_micros());
    let previous = |r: usize| {
        r.checked_sub(1)
            .and_then(|p| app.filtered.get(p))
            .and_then(|&i| app.calls.get(i))
            .map(|c| c.start.as_micros())
    };
    let cells: Vec<[String; 7]> = shown
        .iter()
        .map(|&(r, c)| {
            let [frame, utc, client, server, label, outcome, took] = app::call_row(c);
            let time = match app.time_mode {
                TimeMode::Utc => utc.get(..12).unwrap_or(&utc).to_string(),
                TimeMode::SinceFirst => since(first_start.map(|t| c.start.as_micros() - t)),
                TimeMode::SincePrevious => {
                    since(Some(previous(r).map_or(0, |p| c.start.as_micros() - p)))
                }
            };
            [frame, time, client, server, label, outcome, took]
        })
        .collect();
    let column = |k: usize| column_texts(&cells, k);
    let columns = [
        Column::kept("Frame", &column(0)),
        Column::optional(app.time_mode.header(), &column(1), 2),
        Column::optional("Client", &column(2), 3),
        Column::kept("Server", &column(3)),
        Column::cut("Interface.Operation", &column(4), 40, 12, Cut::Label),
        Column::kept("Outcome", &column(5)),
        Column::optional("Duration", &column(6), 1),
    ];
    let widths = fit_widths(&columns, usize::from(list.width.saturating_sub(2)));
    let indices: Vec<usize> = shown.iter().map(|(r, _)| *r).collect();
    let rows = list_rows(
        &indices,
        &cells,
        &columns,
        &widths,
        app.cursor(),
        theme,
        |i, k| (columns[k].header == "Outcome").then(|| theme.call_outcome(shown[i].1)),
    );
    let (header, widths) = shown_columns(&columns, &widths);
    let order = if app.call_sort == app::CallSort::Capture {
        String::new()
    } else {
        format!(", by {}", app.call_sort.name())
    };
    let shown = if app.filter.is_empty() {
        format!("Calls ({}{order})", app.calls.len())
    } else {
        format!(
            "Calls ({} of {}{order}, filter: {})",
            app.filtered.len(),
            app.calls.len(),
            sanitize(&app.filter)
        )
    };
    if app.calls.is_empty() && app.done {
        f.render_widget(
            Paragraph::new(why_no_calls(app))
                .wrap(Wrap { trim: false })
                .block(Block::default().borders(Borders::ALL).title(shown)),
            list,
        );
        return app::DetailDrawn::default();
    }
    f.render_widget(table(shown, header, rows, widths, theme), list);
    if let (Some(area), Some(c)) = (detail, app.selected_call()) {
        return draw_detail(f, app, c, area, theme);
    }
    app::DetailDrawn::default()
}

/// A row of up to 16 bytes at `offset`: the offset, then the bytes in hex (a space between
/// bytes, or only between groups of four where the pane is `compact`), the bytes `lit` says
/// in the selected style.
fn hex_row(
    offset: usize,
    chunk: &[u8],
    lit: impl Fn(usize) -> bool,
    compact: bool,
    theme: Theme,
) -> Line<'static> {
    let mut spans = vec![Span::raw(format!("  {offset:04x}  "))];
    for (i, b) in chunk.iter().enumerate() {
        let style = if lit(offset + i) {
            theme.selected()
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!("{b:02x}"), style));
        if !compact || i % 4 == 3 {
            spans.push(Span::raw(" "));
        }
    }
    Line::from(spans)
}

/// True where a row of 16 bytes in hex with spaces (56 columns) does not fit the pane.
fn compact_hex(area: Rect) -> bool {
    area.width.saturating_sub(2) < 56
}

fn hex_lines(
    head: &[u8],
    highlight: Option<std::ops::Range<usize>>,
    compact: bool,
    theme: Theme,
) -> Vec<Line<'static>> {
    head.chunks(16)
        .enumerate()
        .map(|(row, chunk)| {
            hex_row(
                row * 16,
                chunk,
                |at| highlight.as_ref().is_some_and(|r| r.contains(&at)),
                compact,
                theme,
            )
        })
        .collect()
}

/// Rows of hex dumped around a highlighted range of a stub, at most.
const STUB_WINDOW_ROWS: usize = 16;

/// The rows of `bytes` (16 per row, offsets from the stub's start) around `range`, its bytes
/// highlighted: two rows before it, at most [`STUB_WINDOW_ROWS`] in all.
fn stub_window(
    bytes: &[u8],
    range: std::ops::Range<usize>,
    compact: bool,
    theme: Theme,
) -> Vec<Line<'static>> {
    let first = (range.start / 16).saturating_sub(2);
    let rows = bytes.len().div_ceil(16);
    let last = (range.end.div_ceil(16) + 1)
        .min(rows)
        .min(first + STUB_WINDOW_ROWS);
    (first..last)
        .filter_map(|row| {
            let chunk = bytes.get(row * 16..(row * 16 + 16).min(bytes.len()))?;
            Some(hex_row(
                row * 16,
                chunk,
                |at| range.contains(&at),
                compact,
                theme,
            ))
        })
        .collect()
}

/// The rows each line of the detail takes in a pane `width` columns wide inside its border,
/// as the pane wraps them (at word boundaries).
fn wrapped_rows(lines: &[Line<'_>], width: u16) -> Vec<usize> {
    lines
        .iter()
        .map(|l| {
            Paragraph::new(l.clone())
                .wrap(Wrap { trim: false })
                .line_count(width)
                .max(1)
        })
        .collect()
}

/// The first row of the detail pane to show, given the rows each line takes: with the chosen
/// item on the row of the pane where it was last drawn (`anchor`, so a click does not move what
/// it chose), scrolled on as little as shows the chosen lines (the item and, for a parameter,
/// its bytes under it) to their end without losing the item; an item not in view before goes
/// a third of the way down; the top when nothing is chosen.
fn detail_scroll(
    rows: &[usize],
    chosen: Option<std::ops::Range<usize>>,
    height: usize,
    anchor: Option<usize>,
) -> u16 {
    let Some(chosen) = chosen else {
        return 0;
    };
    let before: usize = rows.iter().take(chosen.start).sum();
    let through: usize = rows.iter().take(chosen.end).sum();
    let total: usize = rows.iter().sum();
    let top = match anchor {
        Some(row) => before
            .saturating_sub(row)
            .max(through.saturating_sub(height))
            .min(before),
        None => before.saturating_sub(height / 3),
    }
    .min(total.saturating_sub(height));
    u16::try_from(top).unwrap_or(u16::MAX)
}

/// Draws the detail of call `c` and says what it drew on each row.
fn draw_detail(
    f: &mut Frame<'_>,
    app: &App,
    c: &Call,
    area: Rect,
    theme: Theme,
) -> app::DetailDrawn {
    let mut lines: Vec<Line<'_>> = Vec::new();
    // the selectable item on each line that shows one: (line, item)
    let mut item_lines: Vec<(usize, usize)> = Vec::new();
    let compact = compact_hex(area);
    let kv = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:>16} "), theme.header()),
            Span::raw(sanitize(&v)),
        ])
    };
    lines.push(kv(
        "call",
        match (c.context_id, c.activity) {
            (Some(ctx), _) => format!("{} (call_id {}, context {ctx})", call_label(c), c.call_id),
            (None, Some(act)) => {
                format!("{} (sequence {}, activity {act})", call_label(c), c.call_id)
            }
            (None, None) => format!("{} (call_id {})", call_label(c), c.call_id),
        },
    ));
    lines.push(kv(
        "client → server",
        format!("{} → {}", c.client, c.server),
    ));
    let transport = match &c.pipe {
        Some(p) => format!("{} pipe {p}", c.transport),
        None => c.transport.to_string(),
    };
    lines.push(kv("transport", transport));
    if let Some(i) = &c.interface {
        lines.push(kv(
            "interface",
            format!(
                "{} v{}.{} (from {})",
                i.syntax.uuid,
                i.syntax.major,
                i.syntax.minor,
                c.interface_source.unwrap_or("?")
            ),
        ));
    }
    if let Some(frame) = c.endpoint_frame {
        lines.push(kv(
            "endpoint",
            format!("announced by the answer in frame {frame} (a: go to it)"),
        ));
    }
    lines.push(kv("outcome", outcome_mark(c)));
    if let (Some(code), Some(name)) = (c.fault_status, c.fault_name()) {
        lines.push(kv(
            "fault",
            format!("0x{code:08x} {name}: the server failed the call instead of answering it"),
        ));
    }
    if let Some(st) = c.status {
        lines.push(kv(
            "return code",
            format!("0x{:08x} {} ({})", st.code, st.label(), st.kind.name()),
        ));
    }
    lines.push(kv("duration", duration(c.duration_us)));
    if let Some(r) = &c.request {
        lines.push(kv(
            "request",
            format!(
                "frames {}-{}, {} fragment(s), stub {} B",
                r.frames[0], r.frames[1], r.fragments, r.stub_len
            ),
        ));
    }
    if let Some(r) = &c.response {
        lines.push(kv(
            "response",
            format!(
                "frames {}-{}, {} fragment(s), stub {} B",
                r.frames[0], r.frames[1], r.fragments, r.stub_len
            ),
        ));
    }
    if let Some(a) = c.auth {
        lines.push(kv(
            "auth",
            format!("{} / {}", a.type_name(), a.level_name()),
        ));
    }
    if let Some(d) = c.decryption {
        let text = match &c.decryption_reason {
            Some(why) => format!("{} — {why}", d.replace('_', " ")),
            None => d.to_string(),
        };
        lines.push(kv("decryption", text));
    }
    if let Some(valid) = c.signature {
        lines.push(kv(
            "signature",
            if valid { "valid" } else { "invalid" }.into(),
        ));
    }
    if let Some((_, _, pad, ctx, len)) = c.verifier {
        lines.push(kv(
            "verifier",
            format!("auth context {ctx}, pad {pad} B, value {len} B"),
        ));
    }
    for n in app.contexts_of(c) {
        lines.push(kv(&n.ptype_name(), pdu_detail(n)));
    }
    if let Some(epm) = &c.epm {
        if let Some(i) = &epm.requested_interface {
            lines.push(kv(
                "asked for",
                format!(
                    "{} v{}",
                    i.name.clone().unwrap_or_else(|| i.uuid.clone()),
                    i.version
                ),
            ));
        }
        for e in &epm.endpoints {
            lines.push(kv("tower", e.binding.clone()));
        }
        if let Some(s) = &epm.status_name {
            lines.push(kv("epm status", s.clone()));
        }
    }
    for (k, v) in dcom_lines(c) {
        lines.push(kv(k, v));
    }
    for line in crate::output::text::netlogon_line(c)
        .into_iter()
        .chain(crate::output::text::pipe_lines(c))
    {
        lines.push(Line::from(format!("  {}", line.trim_start())));
    }
    // The selectable items: the lines of the parameter tree, then the PDU header fields.
    let tree = app.parameter_tree();
    let marks = app.fold_marks();
    let mut fields = Vec::new();
    for (which, head) in [("request", &c.heads[0]), ("response", &c.heads[1])] {
        for (k, v, r) in app::pdu_fields(head) {
            fields.push((which, k, v, r));
        }
    }
    let stubs = app::whole_stubs(c);
    let stub_rows: usize = stubs.iter().map(|s| s.len().div_ceil(16)).sum();
    let items = tree.len() + fields.len() + stub_rows;
    let chosen = app.field.min(items.saturating_sub(1));
    let focused = |i: usize| app.focus == Focus::Detail && i == chosen;
    // the line of the chosen item, kept in view, and the end of the lines that belong to it
    let mut focus_line = None;
    let mut focus_end = None;
    for (i, line) in tree.iter().enumerate() {
        let style = if focused(i) {
            focus_line = Some(lines.len());
            theme.selected()
        } else {
            Style::default()
        };
        let fold = match marks.get(i).copied().flatten() {
            Some(n) if n > 0 => format!(" ▸ {n} lines folded (Enter)"),
            _ => String::new(),
        };
        item_lines.push((lines.len(), i));
        lines.push(Line::styled(format!("  {}{fold}", line.text), style));
        // the bytes of the chosen parameter, in its stub, under it
        if !focused(i) {
            continue;
        }
        if let (Some((direction, range)), Some(stubs)) = (line.at.clone(), &c.stubs) {
            let (which, side) = match direction {
                Side::In => ("request", &stubs.request),
                Side::Out => ("response", &stubs.response),
            };
            if let SideStub::Whole(bytes) = side {
                lines.push(Line::from(format!(
                    "  {which} stub, bytes {}..{} of {}",
                    range.start,
                    range.end,
                    bytes.len()
                )));
                lines.extend(stub_window(bytes, range, compact, theme));
                focus_end = Some(lines.len());
            }
        }
    }
    if let Some(o) = &c.oxid {
        for b in &o.bindings {
            lines.push(kv("binding", b.clone()));
        }
    }
    // PDU fields of the request and response heads, and their bytes.
    lines.push(Line::from(""));
    for (i, (which, k, v, _)) in fields.iter().enumerate() {
        let style = if focused(tree.len() + i) {
            focus_line = Some(lines.len());
            theme.selected()
        } else {
            Style::default()
        };
        item_lines.push((lines.len(), tree.len() + i));
        lines.push(Line::styled(
            format!("  {which:<8} {k:<12} {}", sanitize(v)),
            style,
        ));
    }
    for (which, head) in [("request", &c.heads[0]), ("response", &c.heads[1])] {
        if head.is_empty() {
            continue;
        }
        let hl = chosen
            .checked_sub(tree.len())
            .and_then(|i| fields.get(i))
            .filter(|f| app.focus == Focus::Detail && f.0 == which)
            .map(|f| f.3.clone());
        lines.push(Line::from(format!(
            "  {which} PDU, first {} bytes",
            head.len()
        )));
        lines.extend(hex_lines(head, hl, compact, theme));
    }
    // The whole stubs, a page of rows at a time: the page of the chosen row.
    let mut first_item = tree.len() + fields.len();
    // the text column only where a row fits on one line
    let with_text = usize::from(area.width.saturating_sub(2)) >= 73;
    for (which, bytes) in ["request", "response"].into_iter().zip(stubs) {
        let rows = bytes.len().div_ceil(16);
        if rows == 0 {
            continue;
        }
        let chosen_row = chosen
            .checked_sub(first_item)
            .filter(|&r| r < rows && app.focus == Focus::Detail);
        let page = chosen_row.map_or(0, |r| r / app::STUB_PAGE_ROWS);
        let pages = rows.div_ceil(app::STUB_PAGE_ROWS);
        lines.push(Line::from(format!(
            "  {which} stub, {} bytes, page {} of {pages}",
            bytes.len(),
            page + 1
        )));
        let shown = page * app::STUB_PAGE_ROWS..((page + 1) * app::STUB_PAGE_ROWS).min(rows);
        for row in shown {
            let chunk = bytes
                .get(row * 16..(row * 16 + 16).min(bytes.len()))
                .unwrap_or(&[]);
            let chosen = chosen_row == Some(row);
            if chosen {
                focus_line = Some(lines.len());
            }
            item_lines.push((lines.len(), first_item + row));
            let mut line = hex_row(row * 16, chunk, |_| chosen, compact, theme);
            if with_text {
                let text: String = chunk
                    .iter()
                    .map(|&b| {
                        if b.is_ascii_graphic() || b == b' ' {
                            char::from(b)
                        } else {
                            '.'
                        }
                    })
                    .collect();
                // the text column starts at the same place on every row
                let used: usize = line.spans.iter().map(|s| s.content.chars().count()).sum();
                line.spans.push(Span::raw(format!(
                    "{:pad$}{text}",
                    "",
                    pad = 57usize.saturating_sub(used)
                )));
            }
            lines.push(line);
        }
        first_item += rows;
    }
    let title = if app.focus == Focus::Detail {
        "Detail (focused: ↑↓ select a field)"
    } else {
        "Detail (Tab to focus)"
    };
    let rows = wrapped_rows(&lines, area.width.saturating_sub(2).max(1));
    let height = usize::from(area.height.saturating_sub(2));
    let shown = app.selected_index();
    // the row the chosen item was drawn on, if this call's detail showed it
    let anchor = if app.detail_drawn.call == shown {
        app.detail_drawn
            .items
            .iter()
            .position(|&i| i == Some(chosen))
    } else {
        None
    };
    let chosen_lines = focus_line.map(|l| l..focus_end.unwrap_or(l + 1).max(l + 1));
    let scroll = detail_scroll(&rows, chosen_lines, height, anchor);
    // the item drawn on each row of the pane, from the first row shown
    let mut items = vec![None; height];
    let mut item_of_line = item_lines.into_iter().peekable();
    let mut row = 0usize;
    for (line, &n) in rows.iter().enumerate() {
        let item = item_of_line.next_if(|&(l, _)| l == line).map(|(_, i)| i);
        for r in row..row + n {
            if let Some(slot) = r
                .checked_sub(usize::from(scroll))
                .and_then(|at| items.get_mut(at))
            {
                *slot = item;
            }
        }
        row += n;
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(title))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
    app::DetailDrawn {
        call: shown,
        top: scroll,
        items,
    }
}

fn draw_connections(f: &mut Frame<'_>, app: &App, area: Rect, theme: Theme) {
    let range = window(app, app.conn_filtered.len());
    let shown: Vec<(usize, &app::ConnRow)> = range
        .filter_map(|r| Some((r, app.connections.get(*app.conn_filtered.get(r)?)?)))
        .collect();
    let cells: Vec<[String; 8]> = shown
        .iter()
        .map(|(_, c)| {
            [
                c.client.to_string(),
                sanitize(&c.binding()),
                sanitize(&c.interfaces.join(", ")),
                c.auth.clone().unwrap_or_else(|| "-".into()),
                c.resolution(),
                match (&c.refused, c.calls) {
                    (Some(_), 0) => "0, bind refused".to_string(),
                    (Some(_), n) => format!("{n}, a bind refused"),
                    (None, n) => n.to_string(),
                },
                duration(u64::try_from(c.duration_us).ok()),
                if c.faults > 0 {
                    format!("✗ {}", c.faults)
                } else {
                    "0".into()
                },
            ]
        })
        .collect();
    let column = |k: usize| column_texts(&cells, k);
    let columns = [
        Column::kept("Client", &column(0)),
        Column::kept("Server endpoint", &column(1)),
        Column::cut("Interfaces", &column(2), 14, 8, Cut::End),
        Column::optional("Auth", &column(3), 3),
        Column::optional("How the endpoint was known", &column(4), 4),
        Column::kept("Calls", &column(5)),
        Column::optional("Duration", &column(6), 2),
        Column::kept("Faults", &column(7)),
    ];
    let widths = fit_widths(&columns, usize::from(area.width.saturating_sub(2)));
    let indices: Vec<usize> = shown.iter().map(|(r, _)| *r).collect();
    let rows = list_rows(
        &indices,
        &cells,
        &columns,
        &widths,
        app.cursor(),
        theme,
        |i, k| {
            (columns[k].header == "Faults" && shown[i].1.faults > 0)
                .then(|| theme.outcome(Outcome::Fault))
        },
    );
    let (header, widths) = shown_columns(&columns, &widths);
    let of = app
        .conn_endpoint
        .as_ref()
        .map(|e| format!(" that used {} — Esc: back", e.label))
        .unwrap_or_default();
    let title = sanitize(&format!(
        "Connections ({}, by {}){of}{} — Enter: call flow, s: sort",
        app.conn_filtered.len(),
        app.conn_sort.name(),
        app.filter_note()
    ));
    f.render_widget(table(title, header, rows, widths, theme), area);
}

/// One line of the ladder: arrow from column `from` to column `to` (lifeline positions) with a
/// label placed along it.
fn arrow_line(width: usize, lifelines: &[usize], from: usize, to: usize, label: &str) -> String {
    let mut row: Vec<char> = vec![' '; width];
    for &x in lifelines {
        if let Some(c) = row.get_mut(x) {
            *c = '│';
        }
    }
    let (a, b) = (from.min(to), from.max(to));
    for x in a + 1..b {
        if let Some(c) = row.get_mut(x) {
            *c = '─';
        }
    }
    if to > from {
        if let Some(c) = row.get_mut(b.saturating_sub(1)) {
            *c = '▶';
        }
    } else if let Some(c) = row.get_mut(a + 1) {
        *c = '◀';
    }
    let span = b.saturating_sub(a + 3);
    // a label longer than the arrow is cut with "…", a space kept on each side
    let label: Vec<char> = format!(" {} ", fit(label, span.saturating_sub(2), Cut::End))
        .chars()
        .collect();
    let start = a + 2 + span.saturating_sub(label.len()) / 2;
    for (i, ch) in label.into_iter().take(span).enumerate() {
        if let Some(c) = row.get_mut(start + i) {
            *c = ch;
        }
    }
    row.into_iter().collect::<String>().trim_end().to_string()
}

fn draw_flow(f: &mut Frame<'_>, app: &App, area: Rect, theme: Theme) {
    let Some(host) = app.flow_host() else {
        f.render_widget(
            Paragraph::new("Select a connection (view 2) or a call and press Enter to see the call flow of its client.")
                .block(Block::default().borders(Borders::ALL).title("Call flow")),
            area,
        );
        return;
    };
    let rows = app.flow_rows();
    let width = usize::from(area.width.saturating_sub(2)).max(40);
    // Lifelines: the client host, then each endpoint mapper and server endpoint in order of
    // first appearance; as many as fit, the rest share the last one.
    let max_lanes = (width / 18).max(2);
    let mut lanes: Vec<String> = vec![host.to_string()];
    let mut lane_of = Vec::with_capacity(rows.len());
    for r in &rows {
        let name = app.flow_lane(*r);
        let idx = match lanes.iter().position(|l| *l == name) {
            Some(i) => i,
            None if lanes.len() < max_lanes => {
                lanes.push(name);
                lanes.len() - 1
            }
            None => max_lanes - 1,
        };
        lane_of.push(idx);
    }
    if lanes.len() == 1 {
        lanes.push("(no server)".to_string());
    }
    let n = lanes.len();
    let xs: Vec<usize> = (0..n)
        .map(|k| 1 + k * (width.saturating_sub(4)) / (n - 1))
        .collect();
    let mut header: Vec<char> = vec![' '; width];
    for (k, name) in lanes.iter().enumerate() {
        let room = if n > 1 { width / n } else { width }.saturating_sub(1);
        // a long binding loses its protocol sequence first, then its start: never its port
        let name = sanitize(name);
        let short = match name.split_once(':') {
            Some((_, rest)) if name.chars().count() > room => rest.to_string(),
            _ => name,
        };
        let label: Vec<char> = fit(&short, room, Cut::Start).chars().collect();
        let start = xs[k]
            .saturating_sub(label.len() / 2)
            .min(width.saturating_sub(label.len()));
        for (i, ch) in label.into_iter().enumerate() {
            if let Some(c) = header.get_mut(start + i) {
                *c = ch;
            }
        }
    }
    let mut lines: Vec<Line<'_>> = vec![Line::styled(
        header.into_iter().collect::<String>(),
        theme.header(),
    )];
    let client = xs[0];
    let range = app.flow_window(&rows);
    for (r, item) in rows.iter().enumerate().skip(range.start).take(range.len()) {
        let lane = xs[lane_of[r].min(n - 1)];
        let selected = r == app.cursor();
        let sel = |s: Style| {
            if selected {
                s.add_modifier(Modifier::REVERSED)
            } else {
                s
            }
        };
        match *item {
            FlowRow::Lookup(e) => {
                let ep = &app.endpoints[e];
                let iface = ep
                    .interface_label()
                    .unwrap_or_else(|| "an object exporter".into());
                let said = format!("{} says {iface} is at {}", ep.via, ep.binding);
                lines.push(Line::styled(
                    arrow_line(width, &xs, lane, client, &sanitize(&said)),
                    sel(theme.fg(Color::Cyan)),
                ));
            }
            FlowRow::Note(i) => {
                let note = &app.notes[i];
                let (from, to) = if note.from_client {
                    (client, lane)
                } else {
                    (lane, client)
                };
                let label = format!("{}: {}", note.ptype_name(), pdu_detail(note));
                lines.push(Line::styled(
                    arrow_line(width, &xs, from, to, &sanitize(&label)),
                    sel(theme.fg(Color::Cyan)),
                ));
            }
            FlowRow::Call(i) => {
                let c = &app.calls[i];
                let frags = c.request.as_ref().map_or(0, |s| s.fragments);
                let label = if frags > 1 {
                    format!("{} ×{frags}", call_label(c))
                } else {
                    call_label(c)
                };
                lines.push(Line::styled(
                    arrow_line(width, &xs, client, lane, &sanitize(&label)),
                    sel(Style::default()),
                ));
                let rfrags = c.response.as_ref().map_or(0, |s| s.fragments);
                let mut answer = format!("{} {}", outcome_mark(c), duration(c.duration_us));
                if rfrags > 1 {
                    answer.push_str(&format!(" ×{rfrags}"));
                }
                lines.push(Line::styled(
                    arrow_line(width, &xs, lane, client, &sanitize(&answer)),
                    sel(theme.call_outcome(c)),
                ));
            }
        }
    }
    let of = match (
        app.flow_scope,
        app.flow.and_then(|i| app.connections.get(i)),
    ) {
        (FlowScope::Connection, Some(conn)) => format!("{} → {}", conn.client, conn.binding()),
        _ => host.to_string(),
    };
    let other = match app.flow_scope {
        FlowScope::Connection => "whole host",
        FlowScope::Host => "this connection",
    };
    let title = format!(
        "Flow of {of}, {} items{} — h: {other}, Enter: call detail",
        rows.len(),
        app.filter_note()
    );
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(sanitize(&title)),
        ),
        area,
    );
}

fn draw_endpoints(f: &mut Frame<'_>, app: &App, area: Rect, theme: Theme) {
    let range = window(app, app.ep_filtered.len());
    let shown: Vec<(usize, &crate::epm::resolver::EndpointRecord)> = range
        .filter_map(|r| Some((r, app.endpoints.get(*app.ep_filtered.get(r)?)?)))
        .collect();
    let cells: Vec<[String; 6]> = shown
        .iter()
        .map(|(_, e)| {
            let used = match e.used_by.len() {
                0 => "(never used)".to_string(),
                1 => e.used_by[0].clone(),
                n => format!("{n}: {}", e.used_by.join(", ")),
            };
            [
                e.frame.to_string(),
                e.via.to_string(),
                e.asked_by.to_string(),
                sanitize(
                    &e.interface_label()
                        .unwrap_or_else(|| "(object exporter)".into()),
                ),
                sanitize(&e.binding),
                sanitize(&used),
            ]
        })
        .collect();
    let column = |k: usize| column_texts(&cells, k);
    let columns = [
        Column::kept("Frame", &column(0)),
        Column::kept("Via", &column(1)),
        Column::optional("Asked by", &column(2), 1),
        Column::cut("Interface", &column(3), 18, 10, Cut::End),
        Column::kept("Binding", &column(4)),
        Column::cut("Used by", &column(5), 12, 6, Cut::End),
    ];
    let widths = fit_widths(&columns, usize::from(area.width.saturating_sub(2)));
    let indices: Vec<usize> = shown.iter().map(|(r, _)| *r).collect();
    let rows = list_rows(
        &indices,
        &cells,
        &columns,
        &widths,
        app.cursor(),
        theme,
        |_, _| None,
    );
    let (header, widths) = shown_columns(&columns, &widths);
    let title = if app.done || app.live {
        let count = if app.ep_filtered.len() == app.endpoints.len() {
            app.endpoints.len().to_string()
        } else {
            format!("{} of {}", app.ep_filtered.len(), app.endpoints.len())
        };
        format!(
            "Endpoint resolution ({count}, by {}){} — Enter: connections that used it, s: sort",
            app.endpoint_sort.name(),
            app.filter_note()
        )
    } else {
        "Endpoint resolution (shown when the capture has been read)".to_string()
    };
    f.render_widget(table(title, header, rows, widths, theme), area);
}

fn bars(h: &[u64]) -> String {
    let max = h.iter().copied().max().unwrap_or(0).max(1);
    let ticks = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    h.iter()
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                ticks[usize::try_from(v * 7 / max).unwrap_or(7).min(7)]
            }
        })
        .collect()
}

fn draw_stats(f: &mut Frame<'_>, app: &mut App, area: Rect, theme: Theme) {
    let cursor = app.cursor();
    let first = app.first_visible();
    let page = app.page;
    let stats = app.stats().to_vec();
    let shown: Vec<(usize, &app::StatRow)> =
        stats.iter().enumerate().skip(first).take(page).collect();
    let cells: Vec<Vec<String>> = shown
        .iter()
        .map(|(_, s)| {
            let failed = s.faults + s.errors;
            let mut cells = vec![
                sanitize(&s.name),
                s.calls.to_string(),
                if failed > 0 {
                    format!("✗ {failed}")
                } else {
                    "0".into()
                },
            ];
            match s.times {
                Some(t) => cells.extend(t.iter().map(|&v| duration(Some(v)))),
                None => cells.extend(std::iter::repeat_n("-".to_string(), 5)),
            }
            cells.push(bars(&s.histogram));
            cells
        })
        .collect();
    let column = |k: usize| column_texts(&cells, k);
    let columns = [
        Column::cut("Interface.Operation", &column(0), 40, 12, Cut::Label),
        Column::kept("Calls", &column(1)),
        Column::kept("Failed", &column(2)),
        Column::optional("Min", &column(3), 2),
        Column::optional("Mean", &column(4), 3),
        Column::kept("p50", &column(5)),
        Column::kept("p95", &column(6)),
        Column::kept("Max", &column(7)),
        Column::optional("16µs…", &column(8), 1),
    ];
    let widths = fit_widths(&columns, usize::from(area.width.saturating_sub(2)));
    let indices: Vec<usize> = shown.iter().map(|(r, _)| *r).collect();
    let rows = list_rows(
        &indices,
        &cells,
        &columns,
        &widths,
        cursor,
        theme,
        |_, _| None,
    );
    let (header, widths) = shown_columns(&columns, &widths);
    f.render_widget(
        table(
            sanitize(&format!(
                "Response times ({} operations, by {}){} — s: sort",
                stats.len(),
                app.stat_sort.name(),
                app.filter_note()
            )),
            header,
            rows,
            widths,
            theme,
        ),
        area,
    );
}

fn draw_status(f: &mut Frame<'_>, app: &App, area: Rect, theme: Theme) {
    if !app.done && !app.live {
        let (read, total) = app.progress;
        let ratio = if total > 0 {
            (read as f64 / total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let label = format!("reading {} — {} calls so far", app.title, app.calls.len());
        f.render_widget(
            Gauge::default()
                .gauge_style(theme.fg(Color::Blue))
                .ratio(ratio)
                .label(label),
            area,
        );
        return;
    }
    let searching = app
        .search_progress()
        .map(|p| format!(" — searching, {p}% looked at (Esc: stop)"))
        .unwrap_or_default();
    let text = match app.input {
        Input::Search => format!("/{}▏ (Enter: keep, Esc: cancel){searching}", app.search),
        Input::Filter => format!(
            "filter: {}▏ (Enter: keep, Esc: clear, ↑↓: earlier filters)",
            app.filter
        ),
        Input::Export => format!(
            "export {} calls to: {}▏ (.csv: CSV, otherwise JSON Lines; Enter: write, Esc: cancel)",
            app.filtered.len(),
            app.export_path
        ),
        Input::Normal => {
            let mut s = format!("{} — {} calls{searching}", app.title, app.calls.len());
            if app.calls_dropped > 0 {
                s.push_str(&format!(" ({} more not kept)", app.calls_dropped));
            }
            let not_kept = app.decoded_dropped + app.stubs_dropped;
            if not_kept > 0 {
                s.push_str(&format!(" (parameters of {not_kept} calls not kept)"));
            }
            if app.aged_out > 0 {
                s.push_str(&format!(" ({} older aged out)", app.aged_out));
            }
            let encrypted = app.summary.as_ref().and_then(|sm| {
                sm.counters
                    .get("smb3_encrypted_messages")
                    .copied()
                    .filter(|&n| n > 0)
            });
            if let Some(n) = encrypted {
                s.push_str(&format!(
                    " — {n} encrypted SMB3 messages not decrypted (no key for their session)"
                ));
            }
            if let Some(c) = &app.capture {
                s.push_str(&format!(
                    " — {} packets, dropped {} kernel / {} interface / {} rpcscope",
                    c.captured, c.kernel_dropped, c.interface_dropped, c.queue_dropped
                ));
            }
            if app.live && !app.done {
                s.push_str(" — capturing");
            }
            if let Some(stop) = &app.stopped_by {
                s.push_str(&format!(" — stopped early: {stop}"));
            }
            if let Some(m) = &app.message {
                s.push_str(&format!(" — {m}"));
            }
            if app.follow {
                s.push_str(" — following");
            }
            s.push_str(" — ? help, q quit");
            s
        }
    };
    f.render_widget(Paragraph::new(sanitize(&text)), area);
}

/// Every key, as the help overlay lists them.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓ / k j", "move the selection"),
    ("PgUp PgDn", "move by a page"),
    ("Home End / g G", "first / last row"),
    (
        "Tab / Shift-Tab",
        "next / previous view (with the detail open: switch pane)",
    ),
    (
        "1 … 5",
        "calls, connections, call flow, endpoints, statistics",
    ),
    (
        "Enter",
        "open the detail of a call, the flow of a connection, the connections that used an \
         endpoint; in a flow, the call or answer chosen; in the focused detail, fold or unfold \
         the parameters under the chosen line",
    ),
    (
        "Esc",
        "close the help or detail, back to where a link was followed from, clear the filter",
    ),
    (
        "/",
        "search the text the current view shows, as you type (Esc: cancel); n / N: next / \
         previous match",
    ),
    (
        "f",
        "filter: words the rows show, or an expression (iface == samr and status != 0, \
         host == 10.0.0.0/8, duration > 10ms, in.Name ~ admin; docs/filter.md); ↑↓: earlier \
         filters",
    ),
    (
        "s",
        "sort the view: calls (capture order, duration, operation, server, outcome), \
         connections (first seen, calls, faults, client, server), endpoints (answer, \
         interface, binding, connections), statistics (operation, calls, faults and errors, p95, \
         max)",
    ),
    (
        "h",
        "call flow: the chosen connection alone, or all of its client host",
    ),
    (
        "a",
        "from a call to the endpoint-mapper or DCOM answer that announced its endpoint (Esc: \
         back)",
    ),
    (
        "y",
        "copy the selected row, or the chosen line of the focused detail (OSC 52)",
    ),
    ("w", "copy a Wireshark display filter for the selected call"),
    (
        "t",
        "time column: UTC, since the first call, since the call above",
    ),
    (
        "e",
        "export the calls the view shows (filtered, in its order) to a file: JSON Lines, or \
         CSV for a name ending in .csv",
    ),
    ("F", "follow new calls as they arrive"),
    (
        "mouse",
        "wheel scrolls, click selects (in the detail: the line clicked)",
    ),
    ("?", "this help"),
    ("q", "quit"),
];

/// Width of the key column of the help.
const HELP_KEY_WIDTH: usize = 18;

/// The help's lines for an inner width: each description wrapped at spaces, its continuation
/// lines indented under it.
fn help_lines(inner: usize) -> Vec<String> {
    let room = inner.saturating_sub(HELP_KEY_WIDTH + 1).max(10);
    let mut out = Vec::new();
    for (key, text) in HELP {
        let mut line = String::new();
        let mut first = true;
        let mut flush = |line: &mut String, first: &mut bool| {
            let lead = if *first { *key } else { "" };
            out.push(format!(" {lead:<w$}{line}", w = HELP_KEY_WIDTH - 1));
            line.clear();
            *first = false;
        };
        for word in text.split(' ') {
            let used = line.chars().count();
            if used > 0 && used + 1 + word.chars().count() > room {
                flush(&mut line, &mut first);
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        flush(&mut line, &mut first);
    }
    out
}

fn draw_help(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let widest = HELP
        .iter()
        .map(|(_, v)| HELP_KEY_WIDTH + 1 + v.chars().count())
        .max()
        .unwrap_or(0);
    let w = area
        .width
        .min(u16::try_from(widest.min(100) + 2).unwrap_or(u16::MAX));
    let texts = help_lines(usize::from(w.saturating_sub(2)));
    let h = area
        .height
        .min(u16::try_from(texts.len() + 2).unwrap_or(u16::MAX));
    let inner_h = usize::from(h.saturating_sub(2));
    // scrolled by the keys while the help is open, never past its end
    app.help_scroll = app.help_scroll.min(texts.len().saturating_sub(inner_h));
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let below = texts.len() - app.help_scroll - inner_h.min(texts.len() - app.help_scroll);
    let title = if below > 0 || app.help_scroll > 0 {
        format!("Keys (↑↓ PgUp PgDn: {below} more lines below; Esc or ? to close)")
    } else {
        "Keys (Esc or ? to close)".to_string()
    };
    let lines: Vec<Line<'_>> = texts
        .into_iter()
        .skip(app.help_scroll)
        .take(inner_h)
        .map(Line::from)
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        r,
    );
}
