//! Resource limits of a container: `ulimits` and `blkio_config`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::de as lenient;
use super::size::ByteSize;

/// A ulimit: one value for both limits, or a soft and a hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Ulimit {
    /// The same soft and hard limit (`nproc: 65535`).
    Single(i64),
    /// Separate limits (`nofile: {soft: 20000, hard: 40000}`).
    SoftHard {
        /// The limit the kernel enforces.
        soft: i64,
        /// The ceiling the soft limit may be raised to.
        hard: i64,
    },
}

impl Ulimit {
    /// The soft limit.
    #[must_use]
    pub fn soft(self) -> i64 {
        match self {
            Self::Single(v) | Self::SoftHard { soft: v, .. } => v,
        }
    }

    /// The hard limit.
    #[must_use]
    pub fn hard(self) -> i64 {
        match self {
            Self::Single(v) | Self::SoftHard { hard: v, .. } => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SoftHard {
    #[serde(deserialize_with = "lenient::number")]
    soft: i64,
    #[serde(deserialize_with = "lenient::number")]
    hard: i64,
}

struct UlimitVisitor;

impl<'de> Visitor<'de> for UlimitVisitor {
    type Value = Ulimit;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, or a mapping with soft and hard")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ulimit, E> {
        Ok(Ulimit::Single(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ulimit, E> {
        i64::try_from(v)
            .map(Ulimit::Single)
            .map_err(|_| E::custom("the limit is too large"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Ulimit, E> {
        v.trim().parse().map(Ulimit::Single).map_err(|_| {
            E::custom(format!(
                "expected a number, or a mapping with soft and hard, found {v:?}"
            ))
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ulimit, A::Error> {
        let SoftHard { soft, hard } = SoftHard::deserialize(MapAccessDeserializer::new(map))?;
        Ok(Ulimit::SoftHard { soft, hard })
    }
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UlimitVisitor)
    }
}

impl JsonSchema for Ulimit {
    fn schema_name() -> Cow<'static, str> {
        "Ulimit".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A ulimit: one number for both limits, or a soft and a hard limit.",
            "oneOf": [
                {"type": ["integer", "string"]},
                {
                    "type": "object",
                    "properties": {
                        "soft": {"type": ["integer", "string"], "description": "The limit the kernel enforces."},
                        "hard": {"type": ["integer", "string"], "description": "The ceiling the soft limit may be raised to."}
                    },
                    "required": ["soft", "hard"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Block IO limits of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    /// The relative IO weight, 10 to 1000.
    #[serde(
        default,
        deserialize_with = "lenient::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "lenient::IntSchema")]
    pub weight: Option<u16>,
    /// IO weights of single devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    /// Read rate limits, in bytes per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    /// Read rate limits, in operations per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    /// Write rate limits, in bytes per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    /// Write rate limits, in operations per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
}

/// The IO weight of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightDevice {
    /// The device (`/dev/sda`).
    pub path: String,
    /// The relative weight, 10 to 1000.
    #[serde(deserialize_with = "lenient::number")]
    #[schemars(with = "lenient::IntSchema")]
    pub weight: u16,
}

/// A rate limit on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDevice {
    /// The device (`/dev/sda`).
    pub path: String,
    /// The rate: bytes (a size, like `10mb`) or operations per second.
    pub rate: ByteSize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    #[test]
    fn ulimit_forms() {
        let u: IndexMap<String, Ulimit> =
            serde_yaml::from_str("{nproc: 65535, nofile: {soft: 20000, hard: '40000'}, core: '0'}")
                .unwrap();
        assert_eq!(u["nproc"], Ulimit::Single(65535));
        assert_eq!(
            u["nofile"],
            Ulimit::SoftHard {
                soft: 20000,
                hard: 40000
            }
        );
        assert_eq!((u["nofile"].soft(), u["nofile"].hard()), (20000, 40000));
        assert_eq!(u["core"], Ulimit::Single(0));
        assert_eq!(
            serde_yaml::to_string(&u).unwrap(),
            "nproc: 65535\nnofile:\n  soft: 20000\n  hard: 40000\ncore: 0\n"
        );
        assert!(
            serde_yaml::from_str::<Ulimit>("{soft: 1}")
                .unwrap_err()
                .to_string()
                .contains("missing field `hard`")
        );
        assert!(serde_yaml::from_str::<Ulimit>("{soft: 1, hard: 2, max: 3}").is_err());
    }

    #[test]
    fn blkio() {
        let b: BlkioConfig = serde_yaml::from_str(
            "{weight: 300, weight_device: [{path: /dev/sda, weight: 400}], device_read_bps: [{path: /dev/sda, rate: 12mb}], device_write_iops: [{path: /dev/sda, rate: 30}]}",
        )
        .unwrap();
        assert_eq!(b.weight, Some(300));
        assert_eq!(b.device_read_bps[0].rate, ByteSize(12 << 20));
        assert_eq!(b.device_write_iops[0].rate, ByteSize(30));
    }
}
