//! SQL for the scripts in `bench/`, written by the service's own queries (diesel's
//! `debug_query` of the query values the stores execute), so that the scripts cannot drift from
//! what the service sends:
//!
//! ```sh
//! cargo run --release --example bench_sql -- intake-pg [BODY_FILE]
//! cargo run --release --example bench_sql -- queue-select
//! ```
//!
//! `intake-pg` prints a pgbench script for `bench/intake.sh`: one transaction with the statements
//! of one anonymous submission of BODY_FILE (default `bench/intake.json`), in the service's
//! order: the reference check, the report, its key, its tactics and its audit event (which
//! writers append without a lock; the sequencer orders events later). The values stand in it as
//! literals, as the service stored them when it took the submission once in a throwaway SQLite
//! database, except those that differ from one submission to the next (ids, reference, receipt,
//! key id, times), which the script makes itself.
//!
//! `queue-select` prints the SELECT list of the staff queue (`tipline::triage::queue::query`)
//! for `bench/queue.sh`.

mod intake;

use std::collections::HashMap;
use std::process::ExitCode;

use diesel::prelude::*;

use tipline::audit::{self, Action, NewEntry};
use tipline::auth::Caller;
use tipline::db::schema::reports;
use tipline::db::{connect, migrate, write_tx, Backend, DatabaseUrl, DbConn};
use tipline::error::AppError;
use tipline::http::RequestId;
use tipline::reports::handlers::store_submission;
use tipline::reports::{store, ReportRow};

use intake::Submission;

const USAGE: &str = "usage: bench_sql intake-pg [BODY_FILE] | bench_sql queue-select";

/// The one value that stands for now in every time column of a transaction, as in the service.
const NOW: &str = "now() AT TIME ZONE 'UTC'";

/// A reference of the service's shape: "TL-" and 8 Crockford base32 symbols.
const REFERENCE: &str = "(SELECT 'TL-' || string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', \
                         1 + floor(random() * 32)::int, 1), '') FROM generate_series(1, 8))";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["intake-pg"] => intake_pg("bench/intake.json"),
        ["intake-pg", body_file] => intake_pg(body_file),
        ["queue-select"] => Ok(queue_select()),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bench_sql: {message}");
            ExitCode::from(2)
        }
    }
}

fn queue_select() -> String {
    let query = reports::table.select(ReportRow::as_select());
    let (sql, _) = split(&diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string());
    format!("{sql}\n")
}

fn intake_pg(body_file: &str) -> Result<String, String> {
    let submission = Submission::anonymous(body_file)?;
    let mut stored = Stored::new(&submission)?;
    let pg = Backend::Postgres;
    let mut script = format!(
        "-- pgbench script from examples/bench_sql.rs: one anonymous submission of {body_file}, \
         as the service issues it.\nBEGIN;\n"
    );
    // The check also makes the id and the reference the later statements bind, as the service
    // does before it inserts, without a round trip of its own.
    let (check, _) = split(&store::reference_taken_sql(pg, &stored.row.reference));
    let check = check.strip_prefix("SELECT ").ok_or_else(|| format!("unexpected reference check: {check}"))?;
    let check = fill(check, |_| Ok("v.ref".to_string()))?;
    script += &format!(
        "SELECT v.id, v.ref, {check} AS taken FROM (SELECT gen_random_uuid() AS id, {REFERENCE} AS ref) AS v \\gset\n"
    );
    let mut statements = store::insert_sql(pg, &stored.row, &submission.key, &submission.tactics);
    statements.extend(audit::store::record_sql(pg, stored.entry.clone()));
    for debug in statements {
        let sql = stored.statement(&debug)?;
        script += &format!("{sql};\n");
    }
    script += "COMMIT;\n";
    Ok(script)
}

/// The submission stored once by the service's own code, in a throwaway SQLite database: the
/// report as stored (with its reference), its audit event, and every value the service wrote.
struct Stored {
    conn: SqliteConnection,
    row: ReportRow,
    entry: NewEntry,
    /// Rows of each table already given to an INSERT.
    used: HashMap<String, i64>,
}

impl Stored {
    fn new(s: &Submission) -> Result<Stored, String> {
        let url = DatabaseUrl::parse("sqlite://:memory:")?;
        let mut conn = connect(&url).map_err(|e| e.to_string())?;
        migrate(&mut conn).map_err(|e| e.to_string())?;
        let entry = Caller::Anonymous.audit(&RequestId(uuid::Uuid::new_v4().to_string()), Action::ReportCreate);
        let row = write_tx(&mut conn, |conn| store_submission(conn, s.row.clone(), &s.key, &s.tactics, entry.clone()))
            .map_err(|e: AppError| e.to_string())?;
        let DbConn::Sqlite(conn) = conn else { return Err("connect() was given a sqlite:// URL".into()) };
        Ok(Stored { conn, row, entry, used: HashMap::new() })
    }

    /// One statement with its placeholders filled: what differs between submissions by the
    /// script's own values; in an INSERT, the rest by what the service stored (the next row of
    /// the table, in the order the service inserted them); elsewhere by the numbers bound.
    fn statement(&mut self, debug: &str) -> Result<String, String> {
        let (sql, binds) = split(debug);
        let Some((table, columns)) = insert_columns(&sql) else {
            return fill(&sql, |n| {
                let bound = binds.trim_matches(['[', ']']).split(", ").nth(n - 1).unwrap_or("");
                bound.parse::<i64>().map(|v| v.to_string()).map_err(|_| format!("${n} of {sql} is not a number"))
            });
        };
        let offset = self.used.entry(table.clone()).or_insert(0);
        let names: Vec<String> = columns.values().map(|c| format!("\"{c}\"")).collect();
        let query = format!(
            "SELECT json_object({}) AS stored FROM \"{table}\" ORDER BY rowid LIMIT 1 OFFSET {offset}",
            names.iter().map(|n| format!("'{}', {n}", n.trim_matches('"'))).collect::<Vec<_>>().join(", ")
        );
        *offset += 1;
        let stored: StoredRow = diesel::sql_query(&query).get_result(&mut self.conn).map_err(|e| e.to_string())?;
        let values: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&stored.stored).map_err(|e| e.to_string())?;
        fill(&sql, |n| {
            let column = columns.get(&n).ok_or_else(|| format!("${n} of {sql} fills no column"))?;
            if let Some(own) = per_submission(&table, column) {
                return Ok(own);
            }
            match values.get(column.as_str()) {
                Some(serde_json::Value::Null) => Ok("NULL".into()),
                Some(serde_json::Value::String(text)) => Ok(quote(text)),
                Some(other) => Ok(quote(&other.to_string())),
                None => Err(format!("{table}.{column} was not stored")),
            }
        })
    }
}

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    stored: String,
}

/// Values that must differ from one transaction to the next, by table and column.
fn per_submission(table: &str, column: &str) -> Option<String> {
    let value = match (table, column) {
        ("reports", "id") | ("report_keys" | "report_tactics", "report_id") | ("audit_pending", "target_id") => ":id",
        ("reports", "reference") => ":ref",
        ("reports", "receipt_hash") => "md5(random()::text) || md5(random()::text)",
        ("reports", "created_at" | "updated_at") | ("report_keys", "created_at") | ("audit_pending", "at") => NOW,
        ("report_keys", "key_id") => "substr(md5(random()::text), 1, 16)",
        ("audit_pending", "request_id") => "gen_random_uuid()::text",
        _ => return None,
    };
    Some(value.to_string())
}

/// diesel's debug text: the SQL, and the values it binds (`[…]`, their Debug form).
fn split(debug: &str) -> (String, String) {
    match debug.rsplit_once(" -- binds: ") {
        Some((sql, binds)) => (sql.to_string(), binds.to_string()),
        None => (debug.to_string(), String::new()),
    }
}

/// For `INSERT INTO "t" ("a", "b") VALUES ($1, $2)`: the table, and the column each placeholder
/// fills, by placeholder number.
fn insert_columns(sql: &str) -> Option<(String, HashMap<usize, String>)> {
    let rest = sql.strip_prefix("INSERT INTO \"")?;
    let (table, rest) = rest.split_once('"')?;
    let (names, values) = rest.trim_start().strip_prefix('(')?.split_once(") VALUES (")?;
    let values = values.strip_suffix(')').unwrap_or(values);
    let columns = names
        .split(", ")
        .zip(values.split(", "))
        .filter_map(|(name, value)| {
            let n = value.strip_prefix('$')?.parse::<usize>().ok()?;
            Some((n, name.trim_matches('"').to_string()))
        })
        .collect();
    Some((table.to_string(), columns))
}

/// `sql` with each `$n` replaced by `value(n)`.
fn fill(sql: &str, value: impl Fn(usize) -> Result<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        match digits.parse::<usize>() {
            Ok(n) if n > 0 => out.push_str(&value(n)?),
            _ => out.push('$'),
        }
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A string literal, which PostgreSQL reads as the column's type. pgbench reads `:name` as a
/// variable even inside quotes, so a colon is written as an escape.
fn quote(text: &str) -> String {
    let plain = text.replace('\'', "''");
    if text.contains([':', '\\']) {
        format!("E'{}'", plain.replace('\\', "\\\\").replace(':', "\\072"))
    } else {
        format!("'{plain}'")
    }
}
