//! Fuzz target: the server's reply decision on arbitrary datagrams. It must
//! never panic, never answer with more bytes than it received, and always
//! echo the request's transmit timestamp as origin.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntp_proto::packet::{LeapIndicator, ReferenceId};
use ntp_proto::server::{parse_request, write_reply, ServerState};
use ntp_proto::{NtpShort, NtpTimestamp};

fuzz_target!(|input: (u16, &[u8])| {
    let (port, data) = input;
    let state = ServerState {
        leap: LeapIndicator::NoWarning,
        stratum: 2,
        precision: -24,
        reference_id: ReferenceId::from_ascii("GPS"),
        reference_time: NtpTimestamp::from_bits(1 << 63),
        root_delay: NtpShort::from_bits(10),
        root_dispersion: NtpShort::from_bits(10),
        dispersion_rate: ServerState::PHI,
    };
    if let Ok(req) = parse_request(data, port) {
        let mut out = [0u8; 2048];
        if let Ok(prepared) = write_reply(&req, NtpTimestamp::from_bits(5), &state, &mut out) {
            let n = prepared.finish(&mut out, NtpTimestamp::from_bits(6));
            assert!(n <= data.len());
            assert_eq!(&out[24..32], &data[40..48]);
        }
    }
});
