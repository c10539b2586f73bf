//! The IERS/NIST `leap-seconds.list` format (Debian's `tzdata` ships it as
//! `/usr/share/zoneinfo/leap-seconds.list`):
//!
//! ```text
//! #$   3960835200                       last update, NTP seconds
//! #@   3991593600                       expiry, NTP seconds
//! 2272060800  10  # 1 Jan 1972          from this NTP second on, TAI − UTC = 10
//! 3692217600  37  # 1 Jan 2017
//! #h   49db2447 571e5e1b 2f002a53 9c8da8e4 39b8e49e
//! ```
//!
//! The `#h` line is the SHA-1 of the digits of the `#$` and `#@` values and
//! of the first two fields of every data line, concatenated without
//! whitespace; a list whose hash does not match, or that has no hash or no
//! expiry, is refused. Other `#` lines are comments.

use sha1::{Digest, Sha1};

use super::{LeapError, LeapTable};

/// Parses a `leap-seconds.list` text; checks its hash but not its expiry
/// (the caller knows the time: [`LeapTable::is_expired`]).
pub fn parse(text: &str) -> Result<LeapTable, LeapError> {
    let mut hashed = String::new();
    let (mut updated, mut expires, mut hash) = (None, None, None);
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| LeapError::Malformed(format!("line {}: {why}", n + 1));
        if let Some(rest) = line.strip_prefix("#$") {
            updated = Some(number(rest.split_whitespace().next()).ok_or_else(|| bad("no update time after #$"))?);
        } else if let Some(rest) = line.strip_prefix("#@") {
            expires = Some(number(rest.split_whitespace().next()).ok_or_else(|| bad("no expiry time after #@"))?);
        } else if let Some(rest) = line.strip_prefix("#h") {
            hash = Some(parse_hash(rest).ok_or_else(|| bad("the #h line is not five hexadecimal words"))?);
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            let data = line.split('#').next().unwrap_or("");
            let mut fields = data.split_whitespace();
            let (Some(at), Some(offset)) = (fields.next(), fields.next()) else {
                return Err(bad("a data line needs a time and an offset"));
            };
            let secs = number(Some(at)).ok_or_else(|| bad("the time is not a number of seconds"))?;
            let tai = offset.parse::<i32>().map_err(|_| bad("the offset is not a whole number of seconds"))?;
            hashed.push_str(at);
            hashed.push_str(offset);
            entries.push((secs, tai));
        }
    }
    let expires = expires.ok_or(LeapError::MissingExpiry)?;
    let hash = hash.ok_or(LeapError::MissingHash)?;
    let updated = updated.ok_or_else(|| LeapError::Malformed("no update line (#$)".into()))?;
    let digest = Sha1::new().chain_update(format!("{updated}{expires}{hashed}").as_bytes()).finalize();
    if digest.as_slice() != hash {
        return Err(LeapError::BadHash);
    }
    LeapTable::new(entries, Some(expires))
}

fn number(field: Option<&str>) -> Option<u64> {
    let f = field?;
    (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())).then(|| f.parse().ok()).flatten()
}

/// Five 32-bit hexadecimal words (leading zeros may be missing) as 20 bytes.
fn parse_hash(text: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut words = text.split_whitespace();
    for chunk in out.chunks_exact_mut(4) {
        let word = u32::from_str_radix(words.next()?, 16).ok()?;
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    words.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leap::{timestamp_of, LeapEvent};

    /// A list in the real file's form, with its correct hash.
    pub(crate) fn small_list() -> String {
        let body = "#$\t3960835200\n#@\t3991593600\n2272060800\t10\t# 1 Jan 1972\n\
                    3692217600\t37\t# 1 Jan 2017\n";
        let digits = ["3960835200", "3991593600", "2272060800", "10", "3692217600", "37"].concat();
        let digest = Sha1::digest(digits.as_bytes());
        let words: Vec<String> =
            digest.chunks(4).map(|c| format!("{:x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect();
        format!("# comment\n{body}#\n#h\t{}\n", words.join(" "))
    }

    #[test]
    fn a_list_with_its_hash_parses() {
        let t = parse(&small_list()).unwrap();
        assert_eq!(t.expires(), Some(3_991_593_600));
        assert_eq!(t.events().collect::<Vec<_>>(), vec![LeapEvent { at: 3_692_217_600, insert: true }]);
        assert_eq!(t.tai_offset(timestamp_of(3_692_217_600)), 37);
        assert_eq!(t.tai_offset(timestamp_of(3_692_217_599)), 10);
    }

    #[test]
    fn corrupt_lists_are_refused_with_the_reason() {
        let good = small_list();
        let edited = good.replace("3692217600\t37", "3692217600\t38");
        assert_eq!(parse(&edited), Err(LeapError::BadHash));
        let no_hash: String = good.lines().filter(|l| !l.starts_with("#h")).map(|l| format!("{l}\n")).collect();
        assert_eq!(parse(&no_hash), Err(LeapError::MissingHash));
        let no_expiry = good.replace("#@\t3991593600\n", "");
        assert_eq!(parse(&no_expiry), Err(LeapError::MissingExpiry));
        assert!(matches!(parse(&good.replace("\t37\t", "\tx\t")), Err(LeapError::Malformed(_))));
        assert!(matches!(parse(&good.replace("#h\t", "#h\tzz ")), Err(LeapError::Malformed(_))));
        assert!(matches!(parse("#@ 1\n#$ 1\n#h 0 0 0 0 0\n"), Err(LeapError::BadHash)));
    }

    #[test]
    fn hash_words_may_lack_leading_zeros() {
        assert_eq!(parse_hash(" 1 2 3 4 5").unwrap()[..8], [0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(parse_hash(" 1 2 3 4"), None);
        assert_eq!(parse_hash(" 1 2 3 4 5 6"), None);
    }
}
