//! Fuzz target: what reference clocks hand the daemon — NMEA sentences from
//! a serial line and chrony SOCK samples from a datagram socket. Neither
//! parser may panic; an accepted sentence's time of day and date are in
//! range, and an accepted SOCK sample's offset is a finite number below a
//! day.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntp_proto::refclock::{nmea, sock};

fuzz_target!(|data: &[u8]| {
    let in_range = |t: nmea::TimeOfDay| t.hour < 24 && t.minute < 60 && t.second <= 60 && t.nanos < 1_000_000_000;
    let date_ok = |d: nmea::Date| (1..=12).contains(&d.month) && (1..=31).contains(&d.day);
    // A serial line carries many sentences: parse every line.
    for line in data.split(|&b| b == b'\n') {
        match nmea::parse(line) {
            Ok(nmea::Sentence::Rmc { time, date, .. }) => {
                assert!(time.is_none_or(in_range) && date.is_none_or(date_ok));
                if let Some(d) = date {
                    let _ = d.days_since_unix_epoch();
                }
            }
            Ok(nmea::Sentence::Zda { time, date }) => {
                assert!(in_range(time) && date_ok(date));
                let _ = date.days_since_unix_epoch();
            }
            Ok(nmea::Sentence::Gga { time, .. }) => assert!(time.is_none_or(in_range)),
            Ok(nmea::Sentence::Other) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    match sock::decode(data) {
        Ok(s) => assert!(s.offset.is_finite() && s.offset.abs() < 86_400.0),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
