//! The security policy as the server decision (`ntp_proto::server::decide`)
//! consults it: one [`ServingPolicy`] per batch of datagrams, over the
//! published [`SecurityPolicy`] and [`InterfaceTable`] snapshots, the
//! worker's own rate-limiter table, the listener's interleaved-mode table
//! and the NTS cookie keys in force. For
//! each datagram the decision first selects its arrival interface: the
//! access rules and rate limits of that interface's VLAN, where it has
//! its own, replace the global ones for that datagram.

use std::net::IpAddr;
use std::sync::Arc;

use ntp_proto::auth::SymmetricKey;
use ntp_proto::nts::cookie::CookieKeys;
use ntp_proto::server::{InterleaveTable, Policy, Verdict};

use crate::interfaces::slots::OTHER;
use crate::interfaces::{InterfaceEntry, InterfaceTable};
use crate::security::ratelimit::{self, RateLimiter};
use crate::security::SecurityPolicy;

/// The policy for one batch.
pub struct ServingPolicy<'a> {
    /// The published policy.
    pub security: &'a SecurityPolicy,
    /// The published interface table.
    pub interfaces: &'a InterfaceTable,
    /// The interface of the datagram being decided, if known.
    current: Option<&'a InterfaceEntry>,
    /// This worker's rate-limiter table (when rate limiting is on).
    pub limiter: Option<&'a mut RateLimiter>,
    /// This worker's interleaved-mode table (when interleaved mode is on).
    pub interleave: Option<&'a InterleaveTable>,
    /// The NTS cookie keys, loaded once per batch (when NTS is served).
    pub cookie_keys: Option<arc_swap::Guard<Arc<CookieKeys>>>,
    /// `performance.max_packet_size`.
    pub max_request_len: usize,
}

impl<'a> ServingPolicy<'a> {
    /// The policy for a batch served under `security` and `interfaces`.
    pub fn new(
        security: &'a SecurityPolicy,
        interfaces: &'a InterfaceTable,
        limiter: Option<&'a mut RateLimiter>,
        interleave: Option<&'a InterleaveTable>,
        max_request_len: usize,
    ) -> Self {
        let cookie_keys = security.nts.as_ref().map(|n| n.0.load());
        ServingPolicy { security, interfaces, current: None, limiter, interleave, cookie_keys, max_request_len }
    }

    /// True when a broadcast client listens on the last selected interface.
    #[inline]
    pub fn takes_broadcasts(&self) -> bool {
        self.current.is_some_and(|e| e.broadcast_client)
    }

    /// The counter slot of the last selected interface.
    #[inline]
    pub fn slot(&self) -> usize {
        self.current.map_or(OTHER, |e| e.slot)
    }
}

impl Policy for ServingPolicy<'_> {
    #[inline]
    fn select_interface(&mut self, ifindex: u32) -> bool {
        self.current = self.interfaces.lookup(ifindex);
        self.current.is_none_or(|e| e.serve)
    }

    #[inline]
    fn max_request_len(&self) -> usize {
        self.max_request_len
    }

    #[inline]
    fn access(&self, client: IpAddr) -> Verdict {
        let rules = self.current.and_then(|e| e.access.as_ref()).unwrap_or(&self.security.access);
        // A request "from" the broadcast address of the VLAN we broadcast
        // on would have its reply delivered to every host there.
        let spoofed_broadcast = self.current.is_some_and(|e| e.is_own_broadcast(client));
        if rules.allows(client) && !spoofed_broadcast {
            Verdict::Pass
        } else if self.security.deny_kod {
            Verdict::RefuseWithKod
        } else {
            Verdict::Refuse
        }
    }

    #[inline]
    fn rate_limit(&mut self, client: IpAddr, host_secs: f64) -> Verdict {
        let params = match self.current.and_then(|e| e.rate.as_ref()) {
            Some(vlan) => vlan.as_ref(),
            None => self.security.rate.as_ref(),
        };
        let (Some(params), Some(limiter)) = (params, self.limiter.as_deref_mut()) else {
            return Verdict::Pass;
        };
        match limiter.check(client, host_secs, params) {
            ratelimit::Verdict::Limit if params.kod => Verdict::RefuseWithKod,
            ratelimit::Verdict::Limit => Verdict::Refuse,
            ratelimit::Verdict::Allow | ratelimit::Verdict::Leak => Verdict::Pass,
        }
    }

    #[inline]
    fn must_authenticate(&self, client: IpAddr) -> bool {
        self.security.must_authenticate(client)
    }

    #[inline]
    fn mac_key(&self, key_id: u32) -> Option<&SymmetricKey> {
        self.security.keys.get(&key_id)
    }

    #[inline]
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        self.cookie_keys.as_deref().map(|k| &**k)
    }

    #[inline]
    fn interleave_table(&self) -> Option<&InterleaveTable> {
        self.interleave
    }

    fn control_allowed(&self, client: IpAddr) -> bool {
        self.security.may_query_control(client)
    }
}
