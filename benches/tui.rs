//! Terminal interface with a million calls: loading them in the batches the analysis thread
//! sends, and drawing the calls view at the top, after paging and at the end, against a floor
//! measured in the same run (the same view with 100 calls, enough to fill the screen). Drawing builds only the visible rows, so the ratio should stay near 1.
//!
//! Then a search no row matches over 100,000 calls, looked at a slice at a time as the
//! interface does between two looks at the keyboard: the longest slice is the longest a key
//! waits while a search runs (the design allows 100 ms).
//!
//! Run: `cargo bench --bench tui`.
// A benchmark, like a test, stops at the first thing that cannot be set up.
#![allow(clippy::expect_used)]

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};
use support::median;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rpcscope::tui::action::Action;
use rpcscope::tui::app::App;
use rpcscope::tui::view::{self, Theme};

const CALLS: usize = 1_000_000;
/// Calls per `Action::Calls`, as the analysis thread batches them.
const BATCH: usize = 10_000;
/// Calls of the floor: more than a screen.
const FLOOR_CALLS: usize = 100;
/// Calls of the search timing.
const SEARCH_CALLS: usize = 100_000;

fn draw(term: &mut Terminal<TestBackend>, app: &mut App) {
    term.draw(|f| view::draw(f, app, Theme { color: true }))
        .expect("TestBackend draws");
    black_box(term.backend().buffer().area);
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/real/02-epm-map-samr.pcap"
    );
    let bytes = std::fs::read(path).expect("the capture is in the repository");
    let (calls, _) = rpcscope::analyze(&bytes[..]).expect("the capture decodes");
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("TestBackend");

    let copies = |n: usize| -> Vec<_> {
        (0..n)
            .map(|i| {
                let mut c = calls[i % calls.len()].clone();
                c.call_id = u32::try_from(i).unwrap_or(u32::MAX);
                c
            })
            .collect()
    };
    let mut small = App::new("floor");
    small.update(Action::Calls(copies(FLOOR_CALLS)));
    // Warm up (first frames, processor clock), then measure.
    median(201, || draw(&mut term, &mut small));
    let floor = median(201, || draw(&mut term, &mut small));

    let mut big = App::new("million");
    let start = Instant::now();
    for _ in 0..CALLS / BATCH {
        big.update(Action::Calls(copies(BATCH)));
    }
    let load = start.elapsed();
    let top = median(201, || draw(&mut term, &mut big));
    let paging = median(201, || {
        big.update(Action::PageDown);
        draw(&mut term, &mut big);
    });
    big.update(Action::End);
    let end = median(201, || draw(&mut term, &mut big));
    let ratio = |d: Duration| d.as_secs_f64() / floor.as_secs_f64();
    println!("calls view, 160x48, median of 201 draws");
    println!(
        "  floor ({FLOOR_CALLS} calls):      {:>9.1} µs",
        floor.as_secs_f64() * 1e6
    );
    println!(
        "  {CALLS} calls, top:      {:>9.1} µs  ({:.2}x floor)",
        top.as_secs_f64() * 1e6,
        ratio(top)
    );
    println!(
        "  {CALLS} calls, PageDown: {:>9.1} µs  ({:.2}x floor)",
        paging.as_secs_f64() * 1e6,
        ratio(paging)
    );
    println!(
        "  {CALLS} calls, end:      {:>9.1} µs  ({:.2}x floor)",
        end.as_secs_f64() * 1e6,
        ratio(end)
    );
    println!(
        "  making and loading {CALLS} calls in batches of {BATCH}: {:.2} s",
        load.as_secs_f64()
    );

    let mut searched = App::new("search");
    searched.update(Action::Calls(copies(SEARCH_CALLS)));
    let mut slices = Vec::new();
    let start = Instant::now();
    searched.update(Action::StartSearch);
    for c in "no such text".chars() {
        let t = Instant::now();
        searched.update(Action::Char(c));
        slices.push(t.elapsed());
    }
    while searched.busy() {
        let t = Instant::now();
        searched.work();
        slices.push(t.elapsed());
    }
    let whole = start.elapsed();
    slices.sort();
    println!(
        "search of {SEARCH_CALLS} calls matching none, typed a key at a time: {:.1} ms in all, {} slices, median {:.2} ms, longest {:.2} ms",
        whole.as_secs_f64() * 1e3,
        slices.len(),
        slices[slices.len() / 2].as_secs_f64() * 1e3,
        slices.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}
