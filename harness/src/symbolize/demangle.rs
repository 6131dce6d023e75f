//! Symbol names demangled the way `perf script` prints them, so that our stacks and perf's
//! compare name for name.
//!
//! perf demangles C++ with the GNU demangler and without parameters (its `DMGL_NO_OPTS`):
//! no return type, no parameter list, and integer template arguments written as C++
//! literals (`8u`, `16ul`, `true`). cpp_demangle prints a C-style cast instead
//! (`(unsigned int)8`) and leaves a dangling `, ` where an empty parameter pack expands to
//! nothing; both are rewritten here. Rust names are demangled without their hash.

use std::borrow::Cow;

/// A demangled name (Rust, then C++), or the name as it is.
pub fn demangle(name: &str) -> Cow<'_, str> {
    if name.starts_with("_R") || name.starts_with("_ZN") {
        if let Ok(d) = rustc_demangle::try_demangle(name) {
            return Cow::Owned(format!("{d:#}"));
        }
    }
    if name.starts_with("_Z") {
        let options = cpp_demangle::DemangleOptions::new()
            .no_params()
            .no_return_type();
        if let Some(d) = cpp_demangle::Symbol::new(name)
            .ok()
            .and_then(|s| s.demangle_with_options(&options).ok())
        {
            return Cow::Owned(as_gnu_prints(&d));
        }
    }
    Cow::Borrowed(name)
}

/// The GNU demangler's suffix for an integer literal of a builtin type; types without one
/// keep the cast, as GNU keeps it (`(char)97`, `(short)3`).
fn literal_suffix(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "int" => "",
        "unsigned int" => "u",
        "long" => "l",
        "unsigned long" => "ul",
        "long long" => "ll",
        "unsigned long long" => "ull",
        _ => return None,
    })
}

/// A cast literal as the GNU demangler writes it, from the text after a `(`: `unsigned
/// int)8...` gives `8u` and the bytes it used; None when the parenthesis is no cast of a
/// number (a parameter list, `(anonymous namespace)`) or GNU keeps the cast.
fn gnu_literal(after_paren: &str) -> Option<(String, usize)> {
    let close = after_paren.find(')')?;
    let ty = &after_paren[..close];
    let number = &after_paren[close + 1..];
    let digits = number
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(number.len(), |(i, _)| i);
    let value = &number[..digits];
    if value.is_empty() || value == "-" {
        return None;
    }
    let text = match (ty, value) {
        ("bool", "0") => "false".to_string(),
        ("bool", "1") => "true".to_string(),
        ("bool", _) => return None,
        _ => format!("{value}{}", literal_suffix(ty)?),
    };
    Some((text, close + 1 + digits))
}

/// Rewrites cpp_demangle's spellings into the GNU demangler's (see the module comment).
fn as_gnu_prints(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match gnu_literal(after) {
            Some((text, used)) => {
                out.push_str(&text);
                rest = &after[used..];
            }
            None => {
                out.push('(');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    // An empty pack leaves `, >` behind; GNU closes the list right after the last argument.
    while out.contains(", >") {
        out = out.replace(", >", ">");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_names_lose_their_hash() {
        assert_eq!(demangle("main"), "main");
        assert_eq!(
            demangle("_ZN3std2rt10lang_start17h0123456789abcdefE"),
            "std::rt::lang_start"
        );
    }

    /// Expected names as `c++filt -p` (binutils 2.40) prints them.
    #[test]
    fn cpp_names_as_the_gnu_demangler_prints_them_without_parameters() {
        assert_eq!(demangle("_ZN2ns4spinEl"), "ns::spin");
        assert_eq!(demangle("_Zbroken"), "_Zbroken");
        // The return type of a template function is not printed.
        assert_eq!(
            demangle("_ZN4llvm10TensorSpec11getDataTypeIdEENS_10TensorTypeEv"),
            "llvm::TensorSpec::getDataType<double>"
        );
        // Integer template arguments: `8u`, not `(unsigned int)8`.
        assert_eq!(demangle("_ZN1AILj8EE1fEv"), "A<8u>::f");
        assert_eq!(demangle("_ZN1AILm16EE1fEv"), "A<16ul>::f");
        assert_eq!(demangle("_ZN1AILin3EE1fEv"), "A<-3>::f");
        assert_eq!(demangle("_ZN1AILb1EE1fEv"), "A<true>::f");
        assert_eq!(demangle("_ZN1AILc97EE1fEv"), "A<(char)97>::f");
        // Operators keep their name.
        assert_eq!(
            demangle("_ZN4llvmlsERNS_11raw_ostreamERKNS_4TypeE"),
            "llvm::operator<<"
        );
    }

    #[test]
    fn empty_packs_leave_no_separator() {
        assert_eq!(as_gnu_prints("A<B<C, >, >::run"), "A<B<C>>::run");
        assert_eq!(as_gnu_prints("f(int)"), "f(int)");
        assert_eq!(
            as_gnu_prints("(anonymous namespace)::g"),
            "(anonymous namespace)::g"
        );
    }
}
