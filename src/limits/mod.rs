//! Cluster-wide token buckets of the anonymous write endpoints (SPEC §12.3): submission,
//! registration, failed receipt exchanges and evidence file uploads. Each bucket is
//! one row in the database, so every instance on one database draws from the same bucket; nothing
//! is keyed by who asks (no IP, no account). A request that finds its bucket empty gets 429 with
//! `Retry-After`; the first refusal after a bucket ran dry is audited (`rate.limited`), later
//! ones are not, so a flood cannot grow the audit trail.
//!
//! A token is taken in a transaction of its own, before the request's write transaction starts
//! ([`store::take`]), never inside it: a bucket row updated inside every submission's
//! transaction would stay locked until that transaction's commit and serialise every
//! submission behind it. Taken on its own, the row is locked for one read and one update, and
//! the commit does not wait for the disk ([`crate::db::quick_tx`]): a token lost in a crash
//! is harmless. We chose this over sharding the bucket: one row per bucket keeps the rate exact
//! across instances and the code small, and the row is held for well under a millisecond.

pub mod rules;
pub mod store;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Action, Actor, Context};
use crate::db::schema::rate_buckets;
use crate::db::{self, write_tx};
use crate::error::AppError;
use crate::http::RequestId;
use crate::state::AppState;

crate::text_enum! {
    /// The buckets, each with its own rate (`TIPLINE_RATE_*`).
    pub enum Bucket {
        ReceiptFailures = "receipt_failures",
        Register = "register",
        Submit = "submit",
        Upload = "upload",
    }
}

/// Requests per minute, cluster-wide, for each bucket; `None` switches a bucket off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub submit: Option<u32>,
    pub register: Option<u32>,
    pub receipt_failures: Option<u32>,
    /// For evidence file uploads (SPEC §11).
    pub upload: Option<u32>,
}

impl Rates {
    /// Sized for a busy tipline, not for a flood: a news story that sends people to the service
    /// brings dozens of reports an hour, not thousands a minute. Each bucket holds one minute's
    /// worth, so a burst of that size passes at once. Failed receipt exchanges are mistypes, a few
    /// an hour; 30 a minute bounds guessing at 43 200 a day, nothing against 100-bit receipts.
    pub const DEFAULT: Rates =
        Rates { submit: Some(120), register: Some(60), receipt_failures: Some(30), upload: Some(600) };

    pub fn of(&self, bucket: Bucket) -> Option<u32> {
        match bucket {
            Bucket::Submit => self.submit,
            Bucket::Register => self.register,
            Bucket::ReceiptFailures => self.receipt_failures,
            Bucket::Upload => self.upload,
        }
    }
}

impl Default for Rates {
    fn default() -> Self {
        Rates::DEFAULT
    }
}

/// A bucket's level as of `updated_at`.
#[derive(Debug, Clone, Copy, PartialEq, Queryable, Selectable)]
#[diesel(table_name = rate_buckets)]
pub struct Level {
    pub tokens: f64,
    pub updated_at: NaiveDateTime,
    /// A refusal has been audited since the bucket last gave a token.
    pub exhausted: bool,
}

/// Takes a token of `bucket`, or answers 429 with the seconds until one is there. Call before
/// the request's own write transaction, not inside it (see the module's comment).
pub async fn take(state: &AppState, bucket: Bucket, rid: &RequestId) -> Result<(), AppError> {
    let Some(rate) = state.rates.of(bucket) else { return Ok(()) };
    let context = Context::new(Actor::anonymous(), rid);
    db::run(&state.pool, move |conn| {
        let Err(refusal) = store::take(conn, bucket, rate, db::now())? else { return Ok(()) };
        if refusal.first {
            write_tx(conn, |conn| {
                let entry =
                    context.entry(Action::RateLimited).details(json!({"bucket": bucket, "rate_per_minute": rate}));
                audit::record(conn, entry)
            })?;
        }
        Err(AppError::TooManyRequests { retry_after_secs: refusal.retry_after_secs })
    })
    .await
}

/// Gives back a token taken with [`take`], for a bucket that counts failures only.
pub async fn give_back(state: &AppState, bucket: Bucket) -> Result<(), AppError> {
    let Some(rate) = state.rates.of(bucket) else { return Ok(()) };
    db::run(&state.pool, move |conn| Ok(store::give_back(conn, bucket, rate, db::now())?)).await
}

/// Removes expired login-throttle rows once a minute, for as long as the server runs.
pub async fn sweep_forever(pool: db::Pool) {
    let mut every_minute = actix_web::rt::time::interval(std::time::Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        let swept = db::run(&pool, |conn| Ok(crate::auth::store::sweep_throttle(conn, db::now())?)).await;
        match swept {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "expired login-throttle rows removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove expired login-throttle rows"),
        }
    }
}
