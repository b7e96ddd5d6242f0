//! Small serde building blocks for vendor JSON: borrowed text that tolerates the type drift real
//! exports show (numbers as strings, strings as numbers, objects where text was expected).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// Text borrowed from the input when it has no escapes. Numbers and booleans become their JSON
/// text; objects and arrays become compact JSON text; `null` is handled by `Option<Text>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'a> Text<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                let value =
                    serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Text(Cow::Owned(value.to_string())))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
                let value =
                    serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Text(Cow::Owned(value.to_string())))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// An integer that may arrive as a JSON number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseI64(pub Option<i64>);

impl<'de> Deserialize<'de> for LooseI64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LooseI64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseI64, E> {
                Ok(LooseI64(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseI64, E> {
                Ok(LooseI64(i64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LooseI64, E> {
                Ok(LooseI64(if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Some(v as i64)
                } else {
                    None
                }))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseI64, E> {
                Ok(LooseI64(v.trim().parse().ok()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LooseI64, E> {
                Ok(LooseI64(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LooseI64, E> {
                Ok(LooseI64(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A float that may arrive as a JSON number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LooseF64(pub Option<f64>);

impl<'de> Deserialize<'de> for LooseF64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LooseF64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseF64, E> {
                Ok(LooseF64(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseF64, E> {
                Ok(LooseF64(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LooseF64, E> {
                Ok(LooseF64(v.is_finite().then_some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseF64, E> {
                Ok(LooseF64(
                    v.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LooseF64, E> {
                Ok(LooseF64(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A boolean that may arrive as `true`/`false` or as the strings `"true"`/`"false"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseBool(pub Option<bool>);

impl<'de> Deserialize<'de> for LooseBool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LooseBool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LooseBool, E> {
                Ok(LooseBool(Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseBool, E> {
                Ok(LooseBool(match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Some(true),
                    "false" | "0" | "no" => Some(false),
                    _ => None,
                }))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseBool, E> {
                Ok(LooseBool(Some(v != 0)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseBool, E> {
                Ok(LooseBool(Some(v != 0)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LooseBool, E> {
                Ok(LooseBool(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

pub(crate) fn text<'a>(value: &Option<Text<'a>>) -> Option<Cow<'a, str>> {
    value
        .as_ref()
        .map(|t| t.0.clone())
        .filter(|s| !s.is_empty())
}
