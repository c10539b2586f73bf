//! "Did you mean" suggestions for misspelt keys and environment variables,
//! and the camelCase to snake_case spelling rule.

use crate::schema::{self, Kind};

/// `sourcesMinimum` -> `sources_minimum`; snake_case input is unchanged.
pub(crate) fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `sources_minimum` -> `sourcesMinimum`.
pub fn camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn normalise(s: &str) -> String {
    s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// The candidate closest to `input`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_n = normalise(input);
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        let c_n = normalise(c);
        let score = if c_n == input_n {
            2.0
        } else {
            let d = strsim::damerau_levenshtein(&input_n, &c_n);
            let allowed = (c_n.chars().count() / 4).clamp(1, 3);
            let jw = strsim::jaro_winkler(&input_n, &c_n);
            if d <= allowed {
                1.0 + jw - d as f64 * 0.01
            } else if jw >= 0.92 {
                jw
            } else {
                continue;
            }
        };
        match best {
            Some((s, _)) if s >= score => {}
            _ => best = Some((score, c)),
        }
    }
    best.map(|(_, c)| c)
}

/// The tables (outside arrays) that have a key named `key`, as `[table]`
/// text, when there are at most three of them.
pub(crate) fn elsewhere(key: &str) -> Option<String> {
    let snake = snake_case(key);
    let root = schema::root();
    let homes: Vec<String> = schema::all_nodes(&root)
        .into_iter()
        .filter(|(path, node, in_array)| {
            !in_array
                && !matches!(node.kind, Kind::Table(_))
                && path.rsplit('.').next() == Some(snake.as_str())
                && path.contains('.')
        })
        .filter_map(|(path, _, _)| path.rsplit_once('.').map(|(t, _)| format!("[{t}]")))
        .collect();
    match homes.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [a, b] => Some(format!("{a} or {b}")),
        [a, b, c] => Some(format!("{a}, {b} or {c}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling() {
        assert_eq!(snake_case("sourcesMinimum"), "sources_minimum");
        assert_eq!(snake_case("vlanConfig"), "vlan_config");
        assert_eq!(snake_case("listen_port"), "listen_port");
        assert_eq!(camel_case("clients_only"), "clientsOnly");
    }

    #[test]
    fn suggestions() {
        let keys = ["listen_address", "listen_port"];
        assert_eq!(did_you_mean("listen_adress", keys), Some("listen_address"));
        assert_eq!(did_you_mean("listen_prot", keys), Some("listen_port"));
        assert_eq!(did_you_mean("LISTEN-PORT", keys), Some("listen_port"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(elsewhere("worker_threads").as_deref(), Some("[performance]"));
        assert_eq!(elsewhere("stratum").as_deref(), Some("[ntp_server], [server] or [server.local]"));
    }
}
