//! Parsing one record without trusting it: lengths a damaged or hostile file gives are
//! checked before the parser multiplies them, and raw fields the crate leaves undecoded are
//! read in the file's byte order.

use linux_perf_data::Endianness;

/// Parses a kernel record. None: the record cannot be parsed; callers skip and count it.
///
/// linux-perf-event-reader multiplies a sample's callchain length from the file by 8 without
/// checking, and asserts that an MMAP2 record's build id is at most 20 bytes (both found by
/// fuzzing): such records are refused here before the crate sees them, and any other panic
/// in the parser is caught as a last resort.
pub fn parse_record<'a>(
    record: &linux_perf_data::linux_perf_event_reader::RawEventRecord<'a>,
) -> Option<linux_perf_data::linux_perf_event_reader::EventRecord<'a>> {
    if !callchain_fits(record) || !build_id_fits(record) {
        return None;
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| record.parse()))
        .ok()?
        .ok()
}

/// False when an MMAP2 record that carries a build id claims more than 20 bytes of it.
fn build_id_fits(record: &linux_perf_data::linux_perf_event_reader::RawEventRecord<'_>) -> bool {
    use linux_perf_data::linux_perf_event_reader::RecordType;
    const MISC_MMAP_BUILD_ID: u16 = 1 << 14;
    // pid, tid (4 bytes each), address, length, page offset (8 each), then the id's length.
    const BUILD_ID_LEN_AT: usize = 32;
    if record.record_type != RecordType::MMAP2 || record.misc & MISC_MMAP_BUILD_ID == 0 {
        return true;
    }
    record
        .data
        .as_slice()
        .get(BUILD_ID_LEN_AT)
        .is_none_or(|&len| len <= 20)
}

/// False when a sample's callchain length claims more entries than the record holds.
fn callchain_fits(record: &linux_perf_data::linux_perf_event_reader::RawEventRecord<'_>) -> bool {
    use linux_perf_data::linux_perf_event_reader::{RecordType, SampleFormat};
    let format = record.parse_info.sample_format;
    if record.record_type != RecordType::SAMPLE || !format.contains(SampleFormat::CALLCHAIN) {
        return true;
    }
    // The fixed 8-byte fields that come before the callchain, in the kernel's order.
    let fixed = [
        SampleFormat::IDENTIFIER,
        SampleFormat::IP,
        SampleFormat::TID,
        SampleFormat::TIME,
        SampleFormat::ADDR,
        SampleFormat::ID,
        SampleFormat::STREAM_ID,
        SampleFormat::CPU,
        SampleFormat::PERIOD,
    ]
    .iter()
    .filter(|f| format.contains(**f))
    .count()
        * 8;
    let data = record.data.as_slice();
    let endian = record.parse_info.endian;
    let before = if format.contains(SampleFormat::READ) {
        // Found by fuzzing: READ values come first and the guard used to skip such samples.
        match read_values_end(&data, fixed, record.parse_info.read_format, endian) {
            Some(end) => end,
            None => return true, // too short: the crate reports that itself
        }
    } else {
        fixed
    };
    let Some(nr) = data.get(before..).and_then(|d| leading_u64(d, endian)) else {
        return true;
    };
    nr <= (data.len() - before - 8) as u64 / 8
}

/// Where the READ values that start at `at` end, as linux-perf-event-reader walks them (its
/// layout, which the callchain check must follow to find the length the crate multiplies).
fn read_values_end(
    data: &[u8],
    at: usize,
    read_format: linux_perf_data::linux_perf_event_reader::ReadFormat,
    endian: Endianness,
) -> Option<usize> {
    use linux_perf_data::linux_perf_event_reader::ReadFormat;
    let times = [
        ReadFormat::TOTAL_TIME_ENABLED,
        ReadFormat::TOTAL_TIME_RUNNING,
    ]
    .iter()
    .filter(|f| read_format.contains(**f))
    .count()
        * 8;
    let id = if read_format.contains(ReadFormat::ID) {
        8
    } else {
        0
    };
    let end = if read_format.contains(ReadFormat::GROUP) {
        at + 8 + times + id
    } else {
        let nr = leading_u64(data.get(at..)?, endian)?;
        let each = 8 + id as u64;
        // More values than the record holds: the crate's reads fail before any multiply.
        let values = nr.checked_mul(each).filter(|&v| v <= data.len() as u64)? as usize;
        at + 8 + times + values
    };
    (end <= data.len()).then_some(end)
}

/// A u64 from the start of a raw record body, in the file's byte order.
pub fn leading_u64(data: &[u8], endian: Endianness) -> Option<u64> {
    let bytes: [u8; 8] = data.get(..8)?.try_into().ok()?;
    Some(match endian {
        Endianness::LittleEndian => u64::from_le_bytes(bytes),
        Endianness::BigEndian => u64::from_be_bytes(bytes),
    })
}
