//! Everything that can change the interface's state: keys (already mapped from the terminal),
//! mouse, and data arriving from the analysis thread.

use crate::epm::resolver::EndpointRecord;
use crate::model::{Call, PduRecord};
use crate::summary::Summary;

/// One input to [`super::app::App::update`].
#[derive(Debug, Clone)]
pub enum Action {
    /// Move the selection up by one.
    Up,
    /// Move the selection down by one.
    Down,
    /// Up by a page.
    PageUp,
    /// Down by a page.
    PageDown,
    /// To the first row.
    Home,
    /// To the last row.
    End,
    /// Next view (Tab).
    NextView,
    /// Previous view (Shift-Tab).
    PrevView,
    /// Jump to a view by its number (1-based).
    View(usize),
    /// Drill in: open the detail of a call, or the flow of a connection.
    Enter,
    /// Back out: close the detail, leave an input, clear a filter.
    Back,
    /// Move the focus between the list and the detail pane.
    FocusNext,
    /// Start typing a search (`/`).
    StartSearch,
    /// Start typing a filter (`f`).
    StartFilter,
    /// Find the next match of the search (`n`).
    NextMatch,
    /// Find the previous match of the search (`N`).
    PreviousMatch,
    /// A character typed while searching or filtering.
    Char(char),
    /// Delete the last typed character.
    Backspace,
    /// The calls view's time column: UTC, since the first call, since the row above (`t`).
    ToggleTime,
    /// From the selected call to the endpoint-mapper or OXID answer that announced its
    /// endpoint (`a`).
    GoToAnswer,
    /// Copy the selected row, or the chosen line of the focused detail (`y`).
    Copy,
    /// Copy a Wireshark display filter for the selected call (`w`).
    CopyWiresharkFilter,
    /// Start typing the file the chosen calls are exported to (`e`).
    StartExport,
    /// Show or hide the help.
    Help,
    /// Follow new calls as they arrive.
    ToggleFollow,
    /// Mouse wheel: rows to scroll (negative = up).
    Scroll(i32),
    /// Mouse click at a column and row of the screen.
    Click(u16, u16),
    /// The flow view shows the chosen connection alone, or all of its client host (`h`).
    ToggleFlowScope,
    /// The visible list height changed (terminal resize).
    Resize(u16),
    /// Quit.
    Quit,
    /// Calls finished by the analysis.
    Calls(Vec<Call>),
    /// PDUs read by the analysis (the call-flow view keeps those that are not part of a call).
    Notes(Vec<PduRecord>),
    /// Sort the connections by the next key (first seen, calls, faults, client, server).
    Sort,
    /// Analysis progress: bytes read of the total (total 0 when unknown).
    Progress(u64, u64),
    /// Live capture statistics.
    Capture(crate::live::CaptureStats),
    /// Endpoints learned so far (live capture).
    Endpoints(Vec<EndpointRecord>),
    /// The analysis ended.
    Done(Box<Summary>, Vec<EndpointRecord>, Option<String>),
}
