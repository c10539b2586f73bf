//! Control (mode 6) queries as the workers answer them: the system and
//! association variables are built from exactly what the status API shows —
//! the served snapshot, the sync report, the leap second table — and
//! `ntp_proto::control::respond` answers from them.
//!
//! This path allocates (the variable text, the fragments): it is off the
//! time-serving path, taken only for networks in `security.mode6_allow`
//! under the rate limit. Where ntpq's conventions differ from the API's, the
//! units are ntpq's (milliseconds, ppm) and an unsynchronised server shows
//! stratum 16 (the API says 0).

use ntp_proto::control::{ClockSource, ControlSnapshot, PeerVariables, Selection, SystemVariables};
use ntp_proto::packet::LeapIndicator;
use ntp_proto::{NtpDuration, NtpTimestamp};

use crate::api::model::{Source, SourceState};
use crate::served::leap::LeapState;
use crate::served::Snapshot;
use crate::status::views::reference_id_text;
use crate::status::{AssociationInfo, SyncReport};

/// The variables as of system time `system_now`.
pub fn snapshot(served: &Snapshot, report: &SyncReport, leap: &LeapState, system_now: NtpTimestamp) -> ControlSnapshot {
    let s = &served.server;
    let synced = s.is_synchronised();
    let clock = served.correction.apply(system_now);
    let mut peers: Vec<PeerVariables> = report
        .sources
        .iter()
        .zip(&report.associations)
        .filter_map(|(source, info)| Some(peer(source, info.as_ref()?, clock)))
        .collect();
    peers.sort_by_key(|p| p.association_id);
    let selected = report
        .sources
        .iter()
        .zip(&report.associations)
        .find(|(src, info)| src.state == SourceState::Selected && info.is_some())
        .and_then(|(_, info)| info.as_ref());
    let clock_source = match selected {
        _ if !synced => ClockSource::Unspecified,
        None => ClockSource::Local,
        Some(AssociationInfo { refclock_driver: Some(d), .. }) if d == "PPS" => ClockSource::Pps,
        Some(AssociationInfo { refclock_driver: Some(_), .. }) => ClockSource::Radio,
        Some(_) => ClockSource::Ntp,
    };
    let next = leap.next_leap(clock);
    let system = SystemVariables {
        version: format!("simple-ntpd {}", env!("CARGO_PKG_VERSION")),
        leap: if synced { s.leap } else { LeapIndicator::Unknown },
        stratum: if synced { s.stratum } else { 16 },
        precision: s.precision,
        root_delay: s.root_delay.to_seconds(),
        root_dispersion: s.root_dispersion_at(system_now).to_seconds(),
        reference_id: reference_id_text(s),
        reference_time: s.reference_time,
        clock,
        clock_source,
        peer: selected.map_or(0, |i| i.id),
        poll: selected.map_or(6, |i| i.poll),
        offset: report.offset,
        frequency_ppm: report.frequency_ppm,
        jitter: report.jitter,
        tai: leap.tai_offset(clock),
        next_leap: next.map(|e| e.at),
        leap_expires: leap.expires,
    };
    ControlSnapshot { system, peers }
}

fn peer(source: &Source, info: &AssociationInfo, clock: NtpTimestamp) -> PeerVariables {
    PeerVariables {
        association_id: info.id,
        selection: match source.state {
            SourceState::Selected => Selection::SystemPeer,
            SourceState::Combined => Selection::Candidate,
            SourceState::Candidate => Selection::Backup,
            SourceState::Falseticker => Selection::Falseticker,
            SourceState::Outlier => Selection::Outlier,
            SourceState::Unreachable | SourceState::Pending => Selection::Reject,
        },
        authenticated: info.authenticated,
        reach: source.reachability,
        address: info.address,
        host: match &info.refclock_driver {
            Some(d) => format!("{d}({})", source.name),
            None => source.name.clone(),
        },
        refclock: info.refclock_driver.is_some(),
        stratum: source.stratum,
        reference_id: info.reference_id.clone(),
        poll: info.poll,
        offset: source.offset_seconds,
        delay: source.delay_seconds,
        jitter: source.jitter_seconds,
        last_response: source.last_response_seconds_ago.map(|ago| clock + NtpDuration::from_seconds(-ago)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::local::LocalReference;
    use ntp_proto::control::{parse, respond, Response};

    fn source(name: &str, state: SourceState) -> Source {
        Source {
            name: name.into(),
            address: Some("192.0.2.1:123".into()),
            stratum: 1,
            reachability: 0o377,
            poll_seconds: 64.0,
            offset_seconds: 0.000_25,
            delay_seconds: 0.002,
            jitter_seconds: 0.000_01,
            state,
            last_response_seconds_ago: Some(10.0),
            interleaved: false,
            refclock: None,
        }
    }

    fn info(id: u16) -> AssociationInfo {
        AssociationInfo {
            id,
            authenticated: false,
            reference_id: Some("GPS".into()),
            poll: 6,
            refclock_driver: None,
            address: Some("192.0.2.1:123".parse().unwrap()),
        }
    }

    #[test]
    fn variables_are_the_apis_figures_in_ntpq_units() {
        let now = NtpTimestamp::from_unix(1_800_000_000, 0);
        let mut served = LocalReference { stratum: 1, precision: -20 }.snapshot(now);
        served.server.stratum = 2;
        served.server.reference_id = ntp_proto::ReferenceId([192, 0, 2, 1]);
        let report = SyncReport {
            offset: -0.000_5,
            jitter: 0.000_02,
            frequency_ppm: 7.25,
            discipline: "virtual".into(),
            sources: vec![
                source("a.example", SourceState::Selected),
                source("waiting.example", SourceState::Unreachable),
                source("c.example", SourceState::Falseticker),
            ],
            local_fallback: false,
            associations: vec![Some(info(4)), None, Some(info(2))],
        };
        let v = snapshot(&served, &report, &LeapState::default(), now);
        assert_eq!(v.system.reference_id, "192.0.2.1");
        assert_eq!((v.system.peer, v.system.clock_source), (4, ClockSource::Ntp));
        assert_eq!((v.system.offset, v.system.frequency_ppm), (-0.000_5, 7.25));
        assert_eq!(
            v.peers.iter().map(|p| p.association_id).collect::<Vec<_>>(),
            vec![2, 4],
            "by id, waiting ones left out"
        );
        assert_eq!(v.peers[0].selection, Selection::Falseticker);
        let ago = v.system.clock.since(v.peers[1].last_response.unwrap()).to_seconds();
        assert!((ago - 10.0).abs() < 1e-6);
        // And as ntpq reads it.
        let mut req = vec![0x16, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let text = match respond(&parse(&req).unwrap(), &v) {
            Response::Data(f) => String::from_utf8_lossy(&f[0][12..]).to_string(),
            e => panic!("{e:?}"),
        };
        assert!(
            text.contains("offset=-0.500000") && text.contains("frequency=7.250000") && text.contains("peer=4"),
            "{text}"
        );
        req[7] = 9;
        assert!(matches!(respond(&parse(&req).unwrap(), &v), Response::Error(..)));
    }

    #[test]
    fn an_unsynchronised_server_shows_leap_3_and_stratum_16() {
        let now = NtpTimestamp::from_unix(1_800_000_000, 0);
        let served = crate::served::local::unsynchronised(-20);
        let v = snapshot(&served, &SyncReport::default(), &LeapState::default(), now);
        assert_eq!(
            (v.system.leap, v.system.stratum, v.system.clock_source),
            (LeapIndicator::Unknown, 16, ClockSource::Unspecified)
        );
        assert_eq!(v.system.status_word() >> 14, 3);
    }
}
