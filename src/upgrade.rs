//! Changes to stored data that need the service's keys, so no SQL migration can make them. They
//! run at every start, after the migrations, each in one transaction, and each finds nothing left
//! to do once it has run.

use crate::auth::token::login_hash;
use crate::config::Config;
use crate::crypto::envelope::Keyring;
use crate::data_keys::{self, Owner};
use crate::db::{write_tx, DbConn};
use crate::error::AppError;

/// SPEC §14.4: case summaries, link notes and station notes written before they were
/// encrypted get their data key and are sealed.
fn seal_staff_text(conn: &mut DbConn, keyring: &Keyring) -> Result<usize, AppError> {
    let mut changed = 0;
    for (case, summary) in crate::cases::store::with_plain_text(conn)? {
        let key = data_keys::find_or_make(conn, keyring, Owner::Case, case)?;
        let sealed = data_keys::seal(&key, "cases", "summary", case, summary.as_deref());
        crate::cases::store::set_summary(conn, case, sealed.as_deref())?;
        for (station, note) in crate::cases::store::link_notes(conn, case)? {
            crate::cases::store::set_link_note(
                conn,
                case,
                station,
                &key.seal("case_stations", "note", station, &note),
            )?;
        }
        changed += 1;
    }
    for station in crate::stations::store::with_plain_notes(conn)? {
        let sealed = crate::stations::store::sealed(conn, keyring, station)?;
        crate::stations::store::update(conn, &sealed)?;
        changed += 1;
    }
    Ok(changed)
}

/// SPEC §14: reporter logins stored only as a keyed hash (an older account's email keeps
/// working as its login name), reports tagged with their owner instead of naming the account,
/// reporters' messages no longer naming their author, and staff free text sealed.
pub fn run(conn: &mut DbConn, config: &Config) -> Result<usize, AppError> {
    let (login_key, owner_key) = (crate::state::login_key(config), crate::state::owner_key(config));
    write_tx(conn, |conn| {
        let mut changed = 0;
        for (id, email) in crate::users::store::reporters_with_plain_login(conn)? {
            let name = crate::users::rules::normalize_email(&email);
            crate::users::store::set_login(conn, id, &login_hash(&login_key, &name))?;
            changed += 1;
        }
        for (report, owner) in crate::reports::store::owned_by_id(conn)? {
            crate::reports::store::set_owner_tag(conn, report, &crate::reports::access::tag_with(&owner_key, owner))?;
            changed += 1;
        }
        changed += crate::reports::store::forget_reporter_authors(conn)?;
        changed += seal_staff_text(conn, &config.keyring)?;
        Ok(changed)
    })
}
