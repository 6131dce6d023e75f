//! Unwinding modes: what `--unwind` accepts, and the `perf record` options each one means.
//!
//! A mode is parsed once into [`UnwindMode`] and printed back in a canonical spelling
//! (`Display` and `FromStr` round-trip), so `results.json` and the report always name a mode
//! the same way, whatever the user typed (`dwarf`, `dwarf:8192` and `dwarf:8k` are one mode).

use std::fmt;
use std::str::FromStr;

/// perf stores a sample's size in a u16 and the stack copy must be 8-byte aligned, which caps
/// `--call-graph dwarf,SIZE` at 65528 bytes.
pub const MAX_DWARF_STACK: u32 = 65528;

/// perf's default DWARF stack copy, used for a bare `dwarf`.
pub const DEFAULT_DWARF_STACK: u32 = 8192;

/// The modes of the reference table, in its order.
pub const DEFAULT_MODES: &str = "fp,dwarf:4k,dwarf:8k,dwarf:16k,dwarf:32k";

const VALID_FORMS: &str =
    "valid modes: none, fp, lbr, dwarf (= dwarf:8k), dwarf:SIZE with SIZE in \
     bytes (a multiple of 8, 8..=65528) or 4k/8k/16k/32k, online:SIZE (the same sizes, and \
     64k = 65528; bare online = online:64k)";

/// How `perf record` collects each sample's call stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnwindMode {
    /// Samples without any call graph: the cost of sampling alone.
    None,
    /// The kernel walks the user stack through frame pointers at sample time.
    Fp,
    /// perf copies `stack_bytes` of raw user stack into every sample; unwound offline.
    Dwarf { stack_bytes: u32 },
    /// Intel's last-branch-record call stacks (hardware PMU only).
    Lbr,
    /// unwindbench's own recorder copies `stack_bytes` of user stack like perf's DWARF mode,
    /// unwinds each sample as it arrives and writes only the frames ([`crate::online`]).
    Online { stack_bytes: u32 },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad --unwind item `{item}`: {reason}; {VALID_FORMS}")]
pub struct ModeParseError {
    pub item: String,
    pub reason: String,
}

impl UnwindMode {
    /// The `perf record` arguments that select this mode's call-graph collection.
    pub fn perf_args(&self) -> Vec<String> {
        match self {
            UnwindMode::None => Vec::new(),
            UnwindMode::Fp => vec!["--call-graph".into(), "fp".into()],
            UnwindMode::Dwarf { stack_bytes } => {
                vec!["--call-graph".into(), format!("dwarf,{stack_bytes}")]
            }
            UnwindMode::Lbr => vec!["--call-graph".into(), "lbr".into()],
            // Not perf: the harness's own recorder, which takes its size as `--stack`.
            UnwindMode::Online { stack_bytes } => vec!["--stack".into(), stack_bytes.to_string()],
        }
    }

    /// Recorded by the harness's online recorder rather than by perf.
    pub fn is_online(&self) -> bool {
        matches!(self, UnwindMode::Online { .. })
    }

    pub fn is_dwarf(&self) -> bool {
        matches!(self, UnwindMode::Dwarf { .. })
    }

    /// Raw user-stack bytes copied into every sample (0 for modes that copy none).
    pub fn stack_copy_bytes(&self) -> u32 {
        match self {
            UnwindMode::Dwarf { stack_bytes } | UnwindMode::Online { stack_bytes } => *stack_bytes,
            _ => 0,
        }
    }

    /// A human title for tables, in the reference post's words.
    pub fn title(&self) -> String {
        match self {
            UnwindMode::None => "no call graph".into(),
            UnwindMode::Fp => "frame pointers".into(),
            UnwindMode::Dwarf { stack_bytes } => format!("DWARF ({})", size_label(*stack_bytes)),
            UnwindMode::Lbr => "LBR".into(),
            UnwindMode::Online {
                stack_bytes: MAX_DWARF_STACK,
            } => "DWARF online (64K)".into(),
            UnwindMode::Online { stack_bytes } => {
                format!("DWARF online ({})", size_label(*stack_bytes))
            }
        }
    }
}

/// `4096` -> `4K`, `5000` -> `5000 B`.
fn size_label(bytes: u32) -> String {
    if bytes.is_multiple_of(1024) {
        format!("{}K", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

impl fmt::Display for UnwindMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnwindMode::None => f.write_str("none"),
            UnwindMode::Fp => f.write_str("fp"),
            UnwindMode::Lbr => f.write_str("lbr"),
            UnwindMode::Dwarf { stack_bytes } if stack_bytes.is_multiple_of(1024) => {
                write!(f, "dwarf:{}k", stack_bytes / 1024)
            }
            UnwindMode::Dwarf { stack_bytes } => write!(f, "dwarf:{stack_bytes}"),
            UnwindMode::Online {
                stack_bytes: MAX_DWARF_STACK,
            } => f.write_str("online:64k"),
            UnwindMode::Online { stack_bytes } if stack_bytes.is_multiple_of(1024) => {
                write!(f, "online:{}k", stack_bytes / 1024)
            }
            UnwindMode::Online { stack_bytes } => write!(f, "online:{stack_bytes}"),
        }
    }
}

impl FromStr for UnwindMode {
    type Err = ModeParseError;

    fn from_str(item: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ModeParseError {
            item: item.to_string(),
            reason: reason.to_string(),
        };
        let lower = item.trim().to_ascii_lowercase();
        match lower.as_str() {
            "" => return Err(bad("empty item")),
            "none" => return Ok(UnwindMode::None),
            "fp" => return Ok(UnwindMode::Fp),
            "lbr" => return Ok(UnwindMode::Lbr),
            "dwarf" => {
                return Ok(UnwindMode::Dwarf {
                    stack_bytes: DEFAULT_DWARF_STACK,
                })
            }
            "online" | "online:64k" => {
                return Ok(UnwindMode::Online {
                    stack_bytes: MAX_DWARF_STACK,
                })
            }
            _ => {}
        }
        if let Some(size) = lower.strip_prefix("online:") {
            return Ok(UnwindMode::Online {
                stack_bytes: parse_size(size).map_err(|r| bad(&r))?,
            });
        }
        // perf's own spelling `dwarf,SIZE` is accepted beside ours, since users paste it.
        let Some(size) = lower
            .strip_prefix("dwarf:")
            .or_else(|| lower.strip_prefix("dwarf,"))
        else {
            return Err(bad("unknown mode"));
        };
        Ok(UnwindMode::Dwarf {
            stack_bytes: parse_size(size).map_err(|r| bad(&r))?,
        })
    }
}

/// A stack copy size: bytes, or with a k suffix; a multiple of 8 up to perf's maximum.
fn parse_size(size: &str) -> Result<u32, String> {
    let (digits, multiplier) = match size.strip_suffix('k') {
        Some(d) => (d, 1024u64),
        None => (size, 1u64),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("SIZE is not a number".into());
    }
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or("SIZE is too large")?;
    if bytes == 0 {
        return Err("SIZE must be greater than zero".into());
    }
    if bytes > u64::from(MAX_DWARF_STACK) {
        return Err(format!(
            "SIZE {bytes} exceeds perf's maximum of {MAX_DWARF_STACK} bytes"
        ));
    }
    if !bytes.is_multiple_of(8) {
        return Err(format!("SIZE {bytes} is not a multiple of 8"));
    }
    Ok(bytes as u32)
}

/// Parses a comma-separated `--unwind` list. `dwarf,SIZE` cannot be told apart from a list
/// item boundary, so lists use `dwarf:SIZE`; a bare number after `dwarf` is joined back.
pub fn parse_mode_list(list: &str) -> Result<Vec<UnwindMode>, ModeParseError> {
    let mut modes: Vec<UnwindMode> = Vec::new();
    let mut items = list.split(',').map(str::trim).peekable();
    while let Some(item) = items.next() {
        let joined;
        let item = if item.eq_ignore_ascii_case("dwarf")
            && items
                .peek()
                .is_some_and(|next| next.starts_with(|c: char| c.is_ascii_digit()))
        {
            joined = format!("dwarf:{}", items.next().unwrap_or_default());
            joined.as_str()
        } else {
            item
        };
        let mode: UnwindMode = item.parse()?;
        if modes.contains(&mode) {
            return Err(ModeParseError {
                item: item.to_string(),
                reason: format!("`{mode}` is listed twice"),
            });
        }
        modes.push(mode);
    }
    Ok(modes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_valid_form() {
        assert_eq!("none".parse(), Ok(UnwindMode::None));
        assert_eq!("FP".parse(), Ok(UnwindMode::Fp));
        assert_eq!("lbr".parse(), Ok(UnwindMode::Lbr));
        let d = |n| Ok(UnwindMode::Dwarf { stack_bytes: n });
        assert_eq!("dwarf".parse(), d(8192));
        assert_eq!("dwarf:4k".parse(), d(4096));
        assert_eq!("dwarf:32K".parse(), d(32768));
        assert_eq!("dwarf:65528".parse(), d(65528));
        assert_eq!("dwarf,16384".parse(), d(16384));
        assert_eq!("dwarf:8".parse(), d(8));
        let o = |n| Ok(UnwindMode::Online { stack_bytes: n });
        assert_eq!("online".parse(), o(65528));
        assert_eq!("online:64k".parse(), o(65528));
        assert_eq!("online:32k".parse(), o(32768));
        assert!("online:65536".parse::<UnwindMode>().is_err());
        assert!("online:12".parse::<UnwindMode>().is_err());
    }

    #[test]
    fn rejects_invalid_forms_with_the_reason() {
        for (item, why) in [
            ("dwarf:0", "greater than zero"),
            ("dwarf:64k", "exceeds perf's maximum"),
            ("dwarf:65536", "exceeds perf's maximum"),
            ("dwarf:100", "not a multiple of 8"),
            ("dwarf:abc", "not a number"),
            ("dwarf:", "not a number"),
            ("dwarf:-8", "not a number"),
            ("dwarf:99999999999999999999k", "too large"),
            ("frame", "unknown mode"),
            ("", "empty"),
        ] {
            let err = item.parse::<UnwindMode>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(why), "{item}: {msg}");
            assert!(msg.contains("valid modes"), "{item}: {msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "none",
            "fp",
            "lbr",
            "dwarf:4k",
            "dwarf:8k",
            "dwarf:65528",
            "dwarf:1000",
            "online:64k",
            "online:8k",
            "online:1000",
        ] {
            let mode: UnwindMode = text.parse().unwrap();
            assert_eq!(mode.to_string(), text);
            assert_eq!(mode.to_string().parse::<UnwindMode>().unwrap(), mode);
        }
        assert_eq!(
            "dwarf".parse::<UnwindMode>().unwrap().to_string(),
            "dwarf:8k"
        );
    }

    #[test]
    fn lists_parse_in_order_and_reject_duplicates() {
        let modes = parse_mode_list(DEFAULT_MODES).unwrap();
        assert_eq!(modes.len(), 5);
        assert_eq!(modes[0], UnwindMode::Fp);
        assert_eq!(modes[4], UnwindMode::Dwarf { stack_bytes: 32768 });
        // perf's spelling inside a list
        assert_eq!(
            parse_mode_list("fp,dwarf,4096").unwrap(),
            vec![UnwindMode::Fp, UnwindMode::Dwarf { stack_bytes: 4096 }]
        );
        let err = parse_mode_list("fp,dwarf,dwarf:8k").unwrap_err();
        assert!(err.to_string().contains("listed twice"));
        assert!(parse_mode_list("fp,,dwarf").is_err());
    }

    #[test]
    fn perf_arguments_match_the_mode() {
        assert!(UnwindMode::None.perf_args().is_empty());
        assert_eq!(UnwindMode::Fp.perf_args(), ["--call-graph", "fp"]);
        assert_eq!(
            UnwindMode::Dwarf { stack_bytes: 4096 }.perf_args(),
            ["--call-graph", "dwarf,4096"]
        );
    }
}
