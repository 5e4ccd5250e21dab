//! The second factor (SPEC §12.1): TOTP after RFC 6238 (HMAC-SHA-1, 6 digits, 30-second steps,
//! ±1 step of skew) and single-use recovery codes. Plain functions, tested without a database;
//! which step was last accepted is kept by `auth::store`.

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one.
pub const SKEW: i64 = 1;
pub const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;
/// 16 Crockford base32 symbols: 80 bits.
pub const RECOVERY_CODE_LEN: usize = 16;
pub const ISSUER: &str = "Tipline";

/// HOTP (RFC 4226) of `secret` at `counter`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key length"); // ok: infallible
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    binary % 10u32.pow(digits)
}

/// The time step of a Unix time.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code shown by an authenticator at `step`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    format!("{:0width$}", hotp(secret, step.max(0) as u64, DIGITS), width = DIGITS as usize)
}

/// Reads a code as a person types it: six digits, spaces allowed. `None` when it cannot be one.
pub fn parse_code(input: &str) -> Option<u32> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The step a code belongs to, among the current one ±[`SKEW`] and only after `last_step`
/// (a code is accepted once). Every candidate is computed, so timing does not tell which matched.
pub fn matching_step(secret: &[u8], code: &str, now_unix: i64, last_step: i64) -> Option<i64> {
    let code = parse_code(code)?;
    let now = step_at(now_unix);
    let mut found = None;
    for step in (now - SKEW)..=(now + SKEW) {
        let matches = hotp(secret, step.max(0) as u64, DIGITS) == code;
        if matches && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new random secret.
pub fn new_secret() -> [u8; SECRET_BYTES] {
    crate::crypto::random_bytes::<SECRET_BYTES>()
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps read secrets.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(BASE32[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes [`base32`]; `None` for anything else.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = BASE32.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads (usually from a QR code).
pub fn otpauth_uri(secret_base32: &str, label: &str) -> String {
    let label: String = url::form_urlencoded::byte_serialize(format!("{ISSUER}:{label}").as_bytes()).collect();
    let label = label.replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={secret_base32}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

/// A new recovery code, grouped for reading: `XXXX-XXXX-XXXX-XXXX` (80 bits).
pub fn new_recovery_code() -> String {
    let raw = crate::codes::random(RECOVERY_CODE_LEN);
    raw.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

/// A recovery code as a person types it, in the one form that is hashed.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    crate::codes::normalize(input, RECOVERY_CODE_LEN).filter(|c| c.len() == RECOVERY_CODE_LEN)
}

/// The stored form of a recovery code: keyed and bound to its account.
pub fn recovery_code_hash(key: &[u8], user_id: impl std::fmt::Display, normalized: &str) -> String {
    crate::crypto::hmac_hex(key, format!("recovery:{user_id}:{normalized}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        // RFC 6238 appendix B, SHA-1 rows: (time, 8-digit TOTP).
        let vectors = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, expected) in vectors {
            assert_eq!(hotp(RFC_SECRET, step_at(time) as u64, 8), expected, "T = {time}");
            assert_eq!(code_at(RFC_SECRET, step_at(time)), format!("{:06}", expected % 1_000_000));
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), code);
        }
    }

    #[test]
    fn accepts_one_step_of_skew_and_never_a_step_twice() {
        let now = 1_800_000_015;
        let step = step_at(now);
        for s in [step - 1, step, step + 1] {
            assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, s), now, 0), Some(s));
        }
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, step - 2), now, 0), None);
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, step + 2), now, 0), None);
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, step), now, step), None, "replayed");
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, step), now, step - 1), Some(step));
    }

    #[test]
    fn malformed_codes_match_nothing() {
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６", "-12345"] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
        assert_eq!(parse_code("123 456"), Some(123456));
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        let secret = new_secret();
        assert_eq!(base32_decode(&base32(&secret)).unwrap(), secret);
        assert_eq!(base32(&secret).len(), 32);
        assert_eq!(base32_decode("not base32!"), None);
    }

    #[test]
    fn otpauth_uri_names_issuer_and_parameters() {
        let uri = otpauth_uri("MZXW6YTBOI", "ana@example.org");
        assert_eq!(
            uri,
            "otpauth://totp/Tipline%3Aana%40example.org?secret=MZXW6YTBOI&issuer=Tipline&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_have_80_bits_and_are_read_loosely() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 19);
        let normalized = normalize_recovery_code(&code.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(normalized, code.replace('-', ""));
        assert_eq!(normalize_recovery_code("ABCD"), None);
        let key = [7u8; 32];
        assert_ne!(recovery_code_hash(&key, "a", &normalized), recovery_code_hash(&key, "b", &normalized));
    }
}
