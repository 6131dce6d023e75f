//! serde through a type's text form (`Display` and `FromStr`), so results.json spells a
//! value as the command line takes it and the tables print it: one spelling per value, and a
//! file that names an unknown one is refused with the parser's own message.

/// Implements `Serialize` as `to_string()` and `Deserialize` as `parse()` for a type with
/// `Display` and `FromStr` (whose error is `Display`).
macro_rules! serde_as_text {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use serde_as_text;
