//! JSON request bodies.
//!
//! [`JsonBody`] enforces the content type (415), the size limit (413) and JSON syntax (400),
//! without echoing anything the client sent. [`Form`] then reads the fields of the object and
//! collects every problem at once, so a client sees all its mistakes in one 422.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{self, PayloadConfig};
use actix_web::{FromRequest, HttpRequest};
use serde_json::{Map, Value};

use crate::error::{AppError, FieldError};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn payload_config() -> PayloadConfig {
    PayloadConfig::new(MAX_BODY_BYTES)
}

/// A JSON request body, read only when the handler asks for it. Extraction never fails, so a
/// handler's role extractor decides first: a caller without the right role gets 401/403, not a
/// complaint about a body they were never allowed to send.
pub struct JsonBody {
    is_json: bool,
    declared_too_large: bool,
    payload: web::Payload,
}

impl FromRequest for JsonBody {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || (v.starts_with("application/") && v.ends_with("+json")));
        let declared_too_large = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|len| len > MAX_BODY_BYTES);
        let payload = web::Payload::from_request(req, payload).into_inner();
        ready(
            payload
                .map(|payload| JsonBody { is_json, declared_too_large, payload })
                .map_err(|_| AppError::BadRequest("The request body could not be read.")),
        )
    }
}

impl JsonBody {
    /// Reads and parses the body: 415 when it is not JSON, 413 over 256 KiB, 400 when it does
    /// not parse (or is not UTF-8).
    pub async fn value(self) -> Result<Value, AppError> {
        if !self.is_json {
            return Err(AppError::UnsupportedMediaType);
        }
        if self.declared_too_large {
            return Err(AppError::PayloadTooLarge);
        }
        let bytes = self
            .payload
            .to_bytes_limited(MAX_BODY_BYTES)
            .await
            .map_err(|_| AppError::PayloadTooLarge)?
            .map_err(|_| AppError::BadRequest("The request body could not be read."))?;
        if bytes.is_empty() {
            return Err(AppError::BadRequest("The request body is empty; send a JSON object."));
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| AppError::BadRequest("The request body is not valid JSON (or not valid UTF-8)."))
    }
}

/// The body of a partial edit (a PATCH): the fields sent, read by `read`. A body that changes
/// nothing is a 422 saying what may be sent.
pub async fn edit<T: Default + PartialEq>(
    body: JsonBody,
    read: impl FnOnce(&mut Form) -> T,
    what_may_be_sent: &'static str,
) -> Result<T, AppError> {
    let mut form = Form::read(body).await?;
    let fields = read(&mut form);
    form.finish()?;
    if fields == T::default() {
        return Err(AppError::invalid("", what_may_be_sent));
    }
    Ok(fields)
}

/// A value from a fixed list.
pub fn one_of(value: String, allowed: &[&str], message: &'static str) -> Result<String, &'static str> {
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(message)
    }
}

/// Reads the fields of a JSON object, collecting every problem. Field names in errors are ours
/// (the names we asked for); unknown fields are reported without repeating their names, since a
/// key can carry client data as easily as a value.
pub struct Form {
    map: Map<String, Value>,
    known: Vec<&'static str>,
    errors: Vec<FieldError>,
    /// Path of this object inside the body (`consent.`), empty at the top.
    prefix: String,
}

impl Form {
    /// Reads the body of a request as a form.
    pub async fn read(body: JsonBody) -> Result<Form, AppError> {
        Form::new(body.value().await?)
    }

    pub fn new(value: Value) -> Result<Form, AppError> {
        match value {
            Value::Object(map) => Ok(Form { map, known: Vec::new(), errors: Vec::new(), prefix: String::new() }),
            _ => Err(AppError::invalid("", "The body must be a JSON object.")),
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let path = format!("{}{field}", self.prefix);
        self.errors.push(FieldError::new(path, message));
    }

    /// Records the result of a rule on a field that was present.
    pub fn check<T, M: Into<String>>(&mut self, field: &str, result: Result<T, M>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.error(field, message);
                None
            }
        }
    }

    /// Any JSON value (null counts as absent).
    pub fn take(&mut self, name: &'static str) -> Option<Value> {
        self.known.push(name);
        match self.map.remove(name) {
            Some(Value::Null) | None => None,
            Some(value) => Some(value),
        }
    }

    /// An optional string field.
    pub fn opt_string(&mut self, name: &'static str) -> Option<String> {
        match self.take(name) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// A required string field.
    pub fn string(&mut self, name: &'static str) -> Option<String> {
        let present = self.map.get(name).is_some_and(|v| !v.is_null());
        let value = self.opt_string(name);
        if !present {
            self.error(name, "is required");
        }
        value
    }

    pub fn opt_bool(&mut self, name: &'static str) -> Option<bool> {
        match self.take(name) {
            None => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => {
                self.error(name, "must be true or false");
                None
            }
        }
    }

    /// An optional field that may be set to null on purpose: `None` when absent, `Some(None)`
    /// for an explicit null (to clear it), `Some(Some(text))` for a string.
    pub fn opt_nullable_string(&mut self, name: &'static str) -> Option<Option<String>> {
        self.known.push(name);
        match self.map.remove(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(_) => {
                self.error(name, "must be a string or null");
                None
            }
        }
    }

    /// An optional string field turned into a typed value by `parse` (a word of a closed
    /// vocabulary, an id …); a value that does not parse is an error at `name`.
    pub fn opt_parsed<T, M: Into<String>>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, M>,
    ) -> Option<T> {
        let value = self.opt_string(name)?;
        self.check(name, parse(&value))
    }

    /// A required string field turned into a typed value by `parse`.
    pub fn parsed<T, M: Into<String>>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, M>,
    ) -> Option<T> {
        let value = self.string(name)?;
        self.check(name, parse(&value))
    }

    /// A field that may be null on purpose (to clear it), turned into a typed value by `parse`.
    pub fn opt_nullable_parsed<T, M: Into<String>>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, M>,
    ) -> Option<Option<T>> {
        match self.opt_nullable_string(name)? {
            None => Some(None),
            Some(value) => self.check(name, parse(&value)).map(Some),
        }
    }

    /// Whether the body has this field (even as null).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Whether an error was already recorded for `field`.
    pub fn has_error(&self, field: &str) -> bool {
        let path = format!("{}{field}", self.prefix);
        self.errors.iter().any(|e| e.field == path)
    }

    /// An optional array of strings; each bad element is reported as `name[i]`.
    pub fn opt_strings(&mut self, name: &'static str) -> Option<Vec<String>> {
        match self.take(name) {
            None => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => self.error(&format!("{name}[{i}]"), "must be a string"),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.error(name, "must be an array of strings");
                None
            }
        }
    }

    /// Reads an optional nested object with `read`; its errors carry the `name.` prefix.
    pub fn opt_object<T>(&mut self, name: &'static str, read: impl FnOnce(&mut Form) -> T) -> Option<T> {
        match self.take(name) {
            None => None,
            Some(Value::Object(map)) => {
                let prefix = format!("{}{name}.", self.prefix);
                let mut child = Form { map, known: Vec::new(), errors: Vec::new(), prefix };
                let value = read(&mut child);
                child.reject_unknown();
                self.errors.append(&mut child.errors);
                Some(value)
            }
            Some(_) => {
                self.error(name, "must be an object");
                None
            }
        }
    }

    fn reject_unknown(&mut self) {
        if !self.map.is_empty() {
            let accepted = self.known.join(", ");
            let at = self.prefix.trim_end_matches('.').to_string();
            self.errors.push(FieldError::new(at, format!("unknown field(s); accepted fields are: {accepted}")));
        }
    }

    /// Ends reading and hands back what was read. A required value is `None` only when its
    /// field was missing or wrong, which recorded an error, so `finish` has failed already.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, AppError> {
        self.finish()?;
        value.ok_or_else(|| AppError::invalid("", "The body is incomplete."))
    }

    /// Ends reading: fails with every collected error, plus one for fields we did not ask for.
    pub fn finish(mut self) -> Result<(), AppError> {
        self.reject_unknown();
        // Report in the order the fields are read (the documented order), whole-body errors last.
        let position = |e: &FieldError| {
            let root = e.field.split(['.', '[']).next().unwrap_or("");
            self.known.iter().position(|k| *k == root).unwrap_or(usize::MAX)
        };
        let mut errors = std::mem::take(&mut self.errors);
        errors.sort_by_key(|e| if e.field.is_empty() { usize::MAX } else { position(e) });
        self.errors = errors;
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(v: Value) -> Form {
        Form::new(v).unwrap()
    }

    #[test]
    fn collects_every_error_without_echoing() {
        let mut f = form(json!({"email": 5, "secret_marker_key": "secret_marker_value"}));
        assert_eq!(f.string("email"), None);
        assert_eq!(f.string("password"), None);
        let Err(AppError::Validation(errors)) = f.finish() else { panic!("expected validation") };
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0], FieldError::new("email", "must be a string"));
        assert_eq!(errors[1], FieldError::new("password", "is required"));
        let text = serde_json::to_string(&errors).unwrap();
        assert!(!text.contains("secret_marker"));
    }

    #[test]
    fn accepts_a_valid_object() {
        let mut f = form(json!({"a": "x", "b": null, "c": true}));
        assert_eq!(f.string("a").as_deref(), Some("x"));
        assert_eq!(f.opt_string("b"), None);
        assert_eq!(f.opt_bool("c"), Some(true));
        assert!(f.finish().is_ok());
    }

    #[test]
    fn rejects_non_objects() {
        assert!(Form::new(json!([1])).is_err());
    }
}
