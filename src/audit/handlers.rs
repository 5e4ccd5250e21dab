//! `GET /api/v1/audit`, `/verify`, `/checkpoint`, `/public-key`, `/entries/{seq}/proof` and
//! `/consistency` (admins only).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

use super::store::{self, Filter};
use super::Action;
use crate::auth::Admin;
use crate::db::{self, write_tx, Id};
use crate::error::AppError;
use crate::http::{self, cursor, cursor::ListQuery, param, Page, RequestId};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct AuditQuery {
    actor_id: Option<String>,
    action: Option<String>,
    target_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(flatten)]
    page: ListQuery,
}

fn action(text: &str) -> Result<String, &'static str> {
    let plausible =
        !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
    // An unknown but well-formed name is a filter that matches nothing, as it always was.
    plausible.then(|| text.to_string()).ok_or("must be an action name such as auth.login")
}

fn target(text: &str) -> Result<String, &'static str> {
    match text.chars().count() {
        1..=64 => Ok(text.to_string()),
        _ => Err("must be 1 to 64 characters"),
    }
}

fn timestamp(text: &str) -> Result<NaiveDateTime, &'static str> {
    crate::time::parse(text).ok_or("must be an RFC 3339 timestamp")
}

fn parse(query: AuditQuery) -> Result<Filter, AppError> {
    let mut errors = Vec::new();
    let e = &mut errors;
    let limit = query.page.limit(e);
    let filter = Filter {
        actor_id: param(e, "actor_id", query.actor_id, |v| v.parse::<Id>().map_err(|_| "must be a UUID")),
        action: param(e, "action", query.action, action),
        target_id: param(e, "target_id", query.target_id, target),
        from: param(e, "from", query.from, timestamp),
        to: param(e, "to", query.to, timestamp),
        before_seq: query.page.after(e),
        limit,
    };
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(AppError::Validation(errors))
    }
}

pub async fn list(state: web::Data<AppState>, _: Admin, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let filter = parse(http::query(&req)?)?;
    let limit = filter.limit;
    let entries = db::run(&state.pool, move |conn| {
        // Every event committed before this request is listed.
        store::sequence_all(conn)?;
        Ok(store::list(conn, &filter)?)
    })
    .await?;
    let (entries, next_cursor) = cursor::paginate(entries, limit, |e| e.seq);
    Ok(HttpResponse::Ok().json(Page { items: entries, next_cursor }))
}

pub async fn verify(state: web::Data<AppState>, Admin(admin): Admin, rid: RequestId) -> Result<HttpResponse, AppError> {
    let result = db::run(&state.pool, move |conn| {
        let result = store::verify(conn)?;
        write_tx(conn, |conn| {
            let entry = admin
                .audit(&rid, Action::AuditVerify)
                .details(json!({"ok": result.ok, "entries": result.entries, "first_bad_seq": result.first_bad_seq}));
            store::record(conn, entry)?;
            Ok::<_, AppError>(())
        })?;
        Ok(result)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// The tree's current size and root, after sequencing what is pending.
fn current_tree(conn: &mut db::DbConn) -> Result<(u64, super::merkle::Hash), AppError> {
    store::sequence_all(conn)?;
    Ok(store::tree_head(conn)?)
}

fn text_plain(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body)
}

/// `GET /api/v1/audit/checkpoint`: the tree's latest size and root, signed (SPEC §15).
pub async fn checkpoint(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, AppError> {
    let signer = state.audit_signer.clone();
    let note = db::run(&state.pool, move |conn| super::signed_checkpoint(conn, &signer)).await?;
    Ok(text_plain(note))
}

/// `GET /api/v1/audit/public-key`: the verifier key of the checkpoints.
pub async fn public_key(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, AppError> {
    Ok(text_plain(format!("{}\n", state.audit_signer.verifier_key())))
}

#[derive(Deserialize)]
pub struct SizeQuery {
    size: Option<String>,
}

#[derive(Deserialize)]
pub struct ConsistencyQuery {
    from: Option<String>,
    to: Option<String>,
}

fn tree_size(text: &str) -> Result<u64, &'static str> {
    text.parse::<u64>().ok().filter(|n| (1..=i64::MAX as u64).contains(n)).ok_or("must be a whole number from 1")
}

fn hexes(hashes: &[super::merkle::Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// `GET /api/v1/audit/entries/{seq}/proof?size=N`: the inclusion proof of an entry in the tree
/// of its first `size` leaves (default: the current tree) (RFC 9162 §2.1.3).
pub async fn inclusion_proof(
    state: web::Data<AppState>,
    _: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let query: SizeQuery = http::query(&req)?;
    let mut errors = Vec::new();
    let size = param(&mut errors, "size", query.size, tree_size);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let seq = path.parse::<u64>().ok().filter(|s| *s >= 1 && *s <= i64::MAX as u64).ok_or(AppError::NotFound)?;
    let body = db::run(&state.pool, move |conn| {
        let (current, _) = current_tree(conn)?;
        if seq > current {
            return Err(AppError::NotFound);
        }
        let size = size.unwrap_or(current);
        if size < seq || size > current {
            return Err(AppError::invalid("size", "must be at least the entry's seq and at most the tree's size"));
        }
        let leaf_hash = store::leaf(conn, seq - 1)?;
        let proof = store::inclusion(conn, seq - 1, size)?;
        Ok(json!({"seq": seq, "tree_size": size, "leaf_hash": hex::encode(leaf_hash), "proof": hexes(&proof)}))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/audit/consistency?from=M&to=N`: the proof that the tree of `M` leaves is a prefix
/// of the tree of `N` (default: the current tree) (RFC 9162 §2.1.4).
pub async fn consistency_proof(
    state: web::Data<AppState>,
    _: Admin,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let query: ConsistencyQuery = http::query(&req)?;
    let mut errors = Vec::new();
    let from = param(&mut errors, "from", query.from, tree_size);
    let to = param(&mut errors, "to", query.to, tree_size);
    if from.is_none() && !errors.iter().any(|e| e.field == "from") {
        errors.push(crate::error::FieldError::new("from", "is required"));
    }
    let (Some(from), true) = (from, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let body = db::run(&state.pool, move |conn| {
        let (current, _) = current_tree(conn)?;
        let to = to.unwrap_or(current);
        if to > current {
            return Err(AppError::invalid("to", "must be at most the tree's size"));
        }
        if from > to {
            return Err(AppError::invalid("from", "must be at most to"));
        }
        let proof = store::consistency(conn, from, to)?;
        Ok(json!({"from": from, "to": to, "proof": hexes(&proof)}))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
