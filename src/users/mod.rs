//! Accounts: the user model, the rules for their fields, and the admin endpoints.

pub mod handlers;
pub mod rules;
pub mod store;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::users;
use crate::db::Id;

crate::text_enum! {
    /// SPEC §2.
    pub enum Role { Reporter = "reporter", Caseworker = "caseworker", Admin = "admin" }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Id,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl UserRow {
    /// A new, active account.
    pub fn new(email: String, display_name: String, role: Role, password_hash: String) -> Self {
        let now = crate::db::now();
        UserRow {
            id: Id::new(),
            email,
            display_name,
            role,
            password_hash,
            active: true,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            role: row.role,
            active: row.active,
            created_at: row.created_at,
        }
    }
}
