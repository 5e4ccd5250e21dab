//! Data keys of cases and stations (SPEC §14.4). Staff write free text about them that quotes
//! reports (a case's summary, a station link's note, a station's internal notes), so it is kept
//! like report content: encrypted under a key of the case or station, wrapped under the master
//! key and bound to its row (§4.4). A key is made the first time something is sealed.

use diesel::prelude::*;

use crate::crypto::envelope::{DataKey, Keyring, WrappedKey};
use crate::db::schema::data_keys;
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::error::AppError;

/// What a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Case,
    Station,
}

impl Owner {
    fn table(self) -> &'static str {
        match self {
            Owner::Case => "cases",
            Owner::Station => "stations",
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = data_keys, treat_none_as_default_value = false)]
struct KeyRow {
    owner_table: String,
    owner_id: Id,
    key_id: String,
    wrapped: String,
    master_key_id: String,
    created_at: chrono::NaiveDateTime,
}

/// The key of a case or station, if it has one.
pub fn find(conn: &mut DbConn, keyring: &Keyring, owner: Owner, id: Id) -> Result<Option<DataKey>, AppError> {
    let table = owner.table();
    let row: Option<KeyRow> = db_run!(conn: {
        data_keys::table.find((table, id)).select(KeyRow::as_select()).first(conn).optional()
    })?;
    row.map(|r| {
        let stored = WrappedKey { key_id: r.key_id, wrapped: r.wrapped, master_key_id: r.master_key_id };
        keyring.unwrap_for(table, id, &stored).map_err(|_| AppError::internal("data key"))
    })
    .transpose()
}

/// The key of a case or station, made and stored if it has none yet.
pub fn find_or_make(conn: &mut DbConn, keyring: &Keyring, owner: Owner, id: Id) -> Result<DataKey, AppError> {
    if let Some(key) = find(conn, keyring, owner, id)? {
        return Ok(key);
    }
    let (key, wrapped) = keyring.new_key_for(owner.table(), id);
    let row = KeyRow {
        owner_table: owner.table().to_string(),
        owner_id: id,
        key_id: wrapped.key_id,
        wrapped: wrapped.wrapped,
        master_key_id: wrapped.master_key_id,
        created_at: crate::db::now(),
    };
    db_run!(conn: { diesel::insert_into(data_keys::table).values(&row).execute(conn) })?;
    Ok(key)
}

/// Seals a value of `table.column` in row `row` (nothing stays nothing).
pub fn seal(
    key: &DataKey,
    table: &str,
    column: &str,
    row: impl std::fmt::Display,
    value: Option<&str>,
) -> Option<String> {
    value.map(|v| key.seal(table, column, row, v))
}

/// Opens a sealed value; a value without a key to open it is a fault, never shown as empty.
pub fn open(
    key: Option<&DataKey>,
    table: &str,
    column: &str,
    row: impl std::fmt::Display,
    sealed: Option<&str>,
) -> Result<Option<String>, AppError> {
    match (sealed, key) {
        (None, _) => Ok(None),
        (Some(sealed), Some(key)) => {
            key.open(table, column, row, sealed).map(Some).map_err(|_| AppError::internal("decryption"))
        }
        (Some(_), None) => Err(AppError::internal("sealed value without a data key")),
    }
}
