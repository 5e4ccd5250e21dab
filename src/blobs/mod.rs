//! Evidence files at rest (SPEC §11): sealed as a stream ([`sealed`]) into a blob store
//! ([`local`], or an object store: [`object`]). What is stored never holds a plaintext byte or a file's name. What staff see by
//! default is a clean copy ([`clean`]): the real type from the bytes, the metadata dropped.

pub mod clean;
pub mod local;
pub mod object;
pub mod sealed;

use std::io::{self, Read};
use std::time::Duration;

use zeroize::Zeroizing;

pub use local::LocalStore;
pub use object::ObjectBackend;

/// Where sealed blobs live: the local folder (`TIPLINE_BLOB_DIR`, the default) or an object
/// store (`TIPLINE_BLOB_URL`).
pub enum BlobStore {
    Local(LocalStore),
    Object(ObjectBackend),
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobStore::Local(store) => write!(f, "BlobStore::Local({})", store.root().display()),
            BlobStore::Object(_) => f.write_str("BlobStore::Object"),
        }
    }
}

impl BlobStore {
    pub fn create(&self) -> io::Result<local::PendingBlob> {
        match self {
            BlobStore::Local(store) => store.create(),
            BlobStore::Object(store) => store.create(),
        }
    }

    /// Makes a written blob durable under its name, which it returns.
    pub fn commit(&self, blob: local::PendingBlob) -> io::Result<String> {
        match self {
            BlobStore::Local(_) => blob.commit(),
            BlobStore::Object(store) => store.commit(blob),
        }
    }

    pub fn open(&self, name: &str) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            BlobStore::Local(store) => Box::new(store.open_blob(name)?),
            BlobStore::Object(store) => Box::new(store.open(name)?),
        })
    }

    /// Removes a blob; one already gone is not an error.
    pub fn delete(&self, name: &str) -> io::Result<()> {
        match self {
            BlobStore::Local(store) => store.delete(name),
            BlobStore::Object(store) => store.delete(name),
        }
    }

    pub fn clean_tmp(&self, older_than: Duration) -> io::Result<usize> {
        match self {
            BlobStore::Local(store) => store.clean_tmp(older_than),
            BlobStore::Object(store) => store.clean_tmp(older_than),
        }
    }

    pub fn names_older_than(&self, older_than: Duration) -> io::Result<Vec<String>> {
        match self {
            BlobStore::Local(store) => store.names_older_than(older_than),
            BlobStore::Object(store) => store.names_older_than(older_than),
        }
    }
}
use sealed::{Opener, SealError, Sealer, HEADER_LEN};

/// Bytes read from a blob per step of a download.
const READ_STEP: usize = 4 * (sealed::CHUNK + 16);

/// A file being sealed into the store as its bytes arrive.
pub struct SealedWriter {
    blob: local::PendingBlob,
    sealer: Sealer,
    written: u64,
}

impl SealedWriter {
    pub fn create(store: &BlobStore, key: &[u8; 32], aad: &[u8]) -> io::Result<Self> {
        let mut blob = store.create()?;
        let (sealer, header) = Sealer::new(key, aad);
        blob.write_all(&header)?;
        Ok(SealedWriter { blob, sealer, written: 0 })
    }

    pub fn write(&mut self, plaintext: &[u8]) -> io::Result<()> {
        let sealed = self.sealer.update(plaintext).map_err(io::Error::other)?;
        self.blob.write_all(&sealed)?;
        self.written += plaintext.len() as u64;
        Ok(())
    }

    /// Plaintext bytes taken so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Seals the last chunk and makes the blob durable in `store` (where it was created);
    /// returns its name.
    pub fn commit(mut self, store: &BlobStore) -> io::Result<String> {
        let last = self.sealer.finish().map_err(io::Error::other)?;
        self.blob.write_all(&last)?;
        store.commit(self.blob)
    }
}

/// A sealed blob opened for reading, a step at a time.
pub struct SealedReader {
    file: Box<dyn Read + Send>,
    opener: Option<Opener>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("blob store: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Corrupt(#[from] SealError),
}

impl SealedReader {
    pub fn open(store: &BlobStore, name: &str, key: &[u8; 32], aad: &[u8]) -> Result<Self, ReadError> {
        let mut file = store.open(name)?;
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header).map_err(|_| SealError::Corrupt)?;
        let opener = Opener::new(key, aad, &header)?;
        Ok(SealedReader { file, opener: Some(opener) })
    }

    /// The next plaintext bytes (possibly none while a chunk is incomplete), or `None` once the
    /// whole file was read and its last chunk authenticated. A cut-off, reordered or altered
    /// file fails at the chunk where it differs.
    pub fn next_step(&mut self) -> Option<Result<Vec<u8>, ReadError>> {
        let opener = self.opener.as_mut()?;
        let mut buf = vec![0u8; READ_STEP];
        let read = match read_full(&mut self.file, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                self.opener = None;
                return Some(Err(e.into()));
            }
        };
        let mut plain = match opener.update(&buf[..read]) {
            Ok(plain) => plain,
            Err(e) => {
                self.opener = None;
                return Some(Err(e.into()));
            }
        };
        if read < buf.len() {
            let result = self.opener.take().map(Opener::finish)?;
            match result {
                Ok(last) => plain.extend_from_slice(&last),
                Err(e) => return Some(Err(e.into())),
            }
        }
        Some(Ok(plain))
    }

    /// The whole file in memory (for the cleaner, which bounds the size it is given).
    pub fn read_all(mut self) -> Result<Zeroizing<Vec<u8>>, ReadError> {
        let mut all = Zeroizing::new(Vec::new());
        while let Some(step) = self.next_step() {
            all.extend_from_slice(&step?);
        }
        Ok(all)
    }
}

/// Fills `buf` unless the file ends first; returns the bytes read.
fn read_full(file: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = LocalStore::open(dir.path().join("blobs")).unwrap_or_else(|e| panic!("{e}"));
        (dir, BlobStore::Local(store))
    }

    fn write(store: &BlobStore, data: &[u8]) -> String {
        let mut w = SealedWriter::create(store, &[3; 32], b"aad").unwrap_or_else(|e| panic!("{e}"));
        for part in data.chunks(10_000) {
            w.write(part).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(w.written(), data.len() as u64);
        w.commit(store).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_sealed_blob_reads_back_in_steps() {
        let (_dir, store) = store();
        for len in [0, 1, sealed::CHUNK, READ_STEP, 3 * READ_STEP + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let name = write(&store, &data);
            let reader = SealedReader::open(&store, &name, &[3; 32], b"aad").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(reader.read_all().map(|v| v.to_vec()).ok(), Some(data), "{len} bytes");
            assert!(SealedReader::open(&store, &name, &[3; 32], b"other").and_then(|r| r.read_all()).is_err());
        }
    }

    #[test]
    fn a_cut_blob_does_not_read() {
        let (dir, store) = store();
        let data = vec![9u8; 3 * sealed::CHUNK];
        let name = write(&store, &data);
        let path = dir.path().join("blobs").join(&name[..2]).join(&name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, &bytes[..HEADER_LEN + 2 * (sealed::CHUNK + 16)]).unwrap_or_else(|e| panic!("{e}"));
        let reader = SealedReader::open(&store, &name, &[3; 32], b"aad").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(reader.read_all(), Err(ReadError::Corrupt(_))));
    }
}
