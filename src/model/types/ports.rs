//! Published ports: `ports:` in short (`"8080:80"`) and long syntax,
//! normalized to one [`Port`] per container port.
//!
//! The short syntax is docker's `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`,
//! read with the rules of `go-connections`' `ParsePortSpec`, which compose
//! uses: ranges on both sides (`"9090-9091:8080-8081"`) expand to one
//! mapping per port; a host range with a single container port
//! (`"8000-8010:80"`) stays one mapping whose published port is the range
//! docker picks a free port from; an IPv6 host IP is written in brackets
//! (`"[::1]:80:80"`). Like compose, the mappings of one short entry are
//! ordered by their `port/protocol` text.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::de::{self, ShortForm};

/// The short syntax, as error messages show it.
pub const PORT_SYNTAX: &str = "[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]";

fn default_mode() -> String {
    "ingress".to_owned()
}

fn default_protocol() -> String {
    "tcp".to_owned()
}

/// A port of the container, published on the host or not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// A human-readable name for this port mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `host` publishes the port on each node; `ingress` (the default) load
    /// balances (swarm). muster publishes on the host either way.
    #[serde(default = "default_mode")]
    pub mode: String,
    /// The host IP to bind to (all interfaces when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// The port inside the container.
    #[serde(deserialize_with = "de::number")]
    #[schemars(with = "de::IntSchema")]
    pub target: u16,
    /// The port on the host: a number, a range (`8000-8010`) to pick a free
    /// port from, or unset for a random free port.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub published: Option<String>,
    /// `tcp` (the default), `udp` or `sctp`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// The application protocol (`http`, `https`, ...), informative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

impl Port {
    /// A port of the container, not published.
    #[must_use]
    pub fn new(target: u16) -> Self {
        Self {
            name: None,
            mode: default_mode(),
            host_ip: None,
            target,
            published: None,
            protocol: default_protocol(),
            app_protocol: None,
        }
    }

    /// Parses the short syntax into one mapping per container port.
    ///
    /// # Errors
    /// A message naming the spec and showing the expected form.
    pub fn parse(spec: &str) -> Result<Vec<Self>, String> {
        parse_spec(spec).map_err(|why| {
            format!("invalid port {spec:?}: expected {PORT_SYNTAX} ({why}), like 8080:80 or 127.0.0.1:8080:80/udp")
        })
    }

    /// The published port range `(start, end)`, when one is set.
    #[must_use]
    pub fn published_range(&self) -> Option<(u16, u16)> {
        parse_range(self.published.as_deref()?).ok()
    }
}

impl ShortForm for Port {
    const SHORT_SYNTAX: &'static str = PORT_SYNTAX;
    const NUMBER_IS_SHORT: bool = true;

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Self::parse(text)
    }
}

/// `"3000-3005"` or `"80"`.
fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let number = |t: &str| -> Result<u16, String> {
        t.parse::<u16>()
            .map_err(|_| format!("{t:?} is not a port number (0 to 65535)"))
    };
    match text.split_once('-') {
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            if end < start {
                return Err(format!("the range {text:?} ends before it starts"));
            }
            Ok((start, end))
        }
        None => {
            let port = number(text)?;
            Ok((port, port))
        }
    }
}

fn parse_spec(raw: &str) -> Result<Vec<Port>, String> {
    // go-connections' splitParts: the last part is the container port, the
    // one before it the host port, everything before that the host IP.
    let parts: Vec<&str> = raw.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [ip @ .., host, container] => (ip.join(":"), *host, *container),
        [container] => (String::new(), "", *container),
        [] => return Err("no container port".to_owned()),
    };
    let (container, protocol) = match container.split_once('/') {
        Some((port, proto)) if !proto.is_empty() => (port, proto.to_ascii_lowercase()),
        Some((port, _)) => (port, "tcp".to_owned()),
        None => (container, "tcp".to_owned()),
    };
    let ip = match ip.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| format!("the host IP {ip:?} has no closing `]`"))?
            .to_owned(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("{ip:?} is not an IP address"));
    }
    if container.is_empty() {
        return Err("no container port".to_owned());
    }
    let (start, end) = parse_range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host)?)
    };
    if let Some((host_start, host_end)) = host_range
        && end - start != host_end - host_start
        && end != start
    {
        return Err(format!(
            "the host range {host:?} and the container range {container:?} differ in length"
        ));
    }
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("{protocol:?} is not a protocol (tcp, udp or sctp)"));
    }
    let mut ports: Vec<Port> = (0..=end - start)
        .map(|i| {
            let published = host_range.map(|(host_start, host_end)| {
                if start == end && host_start != host_end {
                    format!("{host_start}-{host_end}")
                } else {
                    (host_start + i).to_string()
                }
            });
            Port {
                host_ip: (!ip.is_empty()).then(|| ip.clone()),
                published,
                protocol: protocol.clone(),
                ..Port::new(start + i)
            }
        })
        .collect();
    ports.sort_by_key(|p| format!("{}/{}", p.target, p.protocol));
    Ok(ports)
}

/// `expose:` entries: a port or a range, with an optional protocol.
pub(crate) fn check_expose(entry: &str) -> Result<(), String> {
    let (ports, protocol) = entry.split_once('/').unwrap_or((entry, "tcp"));
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(format!(
            "invalid expose {entry:?}: {protocol:?} is not a protocol (tcp, udp or sctp)"
        ));
    }
    parse_range(ports)
        .map(|_| ())
        .map_err(|why| format!("invalid expose {entry:?}: {why}; expected PORT[-PORT][/PROTOCOL], like 3000 or 8000-8010/udp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> Port {
        let mut ports = Port::parse(spec).unwrap();
        assert_eq!(ports.len(), 1, "{spec}");
        ports.remove(0)
    }

    fn published(p: &Port) -> Option<&str> {
        p.published.as_deref()
    }

    #[test]
    fn short_syntax() {
        let p = one("80");
        assert_eq!(
            (p.target, published(&p), p.host_ip.as_deref()),
            (80, None, None)
        );
        assert_eq!((p.protocol.as_str(), p.mode.as_str()), ("tcp", "ingress"));

        let p = one("8080:80");
        assert_eq!((p.target, published(&p)), (80, Some("8080")));

        let p = one("127.0.0.1:8001:8000");
        assert_eq!(
            (p.target, published(&p), p.host_ip.as_deref()),
            (8000, Some("8001"), Some("127.0.0.1"))
        );

        let p = one("127.0.0.1::80");
        assert_eq!(
            (p.target, published(&p), p.host_ip.as_deref()),
            (80, None, Some("127.0.0.1"))
        );

        let p = one("53:53/udp");
        assert_eq!((p.target, p.protocol.as_str()), (53, "udp"));
        assert_eq!(one("9/SCTP").protocol, "sctp");
        assert_eq!(one("9/").protocol, "tcp");

        let p = one("[::1]:80:80");
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        let p = one("::1:80:81");
        assert_eq!(
            (p.host_ip.as_deref(), p.target, published(&p)),
            (Some("::1"), 81, Some("80"))
        );

        let p = one("8000-8010:80");
        assert_eq!((p.target, published(&p)), (80, Some("8000-8010")));
    }

    #[test]
    fn ranges_expand_to_one_mapping_per_port() {
        let ports = Port::parse("3000-3002").unwrap();
        let targets: Vec<u16> = ports.iter().map(|p| p.target).collect();
        assert_eq!(targets, [3000, 3001, 3002]);
        assert!(ports.iter().all(|p| p.published.is_none()));

        let ports = Port::parse("9090-9091:8080-8081").unwrap();
        let pairs: Vec<(u16, &str)> = ports
            .iter()
            .map(|p| (p.target, published(p).unwrap()))
            .collect();
        assert_eq!(pairs, [(8080, "9090"), (8081, "9091")]);

        let ports = Port::parse("127.0.0.1:5000-5010:5000-5010").unwrap();
        assert_eq!(ports.len(), 11);
        assert!(
            ports
                .iter()
                .all(|p| p.host_ip.as_deref() == Some("127.0.0.1"))
        );

        // compose orders a spec's mappings by their "port/protocol" text
        let targets: Vec<u16> = Port::parse("998-1001")
            .unwrap()
            .iter()
            .map(|p| p.target)
            .collect();
        assert_eq!(targets, [1000, 1001, 998, 999]);
    }

    #[test]
    fn bad_ports_say_what_and_show_the_form() {
        assert_eq!(
            Port::parse("80:80:80:80").unwrap_err(),
            "invalid port \"80:80:80:80\": expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL] \
             (\"80:80\" is not an IP address), like 8080:80 or 127.0.0.1:8080:80/udp"
        );
        let cases = [
            ("", "no container port"),
            ("8080:", "no container port"),
            ("abc", "\"abc\" is not a port number"),
            ("70000", "\"70000\" is not a port number"),
            ("80/http", "\"http\" is not a protocol"),
            ("1-3:1-2", "differ in length"),
            ("5-3", "ends before it starts"),
            ("[::1:80:80", "no closing `]`"),
        ];
        for (spec, why) in cases {
            let err = Port::parse(spec).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid port {spec:?}: expected {PORT_SYNTAX}")),
                "{err}"
            );
            assert!(err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn long_syntax() {
        let yaml = "{target: '80', published: 8080, host_ip: 127.0.0.1, protocol: udp, mode: host, app_protocol: http, name: web}";
        let p: Port = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(p.target, 80);
        assert_eq!(published(&p), Some("8080"));
        assert_eq!(p.protocol, "udp");
        assert_eq!(p.mode, "host");
        assert_eq!(p.name.as_deref(), Some("web"));
        let p: Port = serde_yaml::from_str("{target: 80, published: 8000-8010}").unwrap();
        assert_eq!(p.published_range(), Some((8000, 8010)));
        assert_eq!((p.protocol.as_str(), p.mode.as_str()), ("tcp", "ingress"));
        let err = serde_yaml::from_str::<Port>("{target: 80, publish: 1}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("unknown field `publish`"), "{err}");
    }

    #[test]
    fn serializes_long_form() {
        let p = one("127.0.0.1:8080:80");
        assert_eq!(
            serde_yaml::to_string(&p).unwrap(),
            "mode: ingress\nhost_ip: 127.0.0.1\ntarget: 80\npublished: '8080'\nprotocol: tcp\n"
        );
    }

    #[test]
    fn expose_entries() {
        assert!(check_expose("3000").is_ok());
        assert!(check_expose("8000-8010/udp").is_ok());
        assert!(
            check_expose("x")
                .unwrap_err()
                .contains("expected PORT[-PORT][/PROTOCOL]")
        );
    }
}
