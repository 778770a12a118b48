//! Durations as compose writes them: `1m30s`, `500ms`, `1.5s`, `2h`.
//!
//! Compose parses durations with Go's `time.ParseDuration` rules extended
//! with days and weeks (the `str2duration` package): a sequence of decimal
//! numbers, each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`,
//! `w`). A bare number is an error, except `0`. `muster config` prints them
//! back as Go's `Duration.String` does (`1m30s`, `1h0m0s`, `500ms`), so its
//! output reads like `docker compose config`'s.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::de::{Scalar, format_float, scalar};

/// A duration in compose's syntax (`1m30s`, `500ms`, `1.5s`, `2h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

/// The units compose accepts, with their length in nanoseconds.
const UNITS: [(&str, u128); 10] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// Go's durations are an `int64` of nanoseconds; so are compose's.
const MAX_NANOS: u128 = i64::MAX as u128;

fn invalid(text: &str, hint: &str) -> String {
    format!(
        "invalid duration {text:?}: use a number with a unit, like 1m30s or 500ms \
         (units: ns, us, ms, s, m, h, d, w){hint}"
    )
}

impl Duration {
    /// A duration of `secs` seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// A duration of `millis` milliseconds.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Self(std::time::Duration::from_millis(millis))
    }

    /// The standard library duration.
    #[must_use]
    pub const fn as_std(self) -> std::time::Duration {
        self.0
    }

    /// Parses compose's duration syntax.
    ///
    /// # Errors
    /// A message naming the text and showing the expected form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rest = text;
        let mut negative = false;
        if let Some(r) = rest.strip_prefix('-') {
            negative = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('+') {
            rest = r;
        }
        if rest == "0" {
            return Ok(Self::default());
        }
        if rest.is_empty() {
            return Err(invalid(text, ""));
        }
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (int, after) = rest.split_at(int_len);
            let (frac, after) = match after.strip_prefix('.') {
                Some(a) => {
                    let len = a.bytes().take_while(u8::is_ascii_digit).count();
                    a.split_at(len)
                }
                None => ("", after),
            };
            if int.is_empty() && frac.is_empty() {
                return Err(invalid(text, ""));
            }
            let unit_len = after
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit() || *c == '.')
                .map_or(after.len(), |(i, _)| i);
            let (unit, after) = after.split_at(unit_len);
            if unit.is_empty() {
                let hint = if after.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                    format!("; a bare number has no unit: did you mean {text}s?")
                } else {
                    String::new()
                };
                return Err(invalid(text, &hint));
            }
            let Some((_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(invalid(text, &format!("; {unit:?} is not a unit")));
            };
            let int: u128 = if int.is_empty() {
                0
            } else {
                int.parse()
                    .map_err(|_| invalid(text, "; the number is too large"))?
            };
            let mut nanos = int
                .checked_mul(*scale)
                .filter(|n| *n <= MAX_NANOS)
                .ok_or_else(|| invalid(text, "; the duration is too long"))?;
            if !frac.is_empty() {
                // Go computes the fraction in float64; so do we, to agree.
                let digits = &frac[..frac.len().min(18)];
                let f: f64 = digits.parse().unwrap_or(0.0);
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
                let scale_f = 10f64.powi(digits.len() as i32);
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let part = (f * (*scale as f64 / scale_f)) as u128;
                nanos += part;
            }
            total = total
                .checked_add(nanos)
                .filter(|n| *n <= MAX_NANOS)
                .ok_or_else(|| invalid(text, "; the duration is too long"))?;
            rest = after;
        }
        if negative && total > 0 {
            return Err(format!(
                "invalid duration {text:?}: a duration cannot be negative"
            ));
        }
        #[allow(clippy::cast_possible_truncation)]
        Ok(Self(std::time::Duration::from_nanos(total as u64)))
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// `v / 10^prec` as an integer part and a fraction (".5", or "" when the
/// fraction is zero), trailing zeros dropped: Go's `fmtFrac`.
fn split_frac(v: u128, prec: u32) -> (u128, String) {
    let p = 10u128.pow(prec);
    let frac = v % p;
    if frac == 0 {
        return (v / p, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (v / p, format!(".{}", digits.trim_end_matches('0')))
}

impl fmt::Display for Duration {
    /// Formats as Go's `time.Duration.String`: `1m30s`, `1h0m0s`, `1.5s`,
    /// `500ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.0.as_nanos();
        if u == 0 {
            return f.write_str("0s");
        }
        if u < 1_000_000_000 {
            let (prec, unit) = if u < 1_000 {
                (0, "ns")
            } else if u < 1_000_000 {
                (3, "\u{b5}s")
            } else {
                (6, "ms")
            };
            let (int, frac) = split_frac(u, prec);
            return write!(f, "{int}{frac}{unit}");
        }
        let (secs, frac) = split_frac(u, 9);
        let minutes = secs / 60;
        if minutes > 0 {
            let hours = minutes / 60;
            if hours > 0 {
                write!(f, "{hours}h")?;
            }
            write!(f, "{}m", minutes % 60)?;
        }
        write!(f, "{}{frac}s", secs % 60)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match scalar(d, "a duration, like 1m30s or 500ms")? {
            Scalar::Str(s) => s,
            Scalar::UInt(u) => u.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format_float(f),
            other => {
                return Err(serde::de::Error::custom(invalid(&other.describe(), "")));
            }
        };
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: numbers with units (ns, us, ms, s, m, h, d, w), like 1m30s, 500ms or 1.5s.",
            "examples": ["10s", "1m30s", "500ms"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> std::time::Duration {
        Duration::parse(text).unwrap().0
    }

    #[test]
    fn parses_compose_durations() {
        assert_eq!(d("1m30s"), std::time::Duration::from_secs(90));
        assert_eq!(d("500ms"), std::time::Duration::from_millis(500));
        assert_eq!(d("1h"), std::time::Duration::from_secs(3600));
        assert_eq!(d("10s"), std::time::Duration::from_secs(10));
        assert_eq!(d("1.5s"), std::time::Duration::from_millis(1500));
        assert_eq!(d(".5s"), std::time::Duration::from_millis(500));
        assert_eq!(d("2d"), std::time::Duration::from_secs(2 * 86_400));
        assert_eq!(d("1w"), std::time::Duration::from_secs(604_800));
        assert_eq!(d("100us"), std::time::Duration::from_micros(100));
        assert_eq!(d("100\u{b5}s"), std::time::Duration::from_micros(100));
        assert_eq!(d("3ns"), std::time::Duration::from_nanos(3));
        assert_eq!(d("0"), std::time::Duration::ZERO);
        assert_eq!(d("+5s"), std::time::Duration::from_secs(5));
        assert_eq!(d("1h2m3s4ms"), std::time::Duration::from_millis(3_723_004));
    }

    #[test]
    fn rejects_bad_durations_with_the_expected_form() {
        assert_eq!(
            Duration::parse("5x").unwrap_err(),
            "invalid duration \"5x\": use a number with a unit, like 1m30s or 500ms \
             (units: ns, us, ms, s, m, h, d, w); \"x\" is not a unit"
        );
        assert!(
            Duration::parse("10")
                .unwrap_err()
                .ends_with("a bare number has no unit: did you mean 10s?")
        );
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("1.s5").is_err());
        assert!(Duration::parse("abc").is_err());
        assert_eq!(
            Duration::parse("-1s").unwrap_err(),
            "invalid duration \"-1s\": a duration cannot be negative"
        );
        assert!(Duration::parse("99999999999999999999h").is_err());
    }

    #[test]
    fn prints_like_go() {
        let cases = [
            ("0s", "0"),
            ("1m30s", "90s"),
            ("1h0m0s", "1h"),
            ("500ms", "500ms"),
            ("1.5s", "1500ms"),
            ("1.5ms", "1500us"),
            ("100\u{b5}s", "100us"),
            ("3ns", "3ns"),
            ("48h0m0s", "2d"),
            ("2h45m0.5s", "2h45m500ms"),
            ("10s", "10s"),
        ];
        for (printed, written) in cases {
            assert_eq!(Duration::parse(written).unwrap().to_string(), printed);
        }
    }

    #[test]
    fn deserializes_strings_and_zero() {
        let v: Duration = serde_yaml::from_str("1m30s").unwrap();
        assert_eq!(v, Duration::from_secs(90));
        let v: Duration = serde_yaml::from_str("0").unwrap();
        assert_eq!(v, Duration::default());
        let err = serde_yaml::from_str::<Duration>("30")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean 30s?"), "{err}");
        assert_eq!(
            serde_yaml::to_string(&Duration::from_secs(90)).unwrap(),
            "1m30s\n"
        );
    }
}
