//! A blob store behind the `object_store` crate (SPEC §11): S3-compatible services (built with
//! `--features s3`), or a folder through `file://`. Configured by `TIPLINE_BLOB_URL`.
//!
//! What the service writes is sealed before it goes anywhere, so a blob is spooled to the local
//! store's `tmp/` as ciphertext while it arrives and uploaded once complete: an object exists
//! under its name only once it is whole (a multipart upload becomes visible at its completion).
//! Reads stream the object. The crate is asynchronous and the blob code runs on blocking
//! threads, so the store has a small runtime of its own to drive its requests.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::web::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

use super::local::{self, LocalStore, PendingBlob};

/// Bytes sent per part of a multipart upload.
const PART: usize = 8 << 20;

pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Where blobs are spooled while they arrive (ciphertext only).
    spool: LocalStore,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for ObjectBackend {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed on an async thread (where the last
        // handle on the application state may go): let it wind down on its own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl ObjectBackend {
    /// The store at `url` (`s3://bucket/prefix`, `file:///folder`, `memory:///`), with options
    /// such as `aws_access_key_id` or `aws_endpoint` taken from `options`.
    pub fn new(
        url: &url::Url,
        options: impl IntoIterator<Item = (String, String)>,
        spool: LocalStore,
    ) -> Result<Self, String> {
        if url.scheme() == "file" {
            // The crate's local store wants its folder to exist.
            std::fs::create_dir_all(url.path()).map_err(|e| format!("cannot create the folder: {e}"))?;
        }
        let (store, prefix) = object_store::parse_url_opts(url, options).map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("blob-store")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(ObjectBackend { store: Arc::from(store), prefix, spool, runtime: Some(runtime) })
    }

    /// Runs a request of the store to its end. Blob code runs on blocking threads; never call
    /// this from an async task.
    fn block_on<T>(&self, request: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
        let runtime = self.runtime.as_ref().ok_or_else(|| other("the blob store is shutting down"))?;
        runtime.block_on(request)
    }

    fn handle(&self) -> io::Result<tokio::runtime::Handle> {
        Ok(self.runtime.as_ref().ok_or_else(|| other("the blob store is shutting down"))?.handle().clone())
    }

    fn path(&self, name: &str) -> io::Result<Path> {
        if !local::valid(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a blob name"));
        }
        Ok(self.prefix.clone().join(&name[..2]).join(name))
    }

    pub fn create(&self) -> io::Result<PendingBlob> {
        self.spool.create()
    }

    /// Uploads a spooled blob under its name, then removes the spool file.
    pub fn commit(&self, mut blob: PendingBlob) -> io::Result<String> {
        let name = blob.name().to_string();
        let path = self.path(&name)?;
        let mut file = blob.reopen()?;
        let store = self.store.clone();
        self.block_on(async move {
            let upload = store.put_multipart(&path).await.map_err(other)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(2).await.map_err(other)?;
                writer.write(&buf[..n]);
            }
            writer.finish().await.map_err(other).map(|_| ())
        })?;
        drop(blob);
        Ok(name)
    }

    pub fn open(&self, name: &str) -> io::Result<ObjectReader> {
        let path = self.path(name)?;
        let store = self.store.clone();
        let stream = self.block_on(async move {
            store.get(&path).await.map_err(|e| match e {
                object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, "no such blob"),
                e => other(e),
            })
        })?;
        Ok(ObjectReader { handle: self.handle()?, stream: stream.into_stream(), pending: Bytes::new() })
    }

    pub fn delete(&self, name: &str) -> io::Result<()> {
        let path = self.path(name)?;
        let store = self.store.clone();
        self.block_on(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(other(e)),
            }
        })
    }

    /// Spool leftovers of interrupted uploads older than `older_than`.
    pub fn clean_tmp(&self, older_than: Duration) -> io::Result<usize> {
        self.spool.clean_tmp(older_than)
    }

    pub fn names_older_than(&self, older_than: Duration) -> io::Result<Vec<String>> {
        let store = self.store.clone();
        let prefix = self.prefix.clone();
        let cutoff = SystemTime::now() - older_than;
        self.block_on(async move {
            let mut names = Vec::new();
            let mut listing = store.list(Some(&prefix));
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(other)?;
                let Some(name) = meta.location.filename() else { continue };
                if local::valid(name) && SystemTime::from(meta.last_modified) <= cutoff {
                    names.push(name.to_string());
                }
            }
            Ok(names)
        })
    }
}

/// An object read as a stream, a piece at a time, from a blocking thread.
pub struct ObjectReader {
    handle: tokio::runtime::Handle,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    pending: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(bytes)) => self.pending = bytes,
                Some(Err(e)) => return Err(other(e)),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}
