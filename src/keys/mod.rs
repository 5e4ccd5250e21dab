//! The keyring file (SPEC §13): the master keys that wrap every data key, one per line, the
//! last being the current one. `tipline keys rotate` appends a key and re-wraps every data key
//! under it ([`rotation`]); `tipline keys retire ID` removes a key once nothing is wrapped under
//! it. Running instances read the file again every few seconds before wrapping, and at once when a
//! stored key names a master key they lack, so a rotation needs no restart. The file is written
//! whole to a temporary file, synced and renamed over the old one, so a crash leaves the old
//! keyring or the new one, never a mix.
//!
//! Receipts, login names, owner tags and throttles are keyed by a separate index key
//! (`TIPLINE_INDEX_KEY`), never by a master key, so rotating never breaks them.

pub mod index;
pub mod rotation;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::crypto::envelope::{Keyring, Keys, MasterKey};

/// The shortest secret a key line may hold.
const MIN_SECRET_BYTES: usize = 32;

const HEADER: &str = "\
# Tipline keyring (SPEC §13): one master key a line, \"<id> <secret>\"; the last is the current one.
# Keep it secret and back it up apart from the database: without it no report can be read.
# Change it only with `tipline keys rotate` and `tipline keys retire ID`.
";

/// One line of the keyring file.
pub struct Entry {
    pub id: String,
    secret: Zeroizing<String>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Entry {
    fn from_secret(secret: Zeroizing<String>) -> Entry {
        Entry { id: MasterKey::from_secret(secret.as_bytes()).id().to_string(), secret }
    }

    fn master_key(&self) -> MasterKey {
        MasterKey::from_secret(self.secret.as_bytes())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyringError(pub String);

/// Reads the lines of a keyring file: comments and blank lines skipped; each id must be the one
/// its secret gives (a line damaged or pasted wrong is caught here, not when a report fails to
/// open); no key twice; at least one key.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, secret) = line.split_once(' ').ok_or_else(|| format!("line {n}: expected \"<id> <secret>\""))?;
        let secret = Zeroizing::new(secret.trim().to_string());
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!("line {n}: the secret is shorter than {MIN_SECRET_BYTES} bytes"));
        }
        let entry = Entry::from_secret(secret);
        if entry.id != id {
            return Err(format!("line {n}: the id does not match its secret"));
        }
        if entries.iter().any(|e| e.id == entry.id) {
            return Err(format!("line {n}: key {id} is listed twice"));
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err("it holds no key".into());
    }
    Ok(entries)
}

fn render(entries: &[Entry]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(HEADER.to_string());
    for entry in entries {
        text.push_str(&entry.id);
        text.push(' ');
        text.push_str(&entry.secret);
        text.push('\n');
    }
    text
}

/// The keys of `entries`, the last current.
fn keys_of(entries: &[Entry]) -> Option<Keys> {
    Keys::new(entries.iter().map(Entry::master_key).collect())
}

/// A keyring file.
#[derive(Debug, Clone)]
pub struct KeyringFile {
    pub path: PathBuf,
}

impl KeyringFile {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        KeyringFile { path: path.into() }
    }

    pub fn read(&self) -> Result<Vec<Entry>, KeyringError> {
        let text = Zeroizing::new(
            fs::read_to_string(&self.path)
                .map_err(|e| KeyringError(format!("cannot read the keyring {}: {e}", self.path.display())))?,
        );
        parse(&text).map_err(|e| KeyringError(format!("the keyring {}: {e}", self.path.display())))
    }

    /// [`KeyringFile::open`], the file created first with the one key `first` (or a new random
    /// one) when it does not exist yet.
    pub fn open_or_create(&self, first: Option<&[u8]>) -> Result<Keyring, KeyringError> {
        if !self.path.exists() {
            let secret = match first {
                Some(secret) => Zeroizing::new(
                    String::from_utf8(secret.to_vec())
                        .map_err(|_| KeyringError("TIPLINE_DATA_KEY: must be text".into()))?
                        .trim()
                        .to_string(),
                ),
                None => new_secret(),
            };
            if secret.contains(char::is_whitespace) {
                return Err(KeyringError("TIPLINE_DATA_KEY: must not contain spaces".into()));
            }
            match self.write(&[Entry::from_secret(secret)], true) {
                Ok(()) => {}
                // Another instance created it first: read theirs.
                Err(_) if self.path.exists() => {}
                Err(e) => return Err(e),
            }
        }
        self.open()
    }

    /// The keyring of the file, which reloads it as the module documentation says.
    pub fn open(&self) -> Result<Keyring, KeyringError> {
        let seen = std::sync::Mutex::new(self.version());
        let keys = keys_of(&self.read()?).ok_or_else(|| KeyringError("the keyring holds no key".into()))?;
        let file = self.clone();
        let reload: crate::crypto::envelope::Reload = Box::new(move || {
            let now = file.version();
            let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if now.is_none() || *seen == now {
                return None;
            }
            match file.read() {
                Ok(entries) => {
                    *seen = now;
                    keys_of(&entries)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the keyring could not be read again; the keys read before stay in use");
                    None
                }
            }
        });
        Ok(Keyring::of(keys, Some(reload)))
    }

    /// What tells one version of the file from the next (it is replaced by a rename, so a new
    /// version is a new file); `None` when it cannot be read.
    fn version(&self) -> Option<(std::time::SystemTime, u64, u64)> {
        let meta = fs::metadata(&self.path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some((meta.modified().ok()?, meta.len(), inode))
    }

    /// How long ago the file was last written; `None` when that cannot be told.
    pub fn age(&self) -> Option<std::time::Duration> {
        fs::metadata(&self.path).ok()?.modified().ok()?.elapsed().ok()
    }

    /// Appends a new random key, which becomes the current one; returns its id.
    pub fn add_new_key(&self) -> Result<String, KeyringError> {
        let mut entries = self.read()?;
        let entry = Entry::from_secret(new_secret());
        let id = entry.id.clone();
        entries.push(entry);
        self.write(&entries, false)?;
        Ok(id)
    }

    /// Removes key `id` (the caller has checked that nothing is wrapped under it).
    pub fn remove_key(&self, id: &str) -> Result<(), KeyringError> {
        let mut entries = self.read()?;
        entries.retain(|e| e.id != id);
        if entries.is_empty() {
            return Err(KeyringError("the last key of the keyring cannot be removed".into()));
        }
        self.write(&entries, false)
    }

    /// Writes the whole file: a private temporary file beside it, synced, renamed over it (or,
    /// with `create`, linked only if none exists), then the folder synced.
    fn write(&self, entries: &[Entry], create: bool) -> Result<(), KeyringError> {
        let fail = |e: std::io::Error| KeyringError(format!("cannot write the keyring {}: {e}", self.path.display()));
        let folder = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&folder).map_err(fail)?;
        let temporary = folder.join(format!(".keyring-{}.tmp", hex::encode(crate::crypto::random_bytes::<8>())));
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(render(entries).as_bytes())?;
            file.sync_all()?;
            if create {
                fs::hard_link(&temporary, &self.path)?;
            } else {
                fs::rename(&temporary, &self.path)?;
            }
            fs::File::open(&folder)?.sync_all()
        })();
        let _ = fs::remove_file(&temporary);
        result.map_err(fail)
    }

    /// Holds the lock that lets one rotation or retirement run at a time on this keyring (the
    /// lock ends with the process, however it ends). `None` when another holds it.
    pub fn try_lock(&self) -> Result<Option<fs::File>, KeyringError> {
        let path = self.path.with_extension("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| KeyringError(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(KeyringError(format!("cannot lock {}: {e}", path.display()))),
        }
    }
}

fn new_secret() -> Zeroizing<String> {
    Zeroizing::new(hex::encode(crate::crypto::random_bytes::<32>()))
}

/// Where the keyring is: `TIPLINE_KEYRING`, else `DATA_DIR/keyring`.
pub fn path(configured: Option<String>, data_dir: &Path) -> PathBuf {
    configured.map_or_else(|| data_dir.join("keyring"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn line(secret: &str) -> String {
        format!("{} {secret}\n", MasterKey::from_secret(secret.as_bytes()).id())
    }

    #[test]
    fn the_last_key_is_current() {
        let entries = parse(&format!("# comment\n\n{}{}", line(A), line(B))).unwrap();
        let keys = keys_of(&entries).unwrap();
        assert_eq!(keys.current().id(), MasterKey::from_secret(B.as_bytes()).id());
        assert_eq!(keys.ids().count(), 2);
    }

    #[test]
    fn damaged_files_are_refused_with_the_line() {
        assert!(parse("# only a comment\n").unwrap_err().contains("no key"));
        assert!(parse(&format!("0000000000000000 {A}\n")).unwrap_err().contains("line 1: the id does not match"));
        assert!(parse(&format!("{}{}", line(A), line(A))).unwrap_err().contains("line 2"));
        assert!(parse("abc short\n").unwrap_err().contains("shorter"));
        assert!(parse("nospace\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn rendering_reads_back() {
        let entries = parse(&format!("{}{}", line(A), line(B))).unwrap();
        let again = parse(&render(&entries)).unwrap();
        assert_eq!(
            again.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_file_is_created_rotated_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyringFile::at(dir.path().join("keyring"));
        let ring = file.open_or_create(Some(A.as_bytes())).unwrap();
        let first = ring.master_key_id();
        assert_eq!(first, MasterKey::from_secret(A.as_bytes()).id(), "an existing key is adopted as it is");
        let second = file.add_new_key().unwrap();
        assert_eq!(file.open().unwrap().master_key_id(), second);
        file.remove_key(&first).unwrap();
        assert_eq!(file.read().unwrap().len(), 1);
        assert!(file.remove_key(&second).is_err(), "never the last key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&file.path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let held = file.try_lock().unwrap();
        assert!(held.is_some());
    }
}
