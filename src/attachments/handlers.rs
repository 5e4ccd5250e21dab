//! `/api/v1/reports/{id}/attachments`: upload (the body is the file), list, download of the
//! clean copy (or, for the reporter, of what they sent), and a caseworker's read of the original.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::rules::{self, copy_for, visible_to};
use super::{store, AttachmentRow, Copy};
use crate::audit::{self, Action};
use crate::auth::Caller;
use crate::blobs::clean::{self, Kind};
use crate::blobs::{BlobStore, ReadError, SealedReader, SealedWriter};
use crate::crypto::envelope::DataKey;
use crate::db::{self, write_tx, DbConn, Id};
use crate::error::AppError;
use crate::http::{self, RequestId};
use crate::limits::{self, Bucket};
use crate::reports::access::{load_for, side_of, Side};
use crate::state::AppState;

/// Plaintext gathered from the request before it is sealed and written in one step.
const WRITE_STEP: usize = 256 * 1024;
/// Bytes of the start of a file the type is sniffed from.
const SNIFF_BYTES: usize = 8 * 1024;
/// How long the cleaner may work on one file before the file is kept sealed only.
const CLEAN_TIME: Duration = Duration::from_secs(30);
/// How long an upload may pause between two pieces of its body.
const BODY_IDLE: Duration = Duration::from_secs(60);
/// How a download is sandboxed should a browser render it after all.
const DOWNLOAD_CSP: &str = "sandbox; default-src 'none'; frame-ancestors 'none'";

/// What a client learns of a file.
#[derive(Serialize)]
pub struct Attachment {
    pub id: Id,
    pub filename: Option<String>,
    pub size: i64,
    pub media_type: String,
    pub sha256: String,
    /// Whether a clean copy exists; without one, only the original can be read.
    pub clean: bool,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
}

fn describe(key: &DataKey, row: &AttachmentRow) -> Result<Attachment, AppError> {
    let open = |column: &str, sealed: &str| {
        key.open("attachments", column, row.id, sealed).map_err(|_| AppError::internal("attachment metadata"))
    };
    Ok(Attachment {
        id: row.id,
        filename: row.filename_sealed.as_deref().map(|f| open("filename", f)).transpose()?,
        size: row.size,
        media_type: row.media_type.clone(),
        sha256: open("sha256", &row.sha256_sealed)?,
        clean: row.clean_blob.is_some(),
        created_at: row.created_at,
    })
}

fn io_error(_: impl std::fmt::Display) -> AppError {
    AppError::internal("blob store")
}

/// Runs blocking blob-store work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, AppError> + Send + 'static) -> Result<T, AppError> {
    web::block(f).await.map_err(|_| AppError::internal("blocking task failed"))?
}

/// `POST /api/v1/reports/{id}/attachments`: the body is the file, read as it arrives, sealed
/// chunk by chunk into the blob store and counted on the bytes received.
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: web::Path<String>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let side = side_of(&caller)?;
    let id = http::path_id(&id)?;
    let filename = rules::filename(req.headers().get("x-filename").map(|v| v.as_bytes()))
        .map_err(|message| AppError::invalid("X-Filename", message))?;
    let limits = state.attachment_limits;

    // Who may add to this report, and how much it may still take.
    let (state2, caller2) = (state.clone(), caller.clone());
    let (report_id, key, budget) = db::run(&state.pool, move |conn| {
        let (report, key) = load_for(&state2, conn, &caller2, id)?;
        let (files, bytes) = store::usage(conn, report.id)?;
        let budget = rules::budget(&limits, files, bytes).map_err(|full| AppError::TooLarge(full.detail()))?;
        Ok((report.id, key, budget))
    })
    .await?;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > budget) {
        return Err(AppError::TooLarge(rules::over_budget(&limits, budget)));
    }
    limits::take(&state, Bucket::Upload, &rid).await?;

    let attachment_id = Id::new();
    let blob_key = key.blob_key();
    let (store, bk) = (state.blobs.clone(), blob_key.clone());
    let aad = rules::aad(report_id, attachment_id, Copy::Original);
    let mut writer = Some(blocking(move || SealedWriter::create(&store, &bk, &aad).map_err(io_error)).await?);
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut pending = Zeroizing::new(Vec::with_capacity(WRITE_STEP));
    let mut received: u64 = 0;
    loop {
        // A client that stops sending holds a connection and a half-written blob: give up on it.
        let next = actix_web::rt::time::timeout(BODY_IDLE, payload.next())
            .await
            .map_err(|_| AppError::BadRequest("The file stopped arriving; send it again."))?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|_| AppError::BadRequest("The request body could not be read."))?;
        received += chunk.len() as u64;
        if received > budget {
            // The pending blob is dropped unfinished: its file in tmp/ goes with it.
            return Err(AppError::TooLarge(rules::over_budget(&limits, budget)));
        }
        hasher.update(&chunk);
        if head.len() < SNIFF_BYTES {
            head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= WRITE_STEP {
            let data = std::mem::replace(&mut pending, Zeroizing::new(Vec::with_capacity(WRITE_STEP)));
            writer = Some(write_step(writer, data).await?);
        }
    }
    if received == 0 {
        return Err(AppError::invalid("body", "must not be empty: send the file as the request body"));
    }
    let last = write_step(writer, pending).await?;
    let store = state.blobs.clone();
    let original_blob = blocking(move || last.commit(&store).map_err(io_error)).await;
    let original_blob = original_blob?;
    let sha256 = hex::encode(hasher.finalize());
    let sniffed = clean::sniff(&head);

    let clean_copy = if sniffed.kind.cleanable() {
        make_clean_copy(&state, report_id, attachment_id, &blob_key, &original_blob, sniffed.kind, received).await
    } else {
        None
    };

    let now = db::now();
    let row = AttachmentRow {
        id: attachment_id,
        report_id,
        filename_sealed: filename.as_deref().map(|f| key.seal("attachments", "filename", attachment_id, f)),
        sha256_sealed: key.seal("attachments", "sha256", attachment_id, &sha256),
        size: received as i64,
        media_type: sniffed.media_type.to_string(),
        original_blob,
        clean_blob: clean_copy.as_ref().map(|(name, _)| name.clone()),
        clean_size: clean_copy.as_ref().map(|(_, size)| *size as i64),
        uploaded_by_role: match side {
            Side::Reporter => "reporter".into(),
            Side::Staff => "caseworker".into(),
        },
        uploaded_by: match (&caller, side) {
            (Caller::User(user), Side::Staff) => Some(user.id()),
            _ => None,
        },
        created_at: now,
    };
    let blobs: Vec<String> = std::iter::once(row.original_blob.clone()).chain(row.clean_blob.clone()).collect();
    let (state2, row2) = (state.clone(), row.clone());
    let recorded =
        db::run(&state.pool, move |conn| write_tx(conn, |conn| record(&state2, conn, &caller, &rid, row2, &limits)))
            .await;
    if let Err(err) = recorded {
        // Nothing refers to the blobs: remove them now (the orphan sweep would, later).
        let store = state.blobs.clone();
        let _ = blocking(move || {
            for name in blobs {
                store.delete(&name).map_err(io_error)?;
            }
            Ok(())
        })
        .await;
        return Err(err);
    }
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/reports/{report_id}/attachments/{attachment_id}")))
        .json(Attachment {
            id: attachment_id,
            filename,
            size: row.size,
            media_type: row.media_type,
            sha256,
            clean: row.clean_blob.is_some(),
            created_at: now,
        }))
}

/// Seals one step of the file into the blob on the blocking pool.
async fn write_step(writer: Option<SealedWriter>, data: Zeroizing<Vec<u8>>) -> Result<SealedWriter, AppError> {
    let mut writer = writer.ok_or_else(|| AppError::internal("blob writer gone"))?;
    blocking(move || {
        writer.write(&data).map_err(io_error)?;
        Ok(writer)
    })
    .await
}

/// The clean copy of a file just stored, sealed into its own blob: its name and size, or `None`
/// when the cleaner cannot make one (the file stays sealed only; never an error for the upload).
/// One file at a time per permit: the cleaner holds a whole file in memory.
async fn make_clean_copy(
    state: &AppState,
    report_id: Id,
    attachment_id: Id,
    blob_key: &Zeroizing<[u8; 32]>,
    original: &str,
    kind: Kind,
    size: u64,
) -> Option<(String, u64)> {
    let _permit = state.cleaning.acquire().await.ok()?;
    let (store, key, original) = (state.blobs.clone(), blob_key.clone(), original.to_string());
    let made = blocking(move || {
        let aad = rules::aad(report_id, attachment_id, Copy::Original);
        let mut plain =
            SealedReader::open(&store, &original, &key, &aad).and_then(SealedReader::read_all).map_err(io_error)?;
        if plain.len() as u64 != size {
            return Err(AppError::internal("original blob size"));
        }
        // Moved, not copied: the cleaner gets the one plaintext buffer there is.
        let cleaned = match clean::clean_within(kind, std::mem::take(&mut *plain), CLEAN_TIME) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(cause) => {
                tracing::info!(kind = ?kind, cause = %cause, "file kept sealed only: no clean copy");
                return Ok(None);
            }
        };
        let aad = rules::aad(report_id, attachment_id, Copy::Clean);
        let mut writer = SealedWriter::create(&store, &key, &aad).map_err(io_error)?;
        writer.write(&cleaned).map_err(io_error)?;
        let name = writer.commit(&store).map_err(io_error)?;
        Ok(Some((name, cleaned.len() as u64)))
    })
    .await;
    made.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "clean copy failed; file kept sealed only");
        None
    })
}

/// Records a stored file with its audit entry, after checking again, under the report's lock,
/// that the caller may still add to it and that it still has room (another upload may have
/// finished meanwhile).
fn record(
    state: &AppState,
    conn: &mut DbConn,
    caller: &Caller,
    rid: &RequestId,
    row: AttachmentRow,
    limits: &super::Limits,
) -> Result<(), AppError> {
    let (report, _) = load_for(state, conn, caller, row.report_id)?;
    store::lock_report(conn, report.id)?;
    let (files, bytes) = store::usage(conn, report.id)?;
    let budget = rules::budget(limits, files, bytes).map_err(|full| AppError::TooLarge(full.detail()))?;
    if row.size as u64 > budget {
        return Err(AppError::TooLarge(rules::over_budget(limits, budget)));
    }
    store::insert(conn, &row)?;
    let entry = caller.audit(rid, Action::AttachmentCreate).target("report", report.id).details(json!({
        "attachment_id": row.id,
        "size": row.size,
        "media_type": row.media_type,
        "clean": row.clean_blob.is_some(),
    }));
    audit::record(conn, entry)?;
    Ok(())
}

/// `GET /api/v1/reports/{id}/attachments`: the files the caller may see, metadata only. File
/// names are content, so the listing is audited like any read of content.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let side = side_of(&caller)?;
    let id = http::path_id(&id)?;
    let state2 = state.clone();
    let items = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let items = store::list(conn, report.id)?
                .iter()
                .filter(|row| visible_to(side, &row.uploaded_by_role))
                .map(|row| describe(&key, row))
                .collect::<Result<Vec<_>, _>>()?;
            let entry = caller
                .audit(&rid, Action::AttachmentList)
                .target("report", report.id)
                .details(json!({"attachments": items.len()}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(items)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /api/v1/reports/{id}/attachments/{aid}`: the clean copy for staff; the original for the
/// reporter who sent it.
pub async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let side = side_of(&caller)?;
    let (id, aid) = (http::path_id(&path.0)?, http::path_id(&path.1)?);
    let copy = copy_for(side);
    serve(&state, caller, rid, id, aid, copy, None).await
}

#[derive(serde::Deserialize)]
pub struct OriginalQuery {
    reason: Option<String>,
}

/// `GET /api/v1/reports/{id}/attachments/{aid}/original?reason=…`: the file as it was sent,
/// metadata and all, for a caseworker who says why; audited as its own action.
pub async fn original(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if side_of(&caller)? != Side::Staff {
        return Err(AppError::Forbidden);
    }
    let (id, aid) = (http::path_id(&path.0)?, http::path_id(&path.1)?);
    let query: OriginalQuery = http::query(&req)?;
    let reason = rules::reason(query.reason.as_deref()).map_err(|message| AppError::invalid("reason", message))?;
    serve(&state, caller, rid, id, aid, Copy::Original, Some(reason)).await
}

/// Finds the file, audits the read in the transaction that finds it, and streams the copy.
async fn serve(
    state: &web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: Id,
    aid: Id,
    copy: Copy,
    reason: Option<String>,
) -> Result<HttpResponse, AppError> {
    let side = side_of(&caller)?;
    let state2 = state.clone();
    let (row, key, filename) = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let row = store::find(conn, report.id, aid)?
                .filter(|row| visible_to(side, &row.uploaded_by_role))
                .ok_or(AppError::NotFound)?;
            if row.blob(copy).is_none() {
                return Err(AppError::Conflict(
                    "This file has no clean copy (its type cannot be cleaned); a caseworker can open the original with a reason."
                        .into(),
                ));
            }
            let filename = row
                .filename_sealed
                .as_deref()
                .map(|sealed| key.open("attachments", "filename", row.id, sealed))
                .transpose()
                .map_err(|_| AppError::internal("attachment metadata"))?;
            let (action, mut details) = match &reason {
                None => (Action::AttachmentRead, json!({"copy": copy.as_str()})),
                Some(reason) => (Action::AttachmentReadOriginal, json!({"reason": reason})),
            };
            details["attachment_id"] = json!(row.id);
            details["size"] = json!(row.size_of(copy));
            details["media_type"] = json!(row.media_type);
            let entry = caller.audit(&rid, action).target("report", report.id).details(details);
            audit::record(conn, entry)?;
            Ok::<_, AppError>((row, key.blob_key(), filename))
        })
    })
    .await?;
    let name = row.blob(copy).map(str::to_string).ok_or(AppError::NotFound)?;
    let aad = rules::aad(row.report_id, row.id, copy);
    let store: Arc<BlobStore> = state.blobs.clone();
    let mut reader = blocking(move || SealedReader::open(&store, &name, &key, &aad).map_err(io_error)).await?;
    // The first step is read before the answer starts, so a blob that does not open at all is
    // a plain 500; one damaged further on breaks the transfer where the damage is.
    let first = blocking(move || {
        let step = reader.next_step();
        Ok((reader, step))
    })
    .await?;
    let (reader, first) = first;
    let first = match first {
        None => Bytes::new(),
        Some(step) => Bytes::from(step.map_err(|e| AppError::internal(format!("attachment blob: {e}")))?),
    };
    // Cleaning keeps the format, so both copies are served as the sniffed type.
    let media_type = row.media_type.clone();
    let rest = futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let stepped = web::block(move || {
            let step = reader.next_step();
            (reader, step)
        })
        .await;
        match stepped {
            Ok((_, None)) => None,
            Ok((reader, Some(Ok(bytes)))) => Some((Ok(Bytes::from(bytes)), Some(reader))),
            Ok((_, Some(Err(e)))) => {
                tracing::error!(error = %e, "attachment blob does not open; transfer cut");
                Some((Err(read_failed(e)), None))
            }
            Err(_) => Some((Err(io::Error::other("blocking task failed")), None)),
        }
    });
    let body = futures_util::stream::once(async move { Ok::<_, io::Error>(first) }).chain(rest);
    Ok(HttpResponse::Ok()
        .content_type(media_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            rules::content_disposition(filename.as_deref(), row.id, &row.media_type),
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOWNLOAD_CSP))
        .no_chunking(row.size_of(copy).max(0) as u64)
        .streaming(body))
}

fn read_failed(e: ReadError) -> io::Error {
    io::Error::other(e.to_string())
}
