//! Dropping privileges after the sockets are bound: a daemon started as root
//! switches to `[security] user` and keeps only the capabilities it still
//! needs — CAP_NET_BIND_SERVICE (to bind a port below 1024 again on reload)
//! and, when it steers the system clock, CAP_SYS_TIME. Everything else is
//! removed from the permitted, effective, inheritable, ambient and bounding
//! sets. A daemon started as a non-root user (for example with only
//! CAP_NET_BIND_SERVICE granted by systemd or `setpriv`, or from the
//! container image's binary) keeps its user and gives up the capabilities it
//! does not need the same way (the bounding set stays: changing it needs
//! CAP_SETPCAP).
//!
//! [`raise_permitted`] comes first, at start: Docker gives a non-root
//! container user no effective capabilities, only a bounding set, so the
//! image's binary carries the file capabilities
//! `cap_net_bind_service,cap_sys_time+p` — permitted only where the
//! container's bounding set allows them (`--cap-add`), never forced (a `+ep`
//! file would not even start under `--cap-drop ALL`) — and the daemon makes
//! them effective itself.
//!
//! Thread note: glibc applies setresuid/setresgid to every thread; the other
//! threads do not keep capabilities across it, so only the main thread (the
//! event loop, which performs reloads) holds the retained set.

use anyhow::{bail, Context};
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};

use super::accounts::{self, Account};
use tracing::{info, warn};

/// The default user; `nobody` stands in when it does not exist.
pub const DEFAULT_USER: &str = "simple-ntpd";

/// What was done.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not root to begin with: no user to switch to; capabilities beyond
    /// the needed ones given up.
    NotRoot {
        /// The user id it runs as.
        uid: u32,
        /// Capabilities kept (permitted set).
        kept: Vec<String>,
    },
    /// `user = "root"`: privileges kept on purpose.
    KeptRoot,
    /// Switched to this user, keeping these capabilities.
    Dropped {
        /// User name.
        user: String,
        /// Capabilities kept.
        kept: Vec<String>,
    },
}

/// True when this process may set the clock now (CAP_SYS_TIME effective).
pub fn can_set_time() -> bool {
    caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_TIME).unwrap_or(false)
}

/// Makes CAP_NET_BIND_SERVICE and CAP_SYS_TIME effective when they are
/// permitted but not effective (file capabilities without the effective
/// bit), so that binding port 123 and steering the clock work, and
/// `discipline = "auto"` sees the clock can be set. Call before binding.
pub fn raise_permitted() {
    for cap in [Capability::CAP_NET_BIND_SERVICE, Capability::CAP_SYS_TIME] {
        let permitted = caps::has_cap(None, CapSet::Permitted, cap).unwrap_or(false);
        if permitted && !caps::has_cap(None, CapSet::Effective, cap).unwrap_or(true) {
            if let Err(e) = caps::raise(None, CapSet::Effective, cap) {
                warn!("cannot make the permitted {cap} effective: {e}");
            }
        }
    }
}

/// A non-root process: removes every capability outside `keep` from the
/// ambient, inheritable, effective and permitted sets; returns what stays.
fn trim_capabilities(keep: &CapsHashSet) -> anyhow::Result<Vec<String>> {
    for set in [CapSet::Ambient, CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        let current = caps::read(None, set).with_context(|| format!("cannot read the {set:?} capabilities"))?;
        for cap in current.difference(keep) {
            caps::drop(None, set, *cap).with_context(|| format!("cannot drop {cap} from the {set:?} set"))?;
        }
    }
    let mut kept: Vec<String> =
        caps::read(None, CapSet::Permitted).unwrap_or_default().iter().map(|c| c.to_string()).collect();
    kept.sort();
    Ok(kept)
}

/// Drops privileges as described in the module docs.
pub fn drop_privileges(user: &str, keep_net_bind: bool, keep_sys_time: bool) -> anyhow::Result<Outcome> {
    let mut keep = CapsHashSet::new();
    if keep_net_bind {
        keep.insert(Capability::CAP_NET_BIND_SERVICE);
    }
    if keep_sys_time {
        keep.insert(Capability::CAP_SYS_TIME);
    }
    if !nix::unistd::geteuid().is_root() {
        let kept = trim_capabilities(&keep)?;
        let uid = nix::unistd::geteuid().as_raw();
        info!(uid, kept = ?kept, "not started as root: no user to switch to");
        return Ok(Outcome::NotRoot { uid, kept });
    }
    if user == "root" {
        warn!("security.user = \"root\": keeping all root privileges (not recommended)");
        return Ok(Outcome::KeptRoot);
    }
    let account = match find(user)? {
        Some(u) => u,
        None if user == DEFAULT_USER => {
            let nobody = find("nobody")?.context("neither user simple-ntpd nor nobody exists in /etc/passwd")?;
            warn!(
                "user {DEFAULT_USER} does not exist; running as nobody (create a dedicated user, or set security.user)"
            );
            nobody
        }
        None => bail!("security.user: user `{user}` does not exist in {}", accounts::PASSWD),
    };
    // Bounding set first: it needs CAP_SETPCAP, which goes away with root.
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("cannot drop {cap} from the bounding set"))?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).context("prctl(PR_SET_KEEPCAPS)")?;
    let (uid, gid) = (Uid::from_raw(account.uid), Gid::from_raw(account.gid));
    nix::unistd::setgroups(&[gid]).context("setgroups")?;
    nix::unistd::setresgid(gid, gid, gid).context("setresgid")?;
    nix::unistd::setresuid(uid, uid, uid).context("setresuid")?;
    nix::sys::prctl::set_keepcaps(false).context("prctl(PR_SET_KEEPCAPS, 0)")?;
    caps::set(None, CapSet::Permitted, &keep).context("cannot set the permitted capabilities")?;
    caps::set(None, CapSet::Effective, &keep).context("cannot set the effective capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("cannot clear the inheritable capabilities")?;
    caps::clear(None, CapSet::Ambient).context("cannot clear the ambient capabilities")?;
    if nix::unistd::geteuid().is_root() || nix::unistd::getuid().is_root() {
        bail!("still root after setresuid: refusing to run");
    }
    let mut kept: Vec<String> = keep.iter().map(|c| c.to_string()).collect();
    kept.sort();
    info!(user = %account.name, uid = uid.as_raw(), gid = gid.as_raw(), kept = ?kept, "dropped root privileges");
    Ok(Outcome::Dropped { user: account.name, kept })
}

/// The local account `user` (see [`accounts`] for why not NSS).
fn find(user: &str) -> anyhow::Result<Option<Account>> {
    accounts::lookup(user).with_context(|| format!("cannot read {}", accounts::PASSWD))
}

impl Outcome {
    /// The audit log's record of it.
    pub fn audit_details(&self) -> serde_json::Value {
        match self {
            Outcome::NotRoot { uid, kept } => {
                serde_json::json!({ "action": "kept_user", "uid": uid, "capabilities": kept })
            }
            Outcome::KeptRoot => serde_json::json!({ "action": "kept_root", "uid": 0, "capabilities": "all" }),
            Outcome::Dropped { user, kept } => {
                serde_json::json!({ "action": "dropped_root", "user": user, "capabilities": kept })
            }
        }
    }
}

/// Gives `path` (a directory the daemon writes after the privilege drop,
/// such as the NTS key directory) and the files directly in it to the user
/// [`drop_privileges`] will switch to. Nothing to do when not root or when
/// staying root.
pub fn hand_over(path: &std::path::Path, user: &str) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() || user == "root" {
        return Ok(());
    }
    let account = match find(user)? {
        Some(u) => u,
        None if user == DEFAULT_USER => match find("nobody")? {
            Some(u) => u,
            None => return Ok(()),
        },
        None => bail!("security.user: user `{user}` does not exist in {}", accounts::PASSWD),
    };
    let chown = |p: &std::path::Path| {
        nix::unistd::chown(p, Some(Uid::from_raw(account.uid)), Some(Gid::from_raw(account.gid)))
            .with_context(|| format!("cannot give {} to {}", p.display(), account.name))
    };
    chown(path)?;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            chown(&e.path())?;
        }
    }
    Ok(())
}
