//! The SQLite baseline for `bench/intake.sh`: how many report submissions per second the
//! database alone sustains when it is given exactly the SQL the service issues for one anonymous
//! submission, with no HTTP, no JSON and no encryption in front of it (see
//! `docs/BENCHMARKS.md`).
//!
//! Each thread opens its own connection through `tipline::db::connect` (so the pragmas are the
//! service's: WAL, `synchronous = FULL`, a 30 s busy timeout, foreign keys on) and loops over one
//! write transaction through `tipline::db::write_tx` (`BEGIN IMMEDIATE`, after the turn the
//! service's writers take in the process):
//!
//! 1. `SELECT EXISTS(…reference…)`
//! 2. `INSERT INTO reports` (every column, ciphertext columns at the size the service writes)
//! 3. `INSERT INTO report_keys`
//! 4. `INSERT INTO report_tactics` once per tactic (two)
//! 5. `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`
//! 6. `INSERT INTO audit_log` (the next seq, chained to the head's hash)
//!
//! then `COMMIT`. The database must already be migrated (`tipline migrate`).
//!
//! ```sh
//! cargo run --release --example sqlite_intake_baseline -- DB_FILE \
//!     [--threads 16] [--seconds 20] [--narrative-bytes 615] [--contact-bytes 37]
//! ```
//!
//! The result is two lines on standard output: `sqlite_baseline_tx_per_sec=<float>`, committed
//! transactions over the whole run divided by its length, and `sqlite_baseline_p99_ms=<float>`,
//! the 99th percentile of the time one transaction took, waiting for the write lock included.

use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel::{OptionalExtension, QueryableByName, RunQueryDsl};

use tipline::db::{connect, write_tx, DatabaseUrl, DbConn};

/// Nonce (24 bytes) and tag (16 bytes) that XChaCha20-Poly1305 adds to each sealed value.
const SEAL_OVERHEAD: usize = 24 + 16;
/// A wrapped data key: 32 key bytes, sealed.
const WRAPPED_KEY_BYTES: usize = 32;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TACTICS: [&str; 2] = ["surveillance", "threat_to_family"];

struct Settings {
    db_file: String,
    threads: usize,
    seconds: f64,
    narrative_bytes: usize,
    contact_bytes: usize,
}

const USAGE: &str = "usage: sqlite_intake_baseline DB_FILE [--threads N] [--seconds S] \
                     [--narrative-bytes N] [--contact-bytes N]";

fn parse_args() -> Result<Settings, String> {
    let mut args = std::env::args().skip(1);
    let mut settings =
        Settings { db_file: String::new(), threads: 16, seconds: 20.0, narrative_bytes: 615, contact_bytes: 37 };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--threads" => settings.threads = number(&value("--threads")?)?,
            "--seconds" => {
                settings.seconds = value("--seconds")?
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && s.is_finite())
                    .ok_or("--seconds must be a positive number")?
            }
            "--narrative-bytes" => settings.narrative_bytes = number(&value("--narrative-bytes")?)?,
            "--contact-bytes" => settings.contact_bytes = number(&value("--contact-bytes")?)?,
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

fn number(text: &str) -> Result<usize, String> {
    text.parse::<usize>().map_err(|_| format!("{text} is not a whole number"))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

/// A value of the size and shape the service stores for `plaintext_bytes` of sealed content:
/// `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
fn sealed(plaintext_bytes: usize) -> String {
    format!("v1.{}", URL_SAFE_NO_PAD.encode(random_bytes(plaintext_bytes + SEAL_OVERHEAD)))
}

fn reference() -> String {
    let symbols: String = random_bytes(8).iter().map(|b| CROCKFORD[(b & 31) as usize] as char).collect();
    format!("TL-{symbols}")
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    taken: bool,
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    hash: String,
}

const INSERT_REPORT: &str = "INSERT INTO reports (id, reference, kind, occurred_on, occurred_on_precision, country, \
     city, language, station_id, consent_contact_ok, consent_share_with_authorities, on_behalf_of_other, source, \
     reporter_id, submitted_by, receipt_hash, status, priority, narrative, contact, location_detail, station_hint, \
     version, created_at, updated_at, priority_rank, resolution, duplicate_of, assignee_id, case_id) \
     VALUES (?, ?, 'incident', NULL, NULL, 'NL', ?, NULL, NULL, ?, ?, ?, 'anonymous', NULL, NULL, ?, 'new', \
     'normal', ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, NULL, NULL, NULL)";
const INSERT_KEY: &str =
    "INSERT INTO report_keys (report_id, key_id, wrapped, master_key_id, created_at) VALUES (?, ?, ?, ?, ?)";
const INSERT_TACTIC: &str = "INSERT INTO report_tactics (report_id, tactic) VALUES (?, ?)";
const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (seq, at, actor_id, actor_role, action, target_type, target_id, \
     details, request_id, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One submission's transaction, statement for statement.
fn submit(conn: &mut DbConn, s: &Settings, master_key_id: &str) -> Result<(), diesel::result::Error> {
    // What the service prepares before it opens the transaction.
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let receipt_hash = hex::encode(random_bytes(32));
    let narrative = sealed(s.narrative_bytes);
    let contact = sealed(s.contact_bytes);
    let key_id = hex::encode(random_bytes(8));
    let wrapped = sealed(WRAPPED_KEY_BYTES);
    let now = tipline::db::now();
    let request_id = uuid::Uuid::new_v4().to_string();

    write_tx(conn, |conn| {
        let DbConn::Sqlite(c) = conn else { unreachable!("connect() was given a sqlite:// URL") };
        let mut reference = reference();
        for _ in 0..8 {
            let taken = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM reports WHERE reference = ?) AS taken")
                .bind::<Text, _>(&reference)
                .get_result::<Taken>(c)?
                .taken;
            if !taken {
                break;
            }
            reference = self::reference();
        }
        diesel::sql_query(INSERT_REPORT)
            .bind::<Text, _>(&id)
            .bind::<Text, _>(&reference)
            .bind::<Nullable<Text>, _>(Some("Rotterdam"))
            .bind::<Bool, _>(true)
            .bind::<Bool, _>(false)
            .bind::<Bool, _>(false)
            .bind::<Nullable<Text>, _>(Some(&receipt_hash))
            .bind::<Text, _>(&narrative)
            .bind::<Nullable<Text>, _>(Some(&contact))
            .bind::<Integer, _>(1)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<Integer, _>(1)
            .execute(c)?;
        diesel::sql_query(INSERT_KEY)
            .bind::<Text, _>(&id)
            .bind::<Text, _>(&key_id)
            .bind::<Text, _>(&wrapped)
            .bind::<Text, _>(master_key_id)
            .bind::<Timestamp, _>(now)
            .execute(c)?;
        for tactic in TACTICS {
            diesel::sql_query(INSERT_TACTIC).bind::<Text, _>(&id).bind::<Text, _>(tactic).execute(c)?;
        }
        // The audit append: SQLite holds the write lock since BEGIN IMMEDIATE, so no advisory lock.
        let head = diesel::sql_query(AUDIT_HEAD).get_result::<Head>(c).optional()?;
        let (seq, prev_hash) = match head {
            Some(head) => (head.seq + 1, head.hash),
            None => (1, GENESIS_HASH.to_string()),
        };
        let at = tipline::db::now();
        let details = r#"{"kind":"incident","source":"anonymous"}"#;
        // The canonical form the service hashes (`tipline::audit::Entry::canonical`).
        let canonical = serde_json::json!({
            "action": "report.create",
            "actor_id": null,
            "actor_role": null,
            "at": tipline::time::format(&at),
            "details": details,
            "request_id": request_id,
            "seq": seq,
            "target_id": id,
            "target_type": "report",
        })
        .to_string();
        let hash = tipline::crypto::sha256_hex(format!("{prev_hash}{canonical}").as_bytes());
        diesel::sql_query(INSERT_AUDIT)
            .bind::<BigInt, _>(seq)
            .bind::<Timestamp, _>(at)
            .bind::<Nullable<Text>, _>(None::<String>)
            .bind::<Nullable<Text>, _>(None::<String>)
            .bind::<Text, _>("report.create")
            .bind::<Nullable<Text>, _>(Some("report"))
            .bind::<Nullable<Text>, _>(Some(&id))
            .bind::<Text, _>(details)
            .bind::<Nullable<Text>, _>(Some(&request_id))
            .bind::<Text, _>(&prev_hash)
            .bind::<Text, _>(&hash)
            .execute(c)?;
        Ok(())
    })
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(settings) => Arc::new(settings),
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
    let master_key_id = hex::encode(random_bytes(8));

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
        let settings = Arc::clone(&settings);
        let start_line = Arc::clone(&start_line);
        let master_key_id = master_key_id.clone();
        workers.push(thread::spawn(move || -> Result<Vec<Duration>, String> {
            start_line.wait();
            let start = Instant::now();
            // One entry per committed transaction: how long it took, waiting for the lock included.
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let began = Instant::now();
                submit(&mut conn, &settings, &master_key_id).map_err(|e| e.to_string())?;
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
        "sqlite_intake_baseline: {} threads for {:.1} s, {total} transactions (narrative {} B, contact {} B of \
         plaintext); per transaction p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        settings.threads,
        elapsed,
        settings.narrative_bytes,
        settings.contact_bytes,
        percentile_ms(50.0),
        percentile_ms(99.0),
        percentile_ms(100.0)
    );
    println!("sqlite_baseline_tx_per_sec={:.2}", total as f64 / elapsed);
    println!("sqlite_baseline_p99_ms={:.3}", percentile_ms(99.0));
    ExitCode::SUCCESS
}
