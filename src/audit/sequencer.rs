//! The sequencer's loop (SPEC §15): every instance runs one; passes take a lock that only
//! sequencers and readers of the trail take (an advisory lock on PostgreSQL, the write lock on
//! SQLite), so one pass runs at a time per database and another instance carries on when one
//! dies. A pass that fails (the database away) is retried after the pause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::store::Edge;
use crate::db::Pool;

/// How long the loop waits when there was nothing to sequence (or the database failed).
const IDLE: Duration = Duration::from_millis(200);

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
        let busy = pass(pool, &mut edge);
        if stopping && !busy {
            return;
        }
        if !busy {
            std::thread::sleep(IDLE);
        }
    }
}

/// One pass; whether it found work.
fn pass(pool: &Pool, edge: &mut Edge) -> bool {
    match pool.get() {
        Ok(mut conn) => match super::store::sequence_keeping(&mut conn, edge) {
            Ok(done) => done != (0, 0),
            Err(e) => {
                tracing::warn!(error = %e, "audit sequencer pass failed");
                false
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "audit sequencer: no database connection");
            false
        }
    }
}
