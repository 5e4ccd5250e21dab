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

use std::process::ExitCode;

use diesel::prelude::*;

use tipline::db::schema::reports;
use tipline::reports::ReportRow;

const USAGE: &str = "usage: bench_sql queue-select | report-keys < IDS";

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
