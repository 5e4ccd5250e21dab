//! SPEC §11: evidence files. Uploads stream into sealed blobs; reporters read back what they
//! sent; caseworkers get the clean copy and open originals only with a reason; admins never;
//! limits count the bytes received; damaged blobs do not open.

use actix_web::test::TestRequest;
use serde_json::json;

use crate::both_backends;
use crate::common::{contains, TestApp};
use crate::fixtures::{self, PLANTED};

const MARKER: &str = "EVIDENCE-MARKER-7f3a";

/// An anonymous report: its id and a receipt token for it.
async fn anonymous_report(app: &TestApp) -> (String, String) {
    let created = app
        .post(
            "/api/v1/reports",
            None,
            json!({"kind": "station", "narrative": "A station above the shop", "country": "NL"}),
        )
        .await
        .assert_json(201);
    let receipt = created["receipt"].as_str().unwrap();
    let token = app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await.assert_json(200)
        ["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (created["id"].as_str().unwrap().to_string(), token)
}

async fn upload(
    app: &TestApp,
    report: &str,
    token: Option<&str>,
    name: Option<&str>,
    bytes: &[u8],
) -> crate::common::Response {
    let mut req = TestRequest::post()
        .uri(&format!("/api/v1/reports/{report}/attachments"))
        .insert_header(("Content-Type", "application/octet-stream"))
        .set_payload(bytes.to_vec());
    if let Some(token) = token {
        req = req.insert_header(("Authorization", format!("Bearer {token}")));
    }
    if let Some(name) = name {
        req = req.insert_header(("X-Filename", name));
    }
    app.send(req).await
}

/// Bytes that no cleaner knows, holding `MARKER` in the middle.
fn opaque_file(len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let at = len / 2;
    bytes[at..at + MARKER.len()].copy_from_slice(MARKER.as_bytes());
    bytes
}

/// Every file in the blob store, with its bytes.
fn blob_files(app: &TestApp) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    // The local store's folder (also the spool of an object store), and the folder behind a
    // `file://` object store.
    let mut out = Vec::new();
    walk(&app.db.dir.path().join("blobs"), &mut out);
    walk(&app.db.dir.path().join("objects"), &mut out);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    tipline::crypto::sha256_hex(bytes)
}

async fn a_receipt_holder_uploads_and_reads_back(app: TestApp) {
    upload_and_read_back(&app).await;
}

/// The same through an object store (`TIPLINE_BLOB_URL`), here a `file://` one: what the service
/// stores is sealed before it leaves, and orphans are found by listing the store.
async fn through_an_object_store(app: TestApp) {
    let objects = app.db.dir.path().join("objects");
    let url = url::Url::from_directory_path(&objects).unwrap();
    let spool = tipline::blobs::LocalStore::at(app.db.dir.path().join("blobs"));
    let backend = tipline::blobs::ObjectBackend::new(&url, Vec::new(), spool).unwrap();
    let app = app.restart(|c| c.blobs = std::sync::Arc::new(tipline::blobs::BlobStore::Object(backend))).await;
    upload_and_read_back(&app).await;
    let store = &*app.config.blobs;
    let names = blocking(|| store.names_older_than(std::time::Duration::ZERO).unwrap());
    assert_eq!(names.len(), 1);
    let blobs = blob_files(&app);
    assert!(blobs.iter().all(|(path, _)| path.starts_with(&objects)), "nothing left in the spool: {blobs:?}");
    // An orphan in the object store goes with the sweep; the recorded blob stays.
    let mut conn = app.conn();
    blocking(|| {
        let mut orphan = tipline::blobs::SealedWriter::create(store, &[1; 32], b"x").unwrap();
        orphan.write(b"orphan").unwrap();
        orphan.commit(store).unwrap();
        assert_eq!(store.names_older_than(std::time::Duration::ZERO).unwrap().len(), 2);
        let removed = tipline::attachments::orphans::sweep(&mut conn, store, std::time::Duration::ZERO).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(store.names_older_than(std::time::Duration::ZERO).unwrap(), names);
    });
}

/// Staff get a copy without the metadata a phone or an editor writes; the reporter, and a
/// caseworker who gives a reason, get the file as it was sent; the blobs hold no planted byte.
async fn staff_get_clean_copies_and_originals_stay_whole(app: TestApp) {
    let (report, token) = anonymous_report(&app).await;
    let worker = app.caseworker().await;
    let files = [
        ("photo.jpg", fixtures::photo_jpeg(), "image/jpeg", fixtures::JPEG_MARKERS),
        ("chat.png", fixtures::text_png(), "image/png", fixtures::PNG_MARKERS),
        ("station.webp", fixtures::photo_webp(), "image/webp", fixtures::WEBP_MARKERS),
        ("summons.pdf", fixtures::revised_pdf(), "application/pdf", fixtures::PDF_MARKERS),
        ("sideways.jpg", fixtures::turned_jpeg(), "image/jpeg", fixtures::JPEG_MARKERS),
    ];
    for (name, bytes, media_type, markers) in &files {
        for marker in *markers {
            assert!(contains(bytes, marker), "{name} plants {marker}");
        }
        let created = upload(&app, &report, Some(&token), Some(name), bytes).await.assert_json(201);
        assert_eq!(
            (created["media_type"].as_str(), created["clean"].as_bool()),
            (Some(*media_type), Some(true)),
            "{name}"
        );
        let path = format!("/api/v1/reports/{report}/attachments/{}", created["id"].as_str().unwrap());

        let clean = app.get(&path, Some(&worker.access_token)).await;
        clean.assert_status(200);
        assert_eq!(clean.header("content-type"), Some(*media_type));
        assert!(!contains(&clean.body, PLANTED), "{name}: the clean copy holds planted metadata");
        if *media_type != "application/pdf" {
            let (original, cleaned) = (fixtures::decode(bytes), fixtures::decode(&clean.body));
            if *name == "sideways.jpg" {
                assert_eq!(
                    (cleaned.width(), cleaned.height()),
                    (original.height(), original.width()),
                    "turned upright"
                );
            } else {
                assert_eq!(cleaned.to_rgb8(), original.to_rgb8(), "{name}: the same pixels");
            }
        }
        let mine = app.get(&path, Some(&token)).await;
        assert!(mine.assert_status(200).body == *bytes, "{name}: the reporter reads back what was sent");
        let sealed = app.get(&format!("{path}/original?reason=chain%20of%20custody"), Some(&worker.access_token)).await;
        assert!(sealed.assert_status(200).body == *bytes, "{name}: the original is byte for byte");
    }
    let reads = app.audit("attachment.read");
    assert_eq!(reads.len(), 2 * files.len());
    assert_eq!(TestApp::details(&reads[0])["copy"], "clean");
    assert_eq!(app.audit("attachment.read_original").len(), files.len());
    // Originals and clean copies, all sealed: not one planted byte on disk.
    let blobs = blob_files(&app);
    assert_eq!(blobs.len(), 2 * files.len());
    for (path, bytes) in &blobs {
        assert!(!contains(bytes, PLANTED), "{path:?} holds planted metadata in the clear");
    }
}

/// A file that makes the cleaner fail is kept, sealed only, never lost and never a 500.
async fn a_file_the_cleaner_cannot_read_is_kept_sealed(app: TestApp) {
    let (report, token) = anonymous_report(&app).await;
    let mut broken = fixtures::photo_jpeg();
    broken.truncate(broken.len() / 3);
    let created = upload(&app, &report, Some(&token), None, &broken).await.assert_json(201);
    assert_eq!((created["media_type"].as_str(), created["clean"].as_bool()), (Some("image/jpeg"), Some(false)));
    let heic = fixtures::random_bytes(64);
    let mut heic_file = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic_file.extend_from_slice(&heic);
    let created = upload(&app, &report, Some(&token), None, &heic_file).await.assert_json(201);
    assert_eq!((created["media_type"].as_str(), created["clean"].as_bool()), (Some("image/heic"), Some(false)));
    let path = format!("/api/v1/reports/{report}/attachments/{}", created["id"].as_str().unwrap());
    assert!(app.get(&path, Some(&token)).await.assert_status(200).body == heic_file);
    assert_eq!(app.count("attachments"), 2);
}

/// Shredding (SPEC §13) takes a report's files with it: rows, both copies' blobs, and 410 after.
async fn shredding_a_report_deletes_its_files(app: TestApp) {
    let owner = app.reporter().await;
    let worker = app.caseworker().await;
    let created = app
        .post(
            "/api/v1/reports",
            Some(&owner.access_token),
            json!({"kind": "station", "narrative": "x", "country": "NL"}),
        )
        .await
        .assert_json(201);
    let report = created["id"].as_str().unwrap().to_string();
    let (kept, kept_token) = anonymous_report(&app).await;
    upload(&app, &report, Some(&owner.access_token), None, &fixtures::photo_jpeg()).await.assert_status(201);
    upload(&app, &report, Some(&worker.access_token), None, b"notes").await.assert_status(201);
    upload(&app, &kept, Some(&kept_token), None, b"kept").await.assert_status(201);
    assert_eq!(blob_files(&app).len(), 4, "a clean copy, two originals and the other report's");

    let res = app
        .post(&format!("/api/v1/reports/{report}/withdraw"), Some(&owner.access_token), json!({"erase": true}))
        .await;
    assert_eq!(res.assert_json(200)["shredded"], true);
    assert_eq!(app.count(&format!("attachments WHERE report_id = '{report}'")), 0);
    assert_eq!(app.count("attachments"), 1);
    assert_eq!(blob_files(&app).len(), 1, "the shredded report's blobs are deleted");
    let problem =
        app.get(&format!("/api/v1/reports/{report}/attachments"), Some(&worker.access_token)).await.assert_problem(410);
    assert_eq!(problem["type"], "urn:tipline:problem:shredded");
    upload(&app, &report, Some(&worker.access_token), None, b"late").await.assert_problem(410);
    let list = app.get(&format!("/api/v1/reports/{kept}/attachments"), Some(&kept_token)).await.assert_json(200);
    let path = format!("/api/v1/reports/{kept}/attachments/{}", list["items"][0]["id"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&kept_token)).await.assert_status(200).body.as_ref(), b"kept");
}

/// Runs blob-store calls off the test's async thread, as the service runs them.
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

async fn upload_and_read_back(app: &TestApp) {
    let (report, token) = anonymous_report(app).await;
    let file = opaque_file(200_000);
    let name = "C%3A%5CUsers%5Cli%5C%E5%A8%81%E8%83%81-threat.bin";
    let res = upload(app, &report, Some(&token), Some(name), &file).await;
    let created = res.assert_json(201);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(res.header("location"), Some(format!("/api/v1/reports/{report}/attachments/{id}").as_str()));
    assert_eq!(created["filename"], "威胁-threat.bin", "the folder part is dropped");
    assert_eq!(created["size"], 200_000);
    assert_eq!(created["media_type"], "application/octet-stream");
    assert_eq!(created["sha256"], sha256_hex(&file));
    assert_eq!(created["clean"], false);

    let entry = app.audit_one("attachment.create");
    assert_eq!((entry.actor_id, entry.actor_role.as_deref()), (None, Some("anonymous")), "no reporter is named");
    assert_eq!(entry.target_id.as_deref(), Some(report.as_str()));
    assert_eq!(
        TestApp::details(&entry),
        json!({"attachment_id": id, "size": 200_000, "media_type": "application/octet-stream", "clean": false})
    );

    // What is stored says nothing: no plaintext byte, no name, no digest.
    let blobs = blob_files(app);
    assert_eq!(blobs.len(), 1, "one sealed original, nothing left in tmp/");
    for (path, bytes) in &blobs {
        assert!(!contains(bytes, MARKER), "{path:?} holds plaintext");
        assert!(bytes.len() > file.len(), "sealed: every chunk carries a tag");
    }
    let raw = app.raw_database();
    assert!(!contains(&raw, "threat.bin"), "the name is sealed");
    assert!(!contains(&raw, created["sha256"].as_str().unwrap()), "the digest is sealed");

    let list = app.get(&format!("/api/v1/reports/{report}/attachments"), Some(&token)).await.assert_json(200);
    assert_eq!(list["items"], json!([created]));
    assert_eq!(TestApp::details(&app.audit_one("attachment.list")), json!({"attachments": 1}));

    let res = app.get(&format!("/api/v1/reports/{report}/attachments/{id}"), Some(&token)).await;
    res.assert_status(200);
    assert!(res.body == file, "the reporter reads back exactly what was sent");
    assert_eq!(res.header("content-type"), Some("application/octet-stream"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert!(res.header("content-security-policy").unwrap().starts_with("sandbox"));
    let disposition = res.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment; filename=\"evidence-"), "{disposition}");
    assert!(disposition.ends_with("filename*=UTF-8''%E5%A8%81%E8%83%81-threat.bin"), "{disposition}");
    let read = app.audit_one("attachment.read");
    assert_eq!(read.actor_role.as_deref(), Some("anonymous"));
    assert_eq!(
        TestApp::details(&read),
        json!({"attachment_id": id, "copy": "original", "size": 200_000, "media_type": "application/octet-stream"})
    );
}

async fn caseworkers_open_originals_only_with_a_reason_and_admins_never(app: TestApp) {
    let (report, token) = anonymous_report(&app).await;
    let file = opaque_file(5_000);
    let id =
        upload(&app, &report, Some(&token), None, &file).await.assert_json(201)["id"].as_str().unwrap().to_string();
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let path = format!("/api/v1/reports/{report}/attachments/{id}");

    // No clean copy of a type the cleaner does not know: the plain download says so.
    let problem = app.get(&path, Some(&worker.access_token)).await.assert_problem(409);
    assert!(problem["detail"].as_str().unwrap().contains("original"));
    let problem = app.get(&format!("{path}/original"), Some(&worker.access_token)).await.assert_problem(422);
    assert_eq!(problem["errors"][0]["field"], "reason");
    app.get(&format!("{path}/original?reason=%20"), Some(&worker.access_token)).await.assert_problem(422);
    assert!(app.audit("attachment.read_original").is_empty());

    let res =
        app.get(&format!("{path}/original?reason=compare%20with%20the%20letter"), Some(&worker.access_token)).await;
    res.assert_status(200);
    assert!(res.body == file, "the original, byte for byte");
    let entry = app.audit_one("attachment.read_original");
    assert_eq!(entry.actor_id, Some(worker.id));
    assert_eq!(
        TestApp::details(&entry),
        json!({"attachment_id": id, "reason": "compare with the letter", "size": 5_000, "media_type": "application/octet-stream"})
    );

    // The reporter has no "original" route: they read what they sent through the plain one.
    app.get(&format!("{path}/original?reason=x"), Some(&token)).await.assert_problem(403);
    for url in [format!("/api/v1/reports/{report}/attachments"), path.clone(), format!("{path}/original?reason=x")] {
        app.get(&url, Some(&admin.access_token)).await.assert_problem(403);
    }
    upload(&app, &report, Some(&admin.access_token), None, b"x").await.assert_problem(403);
    assert_eq!(app.audit("attachment.read").len(), 0);
}

async fn reporters_do_not_see_files_caseworkers_added(app: TestApp) {
    let (report, token) = anonymous_report(&app).await;
    let worker = app.caseworker().await;
    let mine = upload(&app, &report, Some(&token), Some("mine.txt"), b"from the reporter").await.assert_json(201);
    let theirs = upload(&app, &report, Some(&worker.access_token), Some("note.txt"), b"from a caseworker")
        .await
        .assert_json(201);
    let entries = app.audit("attachment.create");
    assert_eq!(entries[1].actor_id, Some(worker.id));

    let list = app.get(&format!("/api/v1/reports/{report}/attachments"), Some(&token)).await.assert_json(200);
    assert_eq!(list["items"], json!([mine]));
    let list =
        app.get(&format!("/api/v1/reports/{report}/attachments"), Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let theirs_path = format!("/api/v1/reports/{report}/attachments/{}", theirs["id"].as_str().unwrap());
    app.get(&theirs_path, Some(&token)).await.assert_problem(404);

    // Another report's receipt reaches nothing of this one.
    let (_, other_token) = anonymous_report(&app).await;
    app.get(&format!("/api/v1/reports/{report}/attachments"), Some(&other_token)).await.assert_problem(404);
    upload(&app, &report, Some(&other_token), None, b"x").await.assert_problem(404);
}

async fn bad_uploads_are_refused_and_leave_nothing(app: TestApp) {
    let (report, token) = anonymous_report(&app).await;
    let problem = upload(&app, &report, Some(&token), None, b"").await.assert_problem(422);
    assert_eq!(problem["errors"][0]["field"], "body");
    for name in ["a%0Ab.png", "gpj.%E2%80%AEexe", "%E6%9D", &"a".repeat(256)] {
        let problem = upload(&app, &report, Some(&token), Some(name), b"file").await.assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], "X-Filename");
        assert!(!problem.to_string().contains("exe"), "the name is not echoed");
    }
    upload(&app, &report, None, None, b"file").await.assert_problem(401);
    upload(&app, "not-a-uuid", Some(&token), None, b"file").await.assert_problem(404);
    assert_eq!(app.count("attachments"), 0);
    assert!(app.audit("attachment.create").is_empty());
    assert!(blob_files(&app).is_empty(), "nothing in the store: {:?}", blob_files(&app));
}

async fn limits_count_the_bytes_received(app: TestApp) {
    let app = app
        .restart(|c| {
            c.attachments = tipline::attachments::Limits { max_bytes: 1000, max_files: 3, max_total_bytes: 2500 };
        })
        .await;
    let (report, token) = anonymous_report(&app).await;
    let problem = upload(&app, &report, Some(&token), None, &opaque_file(1001)).await.assert_problem(413);
    assert!(problem["detail"].as_str().unwrap().contains("largest"));
    upload(&app, &report, Some(&token), None, &opaque_file(1000)).await.assert_status(201);
    upload(&app, &report, Some(&token), None, &opaque_file(1000)).await.assert_status(201);
    // 500 bytes are left of the report's 2500.
    let problem = upload(&app, &report, Some(&token), None, &opaque_file(501)).await.assert_problem(413);
    assert!(problem["detail"].as_str().unwrap().contains("space"));
    upload(&app, &report, Some(&token), None, &opaque_file(500)).await.assert_status(201);
    let problem = upload(&app, &report, Some(&token), None, b"x").await.assert_problem(413);
    assert!(problem["detail"].as_str().unwrap().contains("as many files"));
    assert_eq!(app.count("attachments"), 3);
    assert_eq!(app.audit("attachment.create").len(), 3);
    assert_eq!(blob_files(&app).len(), 3, "refused uploads leave no blob");

    // A body larger than its Content-Length says is counted as it arrives, not as declared.
    let (other, token) = anonymous_report(&app).await;
    let req = TestRequest::post()
        .uri(&format!("/api/v1/reports/{other}/attachments"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .set_payload(opaque_file(1500))
        .insert_header(("Content-Length", "10"));
    app.send(req).await.assert_problem(413);
    assert_eq!(app.count("attachments"), 3);
}

async fn concurrent_uploads_never_pass_the_file_limit(app: TestApp) {
    let app = app
        .restart(|c| {
            c.attachments = tipline::attachments::Limits { max_bytes: 1000, max_files: 3, max_total_bytes: 1 << 20 }
        })
        .await;
    let (report, token) = anonymous_report(&app).await;
    let files: Vec<Vec<u8>> = (0..8).map(|i| opaque_file(900 + i)).collect();
    let results =
        futures_util::future::join_all(files.iter().map(|f| upload(&app, &report, Some(&token), None, f))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 413).count(), 5, "{statuses:?}");
    assert_eq!(app.count("attachments"), 3);
    assert_eq!(app.audit("attachment.create").len(), 3);
    assert_eq!(blob_files(&app).len(), 3, "the refused uploads' blobs are removed");
}

/// Swaps two ciphertext chunks, or cuts the file at a chunk boundary: either way it does not open.
async fn damaged_blobs_do_not_open(app: TestApp) {
    let (report, token) = anonymous_report(&app).await;
    let chunk = tipline::blobs::sealed::CHUNK;
    let file = opaque_file(3 * chunk);
    let id =
        upload(&app, &report, Some(&token), None, &file).await.assert_json(201)["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/reports/{report}/attachments/{id}");
    app.get(&path, Some(&token)).await.assert_status(200);
    let (blob, sealed) = blob_files(&app).remove(0);
    let header = tipline::blobs::sealed::HEADER_LEN;
    let sealed_chunk = chunk + 16;

    let mut swapped = sealed.clone();
    let (first, second) = (header..header + sealed_chunk, header + sealed_chunk..header + 2 * sealed_chunk);
    let first_bytes = sealed[first.clone()].to_vec();
    swapped[first.clone()].copy_from_slice(&sealed[second.clone()]);
    swapped[second].copy_from_slice(&first_bytes);
    std::fs::write(&blob, &swapped).unwrap();
    app.get(&path, Some(&token)).await.assert_problem(500);

    std::fs::write(&blob, &sealed[..header + 2 * sealed_chunk]).unwrap();
    app.get(&path, Some(&token)).await.assert_problem(500);

    let mut flipped = sealed.clone();
    flipped[header + 10] ^= 1;
    std::fs::write(&blob, &flipped).unwrap();
    app.get(&path, Some(&token)).await.assert_problem(500);

    std::fs::write(&blob, &sealed).unwrap();
    let res = app.get(&path, Some(&token)).await;
    res.assert_status(200);
    assert!(res.body == file);
}

async fn orphans_are_swept(app: TestApp) {
    let (report, token) = anonymous_report(&app).await;
    upload(&app, &report, Some(&token), None, b"kept").await.assert_status(201);
    // What a crash between writing blobs and recording them leaves: a blob no row names, and a
    // half-written file in tmp/.
    let store = &*app.config.blobs;
    let mut orphan = tipline::blobs::SealedWriter::create(store, &[1; 32], b"x").unwrap();
    orphan.write(b"orphan").unwrap();
    orphan.commit(store).unwrap();
    std::mem::forget(store.create().unwrap());
    assert_eq!(blob_files(&app).len(), 3);
    let mut conn = app.conn();
    let removed = tipline::attachments::orphans::sweep(&mut conn, store, std::time::Duration::from_secs(3600)).unwrap();
    assert_eq!(removed, 0, "recent files are spared: an upload may be under way");
    let removed = tipline::attachments::orphans::sweep(&mut conn, store, std::time::Duration::ZERO).unwrap();
    assert_eq!(removed, 2);
    let left = blob_files(&app);
    assert_eq!(left.len(), 1);
    let list = app.get(&format!("/api/v1/reports/{report}/attachments"), Some(&token)).await.assert_json(200);
    let id = list["items"][0]["id"].as_str().unwrap();
    let res = app.get(&format!("/api/v1/reports/{report}/attachments/{id}"), Some(&token)).await;
    assert_eq!(res.assert_status(200).body.as_ref(), b"kept");
}

both_backends!(
    a_receipt_holder_uploads_and_reads_back,
    through_an_object_store,
    staff_get_clean_copies_and_originals_stay_whole,
    a_file_the_cleaner_cannot_read_is_kept_sealed,
    shredding_a_report_deletes_its_files,
    caseworkers_open_originals_only_with_a_reason_and_admins_never,
    reporters_do_not_see_files_caseworkers_added,
    bad_uploads_are_refused_and_leave_nothing,
    limits_count_the_bytes_received,
    concurrent_uploads_never_pass_the_file_limit,
    damaged_blobs_do_not_open,
    orphans_are_swept,
);
