//! The security policy as the server decision (`ntp_proto::server::decide`)
//! consults it: one [`ServingPolicy`] per batch of datagrams, over the
//! published [`SecurityPolicy`] snapshot, the worker's own rate-limiter
//! table and the NTS cookie keys in force.

use std::net::IpAddr;
use std::sync::Arc;

use ntp_proto::auth::SymmetricKey;
use ntp_proto::nts::cookie::CookieKeys;
use ntp_proto::server::{Policy, Verdict};

use crate::security::ratelimit::{self, RateLimiter};
use crate::security::SecurityPolicy;

/// The policy for one batch.
pub struct ServingPolicy<'a> {
    /// The published policy.
    pub security: &'a SecurityPolicy,
    /// This worker's rate-limiter table (when rate limiting is on).
    pub limiter: Option<&'a mut RateLimiter>,
    /// The NTS cookie keys, loaded once per batch (when NTS is served).
    pub cookie_keys: Option<arc_swap::Guard<Arc<CookieKeys>>>,
    /// `performance.max_packet_size`.
    pub max_request_len: usize,
}

impl<'a> ServingPolicy<'a> {
    /// The policy for a batch served under `security`.
    pub fn new(security: &'a SecurityPolicy, limiter: Option<&'a mut RateLimiter>, max_request_len: usize) -> Self {
        let cookie_keys = security.nts.as_ref().map(|n| n.0.load());
        ServingPolicy { security, limiter, cookie_keys, max_request_len }
    }
}

impl Policy for ServingPolicy<'_> {
    #[inline]
    fn max_request_len(&self) -> usize {
        self.max_request_len
    }

    #[inline]
    fn access(&self, client: IpAddr) -> Verdict {
        if self.security.access.allows(client) {
            Verdict::Pass
        } else if self.security.deny_kod {
            Verdict::RefuseWithKod
        } else {
            Verdict::Refuse
        }
    }

    #[inline]
    fn rate_limit(&mut self, client: IpAddr, host_secs: f64) -> Verdict {
        let (Some(params), Some(limiter)) = (&self.security.rate, self.limiter.as_deref_mut()) else {
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

    fn control_allowed(&self, client: IpAddr) -> bool {
        self.security.may_query_control(client)
    }
}
