//! Pipe streams, checked record by record before linux-perf-data sees them.
//!
//! The crate's pipe reader has two holes that a hostile or damaged stream walks through
//! (issue 16): it sizes a buffer from an AUXTRACE record's claimed data size (2^40 bytes is
//! one flipped bit away), and it takes a stream that ends in the middle of a record for a
//! clean end, so a cut recording read as a short, healthy one. [`Framed`] sits between the
//! input and the crate, reads one whole record at a time (a record is at most 64 KiB: its
//! size is a u16), and:
//! - steps over AUXTRACE data itself, without buffering it, and hands the crate the record
//!   with its data size set to 0 (nothing here reads AUX trace data);
//! - checks the counts inside HEADER_FEATURE records ([`super::feature_checks`]);
//! - stops at the last whole record when the input ends inside one, or at a record that
//!   fails a check, and keeps where and why in [`Framed::damage`], so the caller reports the
//!   stream as damaged (or, with --partial, reads up to there).

use std::io::Read;
use std::sync::{Arc, Mutex};

use linux_perf_data::Endianness;

use super::feature_checks;
use super::header::{read_up_to, PIPE_HEADER_SIZE};
use super::salvage::Damage;

const HEADER_SIZE: usize = 8;
const PERF_RECORD_AUXTRACE: u32 = 71;
const PERF_RECORD_HEADER_FEATURE: u32 = 80;

/// Where and why a pipe stream stopped early; shared with the [`super::PerfData`] reading it.
pub(super) type SharedDamage = Arc<Mutex<Option<Damage>>>;

pub(super) struct Framed<R> {
    inner: R,
    /// The current record (or the pipe header), and how much of it was handed out.
    frame: Vec<u8>,
    handed: usize,
    /// Input bytes consumed: where the next record starts.
    offset: u64,
    endian: Endianness,
    started: bool,
    stopped: bool,
    damage: SharedDamage,
}

impl<R: Read> Framed<R> {
    pub(super) fn new(inner: R) -> Framed<R> {
        Framed {
            inner,
            frame: Vec::with_capacity(1 << 16),
            handed: 0,
            offset: 0,
            endian: Endianness::LittleEndian,
            started: false,
            stopped: false,
            damage: SharedDamage::default(),
        }
    }

    pub(super) fn damage(&self) -> SharedDamage {
        self.damage.clone()
    }

    /// Ends the stream here, at the last whole record, keeping why.
    fn stop(&mut self, reason: String) -> std::io::Result<bool> {
        self.stopped = true;
        self.frame.clear();
        self.handed = 0;
        *self.damage.lock().unwrap_or_else(|e| e.into_inner()) = Some(Damage {
            offset: self.offset,
            reason,
        });
        Ok(false)
    }

    /// Loads the next frame; false at the end of the stream (clean or damaged).
    fn next_frame(&mut self) -> std::io::Result<bool> {
        self.frame.clear();
        self.handed = 0;
        if !self.started {
            // The pipe header passes as it is: the crate checks it.
            self.started = true;
            self.frame.resize(PIPE_HEADER_SIZE as usize, 0);
            let got = read_up_to(&mut self.inner, &mut self.frame)?;
            self.frame.truncate(got);
            if self.frame.starts_with(b"2ELIFREP") {
                self.endian = Endianness::BigEndian;
            }
            self.offset = got as u64;
            return Ok(got > 0);
        }
        let mut header = [0u8; HEADER_SIZE];
        match read_up_to(&mut self.inner, &mut header)? {
            0 => return Ok(false),
            HEADER_SIZE => {}
            got => {
                return self.stop(format!(
                    "the stream ends inside a record header ({got} of its 8 bytes are there)"
                ))
            }
        }
        let record_type = self.u32(&header[..4]);
        let size = usize::from(self.u16(&header[6..8]));
        self.frame.extend_from_slice(&header);
        if size < HEADER_SIZE {
            // The crate refuses this header itself, with its own error.
            self.offset += HEADER_SIZE as u64;
            return Ok(true);
        }
        self.frame.resize(size, 0);
        let got = read_up_to(&mut self.inner, &mut self.frame[HEADER_SIZE..])?;
        if got < size - HEADER_SIZE {
            return self.stop(format!(
                "the stream ends inside a record of {size} bytes (type {record_type}; {} of them are there)",
                HEADER_SIZE + got
            ));
        }
        let body = HEADER_SIZE..size;
        match record_type {
            PERF_RECORD_AUXTRACE if body.len() >= 8 => {
                let claimed = self.u64(&self.frame[body.start..body.start + 8]);
                let skipped =
                    std::io::copy(&mut (&mut self.inner).take(claimed), &mut std::io::sink())?;
                if skipped < claimed {
                    return self.stop(format!(
                        "an AUXTRACE record claims {claimed} bytes of trace data but the stream ends after {skipped} of them"
                    ));
                }
                self.frame[body.start..body.start + 8].fill(0);
                self.offset += claimed;
            }
            PERF_RECORD_HEADER_FEATURE if body.len() >= 8 => {
                // The crate keeps the low 32 bits of the 64-bit id (found by fuzzing: an id
                // of 0x5245_5000_0000_000c was its EVENT_DESC and went unchecked).
                let feature = self.u64(&self.frame[body.start..body.start + 8]) as u32;
                let data = &self.frame[body.start + 8..];
                if feature_checks::is_checked(feature) {
                    if let Err(e) = feature_checks::check(feature, data, self.endian) {
                        return self.stop(e);
                    }
                }
            }
            _ => {}
        }
        self.offset += size as u64;
        Ok(true)
    }

    fn u16(&self, b: &[u8]) -> u16 {
        let b = b.try_into().expect("2 bytes");
        match self.endian {
            Endianness::LittleEndian => u16::from_le_bytes(b),
            Endianness::BigEndian => u16::from_be_bytes(b),
        }
    }

    fn u32(&self, b: &[u8]) -> u32 {
        let b = b.try_into().expect("4 bytes");
        match self.endian {
            Endianness::LittleEndian => u32::from_le_bytes(b),
            Endianness::BigEndian => u32::from_be_bytes(b),
        }
    }

    fn u64(&self, b: &[u8]) -> u64 {
        super::records::leading_u64(b, self.endian).expect("8 bytes")
    }
}

impl<R: Read> Read for Framed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.handed == self.frame.len() && (self.stopped || !self.next_frame()?) {
            return Ok(0);
        }
        let n = buf.len().min(self.frame.len() - self.handed);
        buf[..n].copy_from_slice(&self.frame[self.handed..self.handed + n]);
        self.handed += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(record_type: u32, body: &[u8]) -> Vec<u8> {
        let mut r = record_type.to_le_bytes().to_vec();
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    fn pipe(records: &[Vec<u8>]) -> Vec<u8> {
        let mut s = b"PERFILE2".to_vec();
        s.extend_from_slice(&16u64.to_le_bytes());
        records.iter().for_each(|r| s.extend_from_slice(r));
        s
    }

    fn read_all(input: Vec<u8>) -> (Vec<u8>, Option<Damage>) {
        let mut framed = Framed::new(std::io::Cursor::new(input));
        let damage = framed.damage();
        let mut out = Vec::new();
        framed.read_to_end(&mut out).unwrap();
        // Past the end it stays at the end: the crate reads again after a short read.
        assert_eq!(framed.read(&mut [0; 64]).unwrap(), 0);
        let d = damage.lock().unwrap().take();
        (out, d)
    }

    #[test]
    fn whole_records_pass_unchanged() {
        let input = pipe(&[record(3, &[1; 16]), record(68, &[])]);
        let (out, damage) = read_all(input.clone());
        assert_eq!(out, input);
        assert!(damage.is_none());
    }

    #[test]
    fn a_stream_cut_inside_a_record_ends_before_it_and_says_where() {
        let mut input = pipe(&[record(3, &[1; 16]), record(9, &[2; 40])]);
        input.truncate(input.len() - 10);
        let (out, damage) = read_all(input);
        assert_eq!(
            out.len(),
            16 + 24,
            "the pipe header and the whole first record"
        );
        let d = damage.expect("damage kept");
        assert_eq!(d.offset, 40);
        assert!(
            d.reason.contains("ends inside a record of 48 bytes"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn aux_data_is_stepped_over_without_trusting_its_size() {
        let mut aux = (5u64).to_le_bytes().to_vec();
        aux.extend_from_slice(&[0; 32]);
        let mut input = pipe(&[record(71, &aux)]);
        input.extend_from_slice(b"TRACE");
        input.extend_from_slice(&record(68, &[]));
        let (out, damage) = read_all(input);
        assert!(damage.is_none());
        assert_eq!(out.len(), 16 + 48 + 8, "the trace bytes are gone");
        assert_eq!(&out[24..32], &[0; 8], "the record's data size now says 0");

        let mut huge = (1u64 << 40).to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 32]);
        let (out, damage) = read_all(pipe(&[record(71, &huge)]));
        assert_eq!(out.len(), 16);
        let reason = damage.expect("damage kept").reason;
        assert!(reason.contains("claims 1099511627776 bytes"), "{reason}");
    }
}
