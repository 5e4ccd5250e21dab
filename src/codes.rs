//! Human-facing codes in Crockford base32 (no I, L, O, U): report references, case
//! references and receipts.

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `n` random Crockford symbols: 5 bits of OS randomness each.
pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    crate::crypto::fill_random(&mut bytes);
    bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char).collect()
}

/// Receipts are 20 Crockford base32 characters: 100 bits.
pub const RECEIPT_LEN: usize = 20;

/// A new receipt (SPEC §4.2), shown once; only its HMAC is stored.
pub fn receipt() -> String {
    random(RECEIPT_LEN)
}

/// A reporter's account name (SPEC §14.1): `TA-` and 16 symbols (80 bits), shown once.
pub fn account() -> String {
    format!("TA-{}", random(ACCOUNT_LEN))
}

pub const ACCOUNT_LEN: usize = 16;

/// Reads an account name as a person types it: the `TA-` prefix is optional, and the rest is
/// read like any code (case, hyphens, spaces and look-alikes do not matter).
pub fn normalize_account(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let rest = match trimmed.get(..3) {
        Some(prefix) if prefix.eq_ignore_ascii_case("TA-") => &trimmed[3..],
        _ => trimmed,
    };
    normalize(rest, ACCOUNT_LEN).map(|code| format!("TA-{code}"))
}

/// A report reference: `TL-` and 8 symbols (40 bits).
pub fn report_reference() -> String {
    format!("TL-{}", random(8))
}

/// Reads a code typed by a person: case-insensitive, hyphens and spaces ignored, and the
/// look-alikes Crockford allows (I and L for 1, O for 0). `None` when it cannot be one.
pub fn normalize(input: &str, len: usize) -> Option<String> {
    let mut out = String::with_capacity(len);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_have_the_documented_shape() {
        let r = report_reference();
        assert_eq!(r.len(), 11);
        assert!(r.starts_with("TL-"));
        assert!(r[3..].bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(random(20), random(20));
    }

    #[test]
    fn account_names() {
        let name = account();
        assert!(name.starts_with("TA-") && name.len() == 19, "{name}");
        assert_eq!(normalize_account(&name).as_deref(), Some(name.as_str()));
        let typed = name[3..].to_lowercase().replace('1', "l");
        assert_eq!(normalize_account(&typed).as_deref(), Some(name.as_str()), "prefix optional, look-alikes read");
        assert_eq!(normalize_account("TA-123"), None);
        assert_eq!(normalize_account("someone@example.org"), None);
    }

    #[test]
    fn normalizes_typed_codes() {
        assert_eq!(normalize("abcd-efgh-jkmn-pqrs-tvwx", 20).as_deref(), Some("ABCDEFGHJKMNPQRSTVWX"));
        assert_eq!(normalize("O1IL 0000 0000 0000 0000", 20).as_deref(), Some("01110000000000000000"));
        assert_eq!(normalize("U000000000000000000", 20), None);
        assert_eq!(normalize("short", 20), None);
        assert_eq!(normalize(&"0".repeat(21), 20), None);
        assert_eq!(normalize("000000000000000000零0", 20), None);
    }
}
