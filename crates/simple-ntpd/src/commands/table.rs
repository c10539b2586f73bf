//! Aligned text tables and key/value lists for the CLI.

/// Renders rows under a header, each column padded to its widest cell;
/// numeric-looking columns are right-aligned.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..cols)
        .map(|i| {
            !rows.is_empty() && rows.iter().all(|r| r.get(i).is_some_and(|c| c.parse::<f64>().is_ok() || c == "-"))
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if numeric[i] { format!("{c:>w$}", w = width[i]) } else { format!("{c:<w$}", w = width[i]) })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(&width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Renders `key : value` lines with aligned colons.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<w$} : {v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_go_right() {
        let t = render(&["Name", "N"], &[vec!["a".into(), "5".into()], vec!["long-name".into(), "123".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Name         N");
        assert_eq!(lines[2], "a            5");
        assert_eq!(lines[3], "long-name  123");
        assert_eq!(key_values(&[("a", "1".into()), ("bbb", "2".into())]), "a   : 1\nbbb : 2\n");
    }
}
