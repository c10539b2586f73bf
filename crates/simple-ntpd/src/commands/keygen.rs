//! `simple-ntpd keygen`: new random symmetric keys, one per line in chrony's
//! key-file format (`ID TYPE HEX:...`), for `[security.authentication]
//! key_file` and the clients that share it.

use std::process::ExitCode;

use ntp_proto::auth::KeyType;

use crate::cli::KeygenArgs;

/// Formats one key line.
pub fn key_line(id: u32, kind: KeyType, secret: &[u8]) -> String {
    let hex: String = secret.iter().map(|b| format!("{b:02X}")).collect();
    format!("{id} {} HEX:{hex}", kind.name())
}

/// Runs `keygen`.
pub fn run(args: KeygenArgs) -> ExitCode {
    let Some(kind) = KeyType::parse(&args.key_type) else {
        eprintln!(
            "simple-ntpd keygen: unknown key type `{}` (use {})",
            args.key_type,
            KeyType::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        );
        return ExitCode::from(2);
    };
    let Some(last) = args.id.checked_add(args.count.saturating_sub(1)) else {
        eprintln!("simple-ntpd keygen: key ids would pass 4294967295");
        return ExitCode::from(2);
    };
    for id in args.id..=last {
        let mut secret = vec![0u8; kind.generated_key_len()];
        if let Err(e) = crate::random::try_fill(&mut secret) {
            eprintln!("simple-ntpd keygen: {e}");
            return ExitCode::from(1);
        }
        println!("{}", key_line(id, kind, &secret));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_back_as_a_key_file() {
        let text: String = KeyType::ALL
            .iter()
            .enumerate()
            .map(|(i, k)| key_line(i as u32 + 1, *k, &vec![0xA5; k.generated_key_len()]) + "\n")
            .collect();
        let keys = ntp_proto::auth::parse_keyfile(&text).unwrap();
        assert_eq!(keys.len(), KeyType::ALL.len());
        assert_eq!(keys[5].kind(), KeyType::Aes128);
    }
}
