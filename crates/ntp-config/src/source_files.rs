//! The files of `[sources] directory` (chrony's `sourcedir`): what DHCP
//! client hooks write, one server per line, read into [`Upstream`]s with the
//! same defaults as configured servers. A malformed line is reported with
//! its file and line and skipped; the rest of the file is used.
//!
//! Accepted lines (`#` starts a comment):
//! - `NAME[:PORT]` — a server, polled with iburst;
//! - `server NAME [iburst] [prefer] [minpoll N] [maxpoll N]` (chrony);
//! - `pool NAME [iburst] [prefer] [maxsources N]` (chrony).

use std::path::{Path, PathBuf};

use ntp_proto::server::NTP_PORT;

use crate::host_port::HostPort;
use crate::upstream::Upstream;

/// Only files with this suffix are read (chrony's rule; hooks write
/// temporary files under other names and rename them).
pub const SOURCE_FILE_SUFFIX: &str = ".sources";

/// The largest file read; a longer one is reported and skipped.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// What a directory lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectorySources {
    /// The sources, in file-name order then line order, without duplicates.
    pub upstreams: Vec<Upstream>,
    /// One message per problem (`FILE:LINE: ...`).
    pub problems: Vec<String>,
    /// The files read.
    pub files: Vec<PathBuf>,
}

/// Reads every `*.sources` file of `dir`. A missing directory lists nothing
/// (the hooks create it with the first lease).
pub fn read_directory(dir: &Path) -> DirectorySources {
    let mut out = DirectorySources::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            out.problems.push(format!("{}: cannot read the sources directory: {e}", dir.display()));
            return out;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(SOURCE_FILE_SUFFIX)))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in files {
        match std::fs::metadata(&file) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                out.problems.push(format!("{}: larger than {MAX_FILE_BYTES} bytes; skipped", file.display()));
                continue;
            }
            _ => {}
        }
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let (ups, problems) = parse_source_file(&file.display().to_string(), &text);
                for u in ups {
                    if !out.upstreams.iter().any(|x| x.host == u.host && x.port == u.port) {
                        out.upstreams.push(u);
                    }
                }
                out.problems.extend(problems);
                out.files.push(file);
            }
            // Removed between the listing and the read: the hook withdrew it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => out.problems.push(format!("{}: cannot read: {e}", file.display())),
        }
    }
    out
}

/// Parses one file's text; `name` prefixes the problems (`name:LINE: ...`).
pub fn parse_source_file(name: &str, text: &str) -> (Vec<Upstream>, Vec<String>) {
    let mut ups = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(u) => ups.push(u),
            Err(e) => problems.push(format!("{name}:{}: {e}; line skipped", i + 1)),
        }
    }
    (ups, problems)
}

fn parse_line(line: &str) -> Result<Upstream, String> {
    let mut words = line.split_whitespace();
    let first = words.next().ok_or("empty line")?;
    let (pool, name, bare) = match first {
        "server" => (false, words.next().ok_or("`server` without a name")?, false),
        "pool" => (true, words.next().ok_or("`pool` without a name")?, false),
        name => (false, name, true),
    };
    let address: HostPort = name.parse().map_err(|e| format!("bad server name: {e}"))?;
    let mut u = Upstream {
        host: address.host().to_owned(),
        port: address.port_or(NTP_PORT),
        // chrony's hooks write `iburst`; a bare name gets it too.
        iburst: bare,
        prefer: false,
        minpoll: 6,
        maxpoll: 10,
        key: None,
        pool: pool.then_some(4),
        nts: false,
        ca: None,
        xleave: false,
    };
    while let Some(option) = words.next() {
        let mut number = |range: std::ops::RangeInclusive<i64>| -> Result<i64, String> {
            let v = words.next().ok_or(format!("`{option}` needs a value"))?;
            let n: i64 = v.parse().map_err(|_| format!("`{option} {v}`: not a number"))?;
            if range.contains(&n) {
                Ok(n)
            } else {
                Err(format!("`{option} {n}`: must be within {}..={}", range.start(), range.end()))
            }
        };
        match option {
            "iburst" => u.iburst = true,
            "prefer" => u.prefer = true,
            "minpoll" => u.minpoll = number(0..=17)? as i8,
            "maxpoll" => u.maxpoll = number(0..=17)? as i8,
            "maxsources" if pool => u.pool = Some(number(1..=16)? as u32),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    u.maxpoll = u.maxpoll.max(u.minpoll);
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_and_the_problems_with_file_and_line() {
        let text = "# written by udhcpc for eth0\n\
                    192.0.2.1\n\
                    server 198.51.100.7 iburst prefer\n\
                    \n\
                    server [2001:db8::1]:1123 minpoll 4 maxpoll 3 # trailing comment\n\
                    pool pool.example maxsources 2\n\
                    server\n\
                    server 192.0.2.9 burst\n\
                    bad name with spaces\n\
                    server 192.0.2.10 minpoll 40\n\
                    192.0.2.11\n";
        let (ups, problems) = parse_source_file("eth0.sources", text);
        let got: Vec<_> = ups.iter().map(|u| (u.host.as_str(), u.port, u.iburst, u.prefer, u.pool)).collect();
        assert_eq!(
            got,
            vec![
                ("192.0.2.1", 123, true, false, None),
                ("198.51.100.7", 123, true, true, None),
                ("2001:db8::1", 1123, false, false, None),
                ("pool.example", 123, false, false, Some(2)),
                ("192.0.2.11", 123, true, false, None),
            ]
        );
        // maxpoll below minpoll is raised to it, as for configured servers.
        assert_eq!((ups[2].minpoll, ups[2].maxpoll), (4, 4));
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("eth0.sources:7: `server` without a name"), "{problems:?}");
        assert!(problems[1].starts_with("eth0.sources:8: unknown option `burst`"), "{problems:?}");
        assert!(problems[2].starts_with("eth0.sources:9: unknown option `name`"), "{problems:?}");
        assert!(problems[3].starts_with("eth0.sources:10: `minpoll 40`"), "{problems:?}");
    }

    #[test]
    fn a_directory_lists_its_sources_files_in_name_order_without_duplicates() {
        let dir = std::env::temp_dir().join(format!("ntp-config-sources-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read_directory(&dir), DirectorySources::default(), "a missing directory lists nothing");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.sources"), "192.0.2.2\n192.0.2.1\n").unwrap();
        std::fs::write(dir.join("a.sources"), "server 192.0.2.1 iburst\nserver nope nope\n").unwrap();
        std::fs::write(dir.join(".a.sources.tmp"), "192.0.2.99\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "192.0.2.98\n").unwrap();
        let got = read_directory(&dir);
        let hosts: Vec<_> = got.upstreams.iter().map(|u| u.host.as_str()).collect();
        assert_eq!(hosts, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(got.files.len(), 2);
        assert_eq!(got.problems.len(), 1);
        assert!(got.problems[0].contains("a.sources:2: unknown option `nope`"), "{:?}", got.problems);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
