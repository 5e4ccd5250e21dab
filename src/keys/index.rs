//! The index key (SPEC §13): receipts, reporters' login names, owner tags, throttles, recovery
//! codes and form tokens are keyed HMACs under keys derived from it. It is not a master key and no
//! rotation changes it, so every receipt keeps working across rotations. A deployment from before
//! the keyring adopts its old data key as the index key, which derives the same keys as before.
//!
//! The database holds a fingerprint of it, checked at start: started with another index key, the
//! service would silently find no receipt and no reporter login, so it refuses to start instead.

use diesel::prelude::*;

use crate::db::schema::key_fingerprints;
use crate::db::{write_tx, DbConn};
use crate::db_run;
use crate::error::AppError;

const PURPOSE: &str = "index";

/// A fingerprint of the index key: a keyed digest that reveals nothing of the key.
pub fn fingerprint(secret: &[u8]) -> String {
    hex::encode(&crate::crypto::derive_key(secret, "index-key-fingerprint")[..16])
}

#[derive(Debug, thiserror::Error)]
pub enum IndexKeyError {
    #[error(
        "TIPLINE_INDEX_KEY: this is not the index key the database was written with; receipts and reporter logins would stop working. Restore the index key (DATA_DIR/index_key or TIPLINE_INDEX_KEY) of this database"
    )]
    Mismatch,
    #[error(transparent)]
    App(#[from] AppError),
}

/// Records the fingerprint of `secret` the first time; afterwards checks it is the same.
pub fn check(conn: &mut DbConn, secret: &[u8]) -> Result<(), IndexKeyError> {
    let ours = fingerprint(secret);
    let stored = write_tx(conn, |conn| {
        let stored: Option<String> = db_run!(conn: {
            key_fingerprints::table
                .find(PURPOSE)
                .select(key_fingerprints::fingerprint)
                .first(conn)
                .optional()?
        });
        if stored.is_none() {
            let row = (
                key_fingerprints::purpose.eq(PURPOSE),
                key_fingerprints::fingerprint.eq(&ours),
                key_fingerprints::created_at.eq(crate::db::now()),
            );
            db_run!(conn: { diesel::insert_into(key_fingerprints::table).values(row).execute(conn)? });
        }
        Ok::<_, AppError>(stored)
    })?;
    match stored {
        Some(theirs) if theirs != ours => Err(IndexKeyError::Mismatch),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_differ_by_key_and_hide_it() {
        let (a, b) = (super::fingerprint(b"key-a"), super::fingerprint(b"key-b"));
        assert_ne!(a, b);
        assert_eq!(a, super::fingerprint(b"key-a"));
        assert_eq!(a.len(), 32);
    }
}
