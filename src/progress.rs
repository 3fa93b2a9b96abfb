//! Output layer of the binary: how far a long read has got, on stderr when stderr is a
//! terminal (bytes read, rate, time left), drawn by indicatif and
//! cleared at the end; nothing otherwise, so pipes and redirections see only the results.

use std::io::Read;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress bar of one run.
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar for reading `bytes` in all, drawn on stderr; none (a hidden bar) without a size.
    pub fn new(bytes: Option<u64>) -> Self {
        let bar = match bytes {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            None => ProgressBar::hidden(),
        };
        let style = ProgressStyle::with_template(
            "{msg} {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message("reading");
        Self(bar)
    }

    /// `input`, counting what is read from it on the bar.
    pub fn reader<R: Read>(&self, input: R) -> impl Read {
        self.0.wrap_read(input)
    }
}

impl Drop for Progress {
    /// The bar leaves nothing behind, whether the run ended or failed.
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
