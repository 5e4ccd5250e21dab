//! Queries on evidence files.

use diesel::dsl;
use diesel::prelude::*;

use super::AttachmentRow;
use crate::db::schema::{attachments, reports};
use crate::db::{DbConn, Id};
use crate::db_run;

pub fn insert(conn: &mut DbConn, row: &AttachmentRow) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(attachments::table).values(row).execute(conn) }).map(|_| ())
}

/// How many files a report has, and their bytes (originals).
pub fn usage(conn: &mut DbConn, report_id: Id) -> QueryResult<(u64, u64)> {
    // PostgreSQL sums BIGINT into NUMERIC: cast back.
    let (files, bytes): (i64, i64) = db_run!(conn: {
        attachments::table
            .filter(attachments::report_id.eq(report_id))
            .select((dsl::count_star(), dsl::sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(size), 0) AS BIGINT)")))
            .first(conn)
    })?;
    Ok((files.max(0) as u64, bytes.max(0) as u64))
}

/// Locks the report's row until the transaction ends, so two uploads to one report check its
/// limits one after the other (PostgreSQL; on SQLite the write transaction holds the database).
pub fn lock_report(conn: &mut DbConn, report_id: Id) -> QueryResult<()> {
    match conn {
        DbConn::Pg(pg) => reports::table.find(report_id).select(reports::id).for_update().first::<Id>(pg).map(|_| ()),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// A report's files, oldest first.
pub fn list(conn: &mut DbConn, report_id: Id) -> QueryResult<Vec<AttachmentRow>> {
    db_run!(conn: {
        attachments::table
            .filter(attachments::report_id.eq(report_id))
            .order((attachments::created_at, attachments::id))
            .select(AttachmentRow::as_select())
            .load(conn)
    })
}

pub fn find(conn: &mut DbConn, report_id: Id, id: Id) -> QueryResult<Option<AttachmentRow>> {
    db_run!(conn: {
        attachments::table
            .filter(attachments::report_id.eq(report_id))
            .filter(attachments::id.eq(id))
            .select(AttachmentRow::as_select())
            .first(conn)
            .optional()
    })
}

/// Which of `names` some row refers to (as original or clean copy).
pub fn referenced(conn: &mut DbConn, names: &[String]) -> QueryResult<Vec<String>> {
    let rows: Vec<(String, Option<String>)> = db_run!(conn: {
        attachments::table
            .filter(attachments::original_blob.eq_any(names).or(attachments::clean_blob.eq_any(names)))
            .select((attachments::original_blob, attachments::clean_blob))
            .load(conn)
    })?;
    Ok(rows.into_iter().flat_map(|(original, clean)| std::iter::once(original).chain(clean)).collect())
}

/// Deletes every file row of a report (when it is shredded, SPEC §13) and answers the names of
/// their blobs, for the caller to delete once its transaction has committed.
pub fn remove_all(conn: &mut DbConn, report_id: Id) -> QueryResult<Vec<String>> {
    let rows: Vec<(String, Option<String>)> = db_run!(conn: {
        attachments::table
            .filter(attachments::report_id.eq(report_id))
            .select((attachments::original_blob, attachments::clean_blob))
            .load(conn)
    })?;
    db_run!(conn: { diesel::delete(attachments::table.filter(attachments::report_id.eq(report_id))).execute(conn) })?;
    Ok(rows.into_iter().flat_map(|(original, clean)| std::iter::once(original).chain(clean)).collect())
}
