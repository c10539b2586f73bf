//! Everything `run` checks and builds from a loaded configuration before it
//! binds a socket, as one function: `run` calls it at start, a reload calls
//! the part that applies to it, and `config check` calls it too — so a
//! configuration the check passes is one `run` starts with (short of
//! sockets and privileges).

use anyhow::{anyhow, bail, Context};
use ntp_config::Config;

use crate::nts::tls;
use crate::security::keys::{self, SymmetricKeys};
use crate::security::SecurityPolicy;

/// What the checks built.
#[derive(Debug)]
pub struct Preflight {
    /// The compiled security policy (its NTS cookie keys are added when the
    /// NTS server starts).
    pub policy: SecurityPolicy,
    /// The keys upstream sources with `key` authenticate with.
    pub source_keys: SymmetricKeys,
    /// Things worth a warning.
    pub warnings: Vec<String>,
}

/// Every check `run` makes before binding: the security policy (key file,
/// access rules), the keys sources name, and, with NTS served, the
/// certificate chain and private key.
pub fn preflight(config: &Config) -> anyhow::Result<Preflight> {
    let checked = policy_and_keys(config)?;
    nts_server_files(config)?;
    Ok(checked)
}

/// The checks that also apply to a reload (NTS server files are re-read by
/// the running NTS-KE server on its own).
pub fn policy_and_keys(config: &Config) -> anyhow::Result<Preflight> {
    let (policy, mut warnings) =
        SecurityPolicy::from_config(config).map_err(|e| anyhow!("security configuration: {e}"))?;
    let source_keys = source_keys(config, &mut warnings)?;
    crate::dns::Settings::from_config(config)?;
    Ok(Preflight { policy, source_keys, warnings })
}

/// The keys for sources with `key`; an error when a source names a key that
/// is not configured (it could never be polled).
fn source_keys(config: &Config, warnings: &mut Vec<String>) -> anyhow::Result<SymmetricKeys> {
    let servers = config
        .sources
        .servers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.key.map(|k| (format!("sources.servers[{i}].key"), k)));
    let broadcast = config
        .sources
        .broadcast
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.key.map(|k| (format!("sources.broadcast[{i}].key"), k)));
    let sent = config
        .vlan_config
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.broadcast_key.map(|k| (format!("vlan_config[{i}].broadcast_key"), k)));
    let wanted: Vec<(String, u32)> = servers.chain(broadcast).chain(sent).collect();
    if wanted.is_empty() {
        return Ok(SymmetricKeys::new());
    }
    let keys = match keys::load(&config.security.authentication) {
        Ok((keys, w)) => {
            warnings.extend(w);
            keys
        }
        Err(e) => bail!("keys for {}: {e}", wanted[0].0),
    };
    for (path, id) in wanted {
        if !keys.contains_key(&id) {
            bail!(
                "{path} = {id}: no such key in security.authentication (keys or key_file); the source could never be polled (or the broadcasts never authenticated)"
            );
        }
    }
    Ok(keys)
}

/// With NTS served: the certificate chain and private key are set, readable
/// and make a TLS configuration.
fn nts_server_files(config: &Config) -> anyhow::Result<()> {
    let n = &config.security.nts;
    if !n.enabled {
        return Ok(());
    }
    let (Some(chain), Some(key)) = (&n.certificate_chain, &n.private_key) else {
        return Err(AtKey {
            path: "security.nts.enabled",
            message: "security.nts.enabled needs security.nts.certificate_chain and security.nts.private_key: add the \
                      PEM files of the NTS-KE server's certificate chain and private key to [security.nts] (in an \
                      NTPService resource: spec.security.nts.certificateChain and spec.security.nts.privateKey; \
                      `simple-ntpd operator` sets both to the certificate Secret it mounts)"
                .to_owned(),
        }
        .into());
    };
    tls::server_config(chain, key).context("security.nts")?;
    Ok(())
}

/// A preflight error about one key, which [`describe`] prefixes with the
/// place (file and line) that key was set.
#[derive(Debug)]
pub struct AtKey {
    /// The dotted key path.
    pub path: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for AtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AtKey {}

/// The text of a preflight error, prefixed with the file, line and column of
/// the key it concerns when the loaded configuration's origins know it.
pub fn describe(origins: &ntp_config::Origins, e: &anyhow::Error) -> String {
    match e.downcast_ref::<AtKey>().and_then(|k| origins.location(k.path)) {
        Some(at) => format!("{at}: {e:#}"),
        None => format!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        ntp_config::load_from_strs(&[("t.toml".into(), toml.into())], Vec::new(), &Default::default()).unwrap().config
    }

    #[test]
    fn what_run_refuses_is_refused_here() {
        assert!(preflight(&Config::default()).is_ok());
        let e = preflight(&config("[security.authentication]\nenabled = true\nkey_file = \"/nonexistent/keys\"\n"))
            .unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/keys"), "{e:#}");
        let loaded = ntp_config::load_from_strs(
            &[("t.toml".into(), "[security.nts]\nenabled = true\n".into())],
            Vec::new(),
            &Default::default(),
        )
        .unwrap();
        let e = preflight(&loaded.config).unwrap_err();
        let text = describe(loaded.origins(), &e);
        assert!(text.starts_with("t.toml:2:11: security.nts.enabled needs security.nts.certificate_chain"), "{text}");
        assert!(text.contains("spec.security.nts.certificateChain"), "{text}");
        let e = preflight(&config(
            "[security.nts]\nenabled = true\ncertificate_chain = \"/nonexistent/c.pem\"\nprivate_key = \"/nonexistent/k.pem\"\n",
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/c.pem"), "{e:#}");
        let e = preflight(&config("[[sources.servers]]\naddress = \"192.0.2.1\"\nkey = 7\n")).unwrap_err();
        assert!(format!("{e:#}").contains("sources.servers[0].key = 7"), "{e:#}");
        let ok = preflight(&config(
            "[[sources.servers]]\naddress = \"192.0.2.1\"\nkey = 7\n[[security.authentication.keys]]\nid = 7\ntype = \"AES128\"\nvalue = \"HEX:000102030405060708090a0b0c0d0e0f\"\n",
        ))
        .unwrap();
        assert!(ok.source_keys.contains_key(&7));
        let e = preflight(&config("[[vlan_config]]\nvlan_ref = \"vlan-10\"\nbroadcast = true\nbroadcast_key = 3\n"))
            .unwrap_err();
        assert!(format!("{e:#}").contains("vlan_config[0].broadcast_key = 3"), "{e:#}");
        let e = preflight(&config("[[sources.broadcast]]\ninterface = \"vlan-10\"\nkey = 4\n")).unwrap_err();
        assert!(format!("{e:#}").contains("sources.broadcast[0].key = 4"), "{e:#}");
    }
}
