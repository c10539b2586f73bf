//! Bad input gets no reply, is counted and never stops the server; replies
//! never exceed requests; SIGTERM shuts down cleanly.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use ntp_test_support::{build_request, send_raw, sntp_probe};

const NO_REPLY_WAIT: Duration = Duration::from_millis(300);

fn request(version: u8, mode: u8) -> Vec<u8> {
    let mut r = build_request(4, 0x1234_5678_9abc_def0).to_vec();
    r[0] = (version << 3) | mode;
    r
}

fn ext_field(ty: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0x5a; len];
    f[..2].copy_from_slice(&ty.to_be_bytes());
    f[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    f
}

#[test]
fn garbage_gets_no_reply_and_serving_continues() {
    // Control (mode 6) queries are answered from loopback by default; here
    // nobody is allowed, so the mode 6 probes below must get nothing.
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "[security]\nmode6_allow = []\n");
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short", request(4, 3)[..47].to_vec()),
        ("one byte", vec![0x23]),
        ("version 0", request(0, 3)),
        ("version 7", request(7, 3)),
        ("version 5", request(5, 3)),
    ];
    for mode in [0u8, 1, 2, 4, 5, 6, 7] {
        cases.push(("mode", request(4, mode)));
    }
    // Malformed extension fields: zero length, unaligned, too short, overlong, stray bytes.
    let mut zero_len = request(4, 3);
    zero_len.extend(ext_field(0x7000, 28));
    zero_len[48 + 3] = 0;
    zero_len[48 + 2] = 0;
    let mut unaligned = request(4, 3);
    unaligned.extend(ext_field(0x7000, 32));
    unaligned[48 + 3] = 30;
    let mut overlong = request(4, 3);
    overlong.extend(ext_field(0x7000, 32));
    overlong[48 + 2] = 2;
    let mut stray = request(4, 3);
    stray.extend([1, 2, 3]);
    cases.extend([
        ("ext zero length", zero_len),
        ("ext unaligned", unaligned),
        ("ext overlong", overlong),
        ("stray bytes", stray),
    ]);
    // Control and private mode probes (ntpq, monlist) are classic amplifiers.
    let mut monlist = vec![0x17, 0x00, 0x03, 0x2a];
    monlist.resize(48, 0);
    cases.push(("mode 7 monlist", monlist));
    cases.push(("mode 6 readvar", vec![0x16, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]));

    for (name, bytes) in &cases {
        assert!(send_raw(run.addr, bytes, NO_REPLY_WAIT).is_none(), "{name}: got a reply to {bytes:02x?}");
        let ok = sntp_probe(run.addr, 4, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("after {name}: {e}\n{}", run.daemon.log()));
        assert!(ok.origin_matches);
    }
}

#[test]
fn unknown_extension_fields_get_a_reply_no_larger_than_the_request() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "");
    let mut req = request(4, 3);
    req.extend(ext_field(0x7777, 400));
    req.extend(ext_field(0x7778, 200));
    let reply = send_raw(run.addr, &req, Duration::from_secs(2)).expect("a reply");
    assert!(reply.len() <= req.len());
    assert_eq!(&reply[24..32], &req[40..48], "origin echoed");
    assert_eq!(reply[0] & 7, 4);
}

#[test]
fn ntpv3_request_gets_ntpv3_reply_and_v1_is_served() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "");
    let reply = send_raw(run.addr, &request(3, 3), Duration::from_secs(2)).expect("v3 reply");
    assert_eq!((reply[0] >> 3) & 7, 3);
    assert_eq!(reply[0] & 7, 4);
    // NTPv1 had no mode field (mode 0); it is answered as a client request.
    let reply = send_raw(run.addr, &request(1, 0), Duration::from_secs(2)).expect("v1 reply");
    assert_eq!((reply[0] >> 3) & 7, 1);
}

/// From loopback, where control queries are answered by default, control
/// datagrams that are not well-formed requests still get no reply (and
/// serving goes on); a well-formed READVAR is answered.
#[test]
fn malformed_control_requests_get_no_reply() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "");
    let readvar = vec![0x16, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut response = readvar.clone();
    response[1] |= 0x80;
    let mut error = readvar.clone();
    error[1] |= 0x40;
    let mut fragment = readvar.clone();
    fragment[1] |= 0x20;
    let mut version0 = readvar.clone();
    version0[0] = 0x06;
    let mut offset = readvar.clone();
    offset[9] = 4;
    let mut count_beyond = readvar.clone();
    count_beyond[11] = 40;
    let mut count_too_large = readvar.clone();
    count_too_large[10..12].copy_from_slice(&600u16.to_be_bytes());
    count_too_large.resize(12 + 600, b'a');
    let cases = [
        ("empty header", vec![0x16]),
        ("short header", readvar[..11].to_vec()),
        ("a response", response),
        ("an error", error),
        ("more fragments", fragment),
        ("version 0", version0),
        ("a nonzero offset", offset),
        ("count beyond the datagram", count_beyond),
        ("count above one fragment", count_too_large),
    ];
    for (name, bytes) in &cases {
        assert!(send_raw(run.addr, bytes, NO_REPLY_WAIT).is_none(), "{name}: got a reply to {bytes:02x?}");
        assert!(sntp_probe(run.addr, 4, Duration::from_secs(2)).is_ok(), "after {name}: {}", run.daemon.log());
    }
    let reply = send_raw(run.addr, &readvar, Duration::from_secs(2)).expect("READVAR from loopback is answered");
    assert_eq!(reply[1] & 0x9F, 0x82, "a response to READVAR: {reply:02x?}");
}

#[test]
fn oversized_datagrams_are_dropped() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "[performance]\nmax_packet_size = 128\n");
    let mut req = request(4, 3);
    req.extend(ext_field(0x7777, 200));
    assert!(send_raw(run.addr, &req, NO_REPLY_WAIT).is_none());
    assert!(sntp_probe(run.addr, 4, Duration::from_secs(2)).is_ok());
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "");
        sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
        run.daemon.signal(signal).unwrap();
        let status = run.daemon.wait_exit(Duration::from_secs(5)).unwrap();
        assert!(status.success(), "SIG{signal}: exit status {status}\n{}", run.daemon.log());
        let log = run.daemon.log();
        assert!(log.contains("simple-ntpd stopped"), "SIG{signal}: {log}");
        assert!(log.contains("replied=1") || log.contains("replied=2"), "SIG{signal}: {log}");
    }
}

#[test]
fn sighup_does_not_kill_the_daemon() {
    let mut run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "");
    run.daemon.signal("HUP").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(run.daemon.is_running(), "{}", run.daemon.log());
    assert!(sntp_probe(run.addr, 4, Duration::from_secs(2)).is_ok());
}

/// SO_REUSEPORT would let a second instance join the first one's port group
/// and silently take half its clients; it must refuse to start instead, and
/// the first must keep answering.
#[test]
fn a_second_daemon_on_the_same_address_refuses_to_start() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "[monitoring]\nenabled = false\n");
    let config = run.dir.path().join("simple-ntpd.toml");
    let mut cmd = std::process::Command::new(common::bin());
    cmd.arg("run").arg("-c").arg(&config).env_remove("SIMPLE_NTPD_CONFIG");
    let out = ntp_test_support::run_bounded(&mut cmd, Duration::from_secs(20)).unwrap();
    assert!(!out.success(), "second instance started: {}", out.describe());
    assert!(out.stderr.contains("another process serves this address"), "{}", out.describe());
    assert!(out.stderr.contains(&run.addr.to_string()), "{}", out.describe());
    for _ in 0..10 {
        assert_eq!(sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap().stratum, 3);
    }
}
