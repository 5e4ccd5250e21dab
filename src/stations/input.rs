//! A station read from a JSON object, every problem collected: the body of the API's create and
//! edit, and each row of the CSV import, so both apply the same rules.

use serde_json::Value;

use super::rules::{
    date, single_line, url, Source, StationFields, ADDRESS_MAX, BUREAU_MAX, NAME_MAX, NOTES_MAX, SOURCES_MAX,
    SOURCE_TITLE_MAX,
};
use super::{StationStatus, Visibility};
use crate::fields::{country, text};
use crate::http::body::Form;

fn optional_text(form: &mut Form, name: &'static str, max: usize, multiline: bool) -> Option<Option<String>> {
    let value = form.opt_nullable_string(name)?;
    match value {
        None => Some(None),
        Some(v) if v.trim().is_empty() => Some(None),
        Some(v) => form.check(name, text(&v, max, multiline).map(|_| Some(v.trim().to_string()))),
    }
}

fn coordinate(form: &mut Form, name: &'static str, limit: f64) -> Option<Option<f64>> {
    if !form.has(name) {
        form.take(name);
        return None;
    }
    match form.take(name) {
        None => Some(None),
        Some(Value::Number(n)) => match n.as_f64().filter(|v| v.abs() <= limit) {
            Some(v) => Some(Some(v)),
            None => {
                form.error(name, format!("must be a number from -{limit} to {limit}"));
                None
            }
        },
        Some(_) => {
            form.error(name, "must be a number or null");
            None
        }
    }
}

fn sources(form: &mut Form) -> Option<Vec<Source>> {
    let value = form.take("sources")?;
    let Value::Array(items) = value else {
        form.error("sources", "must be an array of {title, url, published_on}");
        return None;
    };
    if items.len() > SOURCES_MAX {
        form.error("sources", "may list at most 50 sources");
    }
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let field = |name: &str| format!("sources[{i}].{name}");
        let Value::Object(mut map) = item else {
            form.error(&format!("sources[{i}]"), "must be an object {title, url, published_on}");
            continue;
        };
        let title = match map.remove("title") {
            Some(Value::String(t)) if !t.trim().is_empty() => {
                form.check(&field("title"), text(&t, SOURCE_TITLE_MAX, false).map(|_| t.trim().to_string()))
            }
            _ => {
                form.error(&field("title"), "is required");
                None
            }
        };
        let url = match map.remove("url") {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(u)) => form.check(&field("url"), url(&u).map(Some)),
            Some(_) => {
                form.error(&field("url"), "must be a string or null");
                None
            }
        };
        let published_on = match map.remove("published_on") {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(d)) => form.check(&field("published_on"), date(&d).map(Some)),
            Some(_) => {
                form.error(&field("published_on"), "must be a date as YYYY-MM-DD or null");
                None
            }
        };
        if !map.is_empty() {
            form.error(&format!("sources[{i}]"), "unknown field(s); accepted fields are: title, url, published_on");
        }
        if let (Some(title), Some(url), Some(published_on)) = (title, url, published_on) {
            out.push(Source { title, url, published_on });
        }
    }
    Some(out)
}

/// Reads station fields. With `create`, the required ones must be there.
pub fn read(form: &mut Form, create: bool) -> StationFields {
    let name = form.opt_string("name");
    let city = optional_text(form, "city", crate::fields::CITY_MAX, false);
    let country_raw = form.opt_string("country");
    let address = optional_text(form, "address", ADDRESS_MAX, false);
    let bureau = form.opt_string("operating_bureau");
    let status = form.opt_parsed("status", StationStatus::read);
    let visibility = form.opt_parsed("visibility", Visibility::read);
    let sources = sources(form);
    let first = form.opt_nullable_string("first_reported_on");
    let notes = optional_text(form, "notes", NOTES_MAX, true);
    let latitude = coordinate(form, "latitude", 90.0);
    let longitude = coordinate(form, "longitude", 180.0);

    let mut fields = StationFields {
        name: name.and_then(|v| form.check("name", single_line(NAME_MAX)(v))),
        city,
        country: country_raw.and_then(|v| form.check("country", country(&v))),
        address,
        operating_bureau: bureau.and_then(|v| form.check("operating_bureau", single_line(BUREAU_MAX)(v))),
        status,
        visibility,
        sources,
        first_reported_on: first.map(|d| d.and_then(|d| form.check("first_reported_on", date(&d)))),
        notes,
        latitude,
        longitude,
    };
    if create {
        for (name, missing) in [("name", fields.name.is_none()), ("country", fields.country.is_none())] {
            if missing && !form.has_error(name) {
                form.error(name, "is required");
            }
        }
        // Defaults for a new entry: the bureau is often not known, and a new entry stays
        // internal until someone decides to publish it.
        fields.operating_bureau.get_or_insert_with(|| "unknown".into());
        fields.status.get_or_insert(StationStatus::Reported);
        fields.visibility.get_or_insert(Visibility::Internal);
        fields.sources.get_or_insert_with(Vec::new);
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use serde_json::json;

    fn parse(v: Value, create: bool) -> Result<StationFields, Vec<String>> {
        let mut form = Form::new(v).unwrap();
        let fields = read(&mut form, create);
        match form.finish() {
            Ok(()) => Ok(fields),
            Err(AppError::Validation(errors)) => Err(errors.into_iter().map(|e| e.field).collect()),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn creates_with_defaults() {
        let f = parse(json!({"name": " Station ", "country": "nl"}), true).unwrap();
        assert_eq!(f.name.as_deref(), Some("Station"));
        assert_eq!(f.country.as_deref(), Some("NL"));
        assert_eq!(f.visibility, Some(super::Visibility::Internal));
        assert_eq!(f.operating_bureau.as_deref(), Some("unknown"));
    }

    #[test]
    fn reports_every_problem() {
        let errors = parse(
            json!({
                "country": "XX", "status": "rumoured", "latitude": 91, "longitude": "east",
                "sources": [{"url": "ftp://x", "published_on": "2022-13-01"}, 3],
                "first_reported_on": "yesterday"
            }),
            true,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                "name",
                "country",
                "status",
                "sources[0].title",
                "sources[0].url",
                "sources[0].published_on",
                "sources[1]",
                "first_reported_on",
                "latitude",
                "longitude"
            ]
        );
    }

    #[test]
    fn partial_updates_and_clearing() {
        let f = parse(json!({"city": null, "latitude": null, "notes": "x"}), false).unwrap();
        assert_eq!(f.city, Some(None));
        assert_eq!(f.latitude, Some(None));
        assert_eq!(f.notes, Some(Some("x".into())));
        assert_eq!(f.name, None);
        assert_eq!(f.longitude, None);
    }
}
