//! The variables as ntpq reads them: `name=value` items joined by `, `,
//! lines broken before 72 characters with `,\r\n` as ntpd does; times as
//! hexadecimal NTP timestamps, delays and offsets in milliseconds,
//! frequencies in ppm, `reach` and `flash` in hexadecimal, the version and
//! host names quoted. The default system list starts with everything
//! `ntpstat` looks for, which reads only the first fragment.

use std::fmt::Write;

use super::variables::{PeerVariables, SystemVariables};
use crate::packet::LeapIndicator;
use crate::timestamp::{civil_from_days, NtpTimestamp};

/// The system variables in the order `ntpq -c rv` shows ntpd's.
pub const SYSTEM_DEFAULT: &[&str] = &[
    "version",
    "leap",
    "stratum",
    "precision",
    "rootdelay",
    "rootdisp",
    "refid",
    "reftime",
    "clock",
    "peer",
    "tc",
    "mintc",
    "offset",
    "frequency",
    "sys_jitter",
    "tai",
    "leapsec",
    "expire",
];

/// The association variables, in ntpd's order.
pub const PEER_DEFAULT: &[&str] = &[
    "srcadr", "srcport", "srchost", "stratum", "refid", "rec", "reach", "unreach", "hmode", "pmode", "hpoll", "ppoll",
    "flash", "offset", "delay", "jitter",
];

/// The smallest poll exponent reported as `mintc` (ntpd's `NTP_MINPOLL`).
const MINTC: i8 = 3;

fn ms(seconds: f64) -> String {
    format!("{:.6}", seconds * 1e3)
}

fn lfp(t: NtpTimestamp) -> String {
    let b = t.to_bits();
    format!("0x{:08x}.{:08x}", b >> 32, b & 0xFFFF_FFFF)
}

/// `YYYYMMDDhhmm` of NTP second `secs`, as ntpd shows `leapsec` and `expire`.
fn ntp_date(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64 - 25_567);
    let rest = secs % 86_400;
    format!("{y:04}{m:02}{d:02}{:02}{:02}", rest / 3600, rest % 3600 / 60)
}

fn leap_bits(l: LeapIndicator) -> u8 {
    l.to_bits()
}

/// The value of system variable `name`; `None` when it is unknown or has
/// no value here (a table's variables without one).
pub fn system_value(v: &SystemVariables, name: &str) -> Option<String> {
    Some(match name {
        "version" => format!("\"{}\"", v.version),
        "leap" => leap_bits(v.leap).to_string(),
        "stratum" => v.stratum.to_string(),
        "precision" => v.precision.to_string(),
        "rootdelay" => ms(v.root_delay),
        "rootdisp" => ms(v.root_dispersion),
        "refid" => v.reference_id.clone(),
        "reftime" => lfp(v.reference_time),
        "clock" => lfp(v.clock),
        "peer" => v.peer.to_string(),
        "tc" => v.poll.to_string(),
        "mintc" => MINTC.to_string(),
        "offset" => ms(v.offset),
        "frequency" => format!("{:.6}", v.frequency_ppm),
        "sys_jitter" => ms(v.jitter),
        "tai" => v.tai?.to_string(),
        "leapsec" => ntp_date(v.next_leap?),
        "expire" => ntp_date(v.leap_expires?),
        _ => return None,
    })
}

/// True when `name` is a system variable this server knows (it may still
/// have no value now).
pub fn is_system_variable(name: &str) -> bool {
    SYSTEM_DEFAULT.contains(&name)
}

/// The value of association variable `name`; `None` when unknown or empty.
pub fn peer_value(p: &PeerVariables, name: &str) -> Option<String> {
    Some(match name {
        "srcadr" if p.refclock => "127.127.0.0".to_owned(),
        "srcadr" => p.address?.ip().to_string(),
        "srcport" => p.address.map_or(123, |a| a.port()).to_string(),
        "srchost" => format!("\"{}\"", p.host.replace('"', "'")),
        "stratum" => p.stratum.to_string(),
        "refid" => p.reference_id.clone()?,
        "rec" => lfp(p.last_response?),
        "reach" => format!("0x{:x}", p.reach),
        "unreach" => (p.reach.trailing_zeros().min(8)).to_string(),
        "hmode" => "3".to_owned(),
        "pmode" => "4".to_owned(),
        "hpoll" | "ppoll" => p.poll.to_string(),
        "flash" => format!("0x{:x}", p.flash()),
        "offset" => ms(p.offset),
        "delay" => ms(p.delay),
        "jitter" => ms(p.jitter),
        _ => return None,
    })
}

/// True when `name` is an association variable this server knows.
pub fn is_peer_variable(name: &str) -> bool {
    PEER_DEFAULT.contains(&name)
}

/// Joins `name=value` items as ntpd does: `, ` between them, `,\r\n`
/// instead when the line would pass 72 characters.
pub fn join(items: impl IntoIterator<Item = (String, String)>) -> String {
    let mut out = String::new();
    let mut line = 0usize;
    for (i, (name, value)) in items.into_iter().enumerate() {
        let item = format!("{name}={value}");
        if i > 0 {
            if line + 2 + item.len() > 72 {
                out.push_str(",\r\n");
                line = 0;
            } else {
                out.push_str(", ");
                line += 2;
            }
        }
        let _ = write!(out, "{item}");
        line += item.len();
    }
    if !out.is_empty() {
        out.push_str("\r\n");
    }
    out
}
