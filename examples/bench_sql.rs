//! SQL for the scripts in `bench/`, written by the service's own queries (diesel's
//! `debug_query` of the query values the stores execute), so that the scripts cannot drift from
//! what the service sends:
//!
//! ```sh
//! cargo run --release --example bench_sql -- queue-select
//! ```
//!
//! `queue-select` prints the SELECT list of the staff queue (`tipline::triage::queue::query`)
//! for `bench/queue.sh`.
//!
//! `report-keys` reads report ids, one a line, and prints for each a fresh data key wrapped under
//! the current master key of the configured keyring (`TIPLINE_DATA_DIR`/`TIPLINE_KEYRING`), as
//! CSV for `COPY report_keys (report_id, key_id, wrapped, master_key_id, created_at)`: the keys
//! `bench/keys.sh` rotates, made by the service's own `Keyring::new_data_key`.
//!
//! `staff-accounts COUNT` reads a password from standard input and stores COUNT caseworkers
//! (`bench-totp-00000@example.org`, …) with that password and a confirmed TOTP secret, sealed
//! as the service seals them, in the configured database (`DATABASE_URL`, migrated already);
//! it prints `email base32-secret` a line, for `bench/login.sh`'s flood with TOTP. The password
//! is hashed once and the rows are written directly, so thousands of accounts take seconds
//! (through the API each would cost two password hashes). Nothing is audited: bench data only.

use std::process::ExitCode;

use diesel::prelude::*;

use tipline::db::schema::reports;
use tipline::reports::ReportRow;

const USAGE: &str = "usage: bench_sql queue-select | report-keys < IDS | staff-accounts COUNT < PASSWORD";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["queue-select"] => {
            print!("{}", queue_select());
            ExitCode::SUCCESS
        }
        ["report-keys"] => match report_keys() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench_sql: {e}");
                ExitCode::from(1)
            }
        },
        ["staff-accounts", count] => {
            match count.parse().map_err(|_| "COUNT is not a number".into()).and_then(staff_accounts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bench_sql: {e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!("bench_sql: {USAGE}");
            ExitCode::from(2)
        }
    }
}

fn queue_select() -> String {
    let query = reports::table.select(ReportRow::as_select());
    let debug = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
    // diesel's debug text ends with the values it binds; the SELECT list binds none.
    let sql = debug.rsplit_once(" -- binds: ").map_or(debug.as_str(), |(sql, _)| sql);
    format!("{sql}\n")
}

fn report_keys() -> Result<(), Box<dyn std::error::Error>> {
    use std::io::{BufRead, Write};
    let config = tipline::config::Config::from_env()?;
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let id: tipline::db::Id = line.trim().parse().map_err(|_| format!("not a report id: {line}"))?;
        let (_, wrapped) = config.keyring.new_data_key(id);
        writeln!(out, "{id},{},{},{},{now}", wrapped.key_id, wrapped.wrapped, wrapped.master_key_id)?;
    }
    out.flush()?;
    Ok(())
}

fn staff_accounts(count: usize) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::{BufRead, Write};
    use tipline::auth::{store, totp};
    let config = tipline::config::Config::from_env()?;
    let password = std::io::stdin().lock().lines().next().ok_or("no password on standard input")??;
    let hash = tipline::auth::password::hash(&password)?;
    let conn = &mut tipline::db::connect(&config.database_url)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let lines = tipline::db::write_tx(conn, |conn| {
        let mut lines = Vec::with_capacity(count);
        for n in 0..count {
            let email = format!("bench-totp-{n:05}@example.org");
            let row = tipline::users::UserRow::new(
                email.clone(),
                format!("Bench {n}"),
                tipline::users::Role::Caseworker,
                hash.clone(),
            );
            tipline::users::store::insert(conn, &row)?;
            let secret = totp::new_secret();
            let sealed = config.keyring.seal_bound("user_totp", "secret_sealed", row.id, &totp::base32(&secret));
            let now = tipline::db::now();
            store::put_pending_totp(
                conn,
                &store::TotpRow {
                    user_id: row.id,
                    secret_sealed: sealed.sealed,
                    master_key_id: sealed.master_key_id,
                    confirmed_at: Some(now),
                    last_step: 0,
                    created_at: now,
                },
            )?;
            lines.push(format!("{email} {}", totp::base32(&secret)));
        }
        Ok::<_, Box<dyn std::error::Error>>(lines)
    })?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}
