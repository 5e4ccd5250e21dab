//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::db;
use crate::error::AppError;
use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let migrated = db::run(&state.pool, |conn| db::is_migrated(conn).map_err(|_| AppError::Unavailable)).await?;
    if migrated {
        Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
    } else {
        Err(AppError::Unavailable)
    }
}
