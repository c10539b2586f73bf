//! Config lines shared by every chronyd started by this crate.

use std::net::IpAddr;
use std::path::Path;

/// Private pidfile and driftfile, no UDP command port, and the unix command socket
/// either in `dir/run/` (`with_socket`) or disabled (`bindcmdaddress /`).
pub(crate) fn base_lines(dir: &Path, with_socket: bool) -> Vec<String> {
    let mut v = vec![
        format!("pidfile {}", dir.join("chronyd.pid").display()),
        format!("driftfile {}", dir.join("chronyd.drift").display()),
        "cmdport 0".to_string(),
    ];
    if with_socket {
        v.push(format!("bindcmdaddress {}", socket_path(dir).display()));
    } else {
        v.push("bindcmdaddress /".to_string());
    }
    v
}

/// The unix command socket of a chronyd whose private dir is `dir`.
pub(crate) fn socket_path(dir: &Path) -> std::path::PathBuf {
    dir.join("run").join("chronyd.sock")
}

/// `server IP port N OPTS` (IPv6 literals need no brackets in chrony.conf).
pub(crate) fn server_line(ip: IpAddr, port: u16, opts: &str) -> String {
    format!("server {ip} port {port} {}", opts.trim()).trim_end().to_string()
}

/// Join lines into a config file body.
pub(crate) fn render(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}
