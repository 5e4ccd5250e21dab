//! The retention sweeper (SPEC §13): every instance runs one on a thread of its own. Reports are
//! shredded up to [`BATCH`] to a transaction, each claimed with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL (SQLite: the write lock), so several instances sharing a database never take the
//! same report, and a sweeper killed at any moment leaves every report whole or shredded; the
//! next pass, here or in another instance, carries on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{rules, store, Policy, Reason};
use crate::audit::Context;
use crate::blobs::BlobStore;
use crate::db::{self, write_tx, DbConn, Pool};
use crate::error::AppError;

/// Reports shredded per transaction; a pass runs transactions until nothing is due.
pub const BATCH: usize = 5;

/// How long a sweep rests after each transaction, in multiples of the time it took.
const REST_PER_WORK: u32 = 3;

/// The longest rest between two transactions of a sweep.
const MAX_REST: Duration = Duration::from_secs(1);

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

/// Shreds every report due now, [`BATCH`] to a transaction, until none is left or `stop` is set;
/// returns how many it shredded. The blobs of their evidence files go from `blobs` once their
/// transaction has committed. After each transaction it rests [`REST_PER_WORK`] times as long as
/// the transaction took: retention counts in days, so a quarter of the speed costs nothing, and
/// the service's commits do not queue behind the sweeper's (docs/BENCHMARKS.md, "Key rotation
/// and retention sweep").
pub fn sweep(conn: &mut DbConn, blobs: &BlobStore, policy: &Policy, stop: &AtomicBool) -> Result<usize, AppError> {
    let mut total = 0;
    while !stop.load(Ordering::SeqCst) {
        let cutoffs = rules::cutoffs(policy, db::now());
        let started = Instant::now();
        let (claimed, done) = shred_batch(conn, policy, &cutoffs)?;
        for shredded in &done {
            crate::attachments::orphans::delete_now(blobs, &shredded.blobs);
        }
        total += done.len();
        if claimed < BATCH || done.is_empty() {
            // Nothing more is due (or what is left was held meanwhile: the next pass sees it).
            break;
        }
        std::thread::sleep((started.elapsed() * REST_PER_WORK).min(MAX_REST));
    }
    Ok(total)
}

/// Claims and shreds up to [`BATCH`] due reports in one transaction: how many it claimed, and
/// those it shredded.
fn shred_batch(
    conn: &mut DbConn,
    policy: &Policy,
    cutoffs: &[(crate::reports::Status, chrono::NaiveDateTime)],
) -> Result<(usize, Vec<super::Shredded>), AppError> {
    write_tx(conn, |conn| {
        let mut claimed = 0;
        let mut done = Vec::new();
        while claimed < BATCH {
            let Some((id, status, erase_requested)) = store::next_due(conn, cutoffs)? else { break };
            claimed += 1;
            let reason = if erase_requested {
                Reason::Withdrawal
            } else {
                Reason::Retention { status, days: policy.days(status) }
            };
            done.extend(super::shred(conn, id, &Context::system(), reason)?);
        }
        Ok((claimed, done))
    })
}
