//! `host[:port]` values — upstream servers and pools — parsed once, at
//! load: a host name or an IP address, with an optional port (`pool.ntp.org`,
//! `time.nist.gov:123`, `192.0.2.1`, `[2001:db8::1]:123`, `::1`).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// A host name or address with an optional port, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    text: String,
    host: String,
    port: Option<u16>,
}

impl HostPort {
    /// The host name or IP address (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when one is given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or `default` when none is given.
    pub fn port_or(&self, default: u16) -> u16 {
        self.port.unwrap_or(default)
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Compares the value as written.
impl PartialEq<str> for HostPort {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

/// Compares the value as written.
impl PartialEq<&str> for HostPort {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// Compares the value as written.
impl PartialEq<String> for HostPort {
    fn eq(&self, other: &String) -> bool {
        &self.text == other
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let make = |host: &str, port| HostPort { text: s.to_owned(), host: host.to_owned(), port };
        if s.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if s.chars().any(char::is_whitespace) {
            return Err(format!("`{s}` must not contain whitespace"));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(make(&ip.to_string(), None));
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(make(&sa.ip().to_string(), Some(sa.port())));
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if let Ok(ip) = inner.parse::<Ipv6Addr>() {
                return Ok(make(&ip.to_string(), None));
            }
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                format!("`{s}` has an invalid port `{p}` (expected host or host:port with a port 0..=65535)")
            })?),
            None => None,
        };
        let valid_label = |l: &str| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let h = host.strip_suffix('.').unwrap_or(host);
        if h.is_empty() || h.len() > 253 || !h.split('.').all(valid_label) {
            return Err(format!(
                "`{s}` is not a host name or address (expected host or host:port, e.g. `pool.ntp.org` or `192.0.2.1:123`)"
            ));
        }
        Ok(make(host, port))
    }
}

crate::string_value::string_value!(HostPort);

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> (String, Option<u16>) {
        let v: HostPort = s.parse().unwrap();
        assert_eq!(v.to_string(), s, "kept as written");
        (v.host().to_owned(), v.port())
    }

    #[test]
    fn every_form() {
        assert_eq!(hp("pool.ntp.org"), ("pool.ntp.org".into(), None));
        assert_eq!(hp("time.nist.gov:123"), ("time.nist.gov".into(), Some(123)));
        assert_eq!(hp("192.0.2.1"), ("192.0.2.1".into(), None));
        assert_eq!(hp("127.0.0.1:1123"), ("127.0.0.1".into(), Some(1123)));
        assert_eq!(hp("[2001:db8::1]:123"), ("2001:db8::1".into(), Some(123)));
        assert_eq!(hp("::1"), ("::1".into(), None));
        assert_eq!(hp("[::1]"), ("::1".into(), None));
        // A bare IPv6 address whose last group looks like a port is an address.
        assert_eq!(hp("2001:db8::123"), ("2001:db8::123".into(), None));
        for bad in ["", "a b", "host:port", "host:70000", "a..b", ":123"] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
    }
}
