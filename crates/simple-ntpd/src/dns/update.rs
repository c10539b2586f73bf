//! RFC 2136 dynamic updates, built and signed with hickory-proto (TSIG,
//! RFC 8945) and exchanged over UDP: replace the name's A/AAAA records with
//! the served addresses, or delete them. The reply's rcode and TSIG are
//! checked; a refusal says why (rcode and the TSIG error, e.g. BADKEY).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use tokio::net::UdpSocket;

/// How long one exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where and what to update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The zone's primary.
    pub server: SocketAddr,
    /// The zone.
    pub zone: Name,
    /// The registered name (within `zone`).
    pub name: Name,
    /// Time to live of the records.
    pub ttl: u32,
}

impl Target {
    /// `hostname` relative to `zone` unless it ends with a dot.
    pub fn new(server: SocketAddr, zone: &str, hostname: &str, ttl: u32) -> anyhow::Result<Target> {
        let zone = Name::from_ascii(zone.trim_end_matches('.').to_owned() + ".")
            .map_err(|e| anyhow::anyhow!("dns.zone `{zone}`: {e}"))?;
        let name = if hostname.ends_with('.') {
            Name::from_ascii(hostname)
        } else {
            Name::from_ascii(hostname).and_then(|n| n.append_domain(&zone))
        }
        .map_err(|e| anyhow::anyhow!("dns.hostname `{hostname}`: {e}"))?;
        if !zone.zone_of(&name) {
            anyhow::bail!("dns.hostname `{name}` is not within dns.zone `{zone}`");
        }
        Ok(Target { server, zone, name, ttl })
    }
}

/// Why an update did not take effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// No (valid) answer: network trouble or timeout.
    Network(String),
    /// The server answered with an error rcode (and maybe a TSIG error).
    Refused(String),
    /// The server said yes, but its answer's signature does not verify.
    Unverified(String),
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateError::Network(e) => write!(f, "no answer: {e}"),
            UpdateError::Refused(e) => write!(f, "refused: {e}"),
            UpdateError::Unverified(e) => write!(f, "the answer's TSIG does not verify: {e}"),
        }
    }
}

fn update_message(target: &Target) -> Message {
    let mut m = Message::new(u16::from_be_bytes(crate::random::bytes::<2>()), MessageType::Query, OpCode::Update);
    let mut zone = Query::new();
    zone.set_name(target.zone.clone()).set_query_class(DNSClass::IN).set_query_type(RecordType::SOA);
    m.add_zone(zone);
    for ty in [RecordType::A, RecordType::AAAA] {
        // RFC 2136 2.5.2: delete an RRset (class ANY, TTL 0, no data).
        let mut delete = Record::update0(target.name.clone(), 0, ty).into_record_of_rdata();
        delete.dns_class = DNSClass::ANY;
        m.add_update(delete);
    }
    m
}

/// Replaces the name's A and AAAA records with `addresses`.
pub fn register(target: &Target, addresses: &[IpAddr]) -> Message {
    let mut m = update_message(target);
    for a in addresses {
        let data = match a {
            IpAddr::V4(v4) => RData::A(A(*v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
        };
        m.add_update(Record::from_rdata(target.name.clone(), target.ttl, data));
    }
    m
}

/// Deletes the name's A and AAAA records.
pub fn withdraw(target: &Target) -> Message {
    update_message(target)
}

/// Signs `message`, sends it to `server` and checks the answer.
pub async fn exchange(server: SocketAddr, mut message: Message, signer: &TSigner) -> Result<(), UpdateError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut verifier = message
        .finalize(signer, now)
        .map_err(|e| UpdateError::Network(format!("cannot sign the update: {e}")))?
        .ok_or_else(|| UpdateError::Network("the signer gave no verifier".to_owned()))?;
    let bytes = message.to_vec().map_err(|e| UpdateError::Network(format!("cannot encode the update: {e}")))?;
    let local: SocketAddr =
        if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).await.map_err(|e| UpdateError::Network(e.to_string()))?;
    socket.connect(server).await.map_err(|e| UpdateError::Network(e.to_string()))?;
    socket.send(&bytes).await.map_err(|e| UpdateError::Network(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + EXCHANGE_TIMEOUT;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => {
                return Err(UpdateError::Network(format!(
                    "no answer from {server} within {} s",
                    EXCHANGE_TIMEOUT.as_secs()
                )))
            }
            Ok(Err(e)) => return Err(UpdateError::Network(e.to_string())),
            Ok(Ok(n)) => n,
        };
        let answer = &buf[..n];
        // Anything that is not the answer to this update is ignored.
        let Ok(parsed) = Message::from_vec(answer) else { continue };
        if parsed.metadata.id != message.metadata.id || parsed.metadata.message_type != MessageType::Response {
            continue;
        }
        if parsed.metadata.response_code != ResponseCode::NoError {
            // The mnemonics (NOTAUTH, BADSIG) as RFC 2136 / 8945 and BIND's logs spell them.
            let rcode = parsed.metadata.response_code;
            let mnemonic = |d: &dyn fmt::Debug| format!("{d:?}").to_ascii_uppercase();
            let tsig =
                parsed.signature().and_then(|s| s.data.error.as_ref()).map(|e| format!(", TSIG error {}", mnemonic(e)));
            let what = format!("{} ({rcode}){}", mnemonic(&rcode), tsig.unwrap_or_default());
            return Err(UpdateError::Refused(what));
        }
        return verifier.verify(answer).map(|_| ()).map_err(|e| UpdateError::Unverified(e.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::new("127.0.0.1:53".parse().unwrap(), "lan.example.net", "ntp", 300).unwrap()
    }

    #[test]
    fn names_are_relative_to_the_zone_unless_fully_qualified() {
        assert_eq!(target().name.to_ascii(), "ntp.lan.example.net.");
        let t = Target::new("127.0.0.1:53".parse().unwrap(), "lan.example.net.", "time.lan.example.net.", 60).unwrap();
        assert_eq!(t.name.to_ascii(), "time.lan.example.net.");
        assert!(Target::new("127.0.0.1:53".parse().unwrap(), "lan.example.net", "ntp.other.example.", 60).is_err());
    }

    #[test]
    fn register_replaces_both_rrsets_and_withdraw_deletes_them() {
        let m = register(&target(), &["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()]);
        assert_eq!(m.metadata.op_code, OpCode::Update);
        // The zone section is the query section of an update.
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        let ups = &m.authorities;
        assert_eq!(ups.len(), 4, "{ups:?}");
        assert!(ups[..2].iter().all(|r| r.dns_class == DNSClass::ANY && r.ttl == 0));
        assert_eq!(ups[2].data, RData::A(A("192.0.2.1".parse().unwrap())));
        assert_eq!((ups[3].record_type(), ups[3].ttl), (RecordType::AAAA, 300));
        let w = withdraw(&target());
        assert_eq!(w.authorities.len(), 2);
        // Encodes and decodes as a DNS message.
        let back = Message::from_vec(&m.to_vec().unwrap()).unwrap();
        assert_eq!(back.authorities.len(), 4);
    }
}
