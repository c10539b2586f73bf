//! INI-style fix-up for files that are not valid TOML: the seed examples
//! write `listen_address = 0.0.0.0` with the value unquoted. Each such bare
//! value is quoted as a string, and `;` comment lines become `#` comments;
//! line numbers stay the same so later errors still point at the right line.

/// The rewritten text and, for each change, its 1-based line and a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FixUp {
    pub text: String,
    pub changes: Vec<(usize, String)>,
}

/// Rewrites INI-style lines; `None` when there is nothing to rewrite.
pub(crate) fn fix_up(text: &str) -> Option<FixUp> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut changes = Vec::new();
    // Open multi-line constructs carried from line to line.
    let mut depth = 0usize;
    let mut in_ml_basic = false;
    let mut in_ml_literal = false;
    for (idx, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = idx + 1;
        let (line, eol) = split_eol(raw_line);
        if in_ml_basic || in_ml_literal || depth > 0 {
            scan(line, &mut depth, &mut in_ml_basic, &mut in_ml_literal);
            out.push_str(raw_line);
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(';') {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(indent);
            out.push('#');
            out.push_str(rest);
            out.push_str(eol);
            changes.push((
                line_no,
                "comment starting with `;` read as a comment (INI style); use `#` for TOML".to_owned(),
            ));
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('[') {
            out.push_str(raw_line);
            continue;
        }
        let Some(eq) = line.find('=') else {
            out.push_str(raw_line);
            continue;
        };
        let (key, after) = (&line[..eq], &line[eq + 1..]);
        if !is_plain_key(key.trim()) {
            out.push_str(raw_line);
            continue;
        }
        if is_valid_value(after) {
            out.push_str(raw_line);
            continue;
        }
        let value_part = after.trim_start();
        let lead = &after[..after.len() - value_part.len()];
        if value_part.starts_with(['[', '{', '"', '\'']) {
            // A multi-line array, table or string starts here (or a broken
            // quoted value, which quoting cannot mend).
            scan(after, &mut depth, &mut in_ml_basic, &mut in_ml_literal);
            out.push_str(raw_line);
            continue;
        }
        let (value, comment) = split_comment(value_part);
        let trailing_ws = &value[value.trim_end().len()..];
        let value = value.trim_end();
        if value.is_empty() {
            out.push_str(raw_line);
            continue;
        }
        let quoted = quote(value);
        out.push_str(key);
        out.push('=');
        out.push_str(lead);
        out.push_str(&quoted);
        out.push_str(trailing_ws);
        out.push_str(comment);
        out.push_str(eol);
        changes.push((
            line_no,
            format!("unquoted value {value} read as the string {quoted} (INI style); quote it for TOML"),
        ));
    }
    if changes.is_empty() {
        None
    } else {
        Some(FixUp { text: out, changes })
    }
}

fn split_eol(line: &str) -> (&str, &str) {
    if let Some(l) = line.strip_suffix("\r\n") {
        (l, "\r\n")
    } else if let Some(l) = line.strip_suffix('\n') {
        (l, "\n")
    } else {
        (line, "")
    }
}

/// A bare, quoted or dotted TOML key.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|part| {
            let p = part.trim();
            (!p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                || (p.len() >= 2 && p.starts_with('"') && p.ends_with('"'))
        })
}

/// The text after `=` is a complete TOML value (with optional comment).
fn is_valid_value(after: &str) -> bool {
    format!("v ={after}").parse::<toml::Table>().is_ok()
}

/// Splits `value  # comment` at the first ` #` / `\t#`.
fn split_comment(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b'#' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return (&s[..i], &s[i..]);
        }
    }
    (s, "")
}

/// A TOML basic string holding `s`.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => q.push_str(&format!("\\u{:04X}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Tracks brackets and multi-line strings across a line (roughly; the result
/// is re-parsed anyway).
fn scan(s: &str, depth: &mut usize, ml_basic: &mut bool, ml_literal: &mut bool) {
    // Byte-wise: every delimiter is ASCII, so multi-byte characters are
    // simply skipped over.
    let b = s.as_bytes();
    let at = |i: usize, pat: &[u8]| b.get(i..).is_some_and(|r| r.starts_with(pat));
    let mut i = 0;
    let mut in_basic = false;
    let mut in_literal = false;
    while i < b.len() {
        if *ml_basic {
            if b[i] == b'\\' {
                i += 2;
                continue;
            }
            if at(i, b"\"\"\"") {
                *ml_basic = false;
                i += 3;
                continue;
            }
        } else if *ml_literal {
            if at(i, b"'''") {
                *ml_literal = false;
                i += 3;
                continue;
            }
        } else if in_basic {
            if b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == b'"' {
                in_basic = false;
            }
        } else if in_literal {
            if b[i] == b'\'' {
                in_literal = false;
            }
        } else if at(i, b"\"\"\"") {
            *ml_basic = true;
            i += 3;
            continue;
        } else if at(i, b"'''") {
            *ml_literal = true;
            i += 3;
            continue;
        } else {
            match b[i] {
                b'"' => in_basic = true,
                b'\'' => in_literal = true,
                b'[' | b'{' => *depth += 1,
                b']' | b'}' => *depth = depth.saturating_sub(1),
                b'#' => return,
                _ => {}
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_bare_values_and_keeps_lines() {
        let text = "[network]\nlisten_address = 0.0.0.0   # all\nlisten_port = 123\n; note\n[logging]\nlevel = INFO\n";
        let f = fix_up(text).unwrap();
        assert_eq!(
            f.text,
            "[network]\nlisten_address = \"0.0.0.0\"   # all\nlisten_port = 123\n# note\n[logging]\nlevel = \"INFO\"\n"
        );
        assert_eq!(f.changes.len(), 3);
        assert_eq!(f.changes[0].0, 2);
        assert_eq!(
            f.changes[0].1,
            "unquoted value 0.0.0.0 read as the string \"0.0.0.0\" (INI style); quote it for TOML"
        );
        assert_eq!(f.changes[2].0, 6);
        assert!(f.text.parse::<toml::Table>().is_ok());
    }

    #[test]
    fn leaves_multiline_arrays_and_strings_alone() {
        let text = "a = [\n  \"x\",\n  y = z\n]\nb = \"\"\"\nq = r\n\"\"\"\nc = ::1\n";
        let f = fix_up(text).unwrap();
        assert_eq!(f.changes.len(), 1);
        assert_eq!(f.changes[0].0, 8);
        assert!(f.text.ends_with("c = \"::1\"\n"));
    }

    #[test]
    fn nothing_to_do() {
        assert_eq!(fix_up("a = 1\n[b]\nc = \"d\"\n"), None);
        assert_eq!(fix_up("a = \"unterminated\n"), None);
    }
}
