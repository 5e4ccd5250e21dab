//! The SQLite baseline for `bench/intake.sh`: how many submissions per second SQLite itself
//! sustains for rows shaped like one, independently of how the service is built (see
//! `docs/BENCHMARKS.md`, "Intake").
//!
//! Each transaction inserts three plain rows into tables of its own, which this program creates
//! in the file it is given: a report (about 1 KiB: a 1 024-character body standing for the
//! sealed narrative and contact), its key, and an audit event. Tables have their primary keys
//! and nothing else. Every thread opens its own connection (WAL, `synchronous = FULL`, a 30 s
//! busy timeout) and loops over `BEGIN IMMEDIATE`, the three INSERTs, `COMMIT`: one
//! transaction, and one fsync, per submission. Writers take turns through SQLite's own locking
//! and busy handler only; there is no lock in the program.
//!
//! ```sh
//! cargo run --release --example sqlite_intake_baseline -- DB_FILE [--threads 16] [--seconds 20]
//! ```
//!
//! It prints three lines on standard output: `sqlite_baseline_tx_per_sec=<float>`, committed
//! transactions over the whole run divided by its length; `sqlite_baseline_p99_ms=<float>`, the
//! 99th percentile of the time one transaction took, waiting for the write lock included; and
//! `sqlite_baseline_committed=<count>`, which `bench/intake.sh` compares with the rows stored.

use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

const USAGE: &str = "usage: sqlite_intake_baseline DB_FILE [--threads N] [--seconds S]";

/// The baseline's tables; none of the service's.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS base_reports (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    country TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS base_report_keys (
    report_id TEXT PRIMARY KEY,
    wrapped TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS base_audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    target_id TEXT,
    details TEXT NOT NULL
);";

const PRAGMAS: &str = "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";

struct Settings {
    db_file: String,
    threads: usize,
    seconds: f64,
}

fn parse_args() -> Result<Settings, String> {
    let mut args = std::env::args().skip(1);
    let mut settings = Settings { db_file: String::new(), threads: 16, seconds: 20.0 };
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

fn open(db_file: &str) -> Result<SqliteConnection, String> {
    let mut conn = SqliteConnection::establish(db_file).map_err(|e| format!("cannot open {db_file}: {e}"))?;
    conn.batch_execute(PRAGMAS).map_err(|e| format!("{db_file}: {e}"))?;
    Ok(conn)
}

/// `bytes` random bytes as base64, as sealed content is stored.
fn random_text(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// One submission: three rows in one transaction.
fn submit(conn: &mut SqliteConnection) -> Result<(), String> {
    let id = uuid::Uuid::new_v4().to_string();
    let reference = format!("TL-{}", &id[..8].to_uppercase());
    // 768 random bytes are 1 024 characters of base64; 60 are 80.
    let body = random_text(768)?;
    let wrapped = random_text(60)?;
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    conn.immediate_transaction(|conn| {
        diesel::sql_query(
            "INSERT INTO base_reports (id, reference, country, status, body, created_at) \
             VALUES (?, ?, 'NL', 'new', ?, ?)",
        )
        .bind::<Text, _>(&id)
        .bind::<Text, _>(&reference)
        .bind::<Text, _>(&body)
        .bind::<Text, _>(&now)
        .execute(conn)?;
        diesel::sql_query("INSERT INTO base_report_keys (report_id, wrapped, created_at) VALUES (?, ?, ?)")
            .bind::<Text, _>(&id)
            .bind::<Text, _>(&wrapped)
            .bind::<Text, _>(&now)
            .execute(conn)?;
        diesel::sql_query(
            "INSERT INTO base_audit (at, action, target_id, details) \
             VALUES (?, 'report.create', ?, '{\"kind\":\"incident\",\"source\":\"anonymous\"}')",
        )
        .bind::<Text, _>(&now)
        .bind::<Text, _>(&id)
        .execute(conn)?;
        Ok::<_, diesel::result::Error>(())
    })
    .map_err(|e| e.to_string())
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

    // The tables, then every connection, open before the clock starts.
    let mut connections = Vec::with_capacity(settings.threads);
    for _ in 0..settings.threads {
        match open(&settings.db_file) {
            Ok(conn) => connections.push(conn),
            Err(message) => {
                eprintln!("sqlite_intake_baseline: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = connections[0].batch_execute(TABLES) {
        eprintln!("sqlite_intake_baseline: cannot create the tables: {e}");
        return ExitCode::FAILURE;
    }
    let start_line = Arc::new(Barrier::new(settings.threads + 1));
    let mut workers = Vec::with_capacity(settings.threads);
    for mut conn in connections {
        let start_line = Arc::clone(&start_line);
        workers.push(thread::spawn(move || -> Result<Vec<Duration>, String> {
            start_line.wait();
            let start = Instant::now();
            // One entry per committed transaction: how long it took, waiting for the lock included.
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let began = Instant::now();
                submit(&mut conn)?;
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
        "sqlite_intake_baseline: {} threads for {:.1} s, {total} transactions; per transaction p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms",
        settings.threads,
        elapsed,
        percentile_ms(50.0),
        percentile_ms(99.0),
        percentile_ms(100.0)
    );
    println!("sqlite_baseline_tx_per_sec={:.2}", total as f64 / elapsed);
    println!("sqlite_baseline_p99_ms={:.3}", percentile_ms(99.0));
    println!("sqlite_baseline_committed={total}");
    ExitCode::SUCCESS
}
