//! Checks the counts and lengths inside the metadata (feature) sections that linux-perf-data
//! parses, before it does: the crate sizes its vectors from them (`Vec::with_capacity(nr)`,
//! `vec![0; len]`), so a flipped bit in EVENT_DESC's event count asked for hundreds of
//! gigabytes and aborted the process (issue 16). Each count or length is checked against the
//! bytes the section actually holds; the same checks serve file sections and the
//! HEADER_FEATURE records of pipe streams.

use linux_perf_data::Endianness;

/// Feature bits (perf's `HEADER_*`) whose contents are checked here.
const HOSTNAME: u32 = 3;
const OSRELEASE: u32 = 4;
const VERSION: u32 = 5;
const ARCH: u32 = 6;
const CPUDESC: u32 = 8;
const CPUID: u32 = 9;
const CMDLINE: u32 = 11;
pub(super) const EVENT_DESC: u32 = 12;
const PMU_MAPPINGS: u32 = 19;

/// Whether [`check`] looks inside this feature; the others are parsed by the crate only
/// within their section's (already checked) size, or not at all.
pub(super) fn is_checked(feature: u32) -> bool {
    matches!(
        feature,
        HOSTNAME
            | OSRELEASE
            | VERSION
            | ARCH
            | CPUDESC
            | CPUID
            | CMDLINE
            | EVENT_DESC
            | PMU_MAPPINGS
    )
}

/// Checks one feature section's contents. Err: what is wrong, for a one-line message.
pub(super) fn check(feature: u32, data: &[u8], endian: Endianness) -> Result<(), String> {
    let mut r = Fields {
        data,
        at: 0,
        endian,
    };
    match feature {
        HOSTNAME | OSRELEASE | VERSION | ARCH | CPUDESC | CPUID => r.string("its string"),
        CMDLINE => {
            let nr = r.u32("its argument count")?;
            r.fits(u64::from(nr) * 4, "its argument count")?;
            (0..nr).try_for_each(|_| r.string("an argument"))
        }
        PMU_MAPPINGS => {
            let nr = r.u32("its PMU count")?;
            r.fits(u64::from(nr) * 8, "its PMU count")?;
            (0..nr).try_for_each(|_| {
                r.u32("a PMU type")?;
                r.string("a PMU name")
            })
        }
        EVENT_DESC => event_desc(&mut r),
        _ => Ok(()),
    }
    .map_err(|e| format!("{} metadata: {e}", feature_name(feature)))
}

/// `nr`, `attr_size`, then per event: the attribute, `nr_ids`, a string and the ids.
fn event_desc(r: &mut Fields) -> Result<(), String> {
    let nr = r.u32("its event count")?;
    let attr_size = r.u32("its attribute size")?;
    if !(64..=4096).contains(&attr_size) {
        return Err(format!("an impossible attribute size ({attr_size} bytes)"));
    }
    // Every event takes at least its attribute, its id count and its string's length.
    r.fits(
        u64::from(nr) * (u64::from(attr_size) + 8),
        "its event count",
    )?;
    for _ in 0..nr {
        let own = r.peek_u32(4, "an event attribute")?;
        if !crate_reads_whole(own, u64::from(attr_size)) {
            return Err(format!(
                "an event attribute gives its own size as {own} bytes, not one of perf's sizes up to {attr_size}"
            ));
        }
        r.skip(u64::from(attr_size), "an event attribute")?;
        let ids = r.u32("an event's id count")?;
        r.string("an event name")?;
        r.skip(u64::from(ids) * 8, "an event's id count")?;
    }
    Ok(())
}

/// Whether linux-perf-data, reading an attribute whose own size field says `own` in a slot
/// of `slot` bytes, ends exactly at the slot's end. It reads the fields of the newest
/// attribute version `own` covers, then skips `slot - own`: for a size between two versions
/// (found by fuzzing: 119) it ends short, reads the next counts from the wrong bytes, and
/// sizes a vector from them. perf only ever writes the versions' sizes.
pub(super) fn crate_reads_whole(own: u32, slot: u64) -> bool {
    const VERSIONS: [u32; 8] = [64, 72, 80, 96, 104, 112, 120, 128];
    u64::from(own) <= slot && (own >= 128 || VERSIONS.contains(&own))
}

fn feature_name(feature: u32) -> &'static str {
    match feature {
        HOSTNAME => "the HOSTNAME",
        OSRELEASE => "the OSRELEASE",
        VERSION => "the VERSION",
        ARCH => "the ARCH",
        CPUDESC => "the CPUDESC",
        CPUID => "the CPUID",
        CMDLINE => "the CMDLINE",
        EVENT_DESC => "the EVENT_DESC",
        PMU_MAPPINGS => "the PMU_MAPPINGS",
        _ => "a",
    }
}

/// A cursor over a section that refuses to read or skip past its end.
struct Fields<'a> {
    data: &'a [u8],
    at: usize,
    endian: Endianness,
}

impl Fields<'_> {
    fn left(&self) -> u64 {
        (self.data.len() - self.at) as u64
    }

    /// Err unless `bytes` more bytes are there (without consuming them).
    fn fits(&self, bytes: u64, what: &str) -> Result<(), String> {
        if bytes <= self.left() {
            Ok(())
        } else {
            Err(format!(
                "{what} needs {bytes} bytes but only {} are left in the section",
                self.left()
            ))
        }
    }

    fn skip(&mut self, bytes: u64, what: &str) -> Result<(), String> {
        self.fits(bytes, what)?;
        self.at += bytes as usize;
        Ok(())
    }

    /// The u32 `ahead` bytes past the cursor, without consuming anything.
    fn peek_u32(&self, ahead: usize, what: &str) -> Result<u32, String> {
        self.fits(ahead as u64 + 4, what)?;
        let at = self.at + ahead;
        let b: [u8; 4] = self.data[at..at + 4].try_into().expect("4 bytes");
        Ok(match self.endian {
            Endianness::LittleEndian => u32::from_le_bytes(b),
            Endianness::BigEndian => u32::from_be_bytes(b),
        })
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let value = self.peek_u32(0, what)?;
        self.at += 4;
        Ok(value)
    }

    /// perf's `perf_header_string`: a u32 length, then that many bytes.
    fn string(&mut self, what: &str) -> Result<(), String> {
        let len = self.u32(what)?;
        self.skip(u64::from(len), what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn a_string_longer_than_its_section_is_refused() {
        let mut ok = le(&[3]);
        ok.extend_from_slice(b"6.1");
        assert!(check(VERSION, &ok, Endianness::LittleEndian).is_ok());
        let bad = le(&[u32::MAX]);
        let e = check(VERSION, &bad, Endianness::LittleEndian).unwrap_err();
        assert!(
            e.contains("VERSION") && e.contains("4294967295 bytes"),
            "{e}"
        );
    }

    #[test]
    fn an_event_count_beyond_the_section_is_refused_before_any_event_is_read() {
        // One well-formed event: a 64-byte attribute, no ids, a 4-byte name.
        let mut one = le(&[1, 64]);
        let mut attr = [0u8; 64];
        attr[4] = 64; // the attribute's own size
        one.extend_from_slice(&attr);
        one.extend_from_slice(&le(&[0, 4]));
        one.extend_from_slice(b"cpu\0");
        assert!(check(EVENT_DESC, &one, Endianness::LittleEndian).is_ok());
        let mut huge = one.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = check(EVENT_DESC, &huge, Endianness::LittleEndian).unwrap_err();
        assert!(e.contains("event count"), "{e}");
        let mut ids = one.clone();
        ids[72..76].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let e = check(EVENT_DESC, &ids, Endianness::LittleEndian).unwrap_err();
        assert!(e.contains("id count"), "{e}");
        let mut odd = one;
        odd[12] = 59; // between two versions: the crate would read past its fields
        let e = check(EVENT_DESC, &odd, Endianness::LittleEndian).unwrap_err();
        assert!(e.contains("not one of perf's sizes"), "{e}");
    }
}
