//! `build`: how to build a service's image, as a context path (short form)
//! or a mapping.
//!
//! Like compose, a build gets the context `.` and the Dockerfile
//! `Dockerfile` when the file names none (and no `dockerfile_inline`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::de::{self, ShortForm};
use super::hosts::ExtraHosts;
use super::limits::Ulimit;
use super::refs::FileReference;
use super::size::ByteSize;
use crate::model::paths::is_remote_context;

fn dot() -> String {
    ".".to_owned()
}

/// How to build a service's image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The build context: a directory (relative to the project directory)
    /// or a git/https URL.
    #[serde(default = "dot")]
    pub context: String,
    /// The Dockerfile, relative to the context (default `Dockerfile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// The Dockerfile's content, instead of a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// Extra privileged entitlements for the build.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub entitlements: Vec<String>,
    /// Build arguments; a name without a value is taken from the
    /// environment.
    #[serde(
        default,
        deserialize_with = "de::mapping_with_equals",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub args: IndexMap<String, Option<String>>,
    /// SSH agent sockets or keys for the build: `default` or `ID=PATH`.
    #[serde(
        default,
        deserialize_with = "ssh",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub ssh: Vec<String>,
    /// Labels for the built image.
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub labels: IndexMap<String, String>,
    /// Images or caches to take build cache from.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub cache_from: Vec<String>,
    /// Where to export the build cache.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub cache_to: Vec<String>,
    /// Build without the cache.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub no_cache: bool,
    /// Stages to build without the cache.
    #[serde(
        default,
        deserialize_with = "de::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub no_cache_filter: Vec<String>,
    /// Named extra contexts: a path, a URL, `docker-image://IMAGE`, or
    /// `service:NAME` for another service's image.
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub additional_contexts: IndexMap<String, String>,
    /// Always pull the base images.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub pull: bool,
    /// Extra /etc/hosts lines for the build.
    #[serde(default, skip_serializing_if = "ExtraHosts::is_empty")]
    pub extra_hosts: ExtraHosts,
    /// The isolation technology (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// The network for `RUN` steps (`default`, `none`, `host`, or a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The Dockerfile stage to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Secrets the build can mount (by default with the secret's name as
    /// its id).
    #[serde(
        default,
        deserialize_with = "de::list_of",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ShortOrLongList<FileReference>")]
    pub secrets: Vec<FileReference>,
    /// The size of `/dev/shm` for the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// More tags for the built image.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub tags: Vec<String>,
    /// Ulimits for the build's containers.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, Ulimit>,
    /// The platforms to build for (`linux/amd64`).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub platforms: Vec<String>,
    /// Run the build with extended privileges.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub privileged: bool,
    /// Provenance attestation (`true`, `false` or a mode).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub provenance: Option<String>,
    /// SBOM attestation (`true`, `false` or a generator).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub sbom: Option<String>,
}

impl Build {
    /// A build of `context` with the default Dockerfile.
    #[must_use]
    pub fn new(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            dockerfile: None,
            dockerfile_inline: None,
            entitlements: Vec::new(),
            args: IndexMap::new(),
            ssh: Vec::new(),
            labels: IndexMap::new(),
            cache_from: Vec::new(),
            cache_to: Vec::new(),
            no_cache: false,
            no_cache_filter: Vec::new(),
            additional_contexts: IndexMap::new(),
            pull: false,
            extra_hosts: ExtraHosts::default(),
            isolation: None,
            network: None,
            target: None,
            secrets: Vec::new(),
            shm_size: None,
            tags: Vec::new(),
            ulimits: IndexMap::new(),
            platforms: Vec::new(),
            privileged: false,
            provenance: None,
            sbom: None,
        }
        .finish()
    }

    /// Whether the context is remote (a git or https URL), not a directory.
    #[must_use]
    pub fn is_remote_context(&self) -> bool {
        is_remote_context(&self.context)
    }

    /// Services whose images this build uses (`additional_contexts` of the
    /// form `service:NAME`).
    pub fn service_contexts(&self) -> impl Iterator<Item = &str> {
        self.additional_contexts
            .values()
            .filter_map(|v| v.strip_prefix("service:"))
    }
}

impl ShortForm for Build {
    const SHORT_SYNTAX: &'static str = "CONTEXT";

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Ok(vec![Self::new(text)])
    }

    fn finish(mut self) -> Self {
        if self.context.is_empty() {
            self.context = dot();
        }
        if self.dockerfile.is_none() && self.dockerfile_inline.is_none() {
            self.dockerfile = Some("Dockerfile".to_owned());
        }
        self
    }
}

/// `ssh`: a list of `default` / `ID=PATH`, or a mapping of id to path.
fn ssh<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let map = de::mapping_with_equals(d)?;
    Ok(map
        .into_iter()
        .map(|(id, path)| match path {
            Some(path) => format!("{id}={path}"),
            None => id,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "de::opt_short_or_long")]
        build: Option<Build>,
    }

    fn read(yaml: &str) -> Result<Option<Build>, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize::<_, Holder>(value)
            .map(|h| h.build)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn short_form_is_the_context() {
        let b = read("{build: ./web}").unwrap().unwrap();
        assert_eq!(b.context, "./web");
        assert_eq!(b.dockerfile.as_deref(), Some("Dockerfile"));
        assert_eq!(read("{build: }").unwrap(), None);
    }

    #[test]
    fn long_form() {
        let b = read(
            "{build: {dockerfile: Dockerfile.dev, target: dev, args: {A: 1, B: }, ssh: [default, key=/k], \
              labels: [a=b], cache_from: [x], additional_contexts: {base: 'service:base', lib: ../lib}, \
              secrets: [s, {source: t, target: id}], shm_size: 1g, no_cache: 'true', \
              extra_hosts: ['h=1.2.3.4'], ulimits: {nofile: 1024}, platforms: [linux/amd64], \
              tags: ['a:1'], network: host, pull: true, privileged: true, provenance: false}}",
        )
        .unwrap()
        .unwrap();
        assert_eq!(b.context, ".");
        assert_eq!(b.dockerfile.as_deref(), Some("Dockerfile.dev"));
        assert_eq!(b.target.as_deref(), Some("dev"));
        assert_eq!(b.args["A"].as_deref(), Some("1"));
        assert_eq!(b.args["B"], None);
        assert_eq!(b.ssh, ["default", "key=/k"]);
        assert_eq!(b.labels["a"], "b");
        assert_eq!(b.service_contexts().collect::<Vec<_>>(), ["base"]);
        assert_eq!(b.secrets[0], FileReference::named("s"));
        assert_eq!(b.shm_size, Some(ByteSize(1 << 30)));
        assert!(b.no_cache && b.pull && b.privileged);
        assert_eq!(b.provenance.as_deref(), Some("false"));
        let inline = read("{build: {dockerfile_inline: 'FROM scratch'}}")
            .unwrap()
            .unwrap();
        assert_eq!(inline.dockerfile, None);
    }

    #[test]
    fn unknown_keys_name_the_path() {
        let err = read("{build: {contxt: .}}").unwrap_err();
        assert!(
            err.starts_with("build.contxt: unknown field `contxt`, expected one of"),
            "{err}"
        );
        let err = read("{build: {secrets: [{source: a, bad: 1}]}}").unwrap_err();
        assert!(
            err.starts_with("build.secrets[0].bad: unknown field `bad`"),
            "{err}"
        );
    }
}
