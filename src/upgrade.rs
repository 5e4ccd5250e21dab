//! Changes to stored data that need the service's keys, so no SQL migration can make them. They
//! run at every start, after the migrations, each in one transaction, and each finds nothing left
//! to do once it has run.

use crate::auth::token::login_hash;
use crate::config::Config;
use crate::db::{write_tx, DbConn};
use crate::error::AppError;

/// SPEC §14: reporter logins stored only as a keyed hash (an older account's email keeps
/// working as its login name), reports tagged with their owner instead of naming the account,
/// and reporters' messages no longer naming their author.
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
        Ok(changed)
    })
}
