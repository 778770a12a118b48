//! References from a service to files it gets: `secrets`, `configs` (short
//! name or long form), `env_file` (path or long form), and the octal
//! [`FileMode`] they carry.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::de::{self, Scalar, ShortForm, scalar};

/// A Unix file mode, written in octal (`0440`, `"0440"`, `1777`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileMode(pub u32);

impl FileMode {
    /// Parses an octal mode (`"0440"`, `"440"`, `"0o440"`).
    ///
    /// # Errors
    /// When the text is not an octal number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let digits = t.strip_prefix("0o").unwrap_or(t);
        u32::from_str_radix(digits, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Self)
            .ok_or_else(|| {
                format!("invalid file mode {text:?}: expected an octal mode, like 0440 or 0644")
            })
    }
}

impl fmt::Display for FileMode {
    /// Octal with a leading zero, as compose prints it: `0440`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0{:o}", self.0)
    }
}

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d, "a file mode in octal, like 0440")? {
            // An unquoted `0440` was read as octal by the loader already.
            Scalar::UInt(u) => u32::try_from(u)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(Self)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("invalid file mode {u}: too large"))
                }),
            Scalar::Str(s) => Self::parse(&s).map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "invalid file mode {}: expected an octal mode, like 0440 or 0644",
                other.describe()
            ))),
        }
    }
}

impl JsonSchema for FileMode {
    fn schema_name() -> Cow<'static, str> {
        "FileMode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["integer", "string"],
            "description": "A file mode in octal, like 0440."
        })
    }
}

/// A service's use of a secret or config defined at the top level.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileReference {
    /// The name of the secret or config in the top-level section.
    pub source: String,
    /// Where it appears in the container. Secrets default to
    /// `/run/secrets/<source>`, configs to `/<source>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The owner's user id in the container.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub uid: Option<String>,
    /// The owner's group id in the container.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub gid: Option<String>,
    /// The file mode, in octal (`0440`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
}

impl FileReference {
    /// A reference by name only (the short syntax).
    #[must_use]
    pub fn named(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            target: None,
            uid: None,
            gid: None,
            mode: None,
        }
    }
}

impl ShortForm for FileReference {
    const SHORT_SYNTAX: &'static str = "NAME";

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Ok(vec![Self::named(text)])
    }
}

/// A service's `secrets`: like compose, a secret without a target is
/// mounted at `/run/secrets/<source>`.
pub(crate) fn secrets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FileReference>, D::Error> {
    let mut refs: Vec<FileReference> = de::list_of(d)?;
    for r in &mut refs {
        if r.target.is_none() {
            r.target = Some(format!("/run/secrets/{}", r.source));
        }
    }
    Ok(refs)
}

fn yes() -> bool {
    true
}

/// A file of environment variables for a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    /// The file's path (relative paths are resolved against the project
    /// directory).
    pub path: String,
    /// Whether a missing file is an error (default true).
    #[serde(default = "yes", deserialize_with = "de::bool")]
    #[schemars(with = "de::BoolSchema")]
    pub required: bool,
    /// The file's format: unset for compose's `.env` rules, `raw` for
    /// values taken literally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl EnvFile {
    /// A required file at `path`, in compose's format.
    #[must_use]
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            required: true,
            format: None,
        }
    }
}

impl ShortForm for EnvFile {
    const SHORT_SYNTAX: &'static str = "PATH";

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Ok(vec![Self::new(text)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "secrets")]
        secrets: Vec<FileReference>,
        #[serde(default, deserialize_with = "de::list_of")]
        configs: Vec<FileReference>,
        #[serde(default, deserialize_with = "de::one_or_list_of")]
        env_file: Vec<EnvFile>,
    }

    fn read(yaml: &str) -> Result<Holder, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn secrets_and_configs_short_and_long() {
        let h = read(
            "{secrets: [s1, {source: s2, target: my, uid: 103, gid: '103', mode: 288}], \
              configs: [c1, {source: c2, target: /c, mode: '0440'}]}",
        )
        .unwrap();
        assert_eq!(h.secrets[0].target.as_deref(), Some("/run/secrets/s1"));
        assert_eq!(h.secrets[1].target.as_deref(), Some("my"));
        assert_eq!(h.secrets[1].uid.as_deref(), Some("103"));
        assert_eq!(h.secrets[1].mode, Some(FileMode(0o440)));
        assert_eq!(h.configs[0], FileReference::named("c1"));
        assert_eq!(h.configs[1].mode, Some(FileMode(0o440)));
        assert_eq!(
            serde_yaml::to_string(&h.configs[1]).unwrap(),
            "source: c2\ntarget: /c\nmode: '0440'\n"
        );
        let err = read("{configs: [{source: c, targt: /x}]}").unwrap_err();
        assert!(
            err.starts_with("configs[0].targt: unknown field `targt`"),
            "{err}"
        );
        let err = read("{configs: [{source: c, mode: '999'}]}").unwrap_err();
        assert!(err.contains("expected an octal mode"), "{err}");
    }

    #[test]
    fn env_file_forms() {
        let h = read("{env_file: .env}").unwrap();
        assert_eq!(h.env_file, [EnvFile::new(".env")]);
        let h = read("{env_file: [a.env, {path: b.env, required: false, format: raw}]}").unwrap();
        assert_eq!(h.env_file[0], EnvFile::new("a.env"));
        assert!(!h.env_file[1].required);
        assert_eq!(h.env_file[1].format.as_deref(), Some("raw"));
        let h = read("{env_file: [{path: c.env}]}").unwrap();
        assert!(h.env_file[0].required);
        let err = read("{env_file: [{required: false}]}").unwrap_err();
        assert!(err.contains("missing field `path`"), "{err}");
    }
}
