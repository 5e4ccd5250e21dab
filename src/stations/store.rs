//! Queries on the registry.

use diesel::prelude::*;

use super::{StationRow, StationStatus, Visibility};
use crate::crypto::envelope::Keyring;
use crate::data_keys::{self as keys, Owner};
use crate::db::keyset::{self, Order};
use crate::db::schema::{case_stations, cases, data_keys, reports, stations};
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::error::AppError;

#[derive(Debug, Default)]
pub struct Filter {
    pub country: Option<String>,
    pub city: Option<String>,
    pub bureau: Option<String>,
    pub status: Option<StationStatus>,
    pub visibility: Option<Visibility>,
    /// Case-insensitive text search in name, city, address and bureau.
    pub q: Option<String>,
    pub public_only: bool,
    /// Keyset position: the last `(name, id)` of the previous page.
    pub after: Option<(String, Id)>,
    pub limit: i64,
}

/// `%`, `_` and `\` stand for themselves in a search.
fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

pub fn list(conn: &mut DbConn, f: &Filter) -> QueryResult<Vec<StationRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::Text;
    // lower() is ASCII-only on SQLite; PostgreSQL folds every script. Search terms in Latin
    // script behave the same on both.
    let lower = |column: &'static str| sql::<Text>(&format!("lower(coalesce({column}, ''))"));
    db_run!(conn: {
        let mut q = stations::table.select(StationRow::as_select()).into_boxed();
        if f.public_only {
            q = q.filter(stations::visibility.eq(Visibility::Public));
        }
        if let Some(v) = f.visibility {
            q = q.filter(stations::visibility.eq(v));
        }
        if let Some(v) = &f.country {
            q = q.filter(stations::country.eq(v.clone()));
        }
        if let Some(v) = &f.city {
            q = q.filter(lower("stations.city").eq(v.to_lowercase()));
        }
        if let Some(v) = &f.bureau {
            q = q.filter(lower("stations.operating_bureau").eq(v.to_lowercase()));
        }
        if let Some(v) = f.status {
            q = q.filter(stations::status.eq(v));
        }
        if let Some(text) = &f.q {
            let pattern = like_pattern(text);
            q = q.filter(
                lower("stations.name")
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower("stations.city").like(pattern.clone()).escape('\\'))
                    .or(lower("stations.address").like(pattern.clone()).escape('\\'))
                    .or(lower("stations.operating_bureau").like(pattern).escape('\\')),
            );
        }
        if let Some((name, id)) = &f.after {
            q = q.filter(keyset::after(
                "stations.name, stations.id",
                vec![name.clone().into(), (*id).into()],
                Order::Ascending,
            ));
        }
        q.order((stations::name.asc(), stations::id.asc())).limit(f.limit + 1).load(conn)
    })
}

pub fn find(conn: &mut DbConn, id: Id) -> QueryResult<Option<StationRow>> {
    db_run!(conn: { stations::table.find(id).select(StationRow::as_select()).first(conn).optional() })
}

pub fn find_by_name(conn: &mut DbConn, name: &str, country: &str) -> QueryResult<Option<StationRow>> {
    db_run!(conn: {
        stations::table
            .filter(stations::name.eq(name))
            .filter(stations::country.eq(country))
            .select(StationRow::as_select())
            .first(conn)
            .optional()
    })
}

pub fn insert(conn: &mut DbConn, row: &StationRow) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(stations::table).values(row).execute(conn) }).map(|_| ())
}

/// Writes a station's fields. Its version is claimed first (`db::versioned`).
pub fn update(conn: &mut DbConn, row: &StationRow) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(stations::table.find(row.id))
            .set((
                stations::name.eq(&row.name),
                stations::city.eq(&row.city),
                stations::country.eq(&row.country),
                stations::address.eq(&row.address),
                stations::operating_bureau.eq(&row.operating_bureau),
                stations::status.eq(&row.status),
                stations::visibility.eq(&row.visibility),
                stations::sources.eq(&row.sources),
                stations::first_reported_on.eq(row.first_reported_on),
                stations::notes.eq(&row.notes),
                stations::latitude.eq(row.latitude),
                stations::longitude.eq(row.longitude),
            ))
            .execute(conn)
    })
    .map(|_| ())
}

/// A case linked to a station, as the staff view of the station shows it.
#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct LinkedCase {
    pub id: Id,
    pub reference: String,
    pub title: String,
    pub status: crate::cases::CaseStatus,
    pub relation: crate::cases::Relation,
    pub confidence: crate::cases::Confidence,
}

pub fn linked_cases(conn: &mut DbConn, station: Id) -> QueryResult<Vec<LinkedCase>> {
    db_run!(conn: {
        case_stations::table
            .inner_join(cases::table)
            .filter(case_stations::station_id.eq(station))
            .select((cases::id, cases::reference, cases::title, cases::status, case_stations::relation, case_stations::confidence))
            .order(cases::reference.asc())
            .load(conn)
    })
}

pub fn report_count(conn: &mut DbConn, station: Id) -> QueryResult<i64> {
    db_run!(conn: { reports::table.filter(reports::station_id.eq(station)).count().get_result(conn) })
}

/// The station with its internal notes decrypted (SPEC §14.4).
pub fn opened(conn: &mut DbConn, keyring: &Keyring, mut row: StationRow) -> Result<StationRow, AppError> {
    if row.notes.is_some() {
        let key = keys::find(conn, keyring, Owner::Station, row.id)?;
        row.notes = keys::open(key.as_ref(), "stations", "notes", row.id, row.notes.as_deref())?;
    }
    Ok(row)
}

/// The station as stored: its internal notes sealed under its own key.
pub fn sealed(conn: &mut DbConn, keyring: &Keyring, mut row: StationRow) -> Result<StationRow, AppError> {
    if let Some(notes) = row.notes.take() {
        let key = keys::find_or_make(conn, keyring, Owner::Station, row.id)?;
        row.notes = keys::seal(&key, "stations", "notes", row.id, Some(&notes));
    }
    Ok(row)
}

/// Stations whose internal notes are still stored in the clear (from before SPEC §14.4).
pub fn with_plain_notes(conn: &mut DbConn) -> QueryResult<Vec<StationRow>> {
    use diesel::dsl::{exists, not};
    db_run!(conn: {
        let keyed = data_keys::table
            .filter(data_keys::owner_table.eq("stations"))
            .filter(data_keys::owner_id.eq(stations::id));
        stations::table
            .filter(stations::notes.is_not_null())
            .filter(not(exists(keyed)))
            .select(StationRow::as_select())
            .load(conn)
    })
}
