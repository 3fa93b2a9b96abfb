//! The terminal interface (ratatui + crossterm): `rpcscope CAPTURE` or `rpcscope tui CAPTURE`.
//!
//! The capture is analysed on a background thread that sends calls in batches with its progress,
//! so the first screen appears at once and fills in; the event loop owns the terminal and turns
//! keys, mouse and resize events into [`action::Action`]s for [`app::App`], whose state alone
//! decides what [`view::draw`] shows. The terminal is restored on exit and after a panic.

pub mod action;
pub mod app;
pub mod view;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEvent, KeyEventKind,
    KeyModifiers, MouseEventKind,
};
use ratatui::crossterm::execute;

use crate::idl::Library;
use action::Action;
use app::App;
use view::Theme;

/// Calls sent per message from the analysis thread.
const BATCH: usize = 2000;
/// Messages waiting between the analysis thread and the interface (the thread waits when full).
const CHANNEL_DEPTH: usize = 64;

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
fn spawn_analysis(path: &Path, library: Option<Arc<Library>>) -> io::Result<Receiver<Action>> {
    let total = std::fs::metadata(path)?.len();
    let path = path.to_path_buf();
    File::open(&path)?;
    let (tx, rx) = mpsc::sync_channel::<Action>(CHANNEL_DEPTH);
    std::thread::spawn(move || analyse(&path, total, library, &tx));
    Ok(rx)
}

fn analyse(path: &Path, total: u64, library: Option<Arc<Library>>, tx: &SyncSender<Action>) {
    let read = Arc::new(AtomicU64::new(0));
    let open = |counter: &Arc<AtomicU64>| {
        File::open(path).map(|f| Counting {
            inner: BufReader::with_capacity(1 << 20, f),
            read: Arc::clone(counter),
        })
    };
    // Both passes count towards the progress gauge: the total is twice the file.
    let total = total.saturating_mul(2);
    let prior = open(&read)
        .ok()
        .and_then(|f| crate::first_pass(f).ok())
        .unwrap_or_default();
    let Ok(input) = open(&read) else {
        let _ = tx.send(Action::Done(
            Box::new(empty_summary()),
            Vec::new(),
            Some("cannot reopen the file".into()),
        ));
        return;
    };
    let mut batch = Vec::new();
    // Notes of non-call PDUs (binds, acks, ...) go in batches too, ahead of the calls they
    // come with.
    let notes = std::cell::RefCell::new(Vec::new());
    let mut on_note = |n| {
        let mut notes = notes.borrow_mut();
        notes.push(n);
        if notes.len() >= BATCH {
            let _ = tx.send(Action::Notes(std::mem::take(&mut *notes)));
        }
    };
    let mut last = Instant::now();
    let setup = crate::Setup { prior, library };
    let result = crate::run_with(
        input,
        &setup,
        |call| {
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
        },
        Some(&mut on_note),
    );
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

/// Maps a key to an action (vim keys too).
#[must_use]
pub fn key_action(key: KeyEvent, app: &App) -> Option<Action> {
    if app.input != app::Input::Normal {
        return match key.code {
            KeyCode::Enter => Some(Action::Enter),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Backspace => Some(Action::Backspace),
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
        KeyCode::Char('f') => Action::StartFilter,
        KeyCode::Char('F') => Action::ToggleFollow,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char(c @ '1'..='5') => Action::View(usize::from(c as u8 - b'0')),
        _ => return None,
    })
}

/// Runs the interface on `path` until the user quits; pipes of the operations `library`
/// describes are decoded, and their parameters when it says so.
///
/// # Errors
/// The file cannot be opened, or the terminal fails.
pub fn run(path: &Path, library: Option<Arc<Library>>) -> io::Result<()> {
    let rx = spawn_analysis(path, library)?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let theme = Theme {
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let mut terminal = ratatui::init();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        ratatui::restore();
        hook(info);
    }));
    let _ = execute!(io::stdout(), EnableMouseCapture);
    let mut app = App::new(&name);
    let result = event_loop(&mut terminal, &mut app, &rx, theme);
    let _ = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    rx: &Receiver<Action>,
    theme: Theme,
) -> io::Result<()> {
    let list_top = 3u16; // tabs line, table border and header
    while !app.quit {
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
        terminal.draw(|f| view::draw(f, app, theme))?;
        // While the analysis is sending, only look for input; idle, wait for it.
        let wait = if received {
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
                    MouseEventKind::Down(_) if m.row >= list_top => {
                        app.update(Action::Click(m.row - list_top))
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(())
}
