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
    use std::sync::{Arc, Mutex, PoisonError, RwLock};
    use std::time::{Duration, Instant};

    const VERSION: &str = "v1";

    #[derive(Debug, thiserror::Error)]
    #[error("a stored value could not be decrypted")]
    pub struct DecryptError;

    /// One master key (SPEC §4.4), derived from a secret of the keyring file, and its public id.
    pub struct MasterKey {
        key: Zeroizing<[u8; 32]>,
        id: String,
    }

    impl MasterKey {
        pub fn from_secret(secret: &[u8]) -> Self {
            let key = Zeroizing::new(super::derive_key(secret, "master-key"));
            let id = hex::encode(&super::derive_key(secret, "master-key-id")[..8]);
            MasterKey { key, id }
        }

        pub fn id(&self) -> &str {
            &self.id
        }
    }

    /// The keys data keys are wrapped under (SPEC §13): the current master key, which wraps every
    /// new key, and earlier ones, which still open what they wrapped until a rotation has
    /// re-wrapped it. Cheap to clone: clones share one set, which a reload swaps (a running
    /// service picks up a rotation's new key this way, see [`crate::keys`]).
    #[derive(Clone)]
    pub struct Keyring {
        shared: Arc<Shared>,
    }

    struct Shared {
        keys: RwLock<Arc<Keys>>,
        /// Asked for the keys again (see [`REFRESH_EVERY`]).
        reload: Option<Reload>,
        last_refresh: Mutex<Option<Instant>>,
    }

    impl std::fmt::Debug for Keyring {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Keyring").field("current", &self.master_key_id()).finish_non_exhaustive()
        }
    }

    /// Where a keyring asks for its keys again: `None` when nothing changed or they cannot be read.
    pub type Reload = Box<dyn Fn() -> Option<Keys> + Send + Sync>;

    /// A set of master keys; the last is the current one.
    pub struct Keys(Vec<MasterKey>);

    impl Keys {
        /// `None` when `keys` is empty.
        pub fn new(keys: Vec<MasterKey>) -> Option<Keys> {
            (!keys.is_empty()).then_some(Keys(keys))
        }

        pub fn current(&self) -> &MasterKey {
            // ok: never empty, by construction
            &self.0[self.0.len() - 1]
        }

        pub fn get(&self, id: &str) -> Option<&MasterKey> {
            self.0.iter().find(|k| k.id == id)
        }

        pub fn ids(&self) -> impl Iterator<Item = &str> {
            self.0.iter().map(|k| k.id.as_str())
        }
    }

    /// A keyring with a source asks it again when a stored value names a master key it lacks, and
    /// before wrapping when it last asked longer ago than this. (The source answers `None` at the
    /// cost of a `stat` when nothing changed.)
    pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

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
        /// A keyring of one master key derived from `secret`, never reloaded.
        pub fn new(secret: &[u8]) -> Self {
            Keyring::of(Keys(vec![MasterKey::from_secret(secret)]), None)
        }

        /// A keyring of `keys`; `reload`, when given, is asked for the keys again when a stored
        /// value names a key the set lacks (a rotation elsewhere made it).
        pub fn of(keys: Keys, reload: Option<Reload>) -> Self {
            let shared = Shared { keys: RwLock::new(Arc::new(keys)), reload, last_refresh: Mutex::new(None) };
            Keyring { shared: Arc::new(shared) }
        }

        /// The keys now.
        pub fn keys(&self) -> Arc<Keys> {
            self.shared.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
        }

        /// Swaps in another set of keys (the keyring file changed).
        fn replace(&self, keys: Keys) {
            *self.shared.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        }

        /// Asks the source for the keys; `None` when there is none or nothing changed.
        fn reload(&self) -> Option<Arc<Keys>> {
            let reload = self.shared.reload.as_ref()?;
            self.replace(reload()?);
            Some(self.keys())
        }

        /// The keys, reloaded first when they lack `id`.
        fn keys_with(&self, id: &str) -> Arc<Keys> {
            let keys = self.keys();
            if id.is_empty() || keys.get(id).is_some() {
                return keys;
            }
            self.reload().unwrap_or(keys)
        }

        /// The keys to wrap with: reloaded when last asked over [`REFRESH_EVERY`] ago, so that a
        /// rotation's new key wraps new data keys within seconds.
        fn fresh_keys(&self) -> Arc<Keys> {
            {
                let mut last = self.shared.last_refresh.lock().unwrap_or_else(PoisonError::into_inner);
                if last.is_some_and(|at| at.elapsed() < REFRESH_EVERY) {
                    return self.keys();
                }
                *last = Some(Instant::now());
            }
            self.reload().unwrap_or_else(|| self.keys())
        }

        /// The id of the current master key.
        pub fn master_key_id(&self) -> String {
            self.keys().current().id.clone()
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
            let stored = wrap(self.fresh_keys().current(), owner_table, owner_id, &key);
            (key, stored)
        }

        pub fn unwrap_for(
            &self,
            owner_table: &str,
            owner_id: impl Display,
            stored: &WrappedKey,
        ) -> Result<DataKey, DecryptError> {
            let keys = self.keys_with(&stored.master_key_id);
            let master = keys.get(&stored.master_key_id).ok_or(DecryptError)?;
            unwrap_with(master, owner_table, owner_id, stored)
        }

        /// `stored` wrapped under the current master key instead (the data key itself unchanged),
        /// or `None` when it already is.
        pub fn rewrap_for(
            &self,
            owner_table: &str,
            owner_id: impl Display + Copy,
            stored: &WrappedKey,
        ) -> Result<Option<WrappedKey>, DecryptError> {
            let keys = self.keys_with(&stored.master_key_id);
            if stored.master_key_id == keys.current().id {
                return Ok(None);
            }
            let master = keys.get(&stored.master_key_id).ok_or(DecryptError)?;
            let key = unwrap_with(master, owner_table, owner_id, stored)?;
            Ok(Some(wrap(keys.current(), owner_table, owner_id, &key)))
        }
    }

    fn wrap(master: &MasterKey, owner_table: &str, owner_id: impl Display, key: &DataKey) -> WrappedKey {
        let ad = wrap_ad(owner_table, owner_id, &key.id, &master.id);
        let wrapped = seal_raw(&master.key, &ad, key.key.as_slice());
        WrappedKey { key_id: key.id.clone(), wrapped, master_key_id: master.id.clone() }
    }

    fn unwrap_with(
        master: &MasterKey,
        owner_table: &str,
        owner_id: impl Display,
        stored: &WrappedKey,
    ) -> Result<DataKey, DecryptError> {
        let ad = wrap_ad(owner_table, owner_id, &stored.key_id, &master.id);
        let raw = open_raw(&master.key, &ad, &stored.wrapped)?;
        let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| DecryptError)?;
        Ok(DataKey { id: stored.key_id.clone(), key: Zeroizing::new(key) })
    }

    /// A small value sealed straight under a master key, and that key's id.
    pub struct Bound {
        pub sealed: String,
        pub master_key_id: String,
    }

    impl Keyring {
        /// Seals a small value straight under the current master key, bound to `table.column` of
        /// row `row_id` and to that key (a user's TOTP secret, SPEC §12.1).
        pub fn seal_bound(&self, table: &str, column: &str, row_id: impl Display, plaintext: &str) -> Bound {
            let keys = self.fresh_keys();
            let master = keys.current();
            let sealed = seal_raw(&master.key, &value_ad(table, column, row_id, &master.id), plaintext.as_bytes());
            Bound { sealed, master_key_id: master.id.clone() }
        }

        /// Opens a value of [`Keyring::seal_bound`]. An empty `master_key_id` (a value sealed
        /// before master keys were named beside it) tries each key.
        pub fn open_bound(
            &self,
            table: &str,
            column: &str,
            row_id: impl Display + Copy,
            master_key_id: &str,
            sealed: &str,
        ) -> Result<Zeroizing<String>, DecryptError> {
            let keys = self.keys_with(master_key_id);
            let candidates: Vec<&MasterKey> = match master_key_id {
                "" => keys.0.iter().collect(),
                id => keys.get(id).into_iter().collect(),
            };
            for master in candidates {
                if let Ok(bytes) = open_raw(&master.key, &value_ad(table, column, row_id, &master.id), sealed) {
                    return String::from_utf8(bytes.to_vec()).map(Zeroizing::new).map_err(|_| DecryptError);
                }
            }
            Err(DecryptError)
        }

        /// The value sealed under the current master key instead, or `None` when it already is.
        pub fn reseal_bound(
            &self,
            table: &str,
            column: &str,
            row_id: impl Display + Copy,
            master_key_id: &str,
            sealed: &str,
        ) -> Result<Option<Bound>, DecryptError> {
            if master_key_id == self.master_key_id() {
                return Ok(None);
            }
            let plaintext = self.open_bound(table, column, row_id, master_key_id, sealed)?;
            Ok(Some(self.seal_bound(table, column, row_id, &plaintext)))
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
            let Bound { sealed, master_key_id: id } = ring.seal_bound("user_totp", "secret_sealed", row, "MZXW6YTBOI");
            assert_eq!(
                ring.open_bound("user_totp", "secret_sealed", row, &id, &sealed).unwrap().as_str(),
                "MZXW6YTBOI"
            );
            assert_eq!(ring.open_bound("user_totp", "secret_sealed", row, "", &sealed).unwrap().as_str(), "MZXW6YTBOI");
            assert!(ring.open_bound("user_totp", "secret_sealed", Id::new(), &id, &sealed).is_err());
            let other = Keyring::new(b"another-master-secret-another-000");
            assert!(other.open_bound("user_totp", "secret_sealed", row, &id, &sealed).is_err());
            assert!(other.open_bound("user_totp", "secret_sealed", row, "", &sealed).is_err());
        }

        fn two_keys(old: &[u8], new: &[u8]) -> Keyring {
            let keys = Keys::new(vec![MasterKey::from_secret(old), MasterKey::from_secret(new)]).unwrap();
            Keyring::of(keys, None)
        }

        #[test]
        fn rewrapping_keeps_the_data_key_and_moves_it_to_the_current_master() {
            let (old, new) =
                (b"the-old-master-secret-the-old-000".as_slice(), b"the-new-master-secret-the-new-000".as_slice());
            let before = Keyring::new(old);
            let row = Id::new();
            let (key, stored) = before.new_data_key(row);
            let sealed = key.seal("reports", "narrative", row, "kept");
            let after = two_keys(old, new);
            assert_eq!(after.master_key_id(), MasterKey::from_secret(new).id());
            let opened = after.unwrap(row, &stored).unwrap();
            assert_eq!(
                opened.open("reports", "narrative", row, &sealed).unwrap(),
                "kept",
                "an earlier key still opens"
            );
            let moved = after.rewrap_for("reports", row, &stored).unwrap().expect("re-wrapped");
            assert_eq!(moved.master_key_id, after.master_key_id());
            assert_eq!(moved.key_id, stored.key_id);
            assert!(after.rewrap_for("reports", row, &moved).unwrap().is_none(), "already current");
            let only_new = Keyring::new(new);
            let reopened = only_new.unwrap(row, &moved).unwrap();
            assert_eq!(reopened.open("reports", "narrative", row, &sealed).unwrap(), "kept");
            assert!(only_new.unwrap(row, &stored).is_err(), "the old wrapping needs the old key");
            assert!(after.rewrap_for("reports", Id::new(), &stored).is_err(), "bound to its row");
        }

        #[test]
        fn resealing_a_bound_value_moves_it_to_the_current_master() {
            let (old, new) =
                (b"the-old-master-secret-the-old-000".as_slice(), b"the-new-master-secret-the-new-000".as_slice());
            let row = Id::new();
            let Bound { sealed, master_key_id } =
                Keyring::new(old).seal_bound("user_totp", "secret_sealed", row, "MZXW");
            let after = two_keys(old, new);
            let moved =
                after.reseal_bound("user_totp", "secret_sealed", row, &master_key_id, &sealed).unwrap().unwrap();
            assert_eq!(moved.master_key_id, after.master_key_id());
            let only_new = Keyring::new(new);
            assert_eq!(
                only_new
                    .open_bound("user_totp", "secret_sealed", row, &moved.master_key_id, &moved.sealed)
                    .unwrap()
                    .as_str(),
                "MZXW"
            );
            assert!(after
                .reseal_bound("user_totp", "secret_sealed", row, &moved.master_key_id, &moved.sealed)
                .unwrap()
                .is_none());
        }

        #[test]
        fn a_missing_master_key_is_reloaded() {
            let (old, new) =
                (b"the-old-master-secret-the-old-000".as_slice(), b"the-new-master-secret-the-new-000".as_slice());
            let row = Id::new();
            let (_, stored) = Keyring::new(new).new_data_key(row);
            let reload: Reload =
                Box::new(move || Keys::new(vec![MasterKey::from_secret(old), MasterKey::from_secret(new)]));
            let ring = Keyring::of(Keys::new(vec![MasterKey::from_secret(old)]).unwrap(), Some(reload));
            assert!(ring.unwrap(row, &stored).is_ok(), "the key made elsewhere is found by reloading");
            assert_eq!(ring.master_key_id(), MasterKey::from_secret(new).id());
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
