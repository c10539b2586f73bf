//! The environment variables of the cturra/ntp container image (chrony on
//! Alpine), so that its users can switch to the simple-ntpd image by
//! changing the image name: `NTP_SERVERS`, `LOG_LEVEL`, `NOCLIENTLOG` and
//! `ENABLE_NTS`, with the meaning that image's start script gives them.
//!
//! They form a layer of their own, laid under the `SIMPLE_NTPD_*` variables:
//! when a `SIMPLE_NTPD_*` variable sets the same thing, it wins, and the
//! cturra variable it overrides is named in a warning (never silently
//! ignored).

use crate::env;
use crate::error::Issue;
use crate::layer::{Layer, Origin};

/// One variable of the cturra/ntp image and what it sets here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompatVariable {
    /// The variable name.
    pub name: &'static str,
    /// The keys it sets.
    pub keys: &'static [&'static str],
    /// The keys whose `SIMPLE_NTPD_*` variables take precedence over it.
    pub overridden_by: &'static [&'static str],
    /// What it does, for the configuration reference.
    pub meaning: &'static str,
}

/// The cturra/ntp variables read, in the order of that image's documentation.
pub const VARIABLES: &[CompatVariable] = &[
    CompatVariable {
        name: "NTP_SERVERS",
        keys: &["sources.servers", "server.local", "ntp_server.stratum"],
        overridden_by: &["sources.servers", "ntp_server.upstream_servers"],
        meaning: "Comma-separated upstream servers, each used as `{ address = \"...\", iburst = true }` \
                  (chrony's `server NAME iburst`); quotes around items are removed. An item in 127.0.0.0/8 \
                  (cturra's `127.127.1.1` \"local (offline)\" form) stands for the local clock, not a server: \
                  it turns on `server.local` at stratum 10 (chrony's `local stratum 10`), and when no other \
                  item is given the local clock is served at `ntp_server.stratum = 10`. Unset or empty: the \
                  simple-ntpd default (the local clock at stratum 10; cturra/ntp would use \
                  time.cloudflare.com, so set `NTP_SERVERS=time.cloudflare.com` for that).",
    },
    CompatVariable {
        name: "ENABLE_NTS",
        keys: &["sources.servers[].nts"],
        overridden_by: &["sources.servers", "ntp_server.upstream_servers"],
        meaning: "`true`: every server of `NTP_SERVERS` is used with NTS (chrony's `server NAME iburst nts`), \
                  so each must offer NTS-KE. It does not turn on the NTS server (that is `security.nts.enabled`). \
                  Without `NTP_SERVERS` it has no effect (warned).",
    },
    CompatVariable {
        name: "LOG_LEVEL",
        keys: &["logging.level"],
        overridden_by: &["logging.level"],
        meaning: "chrony's `-L` level: `0` informational (`INFO`), `1` warning (`WARN`), `2` non-fatal error \
                  and `3` fatal error (both `ERROR`); a number above 3 means 0, as in cturra/ntp, and a negative \
                  one `DEBUG`. A level name (`debug`, `warn`, ...) is taken as `logging.level`.",
    },
    CompatVariable {
        name: "NOCLIENTLOG",
        keys: &["monitoring.client_log_size"],
        overridden_by: &["monitoring.client_log_size"],
        meaning: "`true`: keep no client log (chrony's `noclientlog`), i.e. `monitoring.client_log_size = 0`; \
                  `/api/v1/clients` and `simple-ntpd clients` then list nobody.",
    },
];

/// The local clock's stratum in cturra/ntp (its `local stratum 10`).
const LOCAL_STRATUM: i64 = 10;

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The `SIMPLE_NTPD_*` variable (long or short form) that sets one of
/// `keys`, if any is present.
fn overriding_var(vars: &[(String, String)], keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| {
        std::iter::once(env::var_name(key))
            .chain(env::short_names(key).map(str::to_owned))
            .find(|name| var(vars, name).is_some())
    })
}

fn boolean(name: &str, raw: &str) -> Result<bool, Issue> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" | "" => Ok(false),
        _ => Err(Issue::new(
            Some(format!("environment {name}")),
            None,
            format!("{name} must be true or false, got {raw:?}"),
        )),
    }
}

/// A chrony `-L` level as a `logging.level` value; other text is passed on
/// as a level name (checked with `logging.level`).
fn log_level(raw: &str) -> toml::Value {
    let level = match raw.trim().parse::<i64>() {
        Ok(n) if n < 0 => "DEBUG",
        Ok(1) => "WARN",
        Ok(2 | 3) => "ERROR",
        Ok(_) => "INFO",
        Err(_) => return toml::Value::String(raw.trim().to_owned()),
    };
    toml::Value::String(level.to_owned())
}

/// Builds the layer of the cturra/ntp variables present in `vars`; notes
/// every variable that has no effect in `warnings`.
pub(crate) fn compat_layer(vars: &[(String, String)], warnings: &mut Vec<String>) -> Result<Layer, Vec<Issue>> {
    let mut layer = Layer::default();
    let mut issues = Vec::new();
    let overridden = |name: &str, keys: &[&str], warnings: &mut Vec<String>| -> bool {
        match overriding_var(vars, keys) {
            Some(by) => {
                warnings.push(format!("environment {name}: ignored, {by} is set and takes precedence"));
                true
            }
            None => false,
        }
    };
    let spec = |name: &str| VARIABLES.iter().find(|v| v.name == name).expect("listed variable");

    let nts = match var(vars, "ENABLE_NTS").map(|raw| boolean("ENABLE_NTS", raw)) {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            issues.push(e);
            false
        }
        None => false,
    };
    let servers = var(vars, "NTP_SERVERS").filter(|raw| !raw.trim().is_empty());
    let mut nts_used = false;
    if let Some(raw) = servers {
        if !overridden("NTP_SERVERS", spec("NTP_SERVERS").overridden_by, warnings) {
            let origin = Origin::env("NTP_SERVERS");
            let items: Vec<String> =
                raw.split(',').map(|s| s.replace('"', "").trim().to_owned()).filter(|s| !s.is_empty()).collect();
            let (local, upstream): (Vec<String>, Vec<String>) = items.into_iter().partition(|s| s.starts_with("127."));
            let entries: Vec<toml::Value> = upstream
                .iter()
                .map(|address| {
                    let mut t = toml::Table::new();
                    t.insert("address".into(), toml::Value::String(address.clone()));
                    t.insert("iburst".into(), toml::Value::Boolean(true));
                    if nts {
                        t.insert("nts".into(), toml::Value::Boolean(true));
                    }
                    toml::Value::Table(t)
                })
                .collect();
            nts_used = nts && !entries.is_empty();
            layer.insert("sources.servers", toml::Value::Array(entries), origin.clone());
            if !local.is_empty() {
                layer.insert("server.local.enabled", toml::Value::Boolean(true), origin.clone());
                layer.insert("server.local.stratum", toml::Value::Integer(LOCAL_STRATUM), origin.clone());
                if upstream.is_empty() {
                    layer.insert("ntp_server.stratum", toml::Value::Integer(LOCAL_STRATUM), origin);
                }
            }
        }
    }
    if nts && !nts_used {
        warnings.push(
            "environment ENABLE_NTS: no effect, it applies to the upstream servers of NTP_SERVERS and there are none"
                .to_owned(),
        );
    }
    if let Some(raw) = var(vars, "LOG_LEVEL") {
        if !overridden("LOG_LEVEL", spec("LOG_LEVEL").overridden_by, warnings) {
            layer.insert("logging.level", log_level(raw), Origin::env("LOG_LEVEL"));
        }
    }
    if let Some(raw) = var(vars, "NOCLIENTLOG") {
        match boolean("NOCLIENTLOG", raw) {
            Ok(true) => {
                if !overridden("NOCLIENTLOG", spec("NOCLIENTLOG").overridden_by, warnings) {
                    layer.insert("monitoring.client_log_size", toml::Value::Integer(0), Origin::env("NOCLIENTLOG"));
                }
            }
            Ok(false) => {}
            Err(e) => issues.push(e),
        }
    }
    if issues.is_empty() {
        Ok(layer)
    } else {
        Err(issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrony_levels() {
        let s = |raw| log_level(raw).as_str().unwrap().to_owned();
        assert_eq!(s("0"), "INFO");
        assert_eq!(s("1"), "WARN");
        assert_eq!(s("2"), "ERROR");
        assert_eq!(s("3"), "ERROR");
        assert_eq!(s("7"), "INFO");
        assert_eq!(s("-1"), "DEBUG");
        assert_eq!(s(" debug "), "debug");
    }

    #[test]
    fn every_key_named_exists() {
        let root = crate::schema::root();
        for v in VARIABLES {
            for key in v.keys.iter().chain(v.overridden_by) {
                let path = key.replace("[]", "[0]");
                let plain = path.split("[0]").next().unwrap();
                assert!(crate::schema::node_at(&root, plain).is_some(), "{}: {key}", v.name);
            }
        }
    }
}
