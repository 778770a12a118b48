//! `extra_hosts`: lines added to a container's `/etc/hosts`.
//!
//! Written as a list of `HOST=IP` or `HOST:IP` strings (an IP list may be
//! comma-separated), or as a mapping of host to an IP or a list of IPs.
//! Compose tries `=` first, so `myhost=::1` reads well with IPv6; with `:`
//! the first colon separates (`myhost:::1`). IPv6 addresses may be written
//! in brackets. `muster config` prints them sorted as `HOST=IP`, as compose
//! does.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Host names and the IP addresses they resolve to, in the container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtraHosts(pub IndexMap<String, Vec<String>>);

impl ExtraHosts {
    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries as `HOST<sep>IP` strings, one per IP: the engine API
    /// wants `:`, compose prints `=`.
    #[must_use]
    pub fn as_list(&self, sep: &str) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(host, ips)| ips.iter().map(move |ip| format!("{host}{sep}{ip}")))
            .collect()
    }

    fn add(&mut self, host: &str, ips: &str) {
        let entry = self.0.entry(host.to_owned()).or_default();
        for ip in ips.split(',') {
            entry.push(clean_ip(ip));
        }
    }

    /// Parses one `HOST=IP` / `HOST:IP` entry into the list.
    fn add_entry(&mut self, entry: &str) -> Result<(), String> {
        let (host, ips) = entry
            .split_once('=')
            .or_else(|| entry.split_once(':'))
            .ok_or_else(|| {
                format!(
                    "invalid extra host {entry:?}: expected HOST=IP or HOST:IP, like db.local=10.0.0.2"
                )
            })?;
        if host.is_empty() || ips.is_empty() {
            return Err(format!(
                "invalid extra host {entry:?}: the host or the IP is empty; \
                 expected HOST=IP or HOST:IP, like db.local=10.0.0.2"
            ));
        }
        self.add(host, ips);
        Ok(())
    }
}

/// `[::1]` -> `::1`.
fn clean_ip(ip: &str) -> String {
    ip.strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip)
        .to_owned()
}

impl Serialize for ExtraHosts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut list = self.as_list("=");
        list.sort();
        list.serialize(s)
    }
}

struct HostsVisitor;

impl<'de> Visitor<'de> for HostsVisitor {
    type Value = ExtraHosts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of \"HOST=IP\" strings, or a mapping of host names to IPs")
    }

    fn visit_unit<E: de::Error>(self) -> Result<ExtraHosts, E> {
        Ok(ExtraHosts::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExtraHosts, A::Error> {
        let mut hosts = ExtraHosts::default();
        while let Some(entry) = seq.next_element::<String>()? {
            hosts.add_entry(&entry).map_err(de::Error::custom)?;
        }
        Ok(hosts)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtraHosts, A::Error> {
        let mut hosts = ExtraHosts::default();
        while let Some(host) = map.next_key::<String>()? {
            let ips: Ips = map.next_value()?;
            for ip in ips.0 {
                hosts.add(&host, &ip);
            }
        }
        Ok(hosts)
    }
}

/// An IP, or a list of IPs.
struct Ips(Vec<String>);

impl<'de> Deserialize<'de> for Ips {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IpsVisitor;
        impl<'de> Visitor<'de> for IpsVisitor {
            type Value = Ips;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP address or a list of IP addresses")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ips, E> {
                Ok(Ips(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ips, A::Error> {
                let mut out = Vec::new();
                while let Some(ip) = seq.next_element::<String>()? {
                    out.push(ip);
                }
                Ok(Ips(out))
            }
        }
        d.deserialize_any(IpsVisitor)
    }
}

impl<'de> Deserialize<'de> for ExtraHosts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HostsVisitor)
    }
}

impl JsonSchema for ExtraHosts {
    fn schema_name() -> Cow<'static, str> {
        "ExtraHosts".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Extra /etc/hosts lines: a list of \"HOST=IP\" (or \"HOST:IP\") strings, or a mapping of host names to an IP or a list of IPs.",
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {
                    "type": "object",
                    "additionalProperties": {
                        "oneOf": [
                            {"type": "string"},
                            {"type": "array", "items": {"type": "string"}}
                        ]
                    }
                },
                {"type": "null"}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_map_forms() {
        let h: ExtraHosts = serde_yaml::from_str(
            "[\"otherhost:50.31.209.229\", \"v6=::1\", \"v6b:::2\", \"multi=1.1.1.1,[::3]\"]",
        )
        .unwrap();
        assert_eq!(h.0["otherhost"], ["50.31.209.229"]);
        assert_eq!(h.0["v6"], ["::1"]);
        assert_eq!(h.0["v6b"], ["::2"]);
        assert_eq!(h.0["multi"], ["1.1.1.1", "::3"]);
        let h: ExtraHosts = serde_yaml::from_str("{a: 1.2.3.4, b: [5.6.7.8, '::1']}").unwrap();
        assert_eq!(h.as_list(":"), ["a:1.2.3.4", "b:5.6.7.8", "b:::1"]);
        assert_eq!(
            serde_yaml::to_string(&h).unwrap(),
            "- a=1.2.3.4\n- b=5.6.7.8\n- b=::1\n"
        );
    }

    #[test]
    fn missing_ip_is_an_error() {
        let err = serde_yaml::from_str::<ExtraHosts>("[nohost]")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid extra host \"nohost\": expected HOST=IP or HOST:IP"),
            "{err}"
        );
    }
}
