//! A service's mounts: `volumes:` in short (`"./src:/app:ro"`) and long
//! syntax, normalized to one [`ServiceVolume`].
//!
//! The short syntax is `[SOURCE:]TARGET[:OPTIONS]`, read with compose's
//! rules (`format.ParseVolume`): a source starting with `.`, `/` or `~` (or
//! a Windows drive or `\\` pipe) is a bind mount, created on the host when
//! missing; any other source is a named volume; no source is an anonymous
//! volume. Options are a comma-separated list of `ro`, `rw`, `nocopy`,
//! `z`/`Z` (SELinux), a propagation mode, or a consistency (`cached`...).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::de::{self, ShortForm};
use super::refs::FileMode;
use super::size::ByteSize;

/// The short syntax, as error messages show it.
pub const VOLUME_SYNTAX: &str = "[SOURCE:]TARGET[:OPTIONS]";

/// What kind of mount a service volume is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// A host path mounted into the container.
    Bind,
    /// A named (or anonymous) volume managed by the engine.
    Volume,
    /// A temporary filesystem in memory.
    Tmpfs,
    /// A Windows named pipe.
    Npipe,
    /// A cluster (CSI) volume.
    Cluster,
    /// The content of an image.
    Image,
}

/// A mount in a service's container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolume {
    /// The mount type.
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// A host path (bind), a volume name (volume; none for an anonymous
    /// volume), or an image reference (image). Unused for tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The path in the container.
    pub target: String,
    /// Mount read-only.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub read_only: bool,
    /// The consistency (`consistent`, `cached`, `delegated`); macOS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// Options for a bind mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    /// Options for a volume mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    /// Options for a tmpfs mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
    /// Options for an image mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageOptions>,
}

fn yes() -> bool {
    true
}

/// Options of a bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    /// Mount propagation: `shared`, `slave`, `private`, `rshared`,
    /// `rslave` or `rprivate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// Create the host path when it does not exist (default true here; the
    /// short syntax always creates it).
    #[serde(default = "yes", deserialize_with = "de::bool")]
    #[schemars(with = "de::BoolSchema")]
    pub create_host_path: bool,
    /// SELinux relabeling: `z` (shared) or `Z` (private).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    /// Recursive read-only mounts: `enabled`, `disabled`, `writable` or
    /// `readonly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<String>,
}

impl Default for BindOptions {
    fn default() -> Self {
        Self {
            propagation: None,
            create_host_path: true,
            selinux: None,
            recursive: None,
        }
    }
}

/// Options of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    /// Labels for the volume, when muster creates it.
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "indexmap::IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub labels: indexmap::IndexMap<String, String>,
    /// Do not copy the image's content at the target into a new volume.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub nocopy: bool,
    /// Mount this path inside the volume instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    /// The size limit (`64m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    /// The file mode of the mount's root, in octal (`1777`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
}

/// Options of an image mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageOptions {
    /// Mount this path inside the image instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// Whether a short-syntax source is a host path (else a volume name).
#[must_use]
pub fn is_host_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~']) || source.starts_with(r"\\") || is_windows_drive(source)
}

/// `C:\...`. (Compose also takes `C:/...`, which makes a one-letter volume
/// name like `a:/data` unusable; muster wants the backslash.)
fn is_windows_drive(source: &str) -> bool {
    let mut chars = source.chars();
    matches!(
        (chars.next(), chars.next(), chars.next()),
        (Some(d), Some(':'), Some('\\')) if d.is_alphabetic()
    )
}

const PROPAGATIONS: [&str; 6] = [
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

impl ServiceVolume {
    /// A bind mount of `source` at `target`, as the short syntax makes it.
    #[must_use]
    pub fn bind(source: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            kind: VolumeType::Bind,
            source: Some(source.into()),
            target: target.into(),
            read_only: false,
            consistency: None,
            bind: Some(BindOptions::default()),
            volume: None,
            tmpfs: None,
            image: None,
        }
    }

    /// A volume mount: named when `source` is given, else anonymous.
    #[must_use]
    pub fn volume(source: Option<String>, target: impl Into<String>) -> Self {
        Self {
            kind: VolumeType::Volume,
            source,
            target: target.into(),
            read_only: false,
            consistency: None,
            bind: None,
            volume: Some(VolumeOptions::default()),
            tmpfs: None,
            image: None,
        }
    }

    /// Parses the short syntax.
    ///
    /// # Errors
    /// A message naming the spec and showing the expected form.
    pub fn parse(spec: &str) -> Result<Self, String> {
        parse_short(spec).map_err(|why| {
            format!(
                "invalid volume {spec:?}: {why}; expected {VOLUME_SYNTAX}, \
                 like ./src:/app:ro or data:/var/lib/data"
            )
        })
    }

    /// The named volume this mount uses (`type: volume` with a source).
    #[must_use]
    pub fn volume_name(&self) -> Option<&str> {
        match self.kind {
            VolumeType::Volume => self.source.as_deref().filter(|s| !s.is_empty()),
            _ => None,
        }
    }
}

fn parse_short(spec: &str) -> Result<ServiceVolume, String> {
    if spec.is_empty() {
        return Err("it is empty".to_owned());
    }
    if spec.chars().count() <= 2 {
        return Ok(ServiceVolume {
            volume: None,
            ..ServiceVolume::volume(None, spec)
        });
    }
    let mut source: Option<String> = None;
    let mut target: Option<String> = None;
    let mut options: Option<String> = None;
    let mut buffer = String::new();
    let mut in_variable = 0usize;
    let mut chars = spec.chars().peekable();
    loop {
        let c = chars.next();
        // Uninterpolated `${VAR:-default}` (config --no-interpolate) keeps
        // its colons, as compose's parser does.
        if c == Some('$') && chars.peek() == Some(&'{') {
            in_variable += 1;
        } else if c == Some('}') && in_variable > 0 {
            in_variable -= 1;
            buffer.push('}');
            continue;
        }
        match c {
            Some(':')
                if buffer.chars().count() == 1
                    && buffer.chars().all(char::is_alphabetic)
                    && chars.peek() == Some(&'\\') =>
            {
                // A Windows drive letter, `C:\data`.
                buffer.push(':');
            }
            Some(':') if in_variable > 0 => buffer.push(':'),
            Some(':') | None => {
                let end = c.is_none();
                if buffer.is_empty() {
                    return Err("an empty section between colons".to_owned());
                }
                let section = std::mem::take(&mut buffer);
                if source.is_none() && end {
                    target = Some(section);
                } else if source.is_none() {
                    source = Some(section);
                } else if target.is_none() {
                    target = Some(section);
                } else if !end {
                    return Err("too many colons".to_owned());
                } else {
                    options = Some(section);
                }
                if end {
                    break;
                }
            }
            Some(other) => buffer.push(other),
        }
    }
    let target = target.unwrap_or_default();
    let mut volume = match source {
        Some(source) if is_host_path(&source) => ServiceVolume::bind(source, target),
        source => ServiceVolume::volume(source, target),
    };
    for option in options.iter().flat_map(|o| o.split(',')) {
        match option {
            "ro" => volume.read_only = true,
            "rw" => volume.read_only = false,
            "nocopy" => {
                volume
                    .volume
                    .get_or_insert_with(VolumeOptions::default)
                    .nocopy = true
            }
            "z" | "Z" => {
                volume
                    .bind
                    .get_or_insert(BindOptions {
                        create_host_path: false,
                        ..BindOptions::default()
                    })
                    .selinux = Some(option.to_owned());
            }
            p if PROPAGATIONS.contains(&p) => {
                volume
                    .bind
                    .get_or_insert(BindOptions {
                        create_host_path: false,
                        ..BindOptions::default()
                    })
                    .propagation = Some(p.to_owned());
            }
            "consistent" | "cached" | "delegated" => volume.consistency = Some(option.to_owned()),
            other => {
                return Err(format!(
                    "{other:?} is not a volume option (ro, rw, nocopy, z, Z, \
                     shared, rshared, slave, rslave, private, rprivate, consistent, cached, delegated)"
                ));
            }
        }
    }
    Ok(volume)
}

impl ShortForm for ServiceVolume {
    const SHORT_SYNTAX: &'static str = VOLUME_SYNTAX;

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Self::parse(text).map(|v| vec![v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(spec: &str) -> ServiceVolume {
        ServiceVolume::parse(spec).unwrap()
    }

    #[test]
    fn short_syntax_kinds() {
        let a = v("/data");
        assert_eq!(
            (a.kind, a.source.as_deref(), a.target.as_str()),
            (VolumeType::Volume, None, "/data")
        );
        assert_eq!(a.volume, Some(VolumeOptions::default()));

        let b = v("./src:/app");
        assert_eq!(
            (b.kind, b.source.as_deref(), b.target.as_str()),
            (VolumeType::Bind, Some("./src"), "/app")
        );
        assert!(b.bind.as_ref().unwrap().create_host_path);
        assert!(!b.read_only);

        let n = v("db:/var/lib/x:ro");
        assert_eq!(
            (n.kind, n.volume_name(), n.read_only),
            (VolumeType::Volume, Some("db"), true)
        );

        let h = v("~/x:/y");
        assert_eq!(
            (h.kind, h.source.as_deref()),
            (VolumeType::Bind, Some("~/x"))
        );

        let w = v(r"C:\data:/data");
        assert_eq!(
            (w.kind, w.source.as_deref(), w.target.as_str()),
            (VolumeType::Bind, Some(r"C:\data"), "/data")
        );

        let one = v("a:/data");
        assert_eq!(
            (one.kind, one.volume_name(), one.target.as_str()),
            (VolumeType::Volume, Some("a"), "/data")
        );

        let var = v("${SRC:-./x}:/app");
        assert_eq!(
            (var.source.as_deref(), var.target.as_str()),
            (Some("${SRC:-./x}"), "/app")
        );

        let s = v("/a");
        assert_eq!(
            (s.kind, s.target.as_str(), s.volume),
            (VolumeType::Volume, "/a", None)
        );
    }

    #[test]
    fn short_syntax_options() {
        let o = v("./a:/b:ro,z,rshared,cached");
        assert!(o.read_only);
        let bind = o.bind.unwrap();
        assert_eq!(bind.selinux.as_deref(), Some("z"));
        assert_eq!(bind.propagation.as_deref(), Some("rshared"));
        assert!(bind.create_host_path);
        assert_eq!(o.consistency.as_deref(), Some("cached"));
        assert!(v("db:/data:nocopy").volume.unwrap().nocopy);
        assert!(!v("./a:/b:ro,rw").read_only);
        assert!(v("./a:/b:Z").bind.unwrap().selinux.as_deref() == Some("Z"));
    }

    #[test]
    fn bad_short_syntax() {
        assert_eq!(
            ServiceVolume::parse("a::b").unwrap_err(),
            "invalid volume \"a::b\": an empty section between colons; expected \
             [SOURCE:]TARGET[:OPTIONS], like ./src:/app:ro or data:/var/lib/data"
        );
        assert!(ServiceVolume::parse("a::b").is_err());
        assert!(
            ServiceVolume::parse("a:b:c:d")
                .unwrap_err()
                .contains("too many colons")
        );
        assert!(
            ServiceVolume::parse("./a:/b:rox")
                .unwrap_err()
                .contains("\"rox\" is not a volume option")
        );
        assert!(
            ServiceVolume::parse("")
                .unwrap_err()
                .contains("it is empty")
        );
        assert!(
            ServiceVolume::parse("./a:")
                .unwrap_err()
                .contains("empty section")
        );
    }

    #[test]
    fn long_syntax() {
        let yaml = "{type: bind, source: ./opt, target: /opt, read_only: 'true', consistency: cached, bind: {propagation: rslave}}";
        let l: ServiceVolume = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(l.kind, VolumeType::Bind);
        assert!(l.read_only);
        assert!(
            l.bind.as_ref().unwrap().create_host_path,
            "defaults to true inside `bind`"
        );
        let l: ServiceVolume =
            serde_yaml::from_str("{type: tmpfs, target: /t, tmpfs: {size: 64m, mode: 0o1777}}")
                .unwrap();
        let tmpfs = l.tmpfs.unwrap();
        assert_eq!(tmpfs.size, Some(ByteSize(64 << 20)));
        assert_eq!(tmpfs.mode, Some(FileMode(0o1777)));
        let l: ServiceVolume = serde_yaml::from_str(
            "{type: volume, source: db, target: /d, volume: {nocopy: true, subpath: x}}",
        )
        .unwrap();
        assert_eq!(l.volume_name(), Some("db"));
        let err = serde_yaml::from_str::<ServiceVolume>("{type: bind, source: a}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("missing field `target`"), "{err}");
        let err = serde_yaml::from_str::<ServiceVolume>("{type: nfs, target: /a}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("type: unknown variant `nfs`")
                || err.starts_with("unknown variant `nfs`"),
            "{err}"
        );
    }

    #[test]
    fn serializes_long_form() {
        assert_eq!(
            serde_yaml::to_string(&v("./src:/app:ro")).unwrap(),
            "type: bind\nsource: ./src\ntarget: /app\nread_only: true\nbind:\n  create_host_path: true\n"
        );
        assert_eq!(
            serde_yaml::to_string(&v("db:/data")).unwrap(),
            "type: volume\nsource: db\ntarget: /data\nvolume: {}\n"
        );
    }
}
