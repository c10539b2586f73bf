//! Listening addresses: the `listen_address` entry type (IP address or
//! socket address, one string or a list), and the socket-address fields
//! (`monitoring.listen`, `security.nts.ke_listen`) parsed with messages that
//! say what is expected. Host names are in `host_port`, networks in `cidr`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use schemars::gen::SchemaGenerator;
use schemars::schema::{ArrayValidation, InstanceType, Schema, SchemaObject, SubschemaValidation};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// One `network.listen_address` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenAddress {
    /// An IP address, served on `network.listen_port`.
    Ip(IpAddr),
    /// A socket address that keeps its own port.
    Socket(SocketAddr),
}

impl ListenAddress {
    /// The socket to bind, using `default_port` for a bare IP address.
    pub fn socket(&self, default_port: u16) -> SocketAddr {
        match *self {
            ListenAddress::Ip(ip) => SocketAddr::new(ip, default_port),
            ListenAddress::Socket(sa) => sa,
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Ip(ip) => write!(f, "{ip}"),
            ListenAddress::Socket(sa) => write!(f, "{sa}"),
        }
    }
}

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(ListenAddress::Ip(ip));
        }
        if let Ok(sa) = t.parse::<SocketAddr>() {
            return Ok(ListenAddress::Socket(sa));
        }
        if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if let Ok(ip) = inner.parse::<std::net::Ipv6Addr>() {
                return Ok(ListenAddress::Ip(IpAddr::V6(ip)));
            }
        }
        Err(format!(
            "invalid listen address `{s}`: expected an IP address (`0.0.0.0`, `::1`) or a socket address (`127.0.0.1:1123`, `[::1]:1123`)"
        ))
    }
}

impl From<SocketAddr> for ListenAddress {
    fn from(sa: SocketAddr) -> Self {
        ListenAddress::Socket(sa)
    }
}

impl From<IpAddr> for ListenAddress {
    fn from(ip: IpAddr) -> Self {
        ListenAddress::Ip(ip)
    }
}

impl Serialize for ListenAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ListenAddress;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP address or socket address string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ListenAddress, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Deserializes one listen address or a list of them.
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ListenAddress>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<ListenAddress>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an address string or a list of address strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.parse().map_err(E::custom)?])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(a) = seq.next_element::<ListenAddress>()? {
                out.push(a);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(V)
}

/// Schema of `listen_address`: a string or a list of strings.
pub(crate) fn listen_address_schema(_gen: &mut SchemaGenerator) -> Schema {
    let string = SchemaObject { instance_type: Some(InstanceType::String.into()), ..Default::default() };
    let list = SchemaObject {
        instance_type: Some(InstanceType::Array.into()),
        array: Some(Box::new(ArrayValidation {
            items: Some(Schema::Object(string.clone()).into()),
            ..Default::default()
        })),
        ..Default::default()
    };
    Schema::Object(SchemaObject {
        subschemas: Some(Box::new(SubschemaValidation {
            any_of: Some(vec![Schema::Object(string), Schema::Object(list)]),
            ..Default::default()
        })),
        ..Default::default()
    })
}

/// Deserializes a socket address such as `0.0.0.0:4460` or `[::1]:9559`.
pub(crate) fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(deserializer)?;
    s.parse::<SocketAddr>().map_err(|_| {
        de::Error::custom(format!("`{s}` is not a socket address (expected e.g. `0.0.0.0:4460` or `[::1]:4460`)"))
    })
}

/// Deserializes `security.nts.ke_listen`: a socket address, or a bare IP
/// address (served on the NTS-KE port).
pub(crate) fn ke_listen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ListenAddress, D::Error> {
    let s = String::deserialize(deserializer)?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ListenAddress::Ip(ip));
    }
    s.parse::<SocketAddr>().map(ListenAddress::Socket).map_err(|_| {
        de::Error::custom(format!(
            "`{s}` is not a socket address or IP address (expected e.g. `0.0.0.0:4460`, `[::1]:4460` or `::`)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_forms() {
        assert_eq!("0.0.0.0".parse::<ListenAddress>().unwrap(), ListenAddress::Ip("0.0.0.0".parse().unwrap()));
        assert_eq!("[::1]".parse::<ListenAddress>().unwrap(), ListenAddress::Ip("::1".parse().unwrap()));
        assert_eq!(
            "[::1]:1123".parse::<ListenAddress>().unwrap().socket(123),
            "[::1]:1123".parse::<SocketAddr>().unwrap()
        );
        assert!("localhost".parse::<ListenAddress>().is_err());
        assert!("1.2.3.4:99999".parse::<ListenAddress>().is_err());
    }
}
