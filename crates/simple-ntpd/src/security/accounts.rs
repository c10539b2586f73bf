//! The service account, read from `/etc/passwd` itself rather than through
//! glibc's name-service switch. The shipped binary is static (glibc linked
//! in): a `getpwnam` for a name missing from `/etc/passwd` goes on to the
//! next `passwd:` source of nsswitch.conf (`systemd`, `sss`, `ldap`), which
//! a static program cannot load — it crashed the daemon at start on a stock
//! Debian host. Service accounts are local system users (the package's
//! postinst creates one), so the `files` source is the one that matters; a
//! user only known to a directory service is reported as missing.

use std::io;
use std::path::Path;

/// The password database chrony, ntpd and the package's postinst use.
pub const PASSWD: &str = "/etc/passwd";

/// One local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks `name` up in the passwd-format file at `path`; `Ok(None)` when no
/// line names it. Malformed lines (comments, NIS `+` entries, bad numbers)
/// are skipped.
pub fn lookup_in(path: &Path, name: &str) -> io::Result<Option<Account>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().filter_map(parse_line).find(|a| a.name == name))
}

/// Looks `name` up in `/etc/passwd`.
pub fn lookup(name: &str) -> io::Result<Option<Account>> {
    lookup_in(Path::new(PASSWD), name)
}

fn parse_line(line: &str) -> Option<Account> {
    let mut fields = line.split(':');
    let name = fields.next()?;
    if name.is_empty() || name.starts_with(['#', '+', '-']) {
        return None;
    }
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some(Account { name: name.to_string(), uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_account_and_skips_what_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        std::fs::write(
            &path,
            "# comment\nroot:x:0:0:root:/root:/bin/bash\n+nisuser::::::\nbroken:x:notanumber:1::/:\n\
             simple-ntpd:x:998:997:simple-ntpd daemon:/var/lib/simple-ntpd:/usr/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )
        .unwrap();
        assert_eq!(
            lookup_in(&path, "simple-ntpd").unwrap(),
            Some(Account { name: "simple-ntpd".into(), uid: 998, gid: 997 })
        );
        assert_eq!(lookup_in(&path, "nobody").unwrap().map(|a| a.uid), Some(65534));
        assert_eq!(lookup_in(&path, "broken").unwrap(), None);
        assert_eq!(lookup_in(&path, "+nisuser").unwrap(), None);
        assert_eq!(lookup_in(&path, "absent").unwrap(), None);
        assert!(lookup_in(&dir.path().join("missing"), "root").is_err());
    }
}
