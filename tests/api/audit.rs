//! SPEC §8 and §15: the hash-chained, append-only audit trail, its sequencer and Merkle tree.

use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::both_backends;
use crate::common::TestApp;
use tipline::audit::{self, Action, Actor, NewEntry};
use tipline::db::{self, Backend};

async fn list_filters_and_pages_newest_first(app: TestApp) {
    let admin = app.admin().await;
    let reporter = app.caseworker().await;
    for _ in 0..3 {
        app.login(&reporter.email, "not the right password").await.assert_problem(401);
    }
    let all = app.get("/api/v1/audit", Some(&admin.access_token)).await.assert_json(200);
    let seqs: Vec<i64> = all["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let first = &all["items"][0];
    assert_eq!(first["action"], "auth.login_failed");
    assert!(first["hash"].as_str().unwrap().len() == 64);
    assert!(first["details"].is_object());

    let failed =
        app.get("/api/v1/audit?action=auth.login_failed&limit=2", Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(failed["items"].as_array().unwrap().len(), 2);
    let cursor = failed["next_cursor"].as_str().expect("a next page").to_string();
    let rest = app
        .get(&format!("/api/v1/audit?action=auth.login_failed&limit=2&cursor={cursor}"), Some(&admin.access_token))
        .await
        .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());

    let by_actor =
        app.get(&format!("/api/v1/audit?actor_id={}", admin.id), Some(&admin.access_token)).await.assert_json(200);
    assert!(by_actor["items"].as_array().unwrap().iter().all(|e| e["actor_id"] == json!(admin.id)));
    assert_eq!(by_actor["items"].as_array().unwrap().len(), 1, "the admin's login");
    let by_target =
        app.get(&format!("/api/v1/audit?target_id={}", reporter.id), Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(by_target["items"].as_array().unwrap().len(), 4, "the caseworker's login and three failures");
    let future = app.get("/api/v1/audit?from=2999-01-01T00:00:00Z", Some(&admin.access_token)).await.assert_json(200);
    assert!(future["items"].as_array().unwrap().is_empty());
    let past = app.get("/api/v1/audit?to=2000-01-01T00:00:00Z", Some(&admin.access_token)).await.assert_json(200);
    assert!(past["items"].as_array().unwrap().is_empty());

    let bad = app.get("/api/v1/audit?actor_id=nope&from=yesterday&limit=500", Some(&admin.access_token)).await;
    assert_eq!(bad.assert_problem(422)["errors"].as_array().unwrap().len(), 3);
}

async fn verify_reports_an_intact_chain_and_is_audited(app: TestApp) {
    let admin = app.admin().await;
    app.reporter().await;
    let res = app.get("/api/v1/audit/verify", Some(&admin.access_token)).await;
    res.assert_status(200);
    let body = res.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["entries"], 2, "two logins");
    assert!(body["first_bad_seq"].is_null());
    assert_eq!(body["head_hash"].as_str().unwrap().len(), 64);
    let entry = app.audit_one("audit.verify");
    assert_eq!(entry.actor_id, Some(admin.id));
    assert_eq!(TestApp::details(&entry)["ok"], true);
}

fn record_one(conn: &mut db::DbConn, n: usize) {
    db::write_tx(conn, |conn| {
        audit::record(conn, NewEntry::new(Actor::system(), Action::StationsImport).details(json!({"n": n}))).map(|_| ())
    })
    .expect("append");
}

async fn the_trail_rejects_update_delete_and_truncate(app: TestApp) {
    let mut conn = app.db.connect();
    record_one(&mut conn, 1);
    audit::sequence_all(&mut conn).expect("sequence");
    let attempts = ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"];
    for sql in attempts {
        let err = conn.batch_execute(sql).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if app.backend() == Backend::Postgres {
        let err = conn.batch_execute("TRUNCATE audit_log").expect_err("truncate");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert!(audit::verify(&mut conn).unwrap().ok);
    assert_eq!(app.audit("stations.import").len(), 1);
}

async fn fifty_concurrent_writers_leave_a_gap_free_chain(app: TestApp) {
    let threads: Vec<_> = (0..50)
        .map(|n| {
            let pool = app.pool.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("connection");
                record_one(&mut conn, n);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("writer thread");
    }
    let entries = app.audit("stations.import");
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());
    let result = audit::verify(&mut app.db.connect()).unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.entries, 50);
}

async fn an_entry_altered_behind_the_triggers_is_found(app: TestApp) {
    let admin = app.admin().await;
    let mut conn = app.db.connect();
    for n in 0..4 {
        record_one(&mut conn, n);
    }
    let target = app.audit("stations.import")[1].seq;
    let tamper = match app.backend() {
        Backend::Postgres => format!(
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; \
             UPDATE audit_log SET details = '{{\"n\":99}}' WHERE seq = {target}; \
             ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;"
        ),
        Backend::Sqlite => format!(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET details = '{{\"n\":99}}' WHERE seq = {target};"
        ),
    };
    conn.batch_execute(&tamper).expect("tamper");

    let body = app.get("/api/v1/audit/verify", Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(body["ok"], false);
    assert_eq!(body["first_bad_seq"], target);

    // The command line says the same and exits 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.db.url)
        .env("TIPLINE_DATA_DIR", app.db.dir.path())
        .env_remove("TIPLINE_JWT_SECRET")
        .env_remove("TIPLINE_DATA_KEY")
        .output()
        .expect("run tipline");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("seq {target}")), "{stdout}");
}

async fn cli_verify_exits_zero_on_an_intact_chain(app: TestApp) {
    app.admin().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.db.url)
        .env("TIPLINE_DATA_DIR", app.db.dir.path())
        .output()
        .expect("run tipline");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 1 entries"));
    let entry = app.audit_one("audit.verify");
    assert_eq!(entry.actor_role.as_deref(), Some("system"));
}

/// Writers and two sequencers at once (as two instances on one database would run them): every
/// event is sequenced exactly once, `seq` has no gap, and the tree holds one leaf per entry.
/// Each sequencer keeps the tree's edge from its last pass, as the service's loop does, while
/// the other one extends the tree behind its back.
async fn concurrent_writers_and_sequencers_sequence_every_event_once(app: TestApp) {
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sequencers: Vec<_> = (0..2)
        .map(|_| {
            let (pool, done) = (app.pool.clone(), done.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("connection");
                let mut edge = tipline::audit::store::Edge::default();
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    tipline::audit::store::sequence_keeping(&mut conn, &mut edge).expect("sequencer pass");
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let pool = app.pool.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("connection");
                for i in 0..EACH {
                    record_one(&mut conn, w * EACH + i);
                }
            })
        })
        .collect();
    for thread in writers {
        thread.join().expect("writer thread");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for thread in sequencers {
        thread.join().expect("sequencer thread");
    }
    let entries = app.audit("stations.import");
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=(WRITERS * EACH) as i64).collect::<Vec<_>>());
    let mut ns: Vec<u64> = entries.iter().map(|e| TestApp::details(e)["n"].as_u64().unwrap()).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..(WRITERS * EACH) as u64).collect::<Vec<_>>(), "each event once");
    let result = audit::verify(&mut app.db.connect()).unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.tree_size, (WRITERS * EACH) as i64);
    let mut conn = app.db.connect();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM audit_pending"), 0);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM audit_tree WHERE level = 0"), (WRITERS * EACH) as i64);
}

/// Someone who can write to the database rewrites an entry and re-hashes the chain after it:
/// the chain is consistent again, but the stored tree's leaves are not, and verify says where.
async fn a_rewritten_and_rehashed_history_is_found(app: TestApp) {
    let mut conn = app.db.connect();
    for n in 0..6 {
        record_one(&mut conn, n);
    }
    let entries = app.audit("stations.import");
    let target = entries[2].seq;
    // The forger's own chain from the target on, computed as the service would.
    let mut forged = entries.clone();
    forged[2].details = r#"{"n":99}"#.into();
    for i in 2..forged.len() {
        forged[i].prev_hash = forged[i - 1].hash.clone();
        forged[i].hash = forged[i].compute_hash();
    }
    let updates: String = forged[2..]
        .iter()
        .map(|e| {
            format!(
                "UPDATE audit_log SET details = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {};",
                e.details, e.prev_hash, e.hash, e.seq
            )
        })
        .collect();
    // Hashes are unique: move the rewritten rows out of the way first.
    let tamper = match app.backend() {
        Backend::Postgres => format!(
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; \
             UPDATE audit_log SET hash = 'x' || seq WHERE seq >= {target}; {updates} \
             ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;"
        ),
        Backend::Sqlite => format!(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET hash = 'x' || seq WHERE seq >= {target}; {updates}"
        ),
    };
    conn.batch_execute(&tamper).expect("tamper");
    let mut own_tree = tipline::audit::merkle::Frontier::default();
    let mut chain_only = tipline::audit::rules::ChainChecker::default();
    for entry in &forged {
        own_tree.push(entry.leaf_hash());
        chain_only.check(entry, Some(entry.leaf_hash()));
    }
    assert!(chain_only.finish(Some((own_tree.size(), own_tree.root()))).ok, "the forgery is consistent in itself");
    let result = audit::verify(&mut conn).unwrap();
    assert!(!result.ok);
    assert_eq!(result.first_bad_seq, Some(target));
}

async fn the_tree_rejects_update_and_delete(app: TestApp) {
    let mut conn = app.db.connect();
    record_one(&mut conn, 0);
    record_one(&mut conn, 1);
    audit::sequence_all(&mut conn).expect("sequence");
    for sql in ["UPDATE audit_tree SET hash = 'x'", "DELETE FROM audit_tree"] {
        let err = conn.batch_execute(sql).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert!(audit::verify(&mut conn).unwrap().ok);
    // Behind the triggers, the tree loses its leaves (not the node above them): the sequencer
    // can no longer extend it, and verify says the trail is broken rather than failing.
    let drop = match app.backend() {
        Backend::Postgres => "ALTER TABLE audit_tree DISABLE TRIGGER USER; DELETE FROM audit_tree WHERE level = 0;",
        Backend::Sqlite => "DROP TRIGGER audit_tree_no_delete; DELETE FROM audit_tree WHERE level = 0;",
    };
    conn.batch_execute(drop).expect("tamper");
    record_one(&mut conn, 2);
    let result = audit::verify(&mut conn).expect("verify answers");
    assert!(!result.ok);
    assert_eq!(result.first_bad_seq, Some(1));
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut db::DbConn, sql: &str) -> i64 {
    use diesel::RunQueryDsl;
    let rows: Vec<Count> = match conn {
        db::DbConn::Pg(c) => diesel::sql_query(sql).load(c),
        db::DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
    }
    .expect("count");
    rows[0].n
}

both_backends!(
    list_filters_and_pages_newest_first,
    verify_reports_an_intact_chain_and_is_audited,
    the_trail_rejects_update_delete_and_truncate,
    fifty_concurrent_writers_leave_a_gap_free_chain,
    an_entry_altered_behind_the_triggers_is_found,
    cli_verify_exits_zero_on_an_intact_chain,
    concurrent_writers_and_sequencers_sequence_every_event_once,
    a_rewritten_and_rehashed_history_is_found,
    the_tree_rejects_update_and_delete,
);

/// RFC 9162 §2.1.3.2 and §2.1.4.2, written out here from the RFC, apart from the service's own
/// code, to check the proofs it serves.
mod rfc9162 {
    use sha2::{Digest, Sha256};

    pub type Hash = [u8; 32];

    fn node(left: &Hash, right: &Hash) -> Hash {
        Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
    }

    pub fn leaf(data: &[u8]) -> Hash {
        Sha256::new().chain_update([0u8]).chain_update(data).finalize().into()
    }

    pub fn verify_inclusion(index: u64, size: u64, leaf: Hash, path: &[Hash], root: &Hash) -> bool {
        if index >= size {
            return false;
        }
        let (mut fn_, mut sn, mut r) = (index, size - 1, leaf);
        for p in path {
            if sn == 0 {
                return false;
            }
            if fn_ % 2 == 1 || fn_ == sn {
                r = node(p, &r);
                while fn_ % 2 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                r = node(&r, p);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        sn == 0 && &r == root
    }

    pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, proof: &[Hash]) -> bool {
        if first == second {
            return proof.is_empty() && first_root == second_root;
        }
        let mut path = proof.to_vec();
        if first.is_power_of_two() {
            path.insert(0, *first_root);
        }
        let (mut fn_, mut sn) = (first - 1, second - 1);
        while fn_ % 2 == 1 {
            fn_ >>= 1;
            sn >>= 1;
        }
        let Some((c0, rest)) = path.split_first() else { return false };
        let (mut fr, mut sr) = (*c0, *c0);
        for c in rest {
            if sn == 0 {
                return false;
            }
            if fn_ % 2 == 1 || fn_ == sn {
                fr = node(c, &fr);
                sr = node(c, &sr);
                while fn_ % 2 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = node(&sr, c);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        &fr == first_root && &sr == second_root && sn == 0
    }
}

fn hash_of(value: &serde_json::Value) -> rfc9162::Hash {
    let bytes = hex::decode(value.as_str().expect("a hex hash")).expect("hex");
    bytes.try_into().expect("32 bytes")
}

fn hashes_of(value: &serde_json::Value) -> Vec<rfc9162::Hash> {
    value.as_array().expect("a list of hashes").iter().map(hash_of).collect()
}

/// The size and root of a checkpoint served over HTTP, after checking its signature with the
/// verifier key served next to it.
async fn signed_checkpoint(app: &TestApp, token: &str) -> (u64, rfc9162::Hash) {
    use base64::Engine;
    let key = app.get("/api/v1/audit/public-key", Some(token)).await;
    key.assert_status(200);
    let note = app.get("/api/v1/audit/checkpoint", Some(token)).await;
    note.assert_status(200);
    assert!(note.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let verifier = audit::checkpoint::NoteVerifier::parse(&key.text()).expect("a verifier key");
    let text = verifier.open(&note.text()).expect("a checkpoint signed by that key").to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let root = base64::engine::general_purpose::STANDARD.decode(lines[2]).expect("base64 root");
    (lines[1].parse().expect("a size"), root.try_into().expect("32 bytes"))
}

async fn proofs_check_out_with_an_independent_implementation(app: TestApp) {
    let admin = app.admin().await;
    let token = admin.access_token.as_str();
    let mut conn = app.db.connect();
    for n in 0..12 {
        record_one(&mut conn, n);
    }
    let (size, root) = signed_checkpoint(&app, token).await;
    let entries = app.audit("stations.import");
    assert!(size >= 12, "{size}");
    for seq in 1..=size {
        let body = app.get(&format!("/api/v1/audit/entries/{seq}/proof"), Some(token)).await.assert_json(200);
        assert_eq!(body["seq"], seq);
        assert_eq!(body["tree_size"], size);
        let leaf = hash_of(&body["leaf_hash"]);
        assert!(rfc9162::verify_inclusion(seq - 1, size, leaf, &hashes_of(&body["proof"]), &root), "seq {seq}");
        if let Some(entry) = entries.iter().find(|e| e.seq as u64 == seq) {
            assert_eq!(leaf, rfc9162::leaf(&entry.canonical()), "the leaf is the entry's canonical bytes");
        }
    }
    // A proof in an older tree size, and a wrong leaf or root, do not check out.
    let body = app.get("/api/v1/audit/entries/2/proof?size=5", Some(token)).await.assert_json(200);
    assert_eq!(body["tree_size"], 5);
    let proof = hashes_of(&body["proof"]);
    assert!(!rfc9162::verify_inclusion(1, 5, rfc9162::leaf(b"forged"), &proof, &root));

    // The trail grows; the new tree provably extends the old one.
    for n in 12..20 {
        record_one(&mut conn, n);
    }
    let (new_size, new_root) = signed_checkpoint(&app, token).await;
    assert!(new_size > size);
    for from in [1, size - 1, size] {
        let body = app.get(&format!("/api/v1/audit/consistency?from={from}"), Some(token)).await.assert_json(200);
        assert_eq!((body["from"].as_u64(), body["to"].as_u64()), (Some(from), Some(new_size)));
        let proof = hashes_of(&body["proof"]);
        if from == size {
            assert!(rfc9162::verify_consistency(size, new_size, &root, &new_root, &proof));
            assert!(!rfc9162::verify_consistency(size, new_size, &rfc9162::leaf(b"x"), &new_root, &proof));
        }
    }
    let same = app.get(&format!("/api/v1/audit/consistency?from={size}&to={size}"), Some(token)).await.assert_json(200);
    assert_eq!(same["proof"], json!([]));

    // Sizes that are not in the tree.
    app.get(&format!("/api/v1/audit/entries/{}/proof", new_size + 50), Some(token)).await.assert_problem(404);
    for (path, field) in [
        ("/api/v1/audit/entries/3/proof?size=2".to_string(), "size"),
        (format!("/api/v1/audit/entries/3/proof?size={}", new_size + 50), "size"),
        ("/api/v1/audit/consistency?from=0".to_string(), "from"),
        ("/api/v1/audit/consistency".to_string(), "from"),
        ("/api/v1/audit/consistency?from=5&to=4".to_string(), "from"),
        (format!("/api/v1/audit/consistency?from=1&to={}", new_size + 50), "to"),
    ] {
        let problem = app.get(&path, Some(token)).await.assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], field, "{path}");
    }
}

fn tipline_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("TIPLINE_DATA_DIR", app.db.dir.path())
        .env_remove("TIPLINE_AUDIT_SIGNING_KEY")
        .output()
        .expect("run tipline")
}

/// Replaces the whole trail by `entries` (their chain recomputed) and lets the sequencer rebuild
/// the tree from them: what someone who can drop the triggers can do. The result is consistent
/// in itself; only a checkpoint kept from before can tell.
fn rewrite_history(app: &TestApp, mut entries: Vec<tipline::audit::Entry>) {
    use diesel::RunQueryDsl;
    use tipline::db::schema::audit_log;
    let mut conn = app.db.connect();
    let mut prev = audit::GENESIS_HASH.to_string();
    for (i, entry) in entries.iter_mut().enumerate() {
        entry.seq = i as i64 + 1;
        entry.prev_hash = prev;
        entry.hash = entry.compute_hash();
        prev = entry.hash.clone();
    }
    let clear = match app.backend() {
        Backend::Postgres => {
            "ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE audit_tree DISABLE TRIGGER USER; \
             DELETE FROM audit_log; DELETE FROM audit_tree;"
        }
        Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_tree_no_delete; \
             DELETE FROM audit_log; DELETE FROM audit_tree;"
        }
    };
    conn.batch_execute(clear).expect("clear the trail");
    match &mut conn {
        db::DbConn::Pg(c) => diesel::insert_into(audit_log::table).values(&entries).execute(c),
        db::DbConn::Sqlite(c) => diesel::insert_into(audit_log::table).values(&entries).execute(c),
    }
    .expect("write the forged trail");
    audit::sequence_all(&mut conn).expect("rebuild the tree");
    let result = audit::verify(&mut conn).expect("verify");
    assert!(result.ok, "the forgery is consistent in itself: {result:?}");
}

/// A checkpoint saved with the command line catches the trail cut short, rewritten (and
/// re-hashed, tree and all) or reordered afterwards: `attack` turns the whole trail into the
/// forged one.
async fn a_saved_checkpoint_catches(app: TestApp, attack: fn(&mut Vec<tipline::audit::Entry>)) {
    let mut conn = app.db.connect();
    for n in 0..8 {
        record_one(&mut conn, n);
    }
    let saved = tipline_cli(&app, &["audit", "checkpoint"]);
    assert_eq!(saved.status.code(), Some(0), "{}", String::from_utf8_lossy(&saved.stderr));
    let file = app.db.dir.path().join("kept-checkpoint");
    std::fs::write(&file, &saved.stdout).expect("keep the checkpoint");
    let path = file.to_str().expect("a UTF-8 path");
    let key = tipline_cli(&app, &["audit", "public-key"]);
    let verifier = audit::checkpoint::NoteVerifier::parse(&String::from_utf8_lossy(&key.stdout)).expect("key");
    assert!(verifier.open(&String::from_utf8_lossy(&saved.stdout)).is_ok(), "signed by the key printed");

    // Positive control: the trail grows, and still extends the checkpoint.
    record_one(&mut conn, 8);
    let ok = tipline_cli(&app, &["audit", "verify", "--checkpoint", path]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("extends the checkpoint"));

    audit::sequence_all(&mut conn).expect("sequence");
    let mut trail: Vec<tipline::audit::Entry> = {
        use diesel::{QueryDsl, RunQueryDsl, SelectableHelper};
        use tipline::db::schema::audit_log;
        let conn = &mut conn;
        tipline::db_run!(conn: {
            audit_log::table.select(tipline::audit::Entry::as_select()).order(audit_log::seq).load(conn)
        })
        .expect("the whole trail")
    };
    assert!(trail.len() >= 10, "{}", trail.len());
    attack(&mut trail);
    rewrite_history(&app, trail);

    let caught = tipline_cli(&app, &["audit", "verify", "--checkpoint", path]);
    let stdout = String::from_utf8_lossy(&caught.stdout);
    assert_eq!(caught.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("does not extend the checkpoint"), "{stdout}");
}

async fn a_saved_checkpoint_catches_truncation(app: TestApp) {
    a_saved_checkpoint_catches(app, |trail| trail.truncate(4)).await;
}

async fn a_saved_checkpoint_catches_a_rewritten_entry(app: TestApp) {
    a_saved_checkpoint_catches(app, |trail| trail[2].details = r#"{"n":99}"#.into()).await;
}

async fn a_saved_checkpoint_catches_reordering(app: TestApp) {
    a_saved_checkpoint_catches(app, |trail| trail.swap(1, 2)).await;
}

both_backends!(
    proofs_check_out_with_an_independent_implementation,
    a_saved_checkpoint_catches_truncation,
    a_saved_checkpoint_catches_a_rewritten_entry,
    a_saved_checkpoint_catches_reordering,
);
