//! The reference id we advertise when synchronised to a source: its IPv4
//! address, or the first four bytes of the MD5 digest of its IPv6 address
//! (RFC 5905 §7.3).

use crate::config::SourceParams;
use core::net::IpAddr;
use md5::{Digest, Md5};
use ntp_proto::ReferenceId;

/// The reference id for an address.
pub fn for_address(addr: IpAddr) -> ReferenceId {
    match addr {
        IpAddr::V4(v4) => ReferenceId::from_ipv4(v4),
        IpAddr::V6(v6) => {
            let digest = Md5::digest(v6.octets());
            ReferenceId([digest[0], digest[1], digest[2], digest[3]])
        }
    }
}

/// The reference id for a source: its explicit id, else its address's,
/// else `XFAC`-style unknown (`????`).
pub fn for_source(params: &SourceParams) -> ReferenceId {
    params.reference_id.or_else(|| params.address.map(for_address)).unwrap_or(ReferenceId(*b"????"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_the_address_and_ipv6_is_md5_prefix() {
        assert_eq!(for_address("192.0.2.1".parse().unwrap()).0, [192, 0, 2, 1]);
        // MD5 of the 16 bytes of ::1 is cf404dc806178c245b5b4fe2531e6d8c.
        assert_eq!(for_address("::1".parse().unwrap()).0, [0xcf, 0x40, 0x4d, 0xc8]);
        let p = SourceParams { reference_id: Some(ReferenceId::from_ascii("GPS")), ..Default::default() };
        assert_eq!(for_source(&p), ReferenceId::from_ascii("GPS"));
    }
}
