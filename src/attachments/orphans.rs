//! Blobs no row refers to. An upload writes its blobs before the transaction that records them;
//! a crash (or a failed transaction) between the two leaves blobs nothing refers to, and an
//! upload killed midway leaves a file in the store's `tmp/`. Neither can be read (no row holds
//! its name, and the data key sealing it lives with the row that never came), but both must go:
//! every instance sweeps them at start and then every hour. Only blobs older than
//! [`GRACE`] are considered, so an upload in progress in any instance is never touched.

use std::sync::Arc;
use std::time::Duration;

use crate::blobs::BlobStore;
use crate::db::{DbConn, Pool};

/// How old an unreferenced blob must be before it is removed: far longer than an upload takes
/// from its last write to its commit.
pub const GRACE: Duration = Duration::from_secs(3600);
const EVERY: Duration = Duration::from_secs(3600);
const BATCH: usize = 500;

/// Removes leftovers in `tmp/` and committed blobs no row refers to, all older than `grace`;
/// returns how many files went.
pub fn sweep(conn: &mut DbConn, store: &BlobStore, grace: Duration) -> Result<usize, String> {
    let mut removed = store.clean_tmp(grace).map_err(|e| format!("blob store: {e}"))?;
    let names = store.names_older_than(grace).map_err(|e| format!("blob store: {e}"))?;
    for batch in names.chunks(BATCH) {
        let referenced = super::store::referenced(conn, batch).map_err(|e| format!("database: {e}"))?;
        for name in batch.iter().filter(|name| !referenced.contains(name)) {
            store.delete(name).map_err(|e| format!("blob store: {e}"))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Deletes the blobs of files whose rows are gone (a shredded report's), after the transaction
/// that removed the rows committed. Best effort: a blob left behind (a crash, a store that does
/// not answer) has no row and no key any more, and the sweep removes it later.
pub fn delete_now(store: &BlobStore, names: &[String]) {
    for name in names {
        if let Err(e) = store.delete(name) {
            tracing::warn!(error = %e, "a shredded file's blob was not deleted; the sweep will");
        }
    }
}

/// The sweeping thread of a running instance.
pub struct Sweeper {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// Sweeps now and then every hour, on a thread of its own, until [`Sweeper::stop`].
pub fn spawn(pool: Pool, store: Arc<BlobStore>) -> std::io::Result<Sweeper> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new().name("blob-sweeper".into()).spawn(move || loop {
        let result = pool.get().map_err(|e| format!("pool: {e}")).and_then(|mut conn| sweep(&mut conn, &store, GRACE));
        match result {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "unreferenced blobs removed"),
            Err(cause) => tracing::warn!(%cause, "blob sweep failed; retrying later"),
        }
        if stopped.recv_timeout(EVERY) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            return;
        }
    })?;
    Ok(Sweeper { stop, thread })
}

impl Sweeper {
    /// Returns once the thread has ended and let go of the pool (so a clean stop closes every
    /// connection, and SQLite folds its WAL in).
    pub fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::warn!("blob sweeper thread panicked");
        }
    }
}
