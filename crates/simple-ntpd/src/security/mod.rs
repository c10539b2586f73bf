//! The server's protections, compiled from `[security]` into a
//! [`SecurityPolicy`] that workers read per batch (an atomically swapped
//! snapshot, replaced on reload): access control ([`acl`]), per-client rate
//! limiting ([`ratelimit`], the table itself is per worker), symmetric-key
//! authentication ([`keys`]), and the privilege drop after binding
//! ([`privileges`]).

pub mod accounts;
pub mod acl;
pub mod keys;
pub mod netset;
pub mod privileges;
pub mod ratelimit;

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ntp_config::Config;

use acl::AccessList;
use keys::SymmetricKeys;
use netset::NetSet;
use ratelimit::RateParams;

/// Everything the server decision consults (through `server::policy::ServingPolicy`).
#[derive(Debug, Default)]
pub struct SecurityPolicy {
    /// Access rules.
    pub access: AccessList,
    /// Answer denied clients with DENY KoD.
    pub deny_kod: bool,
    /// Rate limits, when enabled.
    pub rate: Option<RateParams>,
    /// Keys for MAC authentication (empty when authentication is off).
    pub keys: SymmetricKeys,
    /// Networks that must authenticate.
    pub require_auth: NetSet<()>,
    /// NTS cookie keys, when NTS is enabled (set by the daemon).
    pub nts: Option<NtsKeys>,
    /// Networks whose control (mode 6, ntpq) queries are answered
    /// (`security.mode6_allow`).
    pub control_allow: NetSet<()>,
}

/// The NTS cookie keys the workers open cookies with.
#[derive(Clone)]
pub struct NtsKeys(pub crate::nts::keystore::CookieKeyCell);

impl std::fmt::Debug for NtsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NtsKeys(<secret>)")
    }
}

impl SecurityPolicy {
    /// Compiles the policy; returns it with warnings (e.g. key file mode).
    pub fn from_config(c: &Config) -> Result<(SecurityPolicy, Vec<String>), String> {
        let s = &c.security;
        let mut warnings = Vec::new();
        let rl = &s.ratelimit;
        let rate = if rl.enabled {
            RateParams::from_config(rl)
        } else if s.enable_rate_limiting {
            // Seed 000: at most max_queries_per_minute on average, bursts as
            // configured, and nothing over the limit leaks through.
            Some(RateParams {
                interval_secs: 60.0 / f64::from(s.max_queries_per_minute.max(1)),
                burst: rl.burst,
                leak: ratelimit::NO_LEAK,
                kod: rl.kod,
                table_size: rl.table_size,
                ipv6_prefix: rl.ipv6_prefix,
            })
        } else {
            None
        };
        let auth_on = s.authentication.enabled || s.enable_authentication;
        let keys = if auth_on {
            let (keys, w) = keys::load(&s.authentication)?;
            warnings.extend(w);
            if keys.is_empty() {
                warnings.push("authentication is enabled but no keys are configured: every MAC will fail".to_owned());
            }
            keys
        } else {
            if s.authentication.key_file.is_some() || !s.authentication.keys.is_empty() {
                warnings.push("keys are configured but security.authentication.enabled is false: requests with a MAC are not answered".to_owned());
            }
            SymmetricKeys::new()
        };
        let mut control_allow = NetSet::default();
        for n in &s.mode6_allow {
            control_allow.insert(n.net(), ());
        }
        let mut require_auth = NetSet::default();
        for n in &s.authentication.require_for {
            require_auth.insert(n.net(), ());
        }
        if !require_auth.is_empty() && !auth_on {
            warnings.push(
                "security.authentication.require_for is set but authentication is off: those clients get no answers"
                    .to_owned(),
            );
        }
        Ok((
            SecurityPolicy {
                access: AccessList::new(&s.access),
                deny_kod: s.deny_kod,
                rate,
                keys,
                require_auth,
                nts: None,
                control_allow,
            },
            warnings,
        ))
    }

    /// True when requests from `ip` must carry a valid MAC.
    #[inline]
    pub fn must_authenticate(&self, ip: IpAddr) -> bool {
        !self.require_auth.is_empty() && self.require_auth.longest_match(ip).is_some()
    }

    /// True when `ip` may ask control (mode 6) questions.
    pub fn may_query_control(&self, ip: IpAddr) -> bool {
        self.control_allow.longest_match(ip).is_some()
    }
}

/// The shared, atomically replaced policy.
#[derive(Clone)]
pub struct PolicyCell(Arc<ArcSwap<SecurityPolicy>>);

impl PolicyCell {
    /// A cell holding `policy`.
    pub fn new(policy: SecurityPolicy) -> Self {
        PolicyCell(Arc::new(ArcSwap::from_pointee(policy)))
    }

    /// Replaces the policy (reload).
    pub fn publish(&self, policy: SecurityPolicy) {
        self.0.store(Arc::new(policy));
    }

    /// The current policy.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<SecurityPolicy>> {
        self.0.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_000_rate_limit_is_a_hard_per_minute_average() {
        let mut c = Config::default();
        c.security.enable_rate_limiting = true;
        c.security.max_queries_per_minute = 30;
        let (policy, _) = SecurityPolicy::from_config(&c).unwrap();
        let rate = policy.rate.expect("seed 000 switch turns the limiter on");
        assert_eq!(rate.interval_secs, 2.0);
        assert_eq!(rate.leak, ratelimit::NO_LEAK);
        assert_eq!(rate.burst, c.security.ratelimit.burst);
        // [security.ratelimit] wins when both are given.
        c.security.ratelimit.enabled = true;
        let (policy, _) = SecurityPolicy::from_config(&c).unwrap();
        assert_eq!(policy.rate.unwrap().interval_secs, 2f64.powi(c.security.ratelimit.interval));
        // Off unless asked for.
        let (policy, _) = SecurityPolicy::from_config(&Config::default()).unwrap();
        assert!(policy.rate.is_none());
    }
}
