//! Progress of a long comparison: current measurement, phase and time left. An animated bar
//! on a terminal; one plain line per measurement otherwise (CI logs); nothing when quiet.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::units::human_duration;

/// What the run loop reports.
pub trait Progress {
    /// Measurement `index` (1-based) of `total` starts; it should take about `expected`.
    fn start(&mut self, index: usize, total: usize, title: &str, expected: Duration);
    /// A phase of the current measurement begins (`ramp`, `recording`, `analysis`...).
    fn phase(&mut self, phase: &str);
    /// The current measurement ended with `outcome` (a short phrase).
    fn end(&mut self, outcome: &str);
    fn finish(&mut self);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: usize, _: usize, _: &str, _: Duration) {}
    fn phase(&mut self, _: &str) {}
    fn end(&mut self, _: &str) {}
    fn finish(&mut self) {}
}

/// Plain lines on stderr, one per measurement.
pub struct Lines {
    title: String,
}

impl Progress for Lines {
    fn start(&mut self, index: usize, total: usize, title: &str, _: Duration) {
        self.title = format!("[{index}/{total}] {title}");
    }
    fn phase(&mut self, _: &str) {}
    fn end(&mut self, outcome: &str) {
        eprintln!("{}: {outcome}", self.title);
    }
    fn finish(&mut self) {}
}

struct Clock {
    done: Duration,
    current_start: Instant,
    current_expected: Duration,
    total: Duration,
    label: String,
}

/// An indicatif bar whose position follows the clock between events.
pub struct Bar {
    bar: ProgressBar,
    clock: Arc<Mutex<Clock>>,
    ticker: Option<std::thread::JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Bar {
    pub fn new(total: Duration) -> Bar {
        let bar = ProgressBar::new(total.as_secs().max(1));
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let clock = Arc::new(Mutex::new(Clock {
            done: Duration::ZERO,
            current_start: Instant::now(),
            current_expected: Duration::ZERO,
            total,
            label: String::new(),
        }));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The ticker only redraws; it never starts processes (children die with the thread
        // that spawned them, PR_SET_PDEATHSIG being per thread).
        let ticker = {
            let (bar, clock, stop) = (bar.clone(), clock.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(c) = clock.lock() {
                        let pos = c.done + c.current_start.elapsed().min(c.current_expected);
                        bar.set_position(pos.as_secs());
                        let left = c.total.saturating_sub(pos);
                        bar.set_message(format!("{} · ~{} left", c.label, human_duration(left)));
                    }
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        Bar {
            bar,
            clock,
            ticker: Some(ticker),
            stop,
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, index: usize, total: usize, title: &str, expected: Duration) {
        if let Ok(mut c) = self.clock.lock() {
            c.current_start = Instant::now();
            c.current_expected = expected;
            c.label = format!("[{index}/{total}] {title}");
        }
    }
    fn phase(&mut self, phase: &str) {
        if let Ok(mut c) = self.clock.lock() {
            let base = c.label.split(" · ").next().unwrap_or("").to_string();
            c.label = format!("{base} · {phase}");
        }
    }
    fn end(&mut self, outcome: &str) {
        if let Ok(mut c) = self.clock.lock() {
            let expected = c.current_expected;
            c.done += expected;
            c.current_expected = Duration::ZERO;
            let base = c.label.split(" · ").next().unwrap_or("").to_string();
            self.bar.println(format!("{base}: {outcome}"));
        }
    }
    fn finish(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A bar on a terminal, plain lines otherwise, nothing when `quiet`.
pub fn for_stderr(quiet: bool, total: Duration) -> Box<dyn Progress> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bar::new(total))
    } else {
        Box::new(Lines {
            title: String::new(),
        })
    }
}
