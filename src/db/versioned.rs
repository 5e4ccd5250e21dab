//! Versioned rows (SPEC §5): reports, cases and stations carry a `version`, shown as their
//! `ETag`. A change claims the next version with one statement,
//! `UPDATE … SET version = version + 1 WHERE id = ? AND version = ?`, and counts the rows it
//! touched. Comparing a version read earlier with the one sent would not do: under PostgreSQL's
//! read committed two transactions can both read version 3, both find it matches, and the
//! second silently overwrites the first. The single statement cannot race: the second writer
//! waits for the first one's row lock, then re-evaluates its `WHERE` against the committed row
//! and touches nothing.
//!
//! A use case claims the version before any other write of its transaction, so a loser has
//! written nothing, and the row stays locked (one writer at a time) until the winner commits.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{cases, reports, stations};
use super::{DbConn, Id};
use crate::db_run;
use crate::error::AppError;

/// The tables whose rows are versioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioned {
    Report,
    Case,
    Station,
}

/// Which version a change starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The version the client read, from `If-Match`: any other is 412.
    Version(i32),
    /// Whatever is stored: for changes that take no `If-Match` (a report put into a case) but
    /// still make earlier ETags stale.
    Any,
}

/// Claims the next version of row `id`, stamping `updated_at`, and returns it. 412 when the
/// stored version is not the expected one, 404 when the row does not exist.
pub fn claim(conn: &mut DbConn, table: Versioned, id: Id, expect: Expect, at: NaiveDateTime) -> Result<i32, AppError> {
    let expected = match expect {
        Expect::Version(v) => Some(v),
        Expect::Any => None,
    };
    macro_rules! bump {
        ($t:ident) => {
            db_run!(conn: {
                let set = ($t::version.eq($t::version + 1), $t::updated_at.eq(at));
                match expected {
                    Some(v) => diesel::update($t::table.find(id).filter($t::version.eq(v)))
                        .set(set)
                        .returning($t::version)
                        .get_result::<i32>(conn)
                        .optional(),
                    None => diesel::update($t::table.find(id))
                        .set(set)
                        .returning($t::version)
                        .get_result::<i32>(conn)
                        .optional(),
                }
            })
        };
    }
    macro_rules! exists {
        ($t:ident) => {
            db_run!(conn: { diesel::select(diesel::dsl::exists($t::table.find(id))).get_result::<bool>(conn) })
        };
    }
    let claimed = match table {
        Versioned::Report => bump!(reports),
        Versioned::Case => bump!(cases),
        Versioned::Station => bump!(stations),
    }?;
    if let Some(version) = claimed {
        return Ok(version);
    }
    let exists = match table {
        Versioned::Report => exists!(reports),
        Versioned::Case => exists!(cases),
        Versioned::Station => exists!(stations),
    }?;
    Err(if exists { AppError::PreconditionFailed } else { AppError::NotFound })
}

/// For a request that turned out to change nothing (no claim, so no write): it still answers
/// 412 when the client's version is not the one it was shown.
pub fn unchanged(stored: i32, expect: Expect) -> Result<(), AppError> {
    match expect {
        Expect::Version(v) if v != stored => Err(AppError::PreconditionFailed),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_resource_still_checks_the_version() {
        assert!(unchanged(3, Expect::Version(3)).is_ok());
        assert!(matches!(unchanged(3, Expect::Version(2)), Err(AppError::PreconditionFailed)));
        assert!(unchanged(3, Expect::Any).is_ok());
    }
}
