//! Opaque pagination cursors: the keyset position, base64url-encoded. Clients must not build
//! them; a cursor that does not decode is a 422 on the `cursor` parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, FieldError};

pub fn encode<T: Serialize>(position: &T) -> String {
    // Serialising our own plain structs to JSON cannot fail.
    let json = serde_json::to_vec(position).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode<T: DeserializeOwned>(cursor: &str) -> Option<T> {
    if cursor.len() > 512 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Cuts a page fetched with one row too many (the `limit + 1` convention of every list query)
/// down to `limit`, and returns the cursor of its last row when another page follows.
pub fn paginate<T, K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|last| encode(&key(last)));
    (rows, next)
}

/// Parses `limit` (1..=200, default 50).
pub fn limit(raw: Option<&str>) -> Result<i64, &'static str> {
    match raw {
        None => Ok(50),
        Some(text) => {
            text.parse::<i64>().ok().filter(|n| (1..=200).contains(n)).ok_or("must be a whole number from 1 to 200")
        }
    }
}

/// `?limit=&cursor=`, the paging part of every list's query; a list with filters puts it in
/// its own query with `#[serde(flatten)]`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The page size and the position after which the page starts; each problem is added to
    /// `errors` under its parameter's name.
    pub fn read<K: DeserializeOwned>(&self, errors: &mut Vec<FieldError>) -> (i64, Option<K>) {
        (self.limit(errors), self.after(errors))
    }

    /// The page size (1..=200, default 50).
    pub fn limit(&self, errors: &mut Vec<FieldError>) -> i64 {
        limit(self.limit.as_deref()).unwrap_or_else(|message| {
            errors.push(FieldError::new("limit", message));
            50
        })
    }

    /// The position after which the page starts.
    pub fn after<K: DeserializeOwned>(&self, errors: &mut Vec<FieldError>) -> Option<K> {
        self.cursor.as_deref().and_then(|text| {
            let position = decode(text);
            if position.is_none() {
                errors.push(FieldError::new("cursor", "is not a cursor this service issued"));
            }
            position
        })
    }
}

/// `?limit=&cursor=` of a list without filters (a report's messages or notes), read in the
/// handler after authorization: every problem is one 422.
pub fn page<K: DeserializeOwned>(req: &actix_web::HttpRequest) -> Result<(i64, Option<K>), AppError> {
    let query: ListQuery = super::query(req)?;
    let mut errors = Vec::new();
    let page = query.read(&mut errors);
    if errors.is_empty() {
        Ok(page)
    } else {
        Err(AppError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let c = encode(&(42i64, "x".to_string()));
        assert_eq!(decode::<(i64, String)>(&c), Some((42, "x".to_string())));
        assert_eq!(decode::<(i64, String)>("%%%"), None);
        assert_eq!(decode::<(i64, String)>(&encode(&"other")), None);
    }

    #[test]
    fn pages() {
        let (rows, next) = paginate(vec![1, 2, 3], 2, |r| *r);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(decode::<i32>(&next.unwrap()), Some(2));
        assert_eq!(paginate(vec![1, 2], 2, |r| *r), (vec![1, 2], None));
    }

    #[test]
    fn page_query() {
        let mut errors = Vec::new();
        let q = ListQuery { limit: Some("10".into()), cursor: Some(encode(&7i64)) };
        assert_eq!(q.read::<i64>(&mut errors), (10, Some(7)));
        assert_eq!(ListQuery::default().read::<i64>(&mut errors), (50, None));
        assert!(errors.is_empty());
        let q = ListQuery { limit: Some("0".into()), cursor: Some("garbage".into()) };
        assert_eq!(q.read::<i64>(&mut errors), (50, None));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "cursor"]);
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None), Ok(50));
        assert_eq!(limit(Some("200")), Ok(200));
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("201")).is_err());
        assert!(limit(Some("x")).is_err());
    }
}
