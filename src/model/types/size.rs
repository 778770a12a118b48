//! Sizes in bytes as docker writes them: `512m`, `1.5G`, `1gb`, `2KiB`,
//! `1048576`.
//!
//! Compose reads memory limits, `shm_size` and tmpfs sizes with
//! `go-units`' `RAMInBytes`: a number (fractions allowed), an optional
//! space, and an optional unit `b`, `k`, `m`, `g`, `t` or `p` in any case,
//! optionally followed by `b` or `ib`. Every unit is a binary multiple
//! (`1k` = 1024). `muster config` prints the number of bytes, as a string,
//! as `docker compose config` does.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::de::{Scalar, scalar};

/// A size in bytes, read from docker's size syntax (`512m`, `1.5G`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

fn invalid(text: &str, why: &str) -> String {
    format!(
        "invalid size {text:?}: {why}use a number of bytes with an optional unit \
         b, k, m, g, t or p (binary multiples), like 512m or 1.5g"
    )
}

impl ByteSize {
    /// The number of bytes.
    #[must_use]
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Parses docker's size syntax (`RAMInBytes`).
    ///
    /// # Errors
    /// A message naming the text and showing the expected form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let Some(sep) = trimmed.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
            return Err(invalid(text, ""));
        };
        let (number, suffix) = if trimmed.as_bytes()[sep] == b' ' {
            (&trimmed[..sep], &trimmed[sep + 1..])
        } else {
            trimmed.split_at(sep + 1)
        };
        let size: f64 = number
            .parse()
            .ok()
            .filter(|f: &f64| f.is_finite())
            .ok_or_else(|| invalid(text, ""))?;
        if size < 0.0 {
            return Err(invalid(text, "a size cannot be negative; "));
        }
        let suffix = suffix.to_ascii_lowercase();
        let multiplier: u64 = match suffix.as_bytes() {
            [] | [b'b'] => 1,
            [unit, rest @ ..] if rest.is_empty() || rest == b"b" || rest == b"ib" => match unit {
                b'k' => 1 << 10,
                b'm' => 1 << 20,
                b'g' => 1 << 30,
                b't' => 1 << 40,
                b'p' => 1 << 50,
                _ => return Err(invalid(text, &format!("{suffix:?} is not a unit; "))),
            },
            _ => return Err(invalid(text, &format!("{suffix:?} is not a unit; "))),
        };
        #[allow(clippy::cast_precision_loss)]
        let bytes = size * multiplier as f64;
        #[allow(clippy::cast_precision_loss)]
        if bytes >= u64::MAX as f64 {
            return Err(invalid(text, "the size is too large; "));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Self(bytes as u64))
    }
}

impl From<u64> for ByteSize {
    fn from(bytes: u64) -> Self {
        Self(bytes)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d, "a size, like 512m or 1.5g")? {
            Scalar::UInt(u) => Ok(Self(u)),
            Scalar::Str(s) => Self::parse(&s).map_err(serde::de::Error::custom),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Scalar::Float(f) if f >= 0.0 && f.is_finite() => Ok(Self(f as u64)),
            other => Err(serde::de::Error::custom(invalid(&other.describe(), ""))),
        }
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "integer"],
            "description": "A size in bytes, or a number with a unit b, k, m, g, t or p (binary multiples), like 512m or 1.5g.",
            "examples": ["512m", "1g", 67_108_864]
        })
    }
}

/// A memory-swap limit: a size, or `-1` for unlimited swap.
pub(crate) mod swap {
    use serde::{Deserializer, Serializer};

    use super::{ByteSize, Scalar, invalid, scalar};

    /// Reads a size or `-1`.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let value = scalar(d, "a size, like 1g, or -1 for unlimited")?;
        let bytes = match value {
            Scalar::Null => return Ok(None),
            Scalar::Int(-1) => return Ok(Some(-1)),
            Scalar::Str(ref s) if s.trim() == "-1" => return Ok(Some(-1)),
            Scalar::UInt(u) => u,
            Scalar::Str(ref s) => ByteSize::parse(s).map_err(serde::de::Error::custom)?.0,
            other => return Err(serde::de::Error::custom(invalid(&other.describe(), ""))),
        };
        i64::try_from(bytes)
            .map(Some)
            .map_err(|_| serde::de::Error::custom("the size is too large"))
    }

    /// Writes the number of bytes as a string, like other sizes.
    #[allow(clippy::ref_option)]
    pub(crate) fn serialize<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_sizes() {
        let cases = [
            ("0", 0),
            ("32", 32),
            ("32b", 32),
            ("32 B", 32),
            ("32k", 32 * 1024),
            ("32K", 32 * 1024),
            ("32kb", 32 * 1024),
            ("32Kib", 32 * 1024),
            ("32KIB", 32 * 1024),
            ("512m", 512 << 20),
            ("1gb", 1 << 30),
            ("1.5G", 3 << 29),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("32.3", 32),
            ("0.5k", 512),
        ];
        for (text, bytes) in cases {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
        }
    }

    #[test]
    fn rejects_bad_sizes_with_the_expected_form() {
        assert_eq!(
            ByteSize::parse("12Q").unwrap_err(),
            "invalid size \"12Q\": \"q\" is not a unit; use a number of bytes with an \
             optional unit b, k, m, g, t or p (binary multiples), like 512m or 1.5g"
        );
        for bad in ["", "m", "-1", "1kk", "1kbb", "1bb", "1 g b", "abc", "1gi"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_numbers_and_strings_and_prints_bytes() {
        let v: ByteSize = serde_yaml::from_str("1048576").unwrap();
        assert_eq!(v, ByteSize(1 << 20));
        let v: ByteSize = serde_yaml::from_str("1m").unwrap();
        assert_eq!(v, ByteSize(1 << 20));
        assert!(serde_yaml::from_str::<ByteSize>("-5").is_err());
        assert_eq!(
            serde_yaml::to_string(&ByteSize(1 << 20)).unwrap(),
            "'1048576'\n"
        );
    }
}
