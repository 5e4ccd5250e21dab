//! The blob store on the local filesystem (SPEC §11): sealed files under the data folder.
//!
//! A blob is written to `tmp/` first and becomes visible under its final name only by
//! `rename` after its bytes and its folder are on disk, so a crash leaves either a whole blob or
//! a leftover in `tmp/`, never a partial blob under a final name. Leftovers are removed by
//! [`LocalStore::clean_tmp`] at start. Names are random: they say nothing about the file, its
//! report or its order.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub struct LocalStore {
    root: PathBuf,
}

/// A random 128-bit name, in hex.
fn new_name() -> String {
    hex::encode(crate::crypto::random_bytes::<16>())
}

/// A name this store could have given: 32 lowercase hex digits (so no path can be smuggled in).
pub(crate) fn valid(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn invalid_name() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a blob name")
}

/// Makes a folder's entries (a new or renamed file in it) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl LocalStore {
    /// The store in `root`, created (mode 0700) if missing.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let store = LocalStore::at(root);
        store.ensure()?;
        Ok(store)
    }

    /// The store in `root`, without touching the disk: its folders are made by the first write.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the store's folders (mode 0700) if missing.
    fn ensure(&self) -> io::Result<()> {
        for dir in [self.root.clone(), self.root.join("tmp")] {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&dir)?;
        }
        Ok(())
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        if !valid(name) {
            return Err(invalid_name());
        }
        Ok(self.root.join(&name[..2]).join(name))
    }

    /// A new blob being written; it exists under its name only after [`PendingBlob::commit`].
    pub fn create(&self) -> io::Result<PendingBlob> {
        let name = new_name();
        let tmp = self.root.join("tmp").join(&name);
        if !tmp.parent().is_some_and(Path::is_dir) {
            self.ensure()?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&tmp)?;
        let path = self.path(&name)?;
        Ok(PendingBlob { file, tmp, path, name, committed: false })
    }

    pub fn open_blob(&self, name: &str) -> io::Result<File> {
        File::open(self.path(name)?)
    }

    /// Removes a blob; a blob already gone is not an error (deleting is idempotent).
    pub fn delete(&self, name: &str) -> io::Result<()> {
        let path = self.path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => path.parent().map_or(Ok(()), sync_dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes what interrupted writes left in `tmp/` at least `older_than` ago; returns how
    /// many. The age spares writes in progress in this or another instance sharing the folder.
    pub fn clean_tmp(&self, older_than: Duration) -> io::Result<usize> {
        let mut removed = 0;
        if !self.root.join("tmp").is_dir() {
            return Ok(0);
        }
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            if older(&entry, older_than)? {
                remove_if_present(&entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The names of the committed blobs written at least `older_than` ago: what an orphan sweep
    /// compares with the blobs the database refers to.
    pub fn names_older_than(&self, older_than: Duration) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        if !self.root.is_dir() {
            return Ok(names);
        }
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            let prefix = dir.file_name();
            if prefix.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if valid(&name) && older(&entry, older_than)? {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }
}

fn older(entry: &fs::DirEntry, age: Duration) -> io::Result<bool> {
    let modified = entry.metadata()?.modified()?;
    Ok(SystemTime::now().duration_since(modified).is_ok_and(|elapsed| elapsed >= age))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A blob being written. Dropped without [`commit`](PendingBlob::commit), it is removed.
pub struct PendingBlob {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    name: String,
    committed: bool,
}

impl PendingBlob {
    /// The name the blob will have.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bytes written so far, read from the start (to upload a spooled blob elsewhere).
    pub fn reopen(&mut self) -> io::Result<File> {
        self.file.flush()?;
        File::open(&self.tmp)
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Makes the blob durable under its name, which it returns: the bytes are flushed to disk,
    /// then the file is renamed into place and both folders are flushed.
    pub fn commit(mut self) -> io::Result<String> {
        self.file.sync_all()?;
        let dir = self.path.parent().ok_or_else(invalid_name)?;
        fs::create_dir_all(dir)?;
        fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        sync_dir(dir)?;
        if let Some(tmp_dir) = self.tmp.parent() {
            sync_dir(tmp_dir)?;
        }
        Ok(std::mem::take(&mut self.name))
    }
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: whatever is left is removed by `clean_tmp` at the next start.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = LocalStore::open(dir.path().join("blobs")).unwrap_or_else(|e| panic!("{e}"));
        (dir, store)
    }

    fn tmp_entries(dir: &tempfile::TempDir) -> usize {
        fs::read_dir(dir.path().join("blobs/tmp")).map(|d| d.count()).unwrap_or(usize::MAX)
    }

    #[test]
    fn a_committed_blob_reads_back_and_deletes() {
        let (dir, store) = store();
        let mut blob = store.create().unwrap_or_else(|e| panic!("{e}"));
        blob.write_all(b"sealed bytes").unwrap_or_else(|e| panic!("{e}"));
        let name = blob.commit().unwrap_or_else(|e| panic!("{e}"));
        assert!(valid(&name));
        let mut read = Vec::new();
        store.open_blob(&name).and_then(|mut f| f.read_to_end(&mut read)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, b"sealed bytes");
        assert_eq!(tmp_entries(&dir), 0);
        store.delete(&name).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.open_blob(&name).is_err());
        assert!(store.delete(&name).is_ok(), "deleting twice is fine");
    }

    #[test]
    fn an_abandoned_blob_leaves_nothing_under_a_name() {
        let (dir, store) = store();
        let mut blob = store.create().unwrap_or_else(|e| panic!("{e}"));
        blob.write_all(b"half").unwrap_or_else(|e| panic!("{e}"));
        drop(blob);
        assert_eq!(tmp_entries(&dir), 0);
        // What a killed process leaves (a file in tmp/) is removed at the next start.
        let blob = store.create().unwrap_or_else(|e| panic!("{e}"));
        std::mem::forget(blob);
        assert_eq!(tmp_entries(&dir), 1);
        assert_eq!(store.clean_tmp(Duration::from_secs(3600)).ok(), Some(0), "a recent write is spared");
        assert_eq!(store.clean_tmp(Duration::ZERO).ok(), Some(1));
        assert_eq!(tmp_entries(&dir), 0);
        let names: Vec<_> = fs::read_dir(dir.path().join("blobs")).map(|d| d.count()).into_iter().collect();
        assert_eq!(names, [1], "only tmp/ is left");
    }

    #[test]
    fn committed_names_are_listed_by_age() {
        let (_dir, store) = store();
        let blob = store.create().unwrap_or_else(|e| panic!("{e}"));
        let name = blob.commit().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.names_older_than(Duration::ZERO).ok(), Some(vec![name]));
        assert_eq!(store.names_older_than(Duration::from_secs(3600)).ok(), Some(vec![]));
    }

    #[test]
    fn names_that_are_not_ours_are_refused() {
        let (_dir, store) = store();
        for name in ["../../etc/passwd", "", "ABCDEF0123456789ABCDEF0123456789", "tmp"] {
            assert!(store.open_blob(name).is_err());
            assert_eq!(store.delete(name).map_err(|e| e.kind()), Err(io::ErrorKind::InvalidInput));
        }
    }
}
