//! `simple-ntpd dhcp-config --format dnsmasq|kea|isc|networkd`: prints the
//! DHCP server configuration that announces this daemon on each served
//! interface (see `dhcp`), read from the configuration and this host's
//! interfaces (run it where the daemon runs, in its network namespace).

use std::process::ExitCode;

use crate::cli::DhcpConfigArgs;
use crate::commands::config::config_files;
use crate::dhcp::{announcements, formats, State};

/// Runs `dhcp-config`.
pub fn run(args: DhcpConfigArgs) -> ExitCode {
    let files = config_files(&args.config);
    let loaded = match ntp_config::load(&files, std::env::vars(), &ntp_config::Overrides::default()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let networks = match crate::interfaces::scan::networks() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: cannot read the network interfaces: {e}");
            return ExitCode::from(1);
        }
    };
    let list = announcements(&loaded.config, &networks, &args.interfaces);
    let announced = list.iter().filter(|a| matches!(a.state, State::Announced(_))).count();
    if announced == 0 {
        eprintln!("warning: no interface announces an NTP server (see the comments in the output)");
    }
    print!("{}", formats::render(args.format, &list, loaded.config.network.listen_port));
    ExitCode::SUCCESS
}
