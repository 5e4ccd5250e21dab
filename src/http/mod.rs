//! HTTP plumbing shared by every route: request ids, the request log, security headers, the
//! problem+json safety net, JSON bodies and pagination cursors.

pub mod body;
pub mod cursor;

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use std::future::{ready, Ready};
use tracing::Instrument;

use crate::error::{problem_response, AppError, PROBLEM_JSON};

/// The id of the current request, generated here (a client-sent id is ignored: it could be
/// used to correlate a reporter's requests).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl FromRequest for RequestId {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req.extensions().get::<RequestId>().cloned();
        ready(id.ok_or_else(|| AppError::internal("request id missing")))
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every request: assigns the id, logs one line when the response is ready, adds the
/// headers SPEC §9 requires and turns any error response that is not problem+json yet
/// (raised by the framework: bad path, bad query, payload errors) into one.
///
/// The log line holds method, route pattern, status, latency and request id — deliberately no
/// address, user agent, query string or header.
pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let hsts = req.app_data::<actix_web::web::Data<crate::state::AppState>>().is_some_and(|s| s.hsts);
    let span = tracing::info_span!("request", request_id = %request_id);
    let result = next.call(req).instrument(span).await;
    // Handlers and extractors turn their errors into responses, so an `Err` here can only come
    // from the framework itself; actix renders it.
    let mut response = result?.map_into_boxed_body();
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let is_problem = content_type.starts_with(PROBLEM_JSON.as_bytes());
    // The reporter's pages answer their own errors as pages in the reader's language.
    let is_page = content_type.starts_with(b"text/html");
    if (status.is_client_error() || status.is_server_error()) && !is_problem && !is_page {
        let detail = match status.as_u16() {
            400 => "The request could not be understood.".to_string(),
            404 => "There is nothing here, or it is not yours to see.".to_string(),
            413 => "The request body is larger than 256 KiB.".to_string(),
            _ => status.canonical_reason().unwrap_or("Error").to_string(),
        };
        let replacement = problem_response(status, detail, None);
        response = response.into_response(replacement.map_into_boxed_body());
    }
    if status == actix_web::http::StatusCode::INTERNAL_SERVER_ERROR {
        // 500s carry the request id in the body too, and nothing else.
        let replacement =
            problem_response(status, format!("Something went wrong on our side. Request id: {request_id}."), None);
        let keep_retry = response.headers().get(header::RETRY_AFTER).cloned();
        response = response.into_response(replacement.map_into_boxed_body());
        if let Some(value) = keep_retry {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The API serves data, never a page: nothing in a response may load or frame anything. The
    // reporter's pages set their own, slightly wider policy (SPEC §16).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if hsts {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    let route = response.request().match_pattern().unwrap_or_else(|| "(unmatched)".to_string());
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    Ok(response)
}

/// One page of a list: SPEC §3 "lists everywhere return `{items, next_cursor}`".
#[derive(serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// An id taken from the path, checked in the handler (after authorization): anything but a
/// hyphenated UUID is 404, like an id that does not exist.
pub fn path_id(raw: &str) -> Result<crate::db::Id, AppError> {
    if raw.len() != 36 {
        return Err(AppError::NotFound);
    }
    raw.parse().map_err(|_| AppError::NotFound)
}

/// Query parameters, parsed in the handler (after authorization).
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, AppError> {
    actix_web::web::Query::<T>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|_| AppError::BadRequest("The query string is malformed."))
}

/// Parses one query parameter of a list, when given; a value that does not parse adds an error
/// under the parameter's name, so every problem of a query comes back in one 422.
pub fn param<T, M: Into<String>>(
    errors: &mut Vec<crate::error::FieldError>,
    field: &str,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, M>,
) -> Option<T> {
    match parse(&value?) {
        Ok(v) => Some(v),
        Err(message) => {
            errors.push(crate::error::FieldError::new(field, message));
            None
        }
    }
}

/// The `ETag` of a versioned resource.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version a client read, from `If-Match` (SPEC §5): 428 when missing, 400 when it is not
/// of the form of our ETags, `"<digits>"` or `W/"<digits>"`. A value of that form is a version
/// the client claims to have read: one that cannot be the stored version (too large for one)
/// is stale, 412, like any other the caller finds out against the stored version. A client
/// told 412 re-reads and tries again, which would not mend a header it cannot write.
pub fn if_match(req: &HttpRequest) -> Result<i32, AppError> {
    const MALFORMED: AppError =
        AppError::BadRequest("If-Match must be an ETag as this service sends it: \"<version>\".");
    let value = req.headers().get(header::IF_MATCH).ok_or(AppError::PreconditionRequired)?;
    let text = value.to_str().map_err(|_| MALFORMED)?.trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let digits = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or(MALFORMED)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MALFORMED);
    }
    digits.parse::<i32>().map_err(|_| AppError::PreconditionFailed)
}
