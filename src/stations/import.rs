//! `tipline stations import FILE`: loads registry entries from CSV (see `data/README.md`).
//!
//! Every row is checked with the same rules as the API before anything is written; one bad
//! row means nothing is imported. Rows are matched to existing entries by `(name, country)`,
//! so running the same file twice changes nothing the second time.

use std::io::Read;

use serde_json::{json, Map, Value};

use super::{input, rules, store, StationRow};
use crate::audit::{self, Action, Context};
use crate::crypto::envelope::Keyring;
use crate::db::versioned::{self, Expect, Versioned};
use crate::db::{self, write_tx, DbConn};
use crate::error::AppError;
use crate::http::body::Form;

pub const COLUMNS: [&str; 10] = [
    "name",
    "city",
    "country",
    "address",
    "operating_bureau",
    "status",
    "visibility",
    "sources",
    "first_reported_on",
    "notes",
];

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Parses and checks the whole file. `Err` lists every problem as `line N: field: message`.
pub fn parse(input: impl Read) -> Result<Vec<rules::StationFields>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![format!("line 1: cannot read the header: {e}")]),
    };
    if headers.iter().collect::<Vec<_>>() != COLUMNS {
        return Err(vec![format!("line 1: the header must be exactly: {}", COLUMNS.join(","))]);
    }
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = record.as_ref().ok().and_then(|r| r.position()).map(|p| p.line()).unwrap_or(index as u64 + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let mut object = Map::new();
        for (column, value) in COLUMNS.iter().zip(record.iter()) {
            if value.is_empty() {
                continue;
            }
            let value = match *column {
                "sources" => match serde_json::from_str::<Value>(value) {
                    Ok(v) => v,
                    Err(_) => {
                        problems.push(format!("line {line}: sources: must be a JSON array"));
                        continue;
                    }
                },
                _ => Value::String(value.to_string()),
            };
            object.insert(column.to_string(), value);
        }
        let Ok(mut form) = Form::new(Value::Object(object)) else { continue };
        let fields = input::read(&mut form, true);
        match form.finish() {
            Ok(()) => out.push(fields),
            Err(AppError::Validation(errors)) => {
                problems.extend(errors.into_iter().map(|e| format!("line {line}: {}: {}", e.field, e.message)));
            }
            Err(other) => problems.push(format!("line {line}: {other}")),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, f) in out.iter().enumerate() {
        let key = (f.name.clone(), f.country.clone());
        if !seen.insert(key) {
            problems.push(format!("row {}: name: the same name and country appear twice in the file", i + 1));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Writes checked rows in one transaction, with one audit entry.
pub fn apply(
    conn: &mut DbConn,
    keyring: &Keyring,
    rows: Vec<rules::StationFields>,
    source: &str,
) -> Result<Outcome, AppError> {
    write_tx(conn, |conn| {
        let mut outcome = Outcome { rows: rows.len(), ..Outcome::default() };
        let now = db::now();
        for fields in rows {
            let (Some(name), Some(country)) = (fields.name.clone(), fields.country.clone()) else {
                return Err(AppError::internal("checked row without name or country"));
            };
            match store::find_by_name(conn, &name, &country)? {
                None => {
                    let row = store::sealed(conn, keyring, StationRow::create(fields, now))?;
                    store::insert(conn, &row)?;
                    outcome.created += 1;
                }
                Some(existing) => {
                    // The file speaks for the fields it has; a field it leaves empty stays.
                    let mut existing = store::opened(conn, keyring, existing)?;
                    if existing.apply(fields).is_empty() {
                        outcome.unchanged += 1;
                    } else {
                        versioned::claim(conn, Versioned::Station, existing.id, Expect::Any, now)?;
                        let row = store::sealed(conn, keyring, existing)?;
                        store::update(conn, &row)?;
                        outcome.updated += 1;
                    }
                }
            }
        }
        let entry = Context::system().entry(Action::StationsImport).details(json!({
            "file": source,
            "rows": outcome.rows,
            "created": outcome.created,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
        }));
        audit::record(conn, entry)?;
        Ok(outcome)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "name,city,country,address,operating_bureau,status,visibility,sources,first_reported_on,notes\n";

    #[test]
    fn parses_a_good_file() {
        let file = format!(
            "{HEADER}\"Fuzhou PSB station, Rotterdam\",Rotterdam,NL,,Fuzhou PSB,reported,public,\"[{{\"\"title\"\":\"\"A report\"\",\"\"url\"\":null,\"\"published_on\"\":\"\"2022-09-12\"\"}}]\",2022-09-12,\n"
        );
        let rows = parse(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].sources.as_ref().unwrap()[0].title, "A report");
        assert_eq!(rows[0].address, None);
    }

    #[test]
    fn names_every_bad_line() {
        let file = format!("{HEADER}Good,Rotterdam,NL,,unknown,reported,public,[],,\nBad,,XX,,unknown,maybe,public,[],,\nWorse,,NL,,unknown,reported,public,not json,,\n");
        let problems = parse(file.as_bytes()).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 3: country"), "{problems:?}");
        assert!(problems[1].starts_with("line 3: status"), "{problems:?}");
        assert!(problems[2].starts_with("line 4: sources"), "{problems:?}");
    }

    #[test]
    fn refuses_a_wrong_header() {
        assert!(parse("name,country\nX,NL\n".as_bytes()).unwrap_err()[0].starts_with("line 1"));
    }
}
