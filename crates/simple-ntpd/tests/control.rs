//! Control (mode 6) queries against the running daemon on loopback: the
//! system variables answer what `/api/v1/status` says, a network outside
//! `security.mode6_allow` gets nothing (counted as `control_mode`), writes
//! are refused. (NTPsec's ntpq and ntpstat against port 123 are in
//! scripts/suites/mode6.sh.)

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

fn request(opcode: u8, data: &[u8]) -> Vec<u8> {
    let mut r = vec![(2 << 3) | 6, opcode, 0, 9, 0, 0, 0, 0, 0, 0, 0, data.len() as u8];
    r.extend_from_slice(data);
    r.resize(r.len().div_ceil(4) * 4, 0);
    r
}

/// The datagrams that answer `req` sent from `from`.
fn ask(from: &str, to: SocketAddr, req: &[u8]) -> Vec<Vec<u8>> {
    let s = UdpSocket::bind((from, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    s.send_to(req, to).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn json(api: SocketAddr, path: &str) -> serde_json::Value {
    let (code, body) = common::http_get(api, path, None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn loopback_gets_the_apis_figures_other_networks_nothing() {
    let (run, api) = common::start_with_api(3, "[security]\nmode6_allow = [\"127.0.0.1/32\"]\n");
    let got = ask("127.0.0.1", run.addr, &request(2, b""));
    assert_eq!(got.len(), 1, "one fragment");
    let r = &got[0];
    assert_eq!((r[0] & 0x3f, r[1]), ((2 << 3) | 6, 0x82), "version echoed, a READVAR response");
    assert_eq!(&r[2..4], &[0, 9], "sequence echoed");
    let count = usize::from(u16::from_be_bytes([r[10], r[11]]));
    let text = String::from_utf8(r[12..12 + count].to_vec()).unwrap();
    let status = json(api, "/api/v1/status");
    assert!(text.contains(&format!("stratum={},", status["stratum"])), "{text}");
    assert!(text.contains(&format!("refid={},", status["reference_id"].as_str().unwrap())), "{text}");
    assert!(text.contains(&format!("precision={},", status["precision"])), "{text}");
    assert_eq!(u16::from_be_bytes([r[4], r[5]]) >> 8, 0x05, "leap 0, synchronised to the local clock");
    // READSTAT: a local reference has no associations.
    let got = ask("127.0.0.1", run.addr, &request(1, b""));
    assert_eq!(got[0][10..12], [0, 0]);
    // Writes: a permission error.
    let got = ask("127.0.0.1", run.addr, &request(3, b"leap=3"));
    assert_eq!((got[0].len(), got[0][1] & 0xC0, got[0][4]), (12, 0xC0, 1));
    // Another loopback address is outside mode6_allow: nothing, counted.
    let before = json(api, "/api/v1/serverstats")["dropped"]["control_mode"].as_u64().unwrap();
    assert!(ask("127.0.0.2", run.addr, &request(2, b"")).is_empty());
    let stats = json(api, "/api/v1/serverstats");
    assert_eq!(stats["dropped"]["control_mode"].as_u64().unwrap(), before + 1);
    assert_eq!(stats["control_replied"], 3);
}
