//! Test faults on what is served (`/test/fault`, `[development]
//! enable_test_endpoints`): for a bounded time, replies say unsynchronised,
//! or served time carries a fixed extra offset. The overlay sits in
//! [`super::StateCell::publish`], the one place every producer's snapshot
//! passes, so no producer knows about faults; each fault ends by itself at
//! its deadline (checked at every publish, and the daemon republishes once
//! a second).

use std::time::Instant;

use ntp_proto::server::ServerState;
use ntp_proto::NtpDuration;

use super::Snapshot;

/// The served-time faults in force.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServedFaults {
    /// Replies say unsynchronised until then.
    pub unsynchronised_until: Option<Instant>,
    /// Served time is off by this many seconds until then.
    pub offset: Option<(f64, Instant)>,
}

impl ServedFaults {
    /// What to serve at `now` instead of `raw`.
    pub fn apply(&self, raw: Snapshot, now: Instant) -> Snapshot {
        let mut served = raw;
        if self.unsynchronised_until.is_some_and(|until| now < until) {
            served.server = ServerState::unsynchronised(raw.server.precision);
        }
        if let Some((offset, until)) = self.offset {
            if now < until {
                served.correction.offset = served.correction.offset + NtpDuration::from_seconds(offset);
            }
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::Correction;
    use std::time::Duration;

    #[test]
    fn faults_apply_until_their_deadline() {
        let now = Instant::now();
        let mut server = ServerState::unsynchronised(-20);
        server.stratum = 3;
        server.leap = ntp_proto::LeapIndicator::NoWarning;
        let raw = Snapshot { server, correction: Correction::IDENTITY };
        let f = ServedFaults {
            unsynchronised_until: Some(now + Duration::from_secs(5)),
            offset: Some((0.25, now + Duration::from_secs(10))),
        };
        let during = f.apply(raw, now);
        assert!(!during.server.is_synchronised());
        assert_eq!(during.correction.offset.to_seconds(), 0.25);
        let later = f.apply(raw, now + Duration::from_secs(6));
        assert_eq!(later.server, raw.server);
        assert_eq!(later.correction.offset.to_seconds(), 0.25);
        assert_eq!(f.apply(raw, now + Duration::from_secs(10)), raw);
        assert_eq!(ServedFaults::default().apply(raw, now), raw);
    }
}
