//! The DHCP server configuration that announces this daemon, in the
//! spelling of each server: dnsmasq (`conf-file=`), Kea (`option-data` in
//! `subnet4`/`subnet6`), ISC dhcpd (`include`) and systemd-networkd
//! (`NTP=` in `[DHCPServer]`). Interfaces that announce nothing get a
//! comment saying why.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use clap::ValueEnum;
use serde_json::json;

use super::{Announcement, State};

/// The DHCP servers `dhcp-config` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// dnsmasq: `dhcp-option=tag:IFACE,...` lines (include with `conf-file=`).
    Dnsmasq,
    /// Kea: `subnet4`/`subnet6` entries with `option-data` (JSON to merge or `<?include?>`).
    Kea,
    /// ISC dhcpd: `subnet` declarations with `option ntp-servers` (include with `include "FILE";`).
    Isc,
    /// systemd-networkd: a `[DHCPServer]` `NTP=` drop-in per interface.
    Networkd,
}

/// RFC 5908 suboption 1: an NTP server's IPv6 address.
const NTP_SUBOPTION_SRV_ADDR: u16 = 1;

/// The configuration text for `format`. `port` is the NTP port the daemon
/// serves on: DHCP cannot carry another one, so anything but 123 is noted.
pub fn render(format: Format, announcements: &[Announcement], port: u16) -> String {
    let mut out = String::new();
    if format != Format::Kea {
        let _ = writeln!(
            out,
            "# NTP servers for DHCP clients, written by `simple-ntpd dhcp-config --format {}`.",
            name(format)
        );
        if port != 123 {
            let _ = writeln!(out, "# WARNING: the daemon serves on port {port}; DHCP clients will ask port 123.");
        }
    }
    match format {
        Format::Dnsmasq => dnsmasq(&mut out, announcements),
        Format::Isc => isc(&mut out, announcements),
        Format::Networkd => networkd(&mut out, announcements),
        Format::Kea => out = kea(announcements, port),
    }
    out
}

fn name(format: Format) -> &'static str {
    match format {
        Format::Dnsmasq => "dnsmasq",
        Format::Kea => "kea",
        Format::Isc => "isc",
        Format::Networkd => "networkd",
    }
}

/// Why an interface announces nothing, for a comment.
fn nothing(a: &Announcement) -> Option<String> {
    let why = match a.state {
        State::Announced(_) => return None,
        State::Disabled => "NTP is not served there (enabled = false)",
        State::Missing => "the interface does not exist on this host",
        State::NoAddress => "the interface has no address the daemon serves on",
    };
    Some(format!("{}: nothing announced, {why}", a.label()))
}

fn dnsmasq(out: &mut String, announcements: &[Announcement]) {
    for a in announcements {
        if let Some(why) = nothing(a) {
            let _ = writeln!(out, "# {why}");
            continue;
        }
        let _ = writeln!(out, "# {}", a.label());
        let v4: Vec<String> = a.v4().map(|n| n.addr().to_string()).collect();
        if !v4.is_empty() {
            let _ = writeln!(out, "dhcp-option=tag:{},option:ntp-server,{}", a.interface, v4.join(","));
        }
        let v6: Vec<String> = a.v6().map(|n| format!("[{}]", n.addr())).collect();
        if !v6.is_empty() {
            let _ = writeln!(out, "dhcp-option=tag:{},option6:ntp-server,{}", a.interface, v6.join(","));
        }
    }
}

/// Option 56's payload: one server-address suboption per address.
fn option56(addrs: &[Ipv6Addr]) -> Vec<u8> {
    let mut data = Vec::new();
    for a in addrs {
        data.extend_from_slice(&NTP_SUBOPTION_SRV_ADDR.to_be_bytes());
        data.extend_from_slice(&16u16.to_be_bytes());
        data.extend_from_slice(&a.octets());
    }
    data
}

fn hex(data: &[u8], sep: &str) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(sep)
}

fn isc(out: &mut String, announcements: &[Announcement]) {
    let mut v6_blocks = String::new();
    for a in announcements {
        if let Some(why) = nothing(a) {
            let _ = writeln!(out, "# {why}");
            continue;
        }
        for net in a.v4() {
            let _ = writeln!(out, "# {}", a.label());
            let _ = writeln!(out, "subnet {} netmask {} {{", net.network(), net.netmask());
            let _ = writeln!(out, "  option ntp-servers {};", net.addr());
            let _ = writeln!(out, "}}");
        }
        for net in a.v6() {
            let _ = writeln!(v6_blocks, "# {}", a.label());
            let _ = writeln!(v6_blocks, "# subnet6 {} {{", net.trunc());
            let _ = writeln!(v6_blocks, "#   option dhcp6.ntp-server {};", hex(&option56(&[net.addr()]), ":"));
            let _ = writeln!(v6_blocks, "# }}");
        }
    }
    if !v6_blocks.is_empty() {
        let _ = writeln!(out, "# For dhcpd -6 (a separate configuration): option 56 (RFC 5908) is not predefined;");
        let _ = writeln!(out, "# declare it once with  option dhcp6.ntp-server code 56 = string;");
        out.push_str(&v6_blocks);
    }
}

fn networkd(out: &mut String, announcements: &[Announcement]) {
    for a in announcements {
        if let Some(why) = nothing(a) {
            let _ = writeln!(out, "# {why}");
            continue;
        }
        let v4: Vec<String> = a.v4().map(|n| n.addr().to_string()).collect();
        let _ = writeln!(out, "# {}: a drop-in of its .network file, e.g.", a.label());
        let _ = writeln!(out, "# /etc/systemd/network/{}.network.d/50-simple-ntpd.conf", a.interface);
        if v4.is_empty() {
            let _ = writeln!(out, "# (IPv6 only: networkd's DHCP server is DHCPv4; nothing to announce)");
            continue;
        }
        let _ = writeln!(out, "[DHCPServer]");
        let _ = writeln!(out, "EmitNTP=yes");
        let _ = writeln!(out, "NTP={}", v4.join(" "));
    }
}

fn kea(announcements: &[Announcement], port: u16) -> String {
    let mut subnet4 = Vec::new();
    let mut subnet6 = Vec::new();
    let mut comments = Vec::new();
    for a in announcements {
        if let Some(why) = nothing(a) {
            comments.push(why);
            continue;
        }
        for net in a.v4() {
            subnet4.push(json!({
                "subnet": net.trunc().to_string(),
                "interface": a.interface,
                "option-data": [{ "name": "ntp-servers", "data": net.addr().to_string() }],
                "user-context": { "simple-ntpd": a.label() },
            }));
        }
        for net in a.v6() {
            subnet6.push(json!({
                "subnet": net.trunc().to_string(),
                "interface": a.interface,
                "option-data": [{ "code": 56, "space": "dhcp6", "csv-format": false, "data": hex(&option56(&[net.addr()]), "") }],
                "user-context": { "simple-ntpd": a.label() },
            }));
        }
    }
    if port != 123 {
        comments.push(format!("the daemon serves on port {port}; DHCP clients will ask port 123"));
    }
    let doc = json!({
        "comment": "NTP servers for DHCP clients, written by `simple-ntpd dhcp-config --format kea`: merge the subnets into your Dhcp4 / Dhcp6 configuration",
        "nothing-announced": comments,
        "Dhcp4": { "subnet4": subnet4 },
        "Dhcp6": { "subnet6": subnet6 },
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Announcement> {
        vec![
            Announcement {
                vlan: Some("vlan-10".into()),
                interface: "v10".into(),
                state: State::Announced(vec!["192.0.2.1/26".parse().unwrap(), "2001:db8:10::1/64".parse().unwrap()]),
            },
            Announcement { vlan: Some("v20".into()), interface: "v20".into(), state: State::Disabled },
        ]
    }

    #[test]
    fn dnsmasq_tags_each_interface_and_comments_the_disabled_one() {
        let text = render(Format::Dnsmasq, &sample(), 123);
        assert!(text.contains("\ndhcp-option=tag:v10,option:ntp-server,192.0.2.1\n"), "{text}");
        assert!(text.contains("\ndhcp-option=tag:v10,option6:ntp-server,[2001:db8:10::1]\n"), "{text}");
        assert!(text.contains("# v20: nothing announced, NTP is not served there (enabled = false)\n"), "{text}");
        assert!(!text.contains("tag:v20"), "{text}");
        assert!(!text.contains("WARNING"));
        assert!(render(Format::Dnsmasq, &sample(), 1123).contains("WARNING: the daemon serves on port 1123"));
    }

    #[test]
    fn isc_kea_and_networkd_name_the_subnet_and_the_address() {
        let isc = render(Format::Isc, &sample(), 123);
        assert!(
            isc.contains("subnet 192.0.2.0 netmask 255.255.255.192 {\n  option ntp-servers 192.0.2.1;\n}\n"),
            "{isc}"
        );
        // Suboption 1, length 16, then the address.
        assert!(isc.contains("option dhcp6.ntp-server 00:01:00:10:20:01:0d:b8:00:10:"), "{isc}");
        let kea: serde_json::Value = serde_json::from_str(&render(Format::Kea, &sample(), 123)).unwrap();
        assert_eq!(kea["Dhcp4"]["subnet4"][0]["subnet"], "192.0.2.0/26");
        assert_eq!(kea["Dhcp4"]["subnet4"][0]["option-data"][0]["data"], "192.0.2.1");
        assert_eq!(kea["Dhcp6"]["subnet6"][0]["option-data"][0]["data"], "0001001020010db8001000000000000000000001");
        assert_eq!(kea["nothing-announced"].as_array().unwrap().len(), 1);
        let nd = render(Format::Networkd, &sample(), 123);
        assert!(nd.contains("[DHCPServer]\nEmitNTP=yes\nNTP=192.0.2.1\n"), "{nd}");
    }
}
