//! The registry of reported overseas stations (SPEC §7): public and staff views, edits with
//! optimistic concurrency, and the CSV import of the publicly reported stations.

pub mod handlers;
pub mod import;
pub mod input;
pub mod rules;
pub mod store;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::stations;
use crate::db::Id;
use rules::{Source, StationFields};

crate::text_enum! {
    /// SPEC §7: how far a reported station is established.
    pub enum StationStatus { Reported = "reported", Confirmed = "confirmed", Closed = "closed", Disputed = "disputed" }
}

crate::text_enum! {
    /// Whether the public may see an entry.
    pub enum Visibility { Public = "public", Internal = "internal" }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = stations, treat_none_as_default_value = false)]
pub struct StationRow {
    pub id: Id,
    pub name: String,
    pub city: Option<String>,
    pub country: String,
    pub address: Option<String>,
    pub operating_bureau: String,
    pub status: StationStatus,
    pub visibility: Visibility,
    /// JSON array of [`Source`].
    pub sources: String,
    pub first_reported_on: Option<NaiveDate>,
    pub notes: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl StationRow {
    pub fn sources(&self) -> Vec<Source> {
        serde_json::from_str(&self.sources).unwrap_or_default()
    }

    /// A new row from validated create fields.
    pub fn create(fields: StationFields, now: NaiveDateTime) -> StationRow {
        let mut row = StationRow {
            id: Id::new(),
            name: String::new(),
            city: None,
            country: String::new(),
            address: None,
            operating_bureau: "unknown".into(),
            status: StationStatus::Reported,
            visibility: Visibility::Internal,
            sources: "[]".into(),
            first_reported_on: None,
            notes: None,
            latitude: None,
            longitude: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        row.apply(fields);
        row
    }

    /// Applies the given fields; returns the names of the fields that changed.
    pub fn apply(&mut self, f: StationFields) -> Vec<&'static str> {
        let mut changed = Vec::new();
        macro_rules! set {
            ($field:ident) => {
                if let Some(value) = f.$field {
                    if self.$field != value {
                        self.$field = value;
                        changed.push(stringify!($field));
                    }
                }
            };
        }
        set!(name);
        set!(city);
        set!(country);
        set!(address);
        set!(operating_bureau);
        set!(status);
        set!(visibility);
        if let Some(sources) = f.sources {
            let json = serde_json::to_string(&sources).unwrap_or_else(|_| "[]".into());
            if self.sources != json {
                self.sources = json;
                changed.push("sources");
            }
        }
        set!(first_reported_on);
        set!(notes);
        set!(latitude);
        set!(longitude);
        changed
    }
}

/// What anyone may see of a public station.
#[derive(Debug, Clone, Serialize)]
pub struct PublicStation {
    pub id: Id,
    pub name: String,
    pub city: Option<String>,
    pub country: String,
    pub address: Option<String>,
    pub operating_bureau: String,
    pub status: StationStatus,
    pub sources: Vec<Source>,
    pub first_reported_on: Option<NaiveDate>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// What staff see: everything, including internal notes and the version for `If-Match`.
#[derive(Debug, Clone, Serialize)]
pub struct StaffStation {
    #[serde(flatten)]
    pub public: PublicStation,
    pub visibility: Visibility,
    pub notes: Option<String>,
    pub version: i32,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

impl From<&StationRow> for PublicStation {
    fn from(r: &StationRow) -> Self {
        PublicStation {
            id: r.id,
            name: r.name.clone(),
            city: r.city.clone(),
            country: r.country.clone(),
            address: r.address.clone(),
            operating_bureau: r.operating_bureau.clone(),
            status: r.status,
            sources: r.sources(),
            first_reported_on: r.first_reported_on,
            latitude: r.latitude,
            longitude: r.longitude,
        }
    }
}

impl From<&StationRow> for StaffStation {
    fn from(r: &StationRow) -> Self {
        StaffStation {
            public: PublicStation::from(r),
            visibility: r.visibility,
            notes: r.notes.clone(),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
