//! Group commit of submissions (SPEC §15). Each instance writes submissions through writer
//! threads (one on SQLite, which has one writer anyway; [`PG_WRITERS`] on PostgreSQL, so that
//! one batch's commit waits for the disk while the next is written): a writer takes every
//! submission waiting, draws their tokens from the submission bucket in
//! one short transaction (as [`crate::limits`] does for one), writes the granted ones in one
//! transaction (a multi-row statement per table, their audit events with them) and answers each
//! caller only after that transaction has committed. On SQLite, where every write transaction
//! holds the database's one write lock until it commits, the tokens are drawn in the batch's own
//! transaction instead: the bucket's row is no hotter for it, and a commit is saved. While a
//! batch commits, the next one gathers, so under load one commit (one fsync) and a handful of
//! statements serve many submissions, and with one submission at a time nothing waits. Nothing is acknowledged before its commit, so a
//! crash loses only unanswered submissions. A batch that fails is written again one submission
//! per transaction, so one bad submission never fails another.

use std::sync::{mpsc, Arc, Mutex};

use serde_json::json;
use tokio::sync::oneshot;

use super::{store, KeyRow, ReportRow, Tactic};
use crate::audit::{self, Action, Actor, Context, NewEntry};
use crate::db::{self, write_tx, DbConn, Pool};
use crate::error::AppError;
use crate::http::RequestId;
use crate::limits::Bucket;

/// Submissions per transaction, at most: a few multi-row statements stay far below the bound
/// values a statement may have (SQLite: 32 766; a report row has 35).
pub const MAX_BATCH: usize = 64;

/// A submission to store, and who waits for the answer.
struct Job {
    row: ReportRow,
    key: KeyRow,
    tactics: Vec<Tactic>,
    entry: NewEntry,
    request: RequestId,
    reply: oneshot::Sender<Result<ReportRow, AppError>>,
}

/// Writer threads on PostgreSQL.
pub const PG_WRITERS: usize = 3;

/// The writers of one instance; clones share them. The threads end when the last clone is
/// dropped.
#[derive(Clone)]
pub struct GroupCommit {
    sender: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts `writers` writers on `pool`, drawing from the submission bucket at `rate` a
    /// minute (`None`: no bucket). Should no thread start, every submission answers 503.
    pub fn spawn(pool: Pool, rate: Option<u32>, writers: usize) -> GroupCommit {
        let (sender, receiver) = mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..writers.max(1) {
            let (pool, receiver) = (pool.clone(), receiver.clone());
            let started = std::thread::Builder::new()
                .name(format!("intake-writer-{n}"))
                .spawn(move || run(&pool, rate, &receiver));
            if let Err(e) = started {
                tracing::error!(error = %e, "an intake writer thread did not start");
            }
        }
        GroupCommit { sender }
    }

    /// [`GroupCommit::spawn`] with as many writers as suit the database's backend.
    pub fn for_backend(pool: Pool, rate: Option<u32>, backend: db::Backend) -> GroupCommit {
        let writers = match backend {
            db::Backend::Sqlite => 1,
            db::Backend::Postgres => PG_WRITERS,
        };
        GroupCommit::spawn(pool, rate, writers)
    }

    /// Stores a sealed submission with its audit entry (completed here with the report's id):
    /// the stored row, 429 when the bucket is empty, 503 when the database is out.
    pub async fn store(
        &self,
        row: ReportRow,
        key: KeyRow,
        tactics: Vec<Tactic>,
        entry: NewEntry,
        request: &RequestId,
    ) -> Result<ReportRow, AppError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { row, key, tactics, entry, request: request.clone(), reply };
        self.sender.send(job).map_err(|_| AppError::Unavailable)?;
        answer.await.map_err(|_| AppError::internal("the intake writer stopped"))?
    }
}

/// Takes every job waiting, up to [`MAX_BATCH`], after waiting for the first; `None` when every
/// sender is gone.
fn next_batch(receiver: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let receiver = receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut jobs = vec![receiver.recv().ok()?];
    jobs.extend(receiver.try_iter().take(MAX_BATCH - 1));
    Some(jobs)
}

fn run(pool: &Pool, rate: Option<u32>, receiver: &Mutex<mpsc::Receiver<Job>>) {
    while let Some(mut jobs) = next_batch(receiver) {
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(_) => {
                for job in jobs {
                    let _ = job.reply.send(Err(AppError::Unavailable));
                }
                continue;
            }
        };
        // Under load the next batch is waiting by the time one commits: it is written on the
        // same connection, without checking one out (and testing it) again. After a batch that
        // met a database error the connection goes back to the pool, which tests it.
        while write_batch(&mut conn, rate, jobs) {
            match waiting_batch(receiver) {
                Some(more) => jobs = more,
                None => break,
            }
        }
    }
}

/// The jobs already waiting, up to [`MAX_BATCH`], without waiting for one; `None` when there
/// are none.
fn waiting_batch(receiver: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let receiver = receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let jobs: Vec<Job> = receiver.try_iter().take(MAX_BATCH).collect();
    (!jobs.is_empty()).then_some(jobs)
}

/// Draws the tokens, writes the granted jobs and answers every job; whether it met no database
/// error.
fn write_batch(conn: &mut DbConn, rate: Option<u32>, jobs: Vec<Job>) -> bool {
    let jobs = match conn {
        DbConn::Sqlite(_) => match write_batch_at_once(conn, rate, jobs) {
            Ok(()) => return true,
            Err(jobs) => jobs,
        },
        DbConn::Pg(_) => jobs,
    };
    let (granted, refused) = match draw_tokens(conn, rate, jobs) {
        Ok(split) => split,
        Err((e, jobs)) => {
            let unavailable = matches!(db::outage_or(conn, e), AppError::Unavailable);
            for job in jobs {
                let e = if unavailable { AppError::Unavailable } else { AppError::internal("submission bucket") };
                let _ = job.reply.send(Err(e));
            }
            return false;
        }
    };
    let (refused, rate_limited): (Vec<_>, Vec<_>) =
        refused.into_iter().map(|(job, r, entry)| ((job, r), entry)).unzip();
    let rate_limited: Vec<NewEntry> = rate_limited.into_iter().flatten().collect();
    let all = write_tx(conn, |conn| store_all(conn, &granted.iter().collect::<Vec<_>>(), rate_limited.clone()));
    let stored = all.is_ok();
    match all {
        Ok(rows) => {
            for (job, row) in granted.into_iter().zip(rows) {
                let _ = job.reply.send(Ok(row));
            }
        }
        Err(_) => {
            // One transaction each: only a submission that fails on its own is refused.
            if granted.len() > 1 {
                tracing::warn!(
                    submissions = granted.len(),
                    "a batch of submissions failed; writing them one at a time"
                );
            }
            if !rate_limited.is_empty() {
                let _ = write_tx(conn, |conn| audit::record_many(conn, rate_limited.clone()));
            }
            for job in granted {
                let one = write_tx(conn, |conn| store_all(conn, &[&job], Vec::new()));
                let answer = one
                    .and_then(|rows| rows.into_iter().next().ok_or_else(|| AppError::internal("no row stored")))
                    .map_err(|e| db::outage_or(conn, e));
                let _ = job.reply.send(answer);
            }
        }
    }
    for (job, retry_after_secs) in refused {
        let _ = job.reply.send(Err(AppError::TooManyRequests { retry_after_secs }));
    }
    stored
}

/// Draws the tokens and writes the granted jobs in one transaction and answers every job; or,
/// when that transaction fails (and with it the draw), gives every job back unanswered.
fn write_batch_at_once(conn: &mut DbConn, rate: Option<u32>, jobs: Vec<Job>) -> Result<(), Vec<Job>> {
    let outcome = write_tx(conn, |conn| {
        let answers = match rate {
            Some(rate) => crate::limits::store::take_many_within(conn, Bucket::Submit, rate, db::now(), jobs.len())?,
            None => vec![Ok(()); jobs.len()],
        };
        let granted: Vec<&Job> = jobs.iter().zip(&answers).filter(|(_, a)| a.is_ok()).map(|(j, _)| j).collect();
        let rate_limited: Vec<NewEntry> = jobs
            .iter()
            .zip(&answers)
            .filter_map(|(job, answer)| match (answer, rate) {
                (Err(refusal), Some(rate)) if refusal.first => Some(rate_limited_entry(job, rate)),
                _ => None,
            })
            .collect();
        let rows = store_all(conn, &granted, rate_limited)?;
        Ok::<_, AppError>((answers, rows))
    });
    let Ok((answers, rows)) = outcome else { return Err(jobs) };
    let mut rows = rows.into_iter();
    for (job, answer) in jobs.into_iter().zip(answers) {
        let reply = match answer {
            Ok(()) => rows.next().ok_or_else(|| AppError::internal("no row stored")),
            Err(refusal) => Err(AppError::TooManyRequests { retry_after_secs: refusal.retry_after_secs }),
        };
        let _ = job.reply.send(reply);
    }
    Ok(())
}

/// The `rate.limited` entry of the first submission the bucket refuses in a dry spell.
fn rate_limited_entry(job: &Job, rate: u32) -> NewEntry {
    Context::new(Actor::anonymous(), &job.request)
        .entry(Action::RateLimited)
        .details(json!({"bucket": Bucket::Submit, "rate_per_minute": rate}))
}

type Refused = (Job, u64, Option<NewEntry>);
/// What the bucket granted and refused; or why it could not be asked, with every job.
type Drawn = Result<(Vec<Job>, Vec<Refused>), (AppError, Vec<Job>)>;

/// Splits `jobs` into those the bucket grants and those it refuses, with the seconds to wait and,
/// for the first refusal of a dry spell, its `rate.limited` entry.
fn draw_tokens(conn: &mut DbConn, rate: Option<u32>, jobs: Vec<Job>) -> Drawn {
    let Some(rate) = rate else { return Ok((jobs, Vec::new())) };
    let answers = match crate::limits::store::take_many(conn, Bucket::Submit, rate, db::now(), jobs.len()) {
        Ok(answers) => answers,
        Err(e) => return Err((e.into(), jobs)),
    };
    let mut granted = Vec::new();
    let mut refused = Vec::new();
    for (job, answer) in jobs.into_iter().zip(answers) {
        match answer {
            Ok(()) => granted.push(job),
            Err(refusal) => {
                let entry = refusal.first.then(|| rate_limited_entry(&job, rate));
                refused.push((job, refusal.retry_after_secs, entry));
            }
        }
    }
    Ok((granted, refused))
}

/// Writes `jobs` (each report under a free reference, its key, tactics and audit entry) and
/// `more` audit entries, inside the caller's transaction; the stored rows, in order.
fn store_all(conn: &mut DbConn, jobs: &[&Job], more: Vec<NewEntry>) -> Result<Vec<ReportRow>, AppError> {
    let mut rows: Vec<ReportRow> = jobs.iter().map(|j| j.row.clone()).collect();
    insert_with_free_references(conn, &mut rows)?;
    let keys: Vec<KeyRow> = jobs.iter().map(|j| j.key.clone()).collect();
    let tactics: Vec<(db::Id, Tactic)> =
        jobs.iter().flat_map(|j| j.tactics.iter().map(move |t| (j.row.id, *t))).collect();
    store::insert_keys_and_tactics(conn, &keys, &tactics)?;
    let mut entries: Vec<NewEntry> =
        jobs.iter().zip(&rows).map(|(job, row)| super::handlers::created_entry(job.entry.clone(), row)).collect();
    entries.extend(more);
    audit::record_many(conn, entries)?;
    Ok(rows)
}

/// Inserts `rows`, each under a fresh reference: 40 random bits make a clash with a stored
/// report (or within the batch) rare, but not impossible over years; the rows that clashed are
/// given another reference and inserted again. (No query looks for free references first: a
/// prepared `reference = ANY($1)` can keep a plan made while the table was small, and scan it.)
fn insert_with_free_references(conn: &mut DbConn, rows: &mut [ReportRow]) -> Result<(), AppError> {
    for row in rows.iter_mut() {
        row.reference = crate::codes::report_reference();
    }
    let mut waiting: Vec<usize> = (0..rows.len()).collect();
    for _ in 0..8 {
        let batch: Vec<ReportRow> = waiting.iter().map(|&i| rows[i].clone()).collect();
        if store::insert_unless_reference_taken(conn, &batch)? == batch.len() {
            return Ok(());
        }
        let ids: Vec<db::Id> = batch.iter().map(|r| r.id).collect();
        let stored = store::stored(conn, &ids)?;
        waiting.retain(|&i| !stored.contains(&rows[i].id));
        for &i in &waiting {
            rows[i].reference = crate::codes::report_reference();
        }
    }
    Err(AppError::internal("could not find a free report reference"))
}
