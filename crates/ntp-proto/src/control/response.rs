//! The answer to a control request: READSTAT and READVAR for the system and
//! each association, in as many fragments as the data needs (each at most
//! 468 data bytes, padded only to a multiple of 4), or one error reply.
//! Everything that writes — WRITEVAR, WRITECLOCK, `:config`, traps, saved
//! configurations — is refused with a permission error; the MRU list,
//! ordered lists, nonces and clock variables are not offered (bad opcode).

use super::format::{self, PEER_DEFAULT, SYSTEM_DEFAULT};
use super::request::{op, variable_names, ControlRequest, HEADER_LEN, MAX_DATA_LEN, MODE};
use super::variables::ControlSnapshot;

/// Error codes of an error reply (RFC 9327 §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// Permission denied: writes, configuration, key operations.
    Permission = 1,
    /// Request badly formatted.
    BadFormat = 2,
    /// Operation not offered.
    BadOperation = 3,
    /// No such association.
    BadAssociation = 4,
    /// A variable this server does not know.
    UnknownVariable = 5,
}

/// What to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The data, in fragments (complete datagrams, in order).
    Data(Vec<Vec<u8>>),
    /// One error reply (a 12-byte datagram).
    Error(ControlError, Vec<u8>),
}

impl Response {
    /// The datagrams to send, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        let v: Vec<&[u8]> = match self {
            Response::Data(f) => f.iter().map(Vec::as_slice).collect(),
            Response::Error(_, d) => vec![d.as_slice()],
        };
        v.into_iter()
    }
}

/// The answer to `request` from `snapshot`.
pub fn respond(request: &ControlRequest<'_>, snapshot: &ControlSnapshot) -> Response {
    match request.opcode {
        op::READSTAT | op::READVAR => read(request, snapshot),
        op::WRITEVAR | op::WRITECLOCK | op::SETTRAP | op::CONFIGURE | op::SAVECONFIG | op::UNSETTRAP => {
            error(request, ControlError::Permission)
        }
        _ => error(request, ControlError::BadOperation),
    }
}

fn read(request: &ControlRequest<'_>, snapshot: &ControlSnapshot) -> Response {
    let names: Vec<&[u8]> = variable_names(request.data).collect();
    if request.association == 0 {
        let status = snapshot.system.status_word();
        if request.opcode == op::READSTAT {
            // The association list: (id, status) pairs.
            let data: Vec<u8> = snapshot
                .peers
                .iter()
                .flat_map(|p| {
                    let mut pair = [0u8; 4];
                    pair[..2].copy_from_slice(&p.association_id.to_be_bytes());
                    pair[2..].copy_from_slice(&p.status_word().to_be_bytes());
                    pair
                })
                .collect();
            return Response::Data(fragments(request, status, &data));
        }
        let items = match selected(&names, SYSTEM_DEFAULT, format::is_system_variable) {
            Ok(list) => {
                list.into_iter().filter_map(|n| format::system_value(&snapshot.system, n).map(|v| (n.to_owned(), v)))
            }
            Err(e) => return error(request, e),
        };
        let text = format::join(items.collect::<Vec<_>>());
        return Response::Data(fragments(request, status, text.as_bytes()));
    }
    let Some(peer) = snapshot.peers.iter().find(|p| p.association_id == request.association) else {
        return error(request, ControlError::BadAssociation);
    };
    let items = match selected(&names, PEER_DEFAULT, format::is_peer_variable) {
        Ok(list) => list.into_iter().filter_map(|n| format::peer_value(peer, n).map(|v| (n.to_owned(), v))),
        Err(e) => return error(request, e),
    };
    let text = format::join(items.collect::<Vec<_>>());
    Response::Data(fragments(request, peer.status_word(), text.as_bytes()))
}

/// The variables asked for (the default list when none), or why not.
fn selected<'n>(
    names: &[&'n [u8]],
    default: &'static [&'static str],
    known: fn(&str) -> bool,
) -> Result<Vec<&'n str>, ControlError> {
    if names.is_empty() {
        return Ok(default.to_vec());
    }
    names
        .iter()
        .map(|n| match std::str::from_utf8(n) {
            Ok(s) if known(s) => Ok(s),
            Ok(_) => Err(ControlError::UnknownVariable),
            Err(_) => Err(ControlError::BadFormat),
        })
        .collect()
}

/// The response header for `request` with status `status`.
fn header(
    request: &ControlRequest<'_>,
    error: bool,
    more: bool,
    status: u16,
    offset: usize,
    count: usize,
) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = (request.version << 3) | MODE;
    h[1] = 0x80 | if error { 0x40 } else { 0 } | if more { 0x20 } else { 0 } | request.opcode;
    h[2..4].copy_from_slice(&request.sequence.to_be_bytes());
    h[4..6].copy_from_slice(&status.to_be_bytes());
    h[6..8].copy_from_slice(&request.association.to_be_bytes());
    // Offsets and counts are at most 16 bits: the data of one answer is
    // far below that (ntpq accepts up to 24 fragments).
    h[8..10].copy_from_slice(&(offset as u16).to_be_bytes());
    h[10..12].copy_from_slice(&(count as u16).to_be_bytes());
    h
}

/// `data` in fragments of at most [`MAX_DATA_LEN`] bytes, each padded to a
/// multiple of 4; one empty fragment when there is no data.
fn fragments(request: &ControlRequest<'_>, status: u16, data: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(MAX_DATA_LEN).collect() };
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let offset = i * MAX_DATA_LEN;
            let mut d = header(request, false, i < last, status, offset, chunk.len()).to_vec();
            d.extend_from_slice(chunk);
            d.resize(d.len().div_ceil(4) * 4, 0);
            d
        })
        .collect()
}

fn error(request: &ControlRequest<'_>, e: ControlError) -> Response {
    Response::Error(e, header(request, true, false, (e as u16) << 8, 0, 0).to_vec())
}
