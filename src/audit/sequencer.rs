//! The sequencer's loop (SPEC §15): every instance runs one; passes take a lock that only
//! sequencers and readers of the trail take (an advisory lock on PostgreSQL, the write lock on
//! SQLite), so one pass runs at a time per database and another instance carries on when one
//! dies. A pass that fails (the database away) is retried after the pause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::store::{Edge, BATCH};
use crate::db::Pool;

/// How long the loop waits when there was nothing to sequence (or the database failed).
const IDLE: Duration = Duration::from_millis(200);
/// How long the loop lets events gather after a pass that found some but less than a batch.
/// Each pass is a durable commit (on SQLite, under the database's one write lock, which the
/// submissions' writer then waits for): under a steady load, passes back to back would each
/// take the few events that committed during the previous one. Resting makes passes fewer and
/// larger, and adds at most this much to the time from commit to sequenced (SPEC §15: 1 s).
const GATHER: Duration = Duration::from_millis(100);

/// The running loop; [`Sequencer::stop`] ends it.
pub struct Sequencer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Starts the loop on a thread of its own.
pub fn spawn(pool: Pool) -> std::io::Result<Sequencer> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new().name("audit-sequencer".into()).spawn(move || run(&pool, &flag))?;
    Ok(Sequencer { stop, thread })
}

impl Sequencer {
    /// Sequences what is left and returns once the loop has ended and let go of the pool (so a
    /// clean stop closes every connection, and SQLite folds its WAL in).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.thread.join().is_err() {
            tracing::warn!("audit sequencer thread panicked");
        }
    }
}

fn run(pool: &Pool, stop: &AtomicBool) {
    let mut edge = Edge::default();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let moved = pass(pool, &mut edge);
        if stopping && moved.is_none() {
            return;
        }
        match moved {
            None => std::thread::sleep(IDLE),
            Some((moved, integrated)) if moved.max(integrated) < BATCH && !stopping => std::thread::sleep(GATHER),
            Some(_) => {}
        }
    }
}

/// One pass: how many events it moved into the trail and how many entries it added to the tree,
/// or `None` when it found nothing to do (or failed).
fn pass(pool: &Pool, edge: &mut Edge) -> Option<(usize, usize)> {
    match pool.get() {
        Ok(mut conn) => match super::store::sequence_keeping(&mut conn, edge) {
            Ok((0, 0)) => None,
            Ok(done) => {
                // SQLite's WAL is folded in here, beside the submissions' writer rather than in
                // its way (`db::SQLITE_AUTOCHECKPOINT_PAGES`): after a pass, so at most every
                // GATHER under load.
                if let Err(e) = crate::db::checkpoint_wal(&mut conn) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
                Some(done)
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit sequencer pass failed");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "audit sequencer: no database connection");
            None
        }
    }
}
