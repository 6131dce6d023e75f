//! Numbers as the reports print them: thousands separated, decimal megabytes as the
//! reference post gives them, percentages with the precision their size needs.

/// `1234567` -> `1,234,567`.
pub fn thousands(n: f64) -> String {
    let n = n.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Bytes in decimal megabytes as the reference gives them ("934 MB").
pub fn megabytes(bytes: f64) -> String {
    let mb = bytes / 1e6;
    if mb >= 10.0 {
        format!("{} MB", thousands(mb))
    } else {
        format!("{mb:.2} MB")
    }
}

pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p.abs() >= 10.0 {
        format!("{p:.0}%")
    } else if p.abs() >= 1.0 || p == 0.0 {
        format!("{p:.1}%")
    } else {
        // perf's CPU share with frame pointers is a few hundredths of a percent: keep them.
        format!("{p:.2}%")
    }
}

/// A byte count in the unit of [`megabytes`], without the unit (for ranges).
pub fn megabytes_number(bytes: f64) -> String {
    let s = megabytes(bytes);
    s.trim_end_matches(" MB").to_string()
}

/// An estimate with its interval, `estimate [low–high]`, each printed by `fmt`.
pub fn interval(i: &crate::stats::Interval, fmt: impl Fn(f64) -> String) -> String {
    format!("{} [{}–{}]", fmt(i.estimate), fmt(i.low), fmt(i.high))
}

/// An overhead's estimate with its 95% interval, "within noise (...)" exactly when the
/// interval holds zero: a difference inside its interval is said in words.
pub fn noise_interval(i: &crate::stats::Interval, fmt: impl Fn(f64) -> String) -> String {
    let text = interval(i, fmt);
    if i.contains(0.0) {
        format!("within noise ({text})")
    } else {
        text
    }
}

/// A share as a percentage with its sign (`+2.0%`, `-1.0%`): for changes.
pub fn signed_percent(fraction: f64) -> String {
    if fraction > 0.0 {
        format!("+{}", percent(fraction))
    } else {
        percent(fraction)
    }
}

/// Nanoseconds as microseconds with two decimals (`12.34 µs`).
pub fn micros_from_ns(ns: f64) -> String {
    format!("{:.2} µs", ns / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(-1234.0), "-1,234");
        assert_eq!(megabytes(934_000_000.0), "934 MB");
        assert_eq!(megabytes(18_733_000_000.0), "18,733 MB");
        assert_eq!(megabytes(1_500_000.0), "1.50 MB");
        assert_eq!(percent(0.015), "1.5%");
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(0.00023), "0.02%");
        assert_eq!(megabytes_number(1_530_000.0), "1.53");
    }
}
