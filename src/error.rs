//! The one error type. Every failure becomes an RFC 9457 `application/problem+json` body that
//! never carries client input, SQL or a stack trace.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";
/// The problem type of a route refused to an enrolment token (SPEC §12.1).
pub const ENROLMENT_REQUIRED: &str = "urn:tipline:problem:enrolment-required";
/// The problem type of content that was shredded (SPEC §13): its report is a tombstone.
pub const SHREDDED: &str = "urn:tipline:problem:shredded";

/// One invalid field: a JSON-pointer-like path (`consent.contact_ok`, `tactics[2]`) and a plain
/// message written by us, never the rejected value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("unauthenticated")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    /// 403 for a reason other than the caller's role.
    #[error("refused: {0}")]
    Refused(&'static str),
    /// 403 for an enrolment token on a route other than `/me` and `/me/totp` (SPEC §12.1).
    #[error("second factor enrolment required")]
    EnrolmentRequired,
    #[error("not found")]
    NotFound,
    /// 410: the report was shredded (SPEC §13); only its tombstone of metadata is left.
    #[error("gone")]
    Gone,
    #[error("method not allowed")]
    MethodNotAllowed(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// 409 for a status change the machine does not allow; the body lists the allowed ones.
    #[error("transition not allowed")]
    Transition { from: &'static str, allowed: Vec<&'static str> },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("precondition required")]
    PreconditionRequired,
    #[error("payload too large")]
    PayloadTooLarge,
    /// 413 with its own detail (an evidence file over a limit, SPEC §11).
    #[error("too large: {0}")]
    TooLarge(&'static str),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable,
    /// 503: the password-hashing queue is full (SPEC §12.3); nothing was hashed.
    #[error("busy")]
    Busy { retry_after_secs: u64 },
    /// The cause is logged (it is ours, never client input); the client sees a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(cause: impl Into<String>) -> Self {
        AppError::Internal(cause.into())
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    fn detail(&self) -> String {
        match self {
            AppError::BadRequest(detail) => (*detail).to_string(),
            AppError::Unauthorized => "Authentication is required, or the credentials are not valid.".into(),
            AppError::Forbidden => "Your role does not allow this action.".into(),
            AppError::Refused(detail) => (*detail).to_string(),
            AppError::EnrolmentRequired => {
                "Enrol a second factor first: POST /api/v1/me/totp, then /api/v1/me/totp/confirm, then sign in again."
                    .into()
            }
            AppError::NotFound => "There is nothing here, or it is not yours to see.".into(),
            AppError::Gone => "This report's content was shredded; only its metadata is kept.".into(),
            AppError::MethodNotAllowed(_) => "This method is not allowed on this resource.".into(),
            AppError::Conflict(detail) => detail.clone(),
            AppError::Transition { from, allowed } => match allowed.is_empty() {
                true => format!("A report in status {from} cannot change status."),
                false => format!("A report in status {from} may move to: {}.", allowed.join(", ")),
            },
            AppError::PreconditionFailed => {
                "The resource changed since you read it (If-Match does not match its ETag).".into()
            }
            AppError::PreconditionRequired => "Send If-Match with the ETag you last read.".into(),
            AppError::PayloadTooLarge => "The request body is larger than 256 KiB.".into(),
            AppError::TooLarge(detail) => (*detail).to_string(),
            AppError::UnsupportedMediaType => "Send the body as application/json.".into(),
            AppError::Validation(_) => "The request has invalid fields; see errors.".into(),
            AppError::TooManyRequests { .. } => "Too many attempts. Try again after Retry-After seconds.".into(),
            AppError::Unavailable => "The service cannot reach its database. Try again shortly.".into(),
            AppError::Busy { .. } => "The service is busy. Try again after Retry-After seconds.".into(),
            AppError::Internal(_) => {
                "Something went wrong on our side. Quote the X-Request-Id if you report it.".into()
            }
        }
    }
}

#[derive(Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'a str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<&'a [FieldError]>,
    /// For a refused status change: where the report may go instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<&'a [&'a str]>,
}

/// A problem+json response for a bare status (used for errors raised outside our handlers).
pub fn problem_response(status: StatusCode, detail: String, errors: Option<&[FieldError]>) -> HttpResponse {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        errors,
        allowed: None,
    };
    HttpResponse::build(status).content_type(PROBLEM_JSON).json(body)
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Refused(_) | AppError::EnrolmentRequired => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Gone => StatusCode::GONE,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) | AppError::Transition { .. } => StatusCode::CONFLICT,
            AppError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            AppError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            AppError::PayloadTooLarge | AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable | AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(cause) = self {
            tracing::error!(cause = %cause, "internal error");
        }
        let errors = match self {
            AppError::Validation(errors) => Some(errors.as_slice()),
            _ => None,
        };
        let mut response = match self {
            AppError::Transition { allowed, .. } => {
                let status = self.status_code();
                let body = Problem {
                    kind: "about:blank",
                    title: status.canonical_reason().unwrap_or("Conflict"),
                    status: status.as_u16(),
                    detail: self.detail(),
                    errors: None,
                    allowed: Some(allowed.as_slice()),
                };
                HttpResponse::build(status).content_type(PROBLEM_JSON).json(body)
            }
            AppError::EnrolmentRequired => {
                let status = self.status_code();
                let body = Problem {
                    kind: ENROLMENT_REQUIRED,
                    title: "Second factor enrolment required",
                    status: status.as_u16(),
                    detail: self.detail(),
                    errors: None,
                    allowed: None,
                };
                HttpResponse::build(status).content_type(PROBLEM_JSON).json(body)
            }
            AppError::Gone => {
                let status = self.status_code();
                let body = Problem {
                    kind: SHREDDED,
                    title: "Gone",
                    status: status.as_u16(),
                    detail: self.detail(),
                    errors: None,
                    allowed: None,
                };
                HttpResponse::build(status).content_type(PROBLEM_JSON).json(body)
            }
            _ => problem_response(self.status_code(), self.detail(), errors),
        };
        let headers = response.headers_mut();
        match self {
            AppError::TooManyRequests { retry_after_secs } | AppError::Busy { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after_secs));
            }
            AppError::MethodNotAllowed(allow) => {
                if let Ok(value) = header::HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            AppError::Unavailable => {
                headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            }
            AppError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => AppError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppError::Conflict("This conflicts with an existing record.".into())
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                AppError::invalid("", "A referenced record does not exist.")
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
                AppError::Unavailable
            }
            // The database's message can quote stored values; log only what kind of error it was.
            Error::DatabaseError(kind, _) => AppError::internal(format!("database error: {kind:?}")),
            other => AppError::internal(format!("database: {}", error_kind(&other))),
        }
    }
}

fn error_kind(err: &diesel::result::Error) -> &'static str {
    use diesel::result::Error;
    match err {
        Error::InvalidCString(_) => "invalid C string",
        Error::QueryBuilderError(_) => "query builder",
        Error::DeserializationError(_) => "deserialization",
        Error::SerializationError(_) => "serialization",
        Error::RollbackErrorOnCommit { .. } => "rollback on commit",
        Error::RollbackTransaction => "rollback",
        Error::AlreadyInTransaction => "already in transaction",
        Error::NotInTransaction => "not in transaction",
        Error::BrokenTransactionManager => "broken transaction manager",
        _ => "other",
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(_: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable
    }
}
