//! The SQLite baseline for `bench/intake.sh`: how many report submissions per second the
//! database alone sustains when it is given exactly the SQL the service issues for one anonymous
//! submission, with no HTTP, no JSON and no encryption in front of it (see
//! `docs/BENCHMARKS.md`).
//!
//! The rows are those the service makes for the body (`examples/intake/mod.rs`), sealed once; each
//! transaction gives them a new id, receipt and time. Each thread opens its own connection through
//! `tipline::db::connect` (so the pragmas are the service's: WAL, `synchronous = FULL`, a 30 s busy
//! timeout, foreign keys on) and loops over one write transaction through `tipline::db::write_tx`
//! (`BEGIN IMMEDIATE`, after the turn the service's writers take in the process) that runs the
//! service's own `tipline::reports::handlers::store_submission`: the reference check, the report,
//! its key, its tactics and the audit entry. The database must already be migrated
//! (`tipline migrate`).
//!
//! ```sh
//! cargo run --release --example sqlite_intake_baseline -- DB_FILE \
//!     [--threads 16] [--seconds 20] [--body bench/intake.json]
//! ```
//!
//! The result is two lines on standard output: `sqlite_baseline_tx_per_sec=<float>`, committed
//! transactions over the whole run divided by its length, and `sqlite_baseline_p99_ms=<float>`,
//! the 99th percentile of the time one transaction took, waiting for the write lock included.

mod intake;

use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tipline::audit::Action;
use tipline::auth::Caller;
use tipline::db::{connect, write_tx, DatabaseUrl, DbConn, Id};
use tipline::error::AppError;
use tipline::http::RequestId;
use tipline::reports::handlers::store_submission;

use intake::Submission;

struct Settings {
    db_file: String,
    threads: usize,
    seconds: f64,
    body_file: String,
}

const USAGE: &str = "usage: sqlite_intake_baseline DB_FILE [--threads N] [--seconds S] [--body FILE]";

fn parse_args() -> Result<Settings, String> {
    let mut args = std::env::args().skip(1);
    let mut settings =
        Settings { db_file: String::new(), threads: 16, seconds: 20.0, body_file: "bench/intake.json".into() };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--threads" => {
                let text = value("--threads")?;
                settings.threads = text.parse::<usize>().map_err(|_| format!("{text} is not a whole number"))?
            }
            "--seconds" => {
                settings.seconds = value("--seconds")?
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && s.is_finite())
                    .ok_or("--seconds must be a positive number")?
            }
            "--body" => settings.body_file = value("--body")?,
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with('-') => return Err(format!("unknown option {other}\n{USAGE}")),
            other if settings.db_file.is_empty() => settings.db_file = other.to_string(),
            _ => return Err(USAGE.into()),
        }
    }
    if settings.db_file.is_empty() {
        return Err(USAGE.into());
    }
    if settings.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(settings)
}

/// One submission's transaction: the template's rows under a new id, receipt and time.
fn submit(conn: &mut DbConn, template: &Submission) -> Result<(), AppError> {
    let mut row = template.row.clone();
    let mut key = template.key.clone();
    let now = tipline::db::now();
    row.id = Id::new();
    row.receipt_hash = Some(intake::receipt_hash());
    (row.created_at, row.updated_at, key.created_at) = (now, now, now);
    key.report_id = row.id;
    let entry = Caller::Anonymous.audit(&RequestId(uuid::Uuid::new_v4().to_string()), Action::ReportCreate);
    write_tx(conn, |conn| store_submission(conn, row, &key, &template.tactics, entry))?;
    Ok(())
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let Ok(duration) = Duration::try_from_secs_f64(settings.seconds) else {
        eprintln!("sqlite_intake_baseline: {} seconds is out of range", settings.seconds);
        return ExitCode::from(2);
    };
    let url = match DatabaseUrl::parse(&format!("sqlite://{}", settings.db_file)) {
        Ok(url) => url,
        Err(message) => {
            eprintln!("sqlite_intake_baseline: {message}");
            return ExitCode::from(2);
        }
    };
    let template = match Submission::anonymous(&settings.body_file) {
        Ok(template) => Arc::new(template),
        Err(message) => {
            eprintln!("sqlite_intake_baseline: {message}");
            return ExitCode::from(2);
        }
    };

    // Every connection is open before the clock starts.
    let mut connections = Vec::with_capacity(settings.threads);
    for _ in 0..settings.threads {
        match connect(&url) {
            Ok(conn) => connections.push(conn),
            Err(err) => {
                eprintln!("sqlite_intake_baseline: cannot open {}: {err}", settings.db_file);
                return ExitCode::FAILURE;
            }
        }
    }
    let start_line = Arc::new(Barrier::new(settings.threads + 1));
    let mut workers = Vec::with_capacity(settings.threads);
    for mut conn in connections {
        let start_line = Arc::clone(&start_line);
        let template = Arc::clone(&template);
        workers.push(thread::spawn(move || -> Result<Vec<Duration>, String> {
            start_line.wait();
            let start = Instant::now();
            // One entry per committed transaction: how long it took, waiting for the lock included.
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let began = Instant::now();
                submit(&mut conn, &template).map_err(|e| e.to_string())?;
                latencies.push(began.elapsed());
            }
            Ok(latencies)
        }));
    }
    start_line.wait();
    let start = Instant::now();

    let mut latencies: Vec<Duration> = Vec::new();
    let mut failed = false;
    for worker in workers {
        match worker.join() {
            Ok(Ok(done)) => latencies.extend(done),
            Ok(Err(message)) => {
                eprintln!("sqlite_intake_baseline: a transaction failed: {message}");
                failed = true;
            }
            Err(_) => {
                eprintln!("sqlite_intake_baseline: a worker thread panicked");
                failed = true;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if failed {
        return ExitCode::FAILURE;
    }
    let total = latencies.len();
    latencies.sort_unstable();
    let percentile_ms = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1].as_secs_f64() * 1000.0
    };
    eprintln!(
        "sqlite_intake_baseline: {} threads for {:.1} s, {total} transactions of {}; per transaction p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms",
        settings.threads,
        elapsed,
        settings.body_file,
        percentile_ms(50.0),
        percentile_ms(99.0),
        percentile_ms(100.0)
    );
    println!("sqlite_baseline_tx_per_sec={:.2}", total as f64 / elapsed);
    println!("sqlite_baseline_p99_ms={:.3}", percentile_ms(99.0));
    ExitCode::SUCCESS
}
