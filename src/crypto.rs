//! Randomness, hashing and keyed digests used across the service.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is not recoverable and never caused by input.
    getrandom::getrandom(&mut buf).expect("the operating system's random number generator failed"); // ok: OS failure
    buf
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA-256, hex encoded.
pub fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    hex::encode(hmac_bytes(key, data))
}

pub fn hmac_bytes(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"); // ok: infallible
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A sub-key for one purpose, derived from a master secret, so one secret never serves two uses.
pub fn derive_key(master: &[u8], purpose: &str) -> [u8; 32] {
    hmac_bytes(master, format!("tipline/{purpose}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_by_purpose() {
        assert_ne!(derive_key(b"k", "a"), derive_key(b"k", "b"));
        assert_eq!(derive_key(b"k", "a"), derive_key(b"k", "a"));
    }

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
