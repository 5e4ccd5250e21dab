//! The retention sweeper (SPEC §13): every instance runs one on a thread of its own. Each report
//! is shredded in a transaction of its own, claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL
//! (SQLite: the write lock), so several instances sharing a database never take the same report,
//! and a sweeper killed at any moment leaves every report whole or shredded; the next pass, here
//! or in another instance, carries on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{rules, store, Policy, Reason};
use crate::audit::Context;
use crate::blobs::BlobStore;
use crate::db::{self, write_tx, DbConn, Pool};
use crate::error::AppError;

/// Reports shredded per batch; a pass runs batches until nothing is due.
pub const BATCH: usize = 100;

/// How often the stop flag is looked at while waiting for the next pass.
const TICK: Duration = Duration::from_millis(200);

/// The running loop; [`Sweeper::stop`] ends it.
pub struct Sweeper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Starts the loop: a pass at once, then one every `every`. A policy that keeps everything
/// still sweeps, for erases that waited for a legal hold to be lifted.
pub fn spawn(pool: Pool, blobs: Arc<BlobStore>, policy: Policy, every: Duration) -> std::io::Result<Sweeper> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("retention-sweeper".into())
        .spawn(move || run(&pool, &blobs, policy, every, &flag))?;
    Ok(Sweeper { stop, thread })
}

impl Sweeper {
    /// Ends the loop after the report being shredded, if any.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.thread.join().is_err() {
            tracing::warn!("retention sweeper thread panicked");
        }
    }
}

fn run(pool: &Pool, blobs: &BlobStore, policy: Policy, every: Duration, stop: &AtomicBool) {
    loop {
        match pool.get() {
            Ok(mut conn) => match sweep(&mut conn, blobs, &policy, stop) {
                Ok(0) => {}
                Ok(shredded) => tracing::info!(shredded, "retention: reports shredded"),
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            },
            Err(e) => tracing::warn!(error = %e, "retention sweeper: no database connection"),
        }
        let started = Instant::now();
        while started.elapsed() < every {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(TICK);
        }
    }
}

/// Shreds every report due now, in batches of [`BATCH`], until none is left or `stop` is set;
/// returns how many it shredded. The blobs of their evidence files go from `blobs` as each
/// report's transaction commits.
pub fn sweep(conn: &mut DbConn, blobs: &BlobStore, policy: &Policy, stop: &AtomicBool) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let cutoffs = rules::cutoffs(policy, db::now());
        let mut shredded = 0;
        for _ in 0..BATCH {
            if stop.load(Ordering::SeqCst) {
                return Ok(total + shredded);
            }
            match shred_next(conn, policy, &cutoffs)? {
                None => return Ok(total + shredded),
                Some(Some(done)) => {
                    crate::attachments::orphans::delete_now(blobs, &done.blobs);
                    shredded += 1;
                }
                Some(None) => {}
            }
        }
        total += shredded;
        if shredded == 0 {
            // Claimed but not shredded (a hold placed meanwhile): leave it to the next pass.
            return Ok(total);
        }
    }
}

/// Claims and shreds one due report, in a transaction of its own: `None` when nothing is due.
fn shred_next(
    conn: &mut DbConn,
    policy: &Policy,
    cutoffs: &[(crate::reports::Status, chrono::NaiveDateTime)],
) -> Result<Option<Option<super::Shredded>>, AppError> {
    write_tx(conn, |conn| {
        let Some((id, status, erase_requested)) = store::next_due(conn, cutoffs)? else { return Ok(None) };
        let reason =
            if erase_requested { Reason::Withdrawal } else { Reason::Retention { status, days: policy.days(status) } };
        Ok(Some(super::shred(conn, id, &Context::system(), reason)?))
    })
}
