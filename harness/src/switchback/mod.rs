//! The overhead of a mode on the running workload, measured inside one run: sampling
//! switched on and off in short rounds, in random order, so that whatever the host does
//! reaches both arms alike.
//!
//! Separate runs minutes apart cannot resolve a few-percent effect on a VM that moves the
//! same workload by 20% between them. Here one nbdkit + fio run carries a recorder started
//! with sampling off; the harness switches it through its control FIFO
//! ([`crate::record::control`]) in blocks of two rounds, one sampled and one not, in random
//! order ([`schedule`]). After every switch a settle time is left out of both arms; over the
//! rest of the round the harness reads the workload's and the recorder's CPU, the machine's
//! CPU by kind, the writeback threads and the recording's size ([`counters`]), and afterwards
//! takes the I/Os completed from fio's per-interval logs ([`iolog`]) and the samples from the
//! recording, on the same clock. [`estimate`] turns the rounds into the overhead, its
//! interval, the carry-over from one round to the next and the deferred cost of writing back
//! what was recorded. [`fixed`] runs the same instrument on the price list's fixed work,
//! where the answer is known.
//!
//! Why short rounds: on the development VM, unprofiled nbd-null's throughput wanders slowly
//! (a CV of 11–14% whether measured over 20 ms or 5 s windows) while neighbouring windows
//! stay close (log-differences of adjacent windows have an SD of 0.07 from 40 ms to 1 s). A
//! pair's noise hardly depends on the round's length, so rounds of a quarter second give four
//! times the pairs of one-second rounds, and an interval half as wide, in the same time.

pub mod counters;
pub mod estimate;
pub mod fixed;
pub mod iolog;
mod options;
mod run;
pub mod schedule;

pub use self::estimate::{Arm, CarryOver, Round, SwitchbackSummary, WholeRun};
pub use self::options::SwitchbackOptions;
pub use self::run::{measure, switchable, SwitchbackError, SwitchbackRun, SwitchbackSpec};
