//! Mode 6 requests and answers as ntpq and ntpstat see them.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use super::request::{op, HEADER_LEN, MAX_DATA_LEN};
use super::*;
use crate::auth::SymmetricKey;
use crate::nts::cookie::CookieKeys;
use crate::packet::LeapIndicator;
use crate::server::{decide as server_decide, Arrival, Decision, DropReason, Policy, Verdict};
use crate::timestamp::NtpTimestamp;

/// A request as ntpq sends it: version 2, data padded to a multiple of 4.
fn request(opcode: u8, association: u16, data: &str) -> Vec<u8> {
    let mut r = vec![0u8; HEADER_LEN];
    r[0] = (2 << 3) | 6;
    r[1] = opcode;
    r[2..4].copy_from_slice(&7u16.to_be_bytes());
    r[6..8].copy_from_slice(&association.to_be_bytes());
    r[10..12].copy_from_slice(&(data.len() as u16).to_be_bytes());
    r.extend_from_slice(data.as_bytes());
    r.resize(r.len().div_ceil(4) * 4, 0);
    r
}

fn system() -> SystemVariables {
    SystemVariables {
        version: "simple-ntpd 0.1.0".into(),
        leap: LeapIndicator::NoWarning,
        stratum: 2,
        precision: -23,
        root_delay: 0.001_5,
        root_dispersion: 0.000_25,
        reference_id: "192.0.2.1".into(),
        reference_time: NtpTimestamp::from_bits(0xE9F0_0000_8000_0000),
        clock: NtpTimestamp::from_bits(0xE9F0_0010_4000_0000),
        clock_source: ClockSource::Ntp,
        peer: 3,
        poll: 6,
        offset: -0.000_012_345,
        frequency_ppm: 12.5,
        jitter: 0.000_1,
        tai: Some(37),
        next_leap: None,
        leap_expires: Some(3_991_593_600),
    }
}

fn peer(id: u16, selection: Selection, reach: u8) -> PeerVariables {
    PeerVariables {
        association_id: id,
        selection,
        authenticated: false,
        reach,
        address: Some(SocketAddr::from(([192, 0, 2, id as u8], 123))),
        host: format!("ntp{id}.example.net"),
        refclock: false,
        stratum: 1,
        reference_id: Some("GPS".into()),
        poll: 6,
        offset: 0.000_2,
        delay: 0.001,
        jitter: 0.000_05,
        last_response: Some(NtpTimestamp::from_bits(0xE9F0_0008_0000_0000)),
    }
}

fn snapshot(peers: usize) -> ControlSnapshot {
    let mut p: Vec<PeerVariables> = (1..=peers as u16).map(|i| peer(i, Selection::Candidate, 0xff)).collect();
    if let Some(first) = p.get_mut(2) {
        first.selection = Selection::SystemPeer;
    }
    ControlSnapshot { system: system(), peers: p }
}

fn data_of(r: &Response) -> (Vec<u8>, u16) {
    let Response::Data(frags) = r else { panic!("an error: {r:?}") };
    let mut out = Vec::new();
    let mut status = 0;
    for (i, f) in frags.iter().enumerate() {
        let count = usize::from(u16::from_be_bytes([f[10], f[11]]));
        let offset = usize::from(u16::from_be_bytes([f[8], f[9]]));
        assert_eq!(offset, out.len(), "fragment {i} continues the data");
        assert_eq!(f[1] & 0x20 != 0, i + 1 < frags.len(), "more bit on all but the last");
        assert_eq!(f[1] & 0x80, 0x80, "a response");
        assert_eq!(f.len() % 4, 0, "padded to 4");
        assert_eq!(f.len(), (HEADER_LEN + count).div_ceil(4) * 4, "never larger than needed");
        assert!(count <= MAX_DATA_LEN);
        out.extend_from_slice(&f[HEADER_LEN..HEADER_LEN + count]);
        status = u16::from_be_bytes([f[4], f[5]]);
    }
    (out, status)
}

fn error_of(r: &Response) -> ControlError {
    let Response::Error(e, d) = r else { panic!("not an error: {r:?}") };
    assert_eq!(d.len(), HEADER_LEN);
    assert_eq!(d[1] & 0xC0, 0xC0, "response and error bits");
    assert_eq!(u16::from_be_bytes([d[4], d[5]]) >> 8, *e as u16);
    *e
}

fn answer(req: &[u8], snap: &ControlSnapshot) -> Response {
    respond(&parse(req).unwrap(), snap)
}

#[test]
fn requests_parse_and_malformed_ones_do_not() {
    let r = request(op::READVAR, 0, "stratum,offset");
    let p = parse(&r).unwrap();
    assert_eq!((p.version, p.opcode, p.sequence, p.association), (2, op::READVAR, 7, 0));
    assert_eq!(p.data, b"stratum,offset");
    assert_eq!(parse(&r[..11]), Err(Malformed::Truncated));
    let mut short = request(op::READVAR, 0, "stratum");
    short[11] = 40;
    assert_eq!(parse(&short), Err(Malformed::Truncated));
    let mut resp = r.clone();
    resp[1] |= 0x80;
    assert_eq!(parse(&resp), Err(Malformed::NotARequest));
    let mut frag = r.clone();
    frag[9] = 4;
    assert_eq!(parse(&frag), Err(Malformed::NotARequest));
    let mut v0 = r.clone();
    v0[0] = 6;
    assert_eq!(parse(&v0), Err(Malformed::NotControl));
    // ntpstat's request: 576 bytes, count 0.
    let mut ntpstat = vec![0u8; 576];
    ntpstat[0] = 0x16;
    ntpstat[1] = 2;
    assert_eq!(parse(&ntpstat).unwrap().data, b"");
    let names: Vec<&[u8]> = request::variable_names(b" stratum , offset=1,,\0\0").collect();
    assert_eq!(names, vec![&b"stratum"[..], b"offset"]);
}

#[test]
fn readvar_of_the_system_gives_ntpstat_everything_in_the_first_fragment() {
    let r = answer(&request(op::READVAR, 0, ""), &snapshot(3));
    let Response::Data(frags) = &r else { panic!() };
    let first = String::from_utf8_lossy(&frags[0][HEADER_LEN..]).to_string();
    for var in ["stratum=2,", "refid=192.0.2.1,", "rootdelay=1.500000,", "rootdisp=0.250000,", "tc=6,"] {
        assert!(first.contains(var), "{var} in {first}");
    }
    let (data, status) = data_of(&r);
    let text = String::from_utf8(data).unwrap();
    assert!(text.starts_with("version=\"simple-ntpd 0.1.0\", leap=0, stratum=2, precision=-23,"), "{text}");
    assert!(text.contains("offset=-0.012345"), "{text}");
    assert!(text.contains("frequency=12.500000"), "{text}");
    assert!(text.contains("sys_jitter=0.100000"), "{text}");
    assert!(text.contains("reftime=0xe9f00000.80000000"), "{text}");
    assert!(text.contains("tai=37") && text.contains("expire=202606280000"), "{text}");
    assert!(!text.contains("leapsec="), "no next leap known: not shown");
    assert!(text.lines().all(|l| l.len() <= 74), "{text}");
    assert_eq!(status >> 14, 0, "leap bits");
    assert_eq!((status >> 8) & 0x3f, 6, "synchronised to an NTP server");
}

#[test]
fn a_variable_list_selects_and_orders_and_unknown_names_are_errors() {
    let (data, _) = data_of(&answer(&request(op::READVAR, 0, "offset,stratum"), &snapshot(1)));
    assert_eq!(String::from_utf8(data).unwrap(), "offset=-0.012345, stratum=2\r\n");
    let e = error_of(&answer(&request(op::READVAR, 0, "stratum,nosuchvar"), &snapshot(1)));
    assert_eq!(e, ControlError::UnknownVariable);
    let (data, _) = data_of(&answer(&request(op::READVAR, 0, "leapsec"), &snapshot(1)));
    assert!(data.is_empty(), "known but without a value: nothing");
}

#[test]
fn readstat_lists_associations_with_their_status_words() {
    let mut snap = snapshot(3);
    snap.peers[0].reach = 0;
    snap.peers[0].selection = Selection::Reject;
    snap.peers[1].authenticated = true;
    let (data, status) = data_of(&answer(&request(op::READSTAT, 0, ""), &snap));
    assert_eq!(status, snap.system.status_word());
    let pairs: Vec<(u16, u16)> =
        data.chunks(4).map(|c| (u16::from_be_bytes([c[0], c[1]]), u16::from_be_bytes([c[2], c[3]]))).collect();
    assert_eq!(pairs, vec![(1, 0x8000), (2, 0xF400), (3, 0x9600)]);
    // No associations: an empty answer, still a valid fragment.
    let (data, _) = data_of(&answer(&request(op::READSTAT, 0, ""), &snapshot(0)));
    assert!(data.is_empty());
}

#[test]
fn readvar_of_an_association_gives_what_ntpq_p_shows() {
    let snap = snapshot(3);
    let (data, status) = data_of(&answer(&request(op::READVAR, 3, ""), &snap));
    assert_eq!(status, 0x9600, "configured, reachable, system peer");
    let text = String::from_utf8(data).unwrap();
    for var in [
        "srcadr=192.0.2.3",
        "srcport=123",
        "srchost=\"ntp3.example.net\"",
        "stratum=1",
        "refid=GPS",
        "rec=0xe9f00008.00000000",
        "reach=0xff",
        "hmode=3",
        "hpoll=6",
        "ppoll=6",
        "flash=0x0",
        "offset=0.200000",
        "delay=1.000000",
        "jitter=0.050000",
    ] {
        assert!(text.contains(var), "{var} in {text}");
    }
    assert_eq!(error_of(&answer(&request(op::READVAR, 99, ""), &snap)), ControlError::BadAssociation);
    // READSTAT of one association answers its variables too, as ntpd does.
    assert_eq!(data_of(&answer(&request(op::READSTAT, 3, ""), &snap)).0, text.as_bytes());
}

#[test]
fn writes_and_configuration_are_refused_and_other_operations_not_offered() {
    let snap = snapshot(1);
    for o in [op::WRITEVAR, op::WRITECLOCK, op::SETTRAP, op::CONFIGURE, op::SAVECONFIG, op::UNSETTRAP] {
        assert_eq!(error_of(&answer(&request(o, 0, "leap=1"), &snap)), ControlError::Permission, "opcode {o}");
    }
    for o in [0, op::READCLOCK, op::READ_MRU, op::READ_ORDLIST_A, op::REQ_NONCE, 20] {
        assert_eq!(error_of(&answer(&request(o, 0, ""), &snap)), ControlError::BadOperation, "opcode {o}");
    }
}

#[test]
fn long_answers_are_fragmented_and_reassemble() {
    let mut snap = snapshot(200);
    for p in &mut snap.peers {
        p.host = "a-rather-long-host-name-for-a-pool-member.example.net".into();
    }
    let r = answer(&request(op::READSTAT, 0, ""), &snap);
    let Response::Data(frags) = &r else { panic!() };
    assert_eq!(frags.len(), 2, "800 bytes of pairs");
    let (data, _) = data_of(&r);
    assert_eq!(data.len(), 800);
    let mut long = system();
    long.version = "x".repeat(1000);
    let r = answer(&request(op::READVAR, 0, ""), &ControlSnapshot { system: long, peers: vec![] });
    let Response::Data(frags) = &r else { panic!() };
    assert!(frags.len() >= 3);
    assert!(String::from_utf8(data_of(&r).0).unwrap().ends_with("\r\n"));
}

struct P {
    allowed: bool,
    access: Verdict,
    rate: Verdict,
}

impl Policy for P {
    fn max_request_len(&self) -> usize {
        1024
    }
    fn access(&self, _: IpAddr) -> Verdict {
        self.access
    }
    fn rate_limit(&mut self, _: IpAddr, _: f64) -> Verdict {
        self.rate
    }
    fn must_authenticate(&self, _: IpAddr) -> bool {
        false
    }
    fn mac_key(&self, _: u32) -> Option<&SymmetricKey> {
        None
    }
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        None
    }
    fn control_allowed(&self, _: IpAddr) -> bool {
        self.allowed
    }
}

fn arrival(ip: [u8; 4]) -> Arrival {
    Arrival {
        source: SocketAddr::from((ip, 40_000)),
        receive_time: NtpTimestamp::from_unix(1_800_000_000, 0),
        host_secs: 1.0,
        truncated: false,
        interface: 0,
    }
}

#[test]
fn the_decision_answers_allowed_clients_within_their_rate_only() {
    let req = request(op::READVAR, 0, "");
    let mut out = [0u8; 64];
    let ok = P { allowed: true, access: Verdict::Pass, rate: Verdict::Pass };
    let mut p = ok;
    assert!(matches!(
        server_decide(&req, &arrival([127, 0, 0, 1]), &system_state(), &mut p, &mut out),
        Decision::Control(_)
    ));
    let mut p = P { allowed: false, ..ok };
    let d = server_decide(&req, &arrival([192, 0, 2, 9]), &system_state(), &mut p, &mut out);
    assert_eq!(d.drop_reason(), Some(DropReason::ControlMode), "counted as today");
    let mut p = P { rate: Verdict::RefuseWithKod, ..ok };
    let d = server_decide(&req, &arrival([127, 0, 0, 1]), &system_state(), &mut p, &mut out);
    assert_eq!(d.drop_reason(), Some(DropReason::RateLimited), "no kiss-o'-death for mode 6");
    let mut p = P { access: Verdict::Refuse, ..ok };
    let d = server_decide(&req, &arrival([127, 0, 0, 1]), &system_state(), &mut p, &mut out);
    assert_eq!(d.drop_reason(), Some(DropReason::Denied));
    let mut p = ok;
    let d = server_decide(&req[..10], &arrival([127, 0, 0, 1]), &system_state(), &mut p, &mut out);
    assert_eq!(d.drop_reason(), Some(DropReason::ControlMode), "malformed");
    // The default policy answers loopback only.
    let default = crate::testing::OpenPolicy::default();
    assert!(default.control_allowed("::1".parse().unwrap()));
    assert!(!default.control_allowed("192.0.2.1".parse().unwrap()));
}

impl Clone for P {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for P {}

fn system_state() -> crate::server::ServerState {
    crate::server::ServerState::unsynchronised(-20)
}

proptest! {
    #[test]
    fn any_datagram_gets_a_well_formed_answer_or_none(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(req) = parse(&data) {
            for d in respond(&req, &snapshot(3)).datagrams() {
                prop_assert!(d.len() >= HEADER_LEN && d.len() <= HEADER_LEN + MAX_DATA_LEN);
                prop_assert_eq!(d.len() % 4, 0);
                prop_assert_eq!(d[0] & 0x07, 6);
                prop_assert_eq!(&d[2..4], &data[2..4], "sequence echoed");
            }
        }
    }
}
