//! Randomness, hashing and keyed digests used across the service.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    fill_random(&mut buf);
    buf
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) {
    // ok: OS failure. The OS RNG failing is not recoverable and never caused by input.
    getrandom::getrandom(buf).expect("the operating system's random number generator failed");
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
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

pub mod envelope {
    //! Encryption at rest (SPEC §4.4). Each report has its own random data key, stored only
    //! wrapped (XChaCha20-Poly1305) under the master key. Values are sealed under the data key
    //! with a random 24-byte nonce and associated data naming table, column, row id and key id,
    //! so a ciphertext copied to another row or column does not open. Rotating the master key
    //! re-wraps data keys only; destroying a data key makes the report's content unreadable.

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use zeroize::Zeroizing;

    use std::fmt::Display;

    const VERSION: &str = "v1";

    #[derive(Debug, thiserror::Error)]
    #[error("a stored value could not be decrypted")]
    pub struct DecryptError;

    /// The master key, derived from `TIPLINE_DATA_KEY`, and its public id.
    #[derive(Clone)]
    pub struct Keyring {
        master: Zeroizing<[u8; 32]>,
        master_id: String,
    }

    /// A report's data key.
    pub struct DataKey {
        pub id: String,
        key: Zeroizing<[u8; 32]>,
    }

    /// What is stored for a data key.
    pub struct WrappedKey {
        pub key_id: String,
        pub wrapped: String,
        pub master_key_id: String,
    }

    impl Keyring {
        /// The keyring of the configured secret (`TIPLINE_DATA_KEY`).
        pub fn new(secret: &[u8]) -> Self {
            let master = Zeroizing::new(super::derive_key(secret, "master-key"));
            let master_id = hex::encode(&super::derive_key(secret, "master-key-id")[..8]);
            Keyring { master, master_id }
        }

        pub fn master_key_id(&self) -> &str {
            &self.master_id
        }

        /// A fresh data key for the report `owner_id`, and its wrapped form for storage.
        pub fn new_data_key(&self, owner_id: impl Display) -> (DataKey, WrappedKey) {
            self.new_key_for("reports", owner_id)
        }

        /// The data key of the report `owner_id`, from its stored form.
        pub fn unwrap(&self, owner_id: impl Display, stored: &WrappedKey) -> Result<DataKey, DecryptError> {
            self.unwrap_for("reports", owner_id, stored)
        }

        /// A fresh data key for the row `owner_id` of `owner_table` (a report, a case, a station),
        /// and its wrapped form for storage; the wrapping is bound to that table and row.
        pub fn new_key_for(&self, owner_table: &str, owner_id: impl Display) -> (DataKey, WrappedKey) {
            let key = DataKey {
                id: hex::encode(super::random_bytes::<8>()),
                key: Zeroizing::new(super::random_bytes::<32>()),
            };
            let ad = wrap_ad(owner_table, owner_id, &key.id, &self.master_id);
            let wrapped = seal_raw(&self.master, &ad, key.key.as_slice());
            let stored = WrappedKey { key_id: key.id.clone(), wrapped, master_key_id: self.master_id.clone() };
            (key, stored)
        }

        pub fn unwrap_for(
            &self,
            owner_table: &str,
            owner_id: impl Display,
            stored: &WrappedKey,
        ) -> Result<DataKey, DecryptError> {
            if stored.master_key_id != self.master_id {
                return Err(DecryptError);
            }
            let ad = wrap_ad(owner_table, owner_id, &stored.key_id, &stored.master_key_id);
            let raw = open_raw(&self.master, &ad, &stored.wrapped)?;
            let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| DecryptError)?;
            Ok(DataKey { id: stored.key_id.clone(), key: Zeroizing::new(key) })
        }
    }

    impl Keyring {
        /// Seals a small value straight under the master key, bound to `table.column` of row
        /// `row_id` and to this master key (a user's TOTP secret, SPEC §12.1).
        pub fn seal_bound(&self, table: &str, column: &str, row_id: impl Display, plaintext: &str) -> String {
            seal_raw(&self.master, &value_ad(table, column, row_id, &self.master_id), plaintext.as_bytes())
        }

        pub fn open_bound(
            &self,
            table: &str,
            column: &str,
            row_id: impl Display,
            sealed: &str,
        ) -> Result<Zeroizing<String>, DecryptError> {
            let bytes = open_raw(&self.master, &value_ad(table, column, row_id, &self.master_id), sealed)?;
            String::from_utf8(bytes.to_vec()).map(Zeroizing::new).map_err(|_| DecryptError)
        }
    }

    impl DataKey {
        /// The key of this report's sealed files (SPEC §11), derived from the data key, so
        /// destroying the data key makes them unreadable too.
        pub fn blob_key(&self) -> Zeroizing<[u8; 32]> {
            Zeroizing::new(super::derive_key(self.key.as_slice(), "attachment-blob"))
        }

        pub fn seal(&self, table: &str, column: &str, row_id: impl Display, plaintext: &str) -> String {
            seal_raw(&self.key, &value_ad(table, column, row_id, &self.id), plaintext.as_bytes())
        }

        pub fn open(
            &self,
            table: &str,
            column: &str,
            row_id: impl Display,
            sealed: &str,
        ) -> Result<String, DecryptError> {
            let bytes = open_raw(&self.key, &value_ad(table, column, row_id, &self.id), sealed)?;
            String::from_utf8(bytes.to_vec()).map_err(|_| DecryptError)
        }
    }

    fn wrap_ad(owner_table: &str, owner_id: impl Display, key_id: &str, master_id: &str) -> Vec<u8> {
        format!("tipline/{VERSION}|{owner_table}|data_key|{owner_id}|{key_id}|{master_id}").into_bytes()
    }

    fn value_ad(table: &str, column: &str, row_id: impl Display, key_id: &str) -> Vec<u8> {
        format!("tipline/{VERSION}|{table}|{column}|{row_id}|{key_id}").into_bytes()
    }

    /// `v1.` + base64url(nonce ‖ ciphertext).
    fn seal_raw(key: &[u8; 32], ad: &[u8], plaintext: &[u8]) -> String {
        let cipher = XChaCha20Poly1305::new(key.into());
        let nonce = super::random_bytes::<24>();
        // Encryption fails only for inputs larger than the cipher's limit (about 256 GiB).
        let ciphertext = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: ad })
            .expect("XChaCha20-Poly1305 encrypts any request-sized input"); // ok: bounded input
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(out))
    }

    fn open_raw(key: &[u8; 32], ad: &[u8], sealed: &str) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let encoded = sealed.strip_prefix("v1.").ok_or(DecryptError)?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| DecryptError)?;
        if bytes.len() < 24 {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| DecryptError)?;
        let cipher = XChaCha20Poly1305::new(key.into());
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: ad })
            .map(Zeroizing::new)
            .map_err(|_| DecryptError)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        use crate::db::Id;

        fn keyring() -> Keyring {
            Keyring::new(b"a-master-secret-a-master-secret-0")
        }

        #[test]
        fn seals_and_opens_bound_to_place() {
            let ring = keyring();
            let (row, other_row) = (Id::new(), Id::new());
            let (key, stored) = ring.new_data_key(row);
            let sealed = key.seal("reports", "narrative", row, "他们威胁我的家人 🙏");
            assert!(!sealed.contains("他们"));
            let key = ring.unwrap(row, &stored).unwrap();
            assert_eq!(key.open("reports", "narrative", row, &sealed).unwrap(), "他们威胁我的家人 🙏");
            assert!(key.open("reports", "contact", row, &sealed).is_err(), "another column");
            assert!(key.open("reports", "narrative", other_row, &sealed).is_err(), "another row");
            assert!(key.open("report_messages", "narrative", row, &sealed).is_err(), "another table");
            assert_ne!(sealed, key.seal("reports", "narrative", row, "他们威胁我的家人 🙏"), "random nonce");
        }

        #[test]
        fn a_wrapped_key_opens_only_for_its_row_and_master() {
            let ring = keyring();
            let row = Id::new();
            let (_, stored) = ring.new_data_key(row);
            assert!(ring.unwrap(Id::new(), &stored).is_err());
            let other = Keyring::new(b"another-master-secret-another-000");
            assert!(other.unwrap(row, &stored).is_err());
        }

        #[test]
        fn bound_values_open_only_for_their_row_and_master() {
            let ring = keyring();
            let row = Id::new();
            let sealed = ring.seal_bound("user_totp", "secret_sealed", row, "MZXW6YTBOI");
            assert_eq!(ring.open_bound("user_totp", "secret_sealed", row, &sealed).unwrap().as_str(), "MZXW6YTBOI");
            assert!(ring.open_bound("user_totp", "secret_sealed", Id::new(), &sealed).is_err());
            let other = Keyring::new(b"another-master-secret-another-000");
            assert!(other.open_bound("user_totp", "secret_sealed", row, &sealed).is_err());
        }

        #[test]
        fn tampered_ciphertext_fails() {
            let ring = keyring();
            let row = Id::new();
            let (key, _) = ring.new_data_key(row);
            let mut sealed = key.seal("t", "c", row, "secret").into_bytes();
            let last = sealed.len() - 1;
            sealed[last] = if sealed[last] == b'A' { b'B' } else { b'A' };
            assert!(key.open("t", "c", row, &String::from_utf8(sealed).unwrap()).is_err());
        }
    }
}
