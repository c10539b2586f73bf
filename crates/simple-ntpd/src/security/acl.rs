//! Access control: `[[security.access]]` rules, decided by the most specific
//! matching network. When no rule matches: denied if any rule allows (an
//! allow list restricts), allowed otherwise (a deny list excludes; no rules
//! serve everyone).

use std::net::IpAddr;

use ntp_config::{AccessRule, Permission};

use super::netset::NetSet;

/// The compiled access rules.
#[derive(Clone, Debug, Default)]
pub struct AccessList {
    rules: NetSet<bool>,
    default_allow: bool,
}

impl AccessList {
    /// Compiles rules (their networks were parsed by the configuration
    /// loader).
    pub fn new(rules: &[AccessRule]) -> AccessList {
        let mut set = NetSet::default();
        for r in rules {
            set.insert(r.network.net(), r.permission == Permission::Allow);
        }
        let default_allow = !rules.iter().any(|r| r.permission == Permission::Allow);
        AccessList { rules: set, default_allow }
    }

    /// True when `ip` may be served.
    #[inline]
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        self.rules.longest_match(ip).unwrap_or(self.default_allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(network: &str, p: Permission) -> AccessRule {
        AccessRule { network: network.parse().unwrap(), permission: p }
    }

    #[test]
    fn issue_example_and_defaults() {
        let acl = AccessList::new(&[rule("127.0.0.0/8", Permission::Allow), rule("127.0.5.0/24", Permission::Deny)]);
        assert!(!acl.allows("127.0.5.9".parse().unwrap()));
        assert!(acl.allows("127.0.6.1".parse().unwrap()));
        assert!(!acl.allows("192.0.2.1".parse().unwrap()), "an allow list restricts");
        let deny_only = AccessList::new(&[rule("10.0.0.0/8", Permission::Deny)]);
        assert!(deny_only.allows("192.0.2.1".parse().unwrap()), "a deny list excludes");
        assert!(!deny_only.allows("10.1.1.1".parse().unwrap()));
        assert!(AccessList::new(&[]).allows("::1".parse().unwrap()));
        // Seed 002's list: private ranges allowed, everything else denied.
        let seed = AccessList::new(&[
            rule("192.168.0.0/16", Permission::Allow),
            rule("10.0.0.0/8", Permission::Allow),
            rule("0.0.0.0/0", Permission::Deny),
        ]);
        assert!(seed.allows("10.9.9.9".parse().unwrap()));
        assert!(!seed.allows("8.8.8.8".parse().unwrap()));
    }
}
