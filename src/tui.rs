//! The terminal interface (ratatui + crossterm): `rpcscope CAPTURE` or `rpcscope tui CAPTURE`.
//!
//! The capture is analysed on a background thread that sends calls in batches with its progress,
//! so the first screen appears at once and fills in; the event loop owns the terminal and turns
//! keys, mouse and resize events into [`action::Action`]s for [`app::App`], whose state alone
//! decides what [`view::draw`] shows. The terminal is restored on exit and after a panic.
//!
//! A live capture ([`run_live`]) has the same shape: its analysis thread takes packets from the
//! capture queue and sends calls as they complete, with the capture statistics and the
//! endpoints learned so far twice a second.

pub mod action;
pub mod app;
pub mod columns;
pub mod export;
pub mod view;

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEvent, KeyEventKind,
    KeyModifiers, MouseEventKind,
};
use ratatui::crossterm::execute;

use crate::idl::Library;
use crate::live::{Capture, CaptureStats};
use crate::source::file::CaptureReader;
use action::Action;
use app::App;
use view::Theme;

/// Calls sent per message from the analysis thread.
const BATCH: usize = 2000;
/// How often a live session sends capture statistics and endpoints to the interface.
const LIVE_REFRESH: Duration = Duration::from_millis(500);
/// Messages waiting between the analysis thread and the interface (the thread waits when full).
const CHANNEL_DEPTH: usize = 64;
/// How long the event loop has to end by itself after SIGTERM or SIGHUP before the process
/// exits: when the terminal went away, crossterm's key reader can spin inside `event::poll`
/// on the dead descriptor (crossterm-rs/crossterm#793), out of the loop's reach.
const SIGNAL_GRACE: Duration = Duration::from_millis(500);

/// A reader that counts the bytes it hands out.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Analyses `path` on a thread; its results arrive as actions.
fn spawn_analysis(path: &Path, setup: crate::Setup) -> io::Result<Receiver<Action>> {
    if path.as_os_str() == "-" {
        return Err(io::Error::other(
            "the terminal interface reads its keys from standard input, so not a capture \
             (`rpcscope calls -` prints the calls of one)",
        ));
    }
    let total = std::fs::metadata(path)?.len();
    let path = path.to_path_buf();
    // a file that is not a capture is an error before the interface opens
    CaptureReader::new(File::open(&path)?).map_err(io::Error::other)?;
    let (tx, rx) = mpsc::sync_channel::<Action>(CHANNEL_DEPTH);
    std::thread::spawn(move || analyse(&path, total, &setup, &tx));
    Ok(rx)
}

fn analyse(path: &Path, total: u64, setup: &crate::Setup, tx: &SyncSender<Action>) {
    let read = Arc::new(AtomicU64::new(0));
    let open = |counter: &Arc<AtomicU64>| {
        File::open(path).map(|f| Counting {
            inner: f,
            read: Arc::clone(counter),
        })
    };
    let mut batch = Vec::new();
    // Notes of non-call PDUs (binds, acks, ...) go in batches too, ahead of the calls they
    // come with.
    let notes = std::cell::RefCell::new(Vec::new());
    let mut on_pdu = |n| {
        let mut notes = notes.borrow_mut();
        notes.push(n);
        if notes.len() >= BATCH {
            let _ = tx.send(Action::Notes(std::mem::take(&mut *notes)));
        }
    };
    let mut last = Instant::now();
    let result = crate::Analysis::opening(|| open(&read))
        .setup(setup.clone())
        .pdus(&mut on_pdu)
        .for_each_call(|call| {
            batch.push(call);
            if batch.len() >= BATCH || last.elapsed() > Duration::from_millis(100) {
                last = Instant::now();
                let _ = tx.send(Action::Progress(read.load(Ordering::Relaxed), total));
                if !notes.borrow().is_empty() {
                    let _ = tx.send(Action::Notes(notes.take()));
                }
                tx.send(Action::Calls(std::mem::take(&mut batch)))
                    .map_err(io::Error::other)?;
            }
            Ok(())
        });
    let _ = tx.send(Action::Notes(notes.take()));
    let _ = tx.send(Action::Calls(batch));
    let _ = tx.send(Action::Progress(total, total));
    match result {
        Ok(run) => {
            let stopped = run.stopped_by.map(|e| e.to_string());
            let _ = tx.send(Action::Done(Box::new(run.summary), run.endpoints, stopped));
        }
        Err(e) => {
            let _ = tx.send(Action::Done(
                Box::new(empty_summary()),
                Vec::new(),
                Some(e.to_string()),
            ));
        }
    }
}

fn empty_summary() -> crate::summary::Summary {
    crate::engine::Engine::new().finish().summary
}

/// True when `TERM` says the terminal cannot draw a full-screen interface.
#[must_use]
pub fn dumb_terminal() -> bool {
    std::env::var_os("TERM").is_some_and(|t| t == "dumb")
}

/// Maps a key to an action (vim keys too).
#[must_use]
pub fn key_action(key: KeyEvent, app: &App) -> Option<Action> {
    if app.input != app::Input::Normal {
        return match key.code {
            // Ctrl-C quits from a prompt too; other control keys type nothing
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::Quit)
            }
            KeyCode::Char(_) if key.modifiers.contains(KeyModifiers::CONTROL) => None,
            KeyCode::Enter => Some(Action::Enter),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Char(c) => Some(Action::Char(c)),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Enter => Action::Enter,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('/') => Action::StartSearch,
        KeyCode::Char('n') => Action::NextMatch,
        KeyCode::Char('N') => Action::PreviousMatch,
        KeyCode::Char('f') => Action::StartFilter,
        KeyCode::Char('F') => Action::ToggleFollow,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('h') => Action::ToggleFlowScope,
        KeyCode::Char('y') => Action::Copy,
        KeyCode::Char('a') => Action::GoToAnswer,
        KeyCode::Char('t') => Action::ToggleTime,
        KeyCode::Char('w') => Action::CopyWiresharkFilter,
        KeyCode::Char('e') => Action::StartExport,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char(c @ '1'..='5') => Action::View(usize::from(c as u8 - b'0')),
        _ => return None,
    })
}

/// Runs the interface on `path` until the user quits; pipes of the operations `library`
/// describes are decoded, and their parameters when it says so; the analysis runs as
/// `setup` says (threads, keys, connection limit; [`crate::Setup`]).
///
/// # Errors
/// The file cannot be opened, or the terminal fails.
pub fn run(path: &Path, setup: crate::Setup) -> io::Result<()> {
    let library = setup.library.clone();
    let rx = spawn_analysis(path, setup)?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    present(&mut App::new(&name).with_library(library), &rx)
}

/// How a live session ended.
#[derive(Debug)]
pub struct LiveEnd {
    /// Summary of every call analysed (aged out of the view or not).
    pub summary: crate::summary::Summary,
    /// Final capture statistics.
    pub capture: CaptureStats,
    /// Why the capture stopped by itself, if it did (the interface went away, the file could
    /// not be written).
    pub capture_error: Option<String>,
}

/// Shows a live capture analysed by `engine` until the user quits (`q` or Ctrl-C), keeping the
/// newest `history` calls for browsing (`library` decodes the selected one); then stops the
/// capture (the `-w` file is complete when this returns).
///
/// # Errors
/// The terminal fails.
pub fn run_live(
    capture: Capture,
    engine: crate::engine::Engine,
    library: Arc<Library>,
    history: usize,
) -> io::Result<LiveEnd> {
    let title = format!("{} (live)", capture.interface());
    let stop = capture.stop_flag();
    let (tx, rx) = mpsc::sync_channel::<Action>(CHANNEL_DEPTH);
    let mut app = App::live(&title, history).with_library(Some(Arc::clone(&library)));
    let analysis = std::thread::Builder::new()
        .name("analysis".into())
        .spawn(move || analyse_live(capture, engine, &tx))?;
    let shown = present(&mut app, &rx);
    stop.store(true, Ordering::Relaxed);
    // The analysis no longer waits for the interface: it drains the queue and finishes.
    drop(rx);
    let end = analysis
        .join()
        .map_err(|_| io::Error::other("the analysis thread panicked"))?;
    shown.map(|()| end)
}

/// The analysis thread of a live session: packets from the capture queue through the engine,
/// calls and notes to the interface as they complete, statistics and endpoints twice a second.
/// When the interface is gone it goes on without it until the capture ends.
fn analyse_live(
    capture: Capture,
    engine: crate::engine::Engine,
    tx: &SyncSender<Action>,
) -> LiveEnd {
    let mut engine = engine.with_pdu_records();
    let mut shown = true;
    let mut send = |a: Action| {
        if shown && tx.send(a).is_err() {
            shown = false;
        }
    };
    let mut refreshed = Instant::now();
    let mut endpoints_seen = 0;
    let _ = crate::live::drive(&capture, &mut engine, |e| {
        let notes = e.take_pdu_records();
        if !notes.is_empty() {
            send(Action::Notes(notes));
        }
        let calls = e.take_calls();
        if !calls.is_empty() {
            send(Action::Calls(calls));
        }
        if refreshed.elapsed() >= LIVE_REFRESH {
            refreshed = Instant::now();
            send(Action::Capture(capture.stats()));
            if let Some(endpoints) = e.endpoints_if_changed(&mut endpoints_seen) {
                send(Action::Endpoints(endpoints));
            }
        }
        Ok(())
    });
    let finished = engine.finish();
    let (stats, error) = capture.finish();
    let capture_error = error.map(|e| e.to_string());
    send(Action::Calls(finished.calls));
    send(Action::Capture(stats));
    send(Action::Done(
        Box::new(finished.summary.clone()),
        finished.endpoints,
        capture_error.clone(),
    ));
    LiveEnd {
        summary: finished.summary,
        capture: stats,
        capture_error,
    }
}

/// Owns the terminal while `app` is shown: sets it up, runs the event loop, restores it (also
/// after a panic).
fn present(app: &mut App, rx: &Receiver<Action>) -> io::Result<()> {
    let theme = Theme {
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(io::Error::other(
            "the terminal interface needs a terminal on standard input and output \
             (`rpcscope calls CAPTURE` prints the calls)",
        ));
    }
    if dumb_terminal() {
        return Err(io::Error::other(
            "the terminal interface needs a terminal that can move the cursor, and TERM is \
             dumb (`rpcscope calls CAPTURE` prints the calls)",
        ));
    }
    // SIGTERM and SIGHUP end the interface like q, so the terminal is restored
    let ended = Arc::new(AtomicBool::new(false));
    let loop_ended = Arc::new(AtomicBool::new(false));
    watch_signals(Arc::clone(&ended), Arc::clone(&loop_ended))?;
    let mut terminal = ratatui::try_init()?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        ratatui::restore();
        hook(info);
    }));
    let _ = execute!(io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, app, rx, theme, &ended);
    loop_ended.store(true, Ordering::Relaxed);
    let _ = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

/// On SIGTERM or SIGHUP, sets `ended` (the event loop then ends like `q`); if the loop has not
/// ended `SIGNAL_GRACE` later (its terminal is gone and the key reader is stuck), restores
/// what it can and exits with 128 plus the signal's number, as the signal would have.
fn watch_signals(ended: Arc<AtomicBool>, loop_ended: Arc<AtomicBool>) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("rpcscope-signals".into())
        .spawn(move || {
            let Some(signal) = signals.forever().next() else {
                return;
            };
            ended.store(true, Ordering::Relaxed);
            std::thread::sleep(SIGNAL_GRACE);
            if !loop_ended.load(Ordering::Relaxed) {
                let _ = execute!(io::stdout(), DisableMouseCapture);
                ratatui::restore();
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    rx: &Receiver<Action>,
    theme: Theme,
    ended_by_signal: &AtomicBool,
) -> io::Result<()> {
    while !app.quit {
        if ended_by_signal.load(Ordering::Relaxed) {
            break;
        }
        // Take what the analysis sent, within a frame's time.
        let until = Instant::now() + Duration::from_millis(30);
        let mut received = false;
        while Instant::now() < until {
            match rx.try_recv() {
                Ok(a) => {
                    app.update(a);
                    received = true;
                }
                Err(_) => break,
            }
        }
        // a slice of the search under way, between two looks at the keyboard
        app.work();
        if let Some(request) = app.take_request() {
            app.message = Some(export::carry_out(app, request, &mut io::stdout()));
        }
        terminal.draw(|f| view::draw(f, app, theme))?;
        // While the analysis is sending or a search runs, only look for input; idle, wait
        // for it.
        let wait = if received || app.busy() {
            Duration::ZERO
        } else {
            Duration::from_millis(50)
        };
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    if let Some(a) = key_action(k, app) {
                        app.update(a);
                    }
                }
                Event::Mouse(m) => match m.kind {
                    MouseEventKind::ScrollUp => app.update(Action::Scroll(-3)),
                    MouseEventKind::ScrollDown => app.update(Action::Scroll(3)),
                    MouseEventKind::Down(_) => app.update(Action::Click(m.column, m.row)),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(())
}
