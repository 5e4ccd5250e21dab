//! SPEC §12.3: cluster-wide token buckets in the database (submission, registration, failed
//! receipt exchanges), expired login-throttle rows, and the bounded password-hashing queue.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{Response, TestApp, PASSWORD};
use tipline::limits::{self, Bucket};
use tipline::users::Role;

fn incident(narrative: &str) -> Value {
    json!({"kind": "incident", "tactics": ["surveillance"], "narrative": narrative, "country": "DE"})
}

/// Asserts a 429 from a bucket at `rate` a minute: problem body, and `Retry-After` of the seconds
/// one token takes to come back (at most; a moment may have passed).
#[track_caller]
fn assert_limited(res: &Response, rate: u32) {
    let problem = res.assert_problem(429);
    assert_eq!(problem["detail"], "Too many attempts. Try again after Retry-After seconds.");
    let retry: u64 = res.header("retry-after").expect("Retry-After").parse().expect("seconds");
    let per_token = 60 / u64::from(rate);
    assert!((1..=per_token).contains(&retry), "Retry-After {retry}, one token every {per_token} s");
}

/// Moves a bucket's clock back by `secs`, as if that much time had passed since it was last used.
fn age(app: &TestApp, bucket: Bucket, secs: i64) {
    use diesel::prelude::*;
    use tipline::db::schema::rate_buckets;
    let mut pooled = app.conn();
    let conn: &mut tipline::db::DbConn = &mut pooled;
    let level = limits::store::level(conn, bucket).unwrap().expect("the bucket has a row");
    let earlier = level.updated_at - chrono::Duration::seconds(secs);
    let name = bucket.as_str();
    let n = tipline::db_run!(conn: {
        diesel::update(rate_buckets::table.find(name)).set(rate_buckets::updated_at.eq(earlier)).execute(conn)
    })
    .unwrap();
    assert_eq!(n, 1);
}

async fn submissions_beyond_the_rate_get_429_and_the_bucket_refills(app: TestApp) {
    let app = app.restart(|c| c.rates.submit = Some(3)).await;
    for n in 0..3 {
        app.post("/api/v1/reports", None, incident(&format!("report {n}"))).await.assert_status(201);
    }
    let refused = app.post("/api/v1/reports", None, incident("one too many")).await;
    assert_limited(&refused, 3);
    assert_limited(&app.post("/api/v1/reports", None, incident("and another")).await, 3);
    assert_eq!(app.count("reports"), 3, "a refused submission stores nothing");
    assert_eq!(app.audit("report.create").len(), 3);
    // Only the first refusal of a dry spell is audited, so a flood does not grow the trail.
    let entry = app.audit_one("rate.limited");
    assert_eq!((entry.actor_id, entry.actor_role.as_deref(), entry.target_id.as_deref()), (None, None, None));
    assert_eq!(TestApp::details(&entry), json!({"bucket": "submit", "rate_per_minute": 3}));

    // 3 a minute: a token every 20 s.
    age(&app, Bucket::Submit, 21);
    app.post("/api/v1/reports", None, incident("after the wait")).await.assert_status(201);
    assert_limited(&app.post("/api/v1/reports", None, incident("again too soon")).await, 3);
    assert_eq!(app.audit("rate.limited").len(), 2, "a new dry spell is audited once more");

    // Switched off, nothing is counted.
    let app = app.restart(|c| c.rates.submit = None).await;
    for n in 0..5 {
        app.post("/api/v1/reports", None, incident(&format!("unlimited {n}"))).await.assert_status(201);
    }
}

async fn registrations_beyond_the_rate_get_429_before_hashing(app: TestApp) {
    let app = app.restart(|c| c.rates.register = Some(2)).await;
    let body = json!({"password": "a long enough passphrase"});
    app.post("/api/v1/auth/register", None, body.clone()).await.assert_status(201);
    app.post("/api/v1/auth/register", None, body.clone()).await.assert_status(201);
    assert_limited(&app.post("/api/v1/auth/register", None, body.clone()).await, 2);
    assert_eq!(app.count("users"), 2);
    assert_eq!(app.audit("user.create").len(), 2);
    assert_eq!(TestApp::details(&app.audit_one("rate.limited")), json!({"bucket": "register", "rate_per_minute": 2}));
    // An invalid request takes no token: it is refused before the bucket.
    app.post("/api/v1/auth/register", None, json!({"password": "short"})).await.assert_problem(422);
    age(&app, Bucket::Register, 31);
    app.post("/api/v1/auth/register", None, body).await.assert_status(201);
}

async fn failed_receipt_exchanges_are_limited_globally_and_leave_no_rows(app: TestApp) {
    let app = app.restart(|c| c.rates.receipt_failures = Some(4)).await;
    let created = app.post("/api/v1/reports", None, incident("x")).await;
    created.assert_status(201);
    let receipt = created.json()["receipt"].as_str().unwrap().to_string();
    // Successes give their token back: they never use up the bucket.
    for _ in 0..6 {
        app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await.assert_status(200);
    }
    // Four failures, each for a different receipt: the bucket is global, not per receipt.
    for n in 0..4 {
        let wrong = format!("{n:0>20}");
        app.post("/api/v1/auth/receipt", None, json!({"receipt": wrong})).await.assert_problem(401);
    }
    assert_limited(&app.post("/api/v1/auth/receipt", None, json!({"receipt": "ZZZZZZZZZZZZZZZZZZZZ"})).await, 4);
    // While the bucket is empty the right receipt is refused too, or guessing could go on.
    assert_limited(&app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await, 4);
    assert_eq!(app.audit("auth.receipt_failed").len(), 4);
    assert_eq!(app.audit("auth.receipt").len(), 6);
    assert_eq!(
        TestApp::details(&app.audit_one("rate.limited")),
        json!({"bucket": "receipt_failures", "rate_per_minute": 4})
    );
    assert_eq!(app.count("login_throttle"), 0, "no row per receipt tried");
    age(&app, Bucket::ReceiptFailures, 16);
    app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await.assert_status(200);
}

async fn a_bucket_is_shared_by_every_instance_on_the_database(app: TestApp) {
    let app = app.restart(|c| c.rates.submit = Some(4)).await;
    let other = app.another_instance(|c| c.rates.submit = Some(4)).await;
    app.post("/api/v1/reports", None, incident("a1")).await.assert_status(201);
    other.post("/api/v1/reports", None, incident("b1")).await.assert_status(201);
    app.post("/api/v1/reports", None, incident("a2")).await.assert_status(201);
    other.post("/api/v1/reports", None, incident("b2")).await.assert_status(201);
    assert_limited(&other.post("/api/v1/reports", None, incident("b3")).await, 4);
    assert_limited(&app.post("/api/v1/reports", None, incident("a3")).await, 4);
    assert_eq!(app.count("reports"), 4);
    // Concurrent takers on both instances never overdraw the bucket.
    age(&app, Bucket::Submit, 30);
    let sent = (0..8).map(|n| {
        let body = incident(&format!("race {n}"));
        let (app, other) = (&app, &other);
        async move {
            if n % 2 == 0 {
                app.post("/api/v1/reports", None, body).await
            } else {
                other.post("/api/v1/reports", None, body).await
            }
        }
    });
    let statuses: Vec<u16> = join_all(sent).await.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "30 s at 4 a minute is two tokens: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 6, "{statuses:?}");
    assert_eq!(app.count("reports"), 6);
}

async fn expired_login_throttle_rows_are_removed(app: TestApp) {
    for n in 0..3 {
        let email = format!("nobody-{n}@example.org");
        app.post("/api/v1/auth/login", None, json!({"email": email, "password": "a wrong passphrase"}))
            .await
            .assert_problem(401);
    }
    let (_, locked) = app.insert_user(Role::Caseworker);
    for _ in 0..5 {
        app.login(&locked, "a wrong passphrase").await.assert_problem(401);
    }
    assert_eq!(app.count("login_throttle"), 4);
    // A row whose window is long over but whose lock still holds for 5 minutes.
    let now = tipline::db::now();
    let held = tipline::auth::ThrottleRow {
        key_hash: "held".into(),
        failures: 5,
        window_started_at: now - chrono::Duration::minutes(20),
        locked_until: Some(now + chrono::Duration::minutes(5)),
    };
    tipline::auth::store::put_throttle(&mut app.conn(), &held).unwrap();
    let sweep = |at| tipline::auth::store::sweep_throttle(&mut app.conn(), at).unwrap();
    assert_eq!(sweep(now), 0, "nothing has expired yet");
    assert_eq!(sweep(now + chrono::Duration::minutes(10)), 1, "the held lock is over, the other windows are not");
    assert_eq!(app.count("login_throttle"), 4);
    assert_eq!(sweep(now + chrono::Duration::minutes(16)), 4);
    assert_eq!(app.count("login_throttle"), 0);
    app.login(&locked, PASSWORD).await.assert_status(200);
}

/// The app again with one hashing thread and one place in the common lane of its queue.
async fn one_hashing_thread(app: TestApp) -> TestApp {
    app.restart(|c| {
        c.hash_threads = Some(1);
        c.hash_queue = Some(1);
    })
    .await
}

async fn a_full_hashing_queue_answers_503_at_once(app: TestApp) {
    // One hashing thread and one waiting job: of many logins at once, most find the queue full.
    let app = one_hashing_thread(app).await;
    let logins = (0..24).map(|n| {
        let body = json!({"email": format!("flood-{n}@example.org"), "password": "a wrong passphrase"});
        app.post("/api/v1/auth/login", None, body)
    });
    let responses = join_all(logins).await;
    let busy: Vec<&Response> = responses.iter().filter(|r| r.status.as_u16() == 503).collect();
    let refused = responses.iter().filter(|r| r.status.as_u16() == 401).count();
    assert!(!busy.is_empty() && refused > 0, "503s: {}, 401s: {refused}", busy.len());
    assert_eq!(busy.len() + refused, 24);
    for res in &busy {
        let problem = res.assert_problem(503);
        assert_eq!(problem["detail"], "The service is busy. Try again after Retry-After seconds.");
        assert_eq!(res.header("retry-after"), Some("1"));
    }
    // Only the logins that were hashed were decided and audited.
    assert_eq!(app.audit("auth.login_failed").len(), refused);
    assert_eq!(app.count("login_throttle") as usize, refused);

    let registrations =
        (0..24).map(|_| app.post("/api/v1/auth/register", None, json!({"password": "a long enough passphrase"})));
    let responses = join_all(registrations).await;
    let busy = responses.iter().filter(|r| r.status.as_u16() == 503).count();
    let created = responses.iter().filter(|r| r.status.as_u16() == 201).count();
    assert!(busy > 0 && created > 0 && busy + created == 24, "503s: {busy}, 201s: {created}");
    assert_eq!(app.count("users") as usize, created);
    // Once the flood is over, logins are served again.
    let (_, email) = app.insert_user(Role::Caseworker);
    app.login(&email, PASSWORD).await.assert_status(200);
}

/// SPEC §12.2, §12.3: the owner of an account, signing in from a device that has signed in
/// before, gets past a flood that fills the hashing queue; a device token of another account
/// does not earn the way past.
async fn a_known_device_gets_past_a_full_hashing_queue(app: TestApp) {
    let app = one_hashing_thread(app).await;
    let owner = app.caseworker().await;
    let other = app.caseworker().await;
    // Eight strangers send logins for new emails, each with the other account's device token,
    // one after another until the owner has been answered, so the common lane stays full.
    let answered = std::cell::Cell::new(false);
    let sent = std::cell::Cell::new(0);
    let stranger = |device_token: String| {
        let (answered, sent, app) = (&answered, &sent, &app);
        async move {
            let mut busy = 0;
            while !answered.get() {
                sent.set(sent.get() + 1);
                let email = format!("flood-{}@example.org", sent.get());
                let body = json!({"email": email, "password": "a wrong passphrase", "device_token": device_token});
                busy += usize::from(app.post("/api/v1/auth/login", None, body).await.status.as_u16() == 503);
            }
            busy
        }
    };
    let owners_login = async {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        let res = app.login_with(&owner.email, PASSWORD, json!({"device_token": owner.device_token})).await;
        answered.set(true);
        res
    };
    let strangers = join_all((0..8).map(|_| stranger(other.device_token.clone())));
    let (busy, owners) = futures_util::future::join(strangers, owners_login).await;
    assert!(
        busy.iter().sum::<usize>() > 0,
        "the strangers fill the queue, even with a device token of another account"
    );
    owners.assert_status(200);
    let entry = app.audit("auth.login").pop().unwrap();
    assert_eq!(entry.target_id, Some(owner.id.to_string()));
    assert_eq!(TestApp::details(&entry)["known_device"], json!(true));
}

both_backends!(
    submissions_beyond_the_rate_get_429_and_the_bucket_refills,
    registrations_beyond_the_rate_get_429_before_hashing,
    failed_receipt_exchanges_are_limited_globally_and_leave_no_rows,
    a_bucket_is_shared_by_every_instance_on_the_database,
    expired_login_throttle_rows_are_removed,
    a_full_hashing_queue_answers_503_at_once,
    a_known_device_gets_past_a_full_hashing_queue,
);
