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
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct UserRow {
    pub id: Id,
    /// How the account signs in: a staff member's email, or for a reporter the keyed hash of
    /// their login name (`hmac:…`, see `auth::token::login_hash`), never the name itself.
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl UserRow {
    /// A new, active account.
    pub fn new(login: String, display_name: String, role: Role, password_hash: String) -> Self {
        let now = crate::db::now();
        UserRow {
            id: Id::new(),
            login,
            display_name,
            role,
            password_hash,
            active: true,
            created_at: now,
            updated_at: now,
        }
    }

    /// A staff member's email; a reporter has none (SPEC §14.1).
    pub fn email(&self) -> Option<&str> {
        (self.role != Role::Reporter).then_some(self.login.as_str())
    }
}

/// A user as the API shows it. A reporter account shows no login name (SPEC §14.1); to admins
/// it shows neither its display name, which the person chose and may be their own, nor more of
/// its creation time than the day (§14.2).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub role: Role,
    pub active: bool,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
}

impl User {
    /// The account as its owner sees it (`/me`).
    pub fn own(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email().map(str::to_string),
            display_name: Some(row.display_name),
            role: row.role,
            active: row.active,
            created_at: row.created_at,
        }
    }

    /// The account as an admin sees it.
    pub fn for_admin(row: UserRow) -> Self {
        if row.role != Role::Reporter {
            return User::own(row);
        }
        User {
            id: row.id,
            email: None,
            display_name: None,
            role: row.role,
            active: row.active,
            created_at: row.created_at.date().and_time(chrono::NaiveTime::MIN),
        }
    }
}
