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

use std::process::ExitCode;

use diesel::prelude::*;

use tipline::db::schema::reports;
use tipline::reports::ReportRow;

const USAGE: &str = "usage: bench_sql queue-select";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["queue-select"] => {
            print!("{}", queue_select());
            ExitCode::SUCCESS
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
