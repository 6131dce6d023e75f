//! The price list: what one sample costs, per unwinding mode, measured on fixed CPU-bound
//! work instead of a noisy I/O workload's throughput.
//!
//! The work (`workloads/programs/pricework.c`) runs on one CPU at a known stack depth, a
//! shallow and a deep variant; `perf record -p` samples it from another CPU, started with its
//! events disabled, one perf per mode and sampling rate, all at once. The harness alternates rounds of
//! the same work with sampling switched on and off through perf's control FIFO ([`control`]),
//! in pairs of random order, cycling through every stack, mode and rate in a fresh random
//! order each time, so that drift on the machine reaches all modes alike. For every pair:
//!
//! - the *kernel's price* shows as the extra CPU time of the sampled round (the thread's CPU
//!   clock includes the interrupts it suffers on a kernel without IRQ time accounting);
//! - the *recorder's price* as perf's extra CPU time up to the point where it has read every
//!   sample of the round;
//! - the samples and bytes come from the recording itself ([`rounds`]).
//!
//! Each price is the slope of the extra time against the samples taken, fitted over all
//! rounds at all rates with Theil–Sen and given a 95% bootstrap interval (see [`crate::stats`]):
//! a fixed cost per round (switching sampling on, say) goes into the intercept, not the price,
//! and every round at every rate tightens the one estimate. `none` prices the sampling
//! interrupt alone, so what unwinding adds is the difference to it. [`capacity`] measures what
//! perf can write, and [`model`] turns prices and capacity into predictions for a workload.

pub mod capacity;
pub mod control;
mod error;
mod estimate;
mod list;
mod measure;
pub mod model;
mod options;
pub mod rounds;

pub use self::error::PriceError;
pub use self::estimate::estimate;
pub use self::list::{
    load, ModePrice, PriceList, SessionRecord, Variant, DEFAULT_PRICED_MODES, PRICES_SCHEMA_VERSION,
};
pub use self::measure::{build_program, check_options, iterations_for, measure, run, PriceSetup};
pub use self::options::{expected_duration, ring_buffer_bytes, PriceOptions};
