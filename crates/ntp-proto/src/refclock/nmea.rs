//! NMEA 0183 sentences from a GNSS receiver: the framing (`$`, `*hh`
//! checksum) and the three sentences that carry UTC time — RMC
//! (recommended minimum: time, status, date), ZDA (time and date) and GGA
//! (time and fix quality). Every other well-formed sentence is
//! [`Sentence::Other`]; anything malformed is an [`NmeaError`].

use core::fmt;

/// The longest sentence accepted, `$` to the checksum (NMEA 0183 allows 82
/// characters with the line end; receivers with long talker fields and
/// extra precision exceed it a little).
pub const MAX_SENTENCE: usize = 120;

/// A UTC time of day, as the receiver reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–60 (60 during a leap second).
    pub second: u8,
    /// Fraction of the second, nanoseconds.
    pub nanos: u32,
}

impl TimeOfDay {
    /// Whole seconds since midnight (86400 during a leap second).
    pub fn seconds_of_day(self) -> u32 {
        u32::from(self.hour) * 3600 + u32::from(self.minute) * 60 + u32::from(self.second)
    }
}

/// A calendar date (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    /// Four-digit year.
    pub year: i32,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
}

impl Date {
    /// Days since 1970-01-01 (proleptic Gregorian calendar).
    pub fn days_since_unix_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

/// A sentence that carries time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sentence {
    /// `RMC`: time, validity (status `A` and a mode other than `N`), date.
    Rmc {
        /// UTC time of the fix.
        time: Option<TimeOfDay>,
        /// Status `A` (and the NMEA 2.3 mode indicator is not `N`).
        valid: bool,
        /// The date, when present.
        date: Option<Date>,
    },
    /// `ZDA`: time and full date (no validity flag).
    Zda {
        /// UTC time.
        time: TimeOfDay,
        /// UTC date.
        date: Date,
    },
    /// `GGA`: time and fix quality (0 = no fix).
    Gga {
        /// UTC time of the fix.
        time: Option<TimeOfDay>,
        /// Fix quality indicator.
        quality: u8,
    },
    /// Any other well-formed sentence (GSV, GSA, VTG, proprietary `$P…`).
    Other,
}

/// Why a line is not a usable sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NmeaError {
    /// It does not start with `$`.
    NoStart,
    /// Longer than [`MAX_SENTENCE`].
    TooLong,
    /// Bytes outside printable ASCII.
    NotText,
    /// No `*hh` checksum at the end.
    NoChecksum,
    /// The checksum does not match the contents.
    BadChecksum {
        /// XOR of the characters between `$` and `*`.
        computed: u8,
        /// What the sentence says.
        stated: u8,
    },
    /// The address field is not a talker + sentence type.
    BadAddress,
    /// A field of a time sentence is missing or malformed.
    BadField(&'static str),
}

impl fmt::Display for NmeaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NmeaError::NoStart => f.write_str("does not start with '$'"),
            NmeaError::TooLong => write!(f, "longer than {MAX_SENTENCE} characters"),
            NmeaError::NotText => f.write_str("contains bytes that are not printable ASCII"),
            NmeaError::NoChecksum => f.write_str("has no '*hh' checksum"),
            NmeaError::BadChecksum { computed, stated } => {
                write!(f, "checksum {stated:02X} does not match the contents ({computed:02X})")
            }
            NmeaError::BadAddress => f.write_str("has no valid talker and sentence type"),
            NmeaError::BadField(name) => write!(f, "has a missing or malformed {name} field"),
        }
    }
}

/// Parses one sentence (`$` … `*hh`, trailing CR/LF allowed).
pub fn parse(line: &[u8]) -> Result<Sentence, NmeaError> {
    let line = trim_line_end(line);
    if line.first() != Some(&b'$') {
        return Err(NmeaError::NoStart);
    }
    if line.len() > MAX_SENTENCE {
        return Err(NmeaError::TooLong);
    }
    if !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(NmeaError::NotText);
    }
    let star = line.iter().rposition(|&b| b == b'*').ok_or(NmeaError::NoChecksum)?;
    let body = &line[1..star];
    let stated = match &line[star + 1..] {
        [h, l] => (hex(*h).ok_or(NmeaError::NoChecksum)? << 4) | hex(*l).ok_or(NmeaError::NoChecksum)?,
        _ => return Err(NmeaError::NoChecksum),
    };
    let computed = body.iter().fold(0u8, |acc, b| acc ^ b);
    if computed != stated {
        return Err(NmeaError::BadChecksum { computed, stated });
    }
    // The body is printable ASCII, so it is valid UTF-8.
    let body = core::str::from_utf8(body).map_err(|_| NmeaError::NotText)?;
    let mut fields = body.split(',');
    let address = fields.next().unwrap_or("");
    if address.len() < 2 || !address.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(NmeaError::BadAddress);
    }
    // Proprietary sentences are `$P` + maker + type; others talker + type.
    if address.starts_with('P') || address.len() != 5 {
        return Ok(Sentence::Other);
    }
    let f: Vec<&str> = fields.collect();
    match &address[2..] {
        "RMC" => parse_rmc(&f),
        "ZDA" => parse_zda(&f),
        "GGA" => parse_gga(&f),
        _ => Ok(Sentence::Other),
    }
}

fn trim_line_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// `f[i]`, or "" when the sentence is shorter.
fn field<'a>(f: &[&'a str], i: usize) -> &'a str {
    f.get(i).copied().unwrap_or("")
}

/// `hhmmss` or `hhmmss.f…` (up to nine fraction digits); empty → `None`.
fn parse_time(s: &str) -> Result<Option<TimeOfDay>, NmeaError> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = NmeaError::BadField("time");
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.len() != 6 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let two = |i: usize| whole.get(i..i + 2).and_then(|d| d.parse::<u8>().ok()).filter(|_| whole.is_ascii());
    let (Some(hour), Some(minute), Some(second)) = (two(0), two(2), two(4)) else { return Err(bad) };
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad);
    }
    let mut nanos = 0u32;
    for (i, b) in frac.bytes().enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Ok(Some(TimeOfDay { hour, minute, second, nanos }))
}

fn valid_date(year: i32, month: u8, day: u8) -> Option<Date> {
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Date { year, month, day })
}

/// RMC's `ddmmyy`; two-digit years 80–99 are 19xx, the rest 20xx.
fn parse_ddmmyy(s: &str) -> Result<Option<Date>, NmeaError> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = NmeaError::BadField("date");
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let n = |i: usize| s[i..i + 2].parse::<u8>().map_err(|_| bad);
    let (day, month, yy) = (n(0)?, n(2)?, n(4)?);
    let year = if yy >= 80 { 1900 + i32::from(yy) } else { 2000 + i32::from(yy) };
    valid_date(year, month, day).map(Some).ok_or(bad)
}

fn parse_rmc(f: &[&str]) -> Result<Sentence, NmeaError> {
    let time = parse_time(field(f, 0))?;
    let status = field(f, 1);
    let date = parse_ddmmyy(field(f, 8))?;
    // NMEA 2.3 added a mode indicator (A autonomous, D differential, E
    // estimated, N not valid, …) after the magnetic variation.
    let mode = field(f, 11);
    let valid = status == "A" && !mode.starts_with('N');
    if !matches!(status, "A" | "V") {
        return Err(NmeaError::BadField("status"));
    }
    Ok(Sentence::Rmc { time, valid, date })
}

fn parse_zda(f: &[&str]) -> Result<Sentence, NmeaError> {
    let time = parse_time(field(f, 0))?.ok_or(NmeaError::BadField("time"))?;
    let bad = NmeaError::BadField("date");
    let day: u8 = field(f, 1).parse().map_err(|_| bad)?;
    let month: u8 = field(f, 2).parse().map_err(|_| bad)?;
    let year_s = field(f, 3);
    if year_s.len() != 4 {
        return Err(bad);
    }
    let year: i32 = year_s.parse().map_err(|_| bad)?;
    let date = valid_date(year, month, day).ok_or(bad)?;
    Ok(Sentence::Zda { time, date })
}

fn parse_gga(f: &[&str]) -> Result<Sentence, NmeaError> {
    let time = parse_time(field(f, 0))?;
    let q = field(f, 5);
    let quality = if q.is_empty() { 0 } else { q.parse().map_err(|_| NmeaError::BadField("quality"))? };
    Ok(Sentence::Gga { time, quality })
}

/// Appends the `*hh` checksum and CR LF to a sentence body `$…` (for
/// tests, simulators and fake receivers).
pub fn with_checksum(body: &str) -> String {
    let sum = body.bytes().skip(1).fold(0u8, |acc, b| acc ^ b);
    format!("{body}*{sum:02X}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u8, m: u8, s: u8, nanos: u32) -> Option<TimeOfDay> {
        Some(TimeOfDay { hour: h, minute: m, second: s, nanos })
    }

    #[test]
    fn rmc_with_status_date_and_mode() {
        let s = with_checksum("$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,A");
        assert_eq!(
            parse(s.as_bytes()),
            Ok(Sentence::Rmc {
                time: t(12, 35, 19, 0),
                valid: true,
                date: Some(Date { year: 1994, month: 3, day: 23 })
            })
        );
        // Status V (receiver warning) and mode N (not valid) are no fix.
        let v = with_checksum("$GNRMC,000001.25,V,,,,,,,010125,,,N");
        assert_eq!(
            parse(v.as_bytes()),
            Ok(Sentence::Rmc {
                time: t(0, 0, 1, 250_000_000),
                valid: false,
                date: Some(Date { year: 2025, month: 1, day: 1 })
            })
        );
        let n = with_checksum("$GPRMC,120000,A,4807.038,N,01131.000,E,0,0,010126,,,N");
        assert!(matches!(parse(n.as_bytes()), Ok(Sentence::Rmc { valid: false, .. })));
        // NMEA 2.0 receivers have no mode field.
        let old = with_checksum("$GPRMC,235959.999,A,4807.038,N,01131.000,E,0,0,311299,,");
        assert_eq!(
            parse(old.as_bytes()),
            Ok(Sentence::Rmc {
                time: t(23, 59, 59, 999_000_000),
                valid: true,
                date: Some(Date { year: 1999, month: 12, day: 31 })
            })
        );
    }

    #[test]
    fn zda_and_gga() {
        let z = with_checksum("$GPZDA,201530.00,04,07,2002,00,00");
        assert_eq!(
            parse(z.as_bytes()),
            Ok(Sentence::Zda { time: t(20, 15, 30, 0).unwrap(), date: Date { year: 2002, month: 7, day: 4 } })
        );
        let g = with_checksum("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,");
        assert_eq!(parse(g.as_bytes()), Ok(Sentence::Gga { time: t(12, 35, 19, 0), quality: 1 }));
        let g0 = with_checksum("$GNGGA,123520.5,,,,,0,00,99.99,,,,,,");
        assert_eq!(parse(g0.as_bytes()), Ok(Sentence::Gga { time: t(12, 35, 20, 500_000_000), quality: 0 }));
        // A leap second is 23:59:60.
        let leap = with_checksum("$GPZDA,235960.00,31,12,2016,00,00");
        assert!(matches!(parse(leap.as_bytes()), Ok(Sentence::Zda { time: TimeOfDay { second: 60, .. }, .. })));
    }

    #[test]
    fn other_sentences_are_recognised_but_unused() {
        for body in
            ["$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00", "$PUBX,04,073731.00", "$GPTXT,01"]
        {
            assert_eq!(parse(with_checksum(body).as_bytes()), Ok(Sentence::Other), "{body}");
        }
    }

    #[test]
    fn checksums_are_required_and_checked() {
        let good = with_checksum("$GPZDA,201530.00,04,07,2002,00,00");
        assert!(parse(good.as_bytes()).is_ok());
        assert!(parse(good.to_lowercase().replace("$gpzda", "$GPZDA").as_bytes()).is_ok(), "lower-case hex");
        let mut bad = good.clone().into_bytes();
        bad[10] = b'9';
        assert!(matches!(parse(&bad), Err(NmeaError::BadChecksum { .. })));
        assert_eq!(parse(b"$GPZDA,201530.00,04,07,2002,00,00\r\n"), Err(NmeaError::NoChecksum));
        assert_eq!(parse(b"$GPZDA,201530.00,04,07,2002,00,00*4"), Err(NmeaError::NoChecksum));
        assert_eq!(parse(b"$GPZDA,201530.00,04,07,2002,00,00*ZZ"), Err(NmeaError::NoChecksum));
    }

    #[test]
    fn bad_sentences_are_errors_not_panics() {
        assert_eq!(parse(b""), Err(NmeaError::NoStart));
        assert_eq!(parse(b"GPRMC,1*00"), Err(NmeaError::NoStart));
        assert_eq!(parse(b"$"), Err(NmeaError::NoChecksum));
        assert_eq!(parse(&[b'$'; 200]), Err(NmeaError::TooLong));
        assert_eq!(parse(b"$GP\xffRMC*00"), Err(NmeaError::NotText));
        assert_eq!(parse(with_checksum("$,1,2").as_bytes()), Err(NmeaError::BadAddress));
        assert_eq!(parse(with_checksum("$gprmc,1").as_bytes()), Err(NmeaError::BadAddress));
        // Truncated or malformed time sentences.
        let cases = [
            ("$GPRMC,12351,A,,,,,,,230394", "time"),
            ("$GPRMC,126019,A,,,,,,,230394", "time"),
            ("$GPRMC,1a3519,A,,,,,,,230394", "time"),
            ("$GPRMC,123519.1234567890,A,,,,,,,230394", "time"),
            ("$GPRMC,123519,A,,,,,,,231394", "date"),
            ("$GPRMC,123519,A,,,,,,,2303", "date"),
            ("$GPRMC,123519,X,,,,,,,230394", "status"),
            ("$GPRMC", "status"),
            ("$GPZDA,201530.00,04,07", "date"),
            ("$GPZDA,201530.00,32,07,2002", "date"),
            ("$GPZDA,201530.00,04,07,02", "date"),
            ("$GPZDA", "time"),
            ("$GPZDA,,04,07,2002", "time"),
            ("$GPGGA,123519,,,,,x", "quality"),
            ("$GPGGA,12:35:19,,,,,1", "time"),
        ];
        for (body, what) in cases {
            assert_eq!(parse(with_checksum(body).as_bytes()), Err(NmeaError::BadField(what)), "{body}");
        }
    }

    #[test]
    fn days_since_epoch() {
        assert_eq!(Date { year: 1970, month: 1, day: 1 }.days_since_unix_epoch(), 0);
        assert_eq!(Date { year: 2000, month: 3, day: 1 }.days_since_unix_epoch(), 11_017);
        assert_eq!(Date { year: 2024, month: 2, day: 29 }.days_since_unix_epoch(), 19_782);
        assert_eq!(Date { year: 1969, month: 12, day: 31 }.days_since_unix_epoch(), -1);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..140))| {
            let _ = parse(&bytes);
            let mut with_dollar = vec![b'$'];
            with_dollar.extend_from_slice(&bytes);
            let _ = parse(&with_dollar);
        });
        proptest!(|(body in "[A-Z]{5}(,[0-9A-Z.]{0,12}){0,14}")| {
            let _ = parse(with_checksum(&format!("${body}")).as_bytes());
        });
    }
}
