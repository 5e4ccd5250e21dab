//! SPEC §3: registration, login, throttling, tokens, refresh rotation, logout.

use actix_web::test::TestRequest;
use futures_util::future::join_all;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{TestApp, PASSWORD};
use tipline::users::{store, Role};

async fn register_creates_a_reporter(app: TestApp) {
    let res = app
        .post("/api/v1/auth/register", None, json!({"password": "a long enough passphrase", "display_name": "梅"}))
        .await;
    res.assert_status(201);
    let created = res.json();
    let account = created["account"].as_str().expect("an account name").to_string();
    assert!(account.starts_with("TA-") && account.len() == 19, "{account}");
    assert_eq!(created["display_name"], "梅");
    assert!(created.get("email").is_none() && created.get("password_hash").is_none());

    // Only a keyed hash of the name is stored, and the audit entry names no account.
    let stored: Vec<String> = {
        use diesel::prelude::*;
        use tipline::db::schema::users;
        let mut pooled = app.conn();
        let conn: &mut tipline::db::DbConn = &mut pooled;
        tipline::db_run!(conn: { users::table.select(users::login).load(conn) }).unwrap()
    };
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("hmac:") && !stored[0].contains(&account[3..]), "{stored:?}");
    let entry = app.audit_one("user.create");
    assert_eq!(
        (entry.actor_id, entry.actor_role.as_deref(), entry.target_id.as_deref()),
        (None, Some("reporter"), None)
    );
    assert_eq!(TestApp::details(&entry), json!({"role": "reporter", "via": "register"}));

    // The name signs in however it is typed: without the prefix, in lower case, with spaces.
    let typed = account[3..]
        .to_lowercase()
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ");
    let login =
        app.post("/api/v1/auth/login", None, json!({"account": typed, "password": "a long enough passphrase"})).await;
    login.assert_status(200);
    let token = login.json()["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/me", Some(&token)).await;
    me.assert_status(200);
    let me = me.json();
    assert_eq!(
        (me["id"].clone(), me["role"].clone(), me["display_name"].clone()),
        (created["id"].clone(), json!("reporter"), json!("梅"))
    );
    assert!(me.get("email").is_none() && me.get("account").is_none(), "{me}");
    let login_entry = app.audit_one("auth.login");
    assert_eq!((login_entry.actor_id, login_entry.target_id), (None, None), "a reporter's login names no account");

    // A second registration is just another account: nothing to collide with, nothing to learn.
    let again = app.post("/api/v1/auth/register", None, json!({"password": "another long passphrase"})).await;
    again.assert_status(201);
    assert_ne!(again.json()["account"], created["account"]);
    assert_eq!(again.json()["display_name"], "Reporter");
}

async fn register_reports_every_invalid_field(app: TestApp) {
    let res = app
        .post("/api/v1/auth/register", None, json!({"email": "ana@example.org", "password": "short", "extra": 1}))
        .await;
    let body = res.assert_problem(422);
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["password", ""], "an email is not asked for: it is an unknown field");
    assert!(app.audit("user.create").is_empty());
}

async fn register_can_be_switched_off(app: TestApp) {
    let closed = app.restart(|c| c.allow_registration = false).await;
    let res = closed.post("/api/v1/auth/register", None, json!({"password": PASSWORD, "display_name": "A"})).await;
    res.assert_problem(403);
    assert!(closed.audit("user.create").is_empty());
}

async fn unknown_email_and_wrong_password_look_the_same(app: TestApp) {
    let (user_id, email) = app.insert_user(Role::Caseworker);
    let (_, account) = app.insert_user(Role::Reporter);
    let unknown = app.login("nobody@example.org", PASSWORD).await;
    let wrong = app.login(&email, "not the right password").await;
    let unknown_account = app.login("TA-0000000000000000", PASSWORD).await;
    let wrong_for_account = app.login(&account, "not the right password").await;
    // A name with a NUL (which PostgreSQL's text cannot hold) is just another unknown name.
    let with_nul = app.login("nul\u{0}@example.org", PASSWORD).await;
    for res in [&unknown, &wrong, &unknown_account, &wrong_for_account, &with_nul] {
        res.assert_problem(401);
        assert_eq!(res.body, unknown.body);
    }
    let both =
        app.post("/api/v1/auth/login", None, json!({"email": email, "account": account, "password": PASSWORD})).await;
    both.assert_problem(422);

    let failed = app.audit("auth.login_failed");
    assert_eq!(failed.len(), 5);
    assert_eq!(failed[0].target_id, None);
    assert_eq!(TestApp::details(&failed[0])["reason"], "unknown_account");
    assert_eq!(failed[1].target_id, Some(user_id.to_string()), "a staff account is named");
    assert_eq!(TestApp::details(&failed[1])["reason"], "bad_password");
    assert_eq!(TestApp::details(&failed[3])["reason"], "bad_password");
    assert_eq!(failed[3].target_id, None, "a reporter account is not");
    for entry in &failed {
        assert!(!entry.details.contains("example.org") && !entry.details.contains("TA-"), "no login name in the trail");
        assert_eq!(entry.actor_id, None);
    }
}

/// SPEC §12.2, §12.3: an admin clears a lock that someone else's guesses put on an account, and
/// an over-long password is refused before any hashing.
async fn an_admin_unlocks_an_account_locked_by_guesses(app: TestApp) {
    let admin = app.admin().await;
    let (id, email) = app.insert_user(Role::Caseworker);
    for _ in 0..5 {
        app.login(&email, "a stranger's guess").await.assert_problem(401);
    }
    app.login(&email, PASSWORD).await.assert_problem(429);
    let path = format!("/api/v1/users/{id}/unlock");
    app.post(&path, Some(&admin.access_token), json!({})).await.assert_status(204);
    app.login(&email, PASSWORD).await.assert_status(200);
    let entry = app.audit_one("user.unlock");
    assert_eq!((entry.actor_id, entry.target_id.clone()), (Some(admin.id), Some(id.to_string())));
    assert_eq!(TestApp::details(&entry), json!({"was_locked": true}));
    // A reporter account, which has no email, is unlocked the same way.
    let (reporter, account) = app.insert_user(Role::Reporter);
    for _ in 0..5 {
        app.login(&account, "a stranger's guess").await.assert_problem(401);
    }
    app.login(&account, PASSWORD).await.assert_problem(429);
    app.post(&format!("/api/v1/users/{reporter}/unlock"), Some(&admin.access_token), json!({}))
        .await
        .assert_status(204);
    app.login(&account, PASSWORD).await.assert_status(200);
    app.post(&format!("/api/v1/users/{}/unlock", uuid::Uuid::new_v4()), Some(&admin.access_token), json!({}))
        .await
        .assert_problem(404);

    let long = "x".repeat(129);
    let res = app.login(&email, &long).await;
    assert_eq!(res.assert_problem(422)["errors"][0]["field"], "password");
}

async fn login_succeeds_and_is_audited(app: TestApp) {
    let (user_id, email) = app.insert_user(Role::Caseworker);
    let res = app.login(&email.to_uppercase(), PASSWORD).await;
    res.assert_status(200);
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let entry = app.audit_one("auth.login");
    assert_eq!(entry.actor_id, Some(user_id));
    assert_eq!(entry.actor_role.as_deref(), Some("caseworker"));
}

async fn five_failures_throttle_even_the_right_password(app: TestApp) {
    let (_, email) = app.insert_user(Role::Reporter);
    for _ in 0..5 {
        app.login(&email, "not the right password").await.assert_problem(401);
    }
    let res = app.login(&email, PASSWORD).await;
    res.assert_problem(429);
    let retry: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(app.audit("auth.throttled").len(), 1);
    assert_eq!(app.audit("auth.login").len(), 0);

    // An unknown email is throttled the same way, so throttling does not reveal accounts.
    for _ in 0..5 {
        app.login("ghost@example.org", "not the right password").await.assert_problem(401);
    }
    app.login("ghost@example.org", "not the right password").await.assert_problem(429);
}

async fn a_success_resets_the_failure_count(app: TestApp) {
    let (_, email) = app.insert_user(Role::Reporter);
    for _ in 0..4 {
        app.login(&email, "not the right password").await.assert_problem(401);
    }
    app.login(&email, PASSWORD).await.assert_status(200);
    for _ in 0..4 {
        app.login(&email, "not the right password").await.assert_problem(401);
    }
    app.login(&email, PASSWORD).await.assert_status(200);
}

/// A login reads the account, its TOTP row and the throttle row of the key it is counted under
/// in one statement before it hashes: the row of that key and no other, and none for a name no
/// account has (the handler then reads the key's row on its own, as the ghost above shows).
async fn the_read_before_hashing_brings_the_throttle_row_of_its_key(app: TestApp) {
    use tipline::auth::store;
    let (user, email) = app.insert_user(Role::Caseworker);
    let mut conn = app.db.connect();
    let logins = [email.clone()];
    let now = tipline::db::now();
    let locked = tipline::auth::ThrottleRow {
        key_hash: "a1".repeat(32),
        failures: 5,
        window_started_at: now,
        locked_until: Some(now + chrono::Duration::minutes(15)),
    };
    store::put_throttle(&mut conn, &locked).unwrap();

    let found = store::find_for_login(&mut conn, &logins, &locked.key_hash).unwrap().expect("the account");
    assert_eq!(found.user.id, user);
    assert!(found.totp.is_some_and(|t| t.confirmed_at.is_some()), "with its confirmed second factor");
    assert_eq!(found.throttle, Some(locked.clone()));

    let other = store::find_for_login(&mut conn, &logins, &"b2".repeat(32)).unwrap().expect("the account");
    assert_eq!((other.user.id, other.throttle), (user, None), "another key's row is not brought");
    let ghost = ["ghost@example.org".to_string()];
    assert!(store::find_for_login(&mut conn, &ghost, &locked.key_hash).unwrap().is_none());
}

/// Failures lock an account, successes do not: logins in flight at once with the right password
/// all succeed.
async fn parallel_logins_with_the_right_password_all_succeed(app: TestApp) {
    let (_, email) = app.insert_user(Role::Reporter);
    let logins = join_all((0..8).map(|_| app.login(&email, PASSWORD))).await;
    for res in &logins {
        res.assert_status(200);
    }
    assert_eq!(app.audit("auth.login").len(), 8);
}

/// Guesses sent all at once learn no more than guesses sent one by one: five outcomes, then 429
/// for every other, whatever the order they finish hashing in.
async fn a_burst_of_guesses_learns_five_outcomes(app: TestApp) {
    // The whole burst waits for hashing here (the bounded queue has its own test, `limits.rs`).
    let app = app.restart(|c| c.hash_queue = Some(16)).await;
    let (_, email) = app.insert_user(Role::Reporter);
    let guesses = join_all((0..12).map(|_| app.login(&email, "not the right password"))).await;
    let statuses: Vec<u16> = guesses.iter().map(|res| res.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 7, "{statuses:?}");
    assert_eq!(app.audit("auth.login_failed").len(), 5);
    assert_eq!(app.audit("auth.throttled").len(), 7);
    app.login(&email, PASSWORD).await.assert_problem(429);
}

async fn a_weak_stored_hash_is_upgraded_on_login(app: TestApp) {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let (user_id, email) = app.insert_user(Role::Reporter);
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    store::set_password_hash(&mut app.conn(), user_id, &weak).unwrap();
    app.login(&email, PASSWORD).await.assert_status(200);
    let stored = store::find(&mut app.conn(), user_id).unwrap().unwrap().password_hash;
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert_eq!(TestApp::details(&app.audit_one("auth.login"))["rehashed"], true);
}

fn signing_key(app: &TestApp) -> Vec<u8> {
    tipline::crypto::derive_key(app.config.jwt_secret.expose(), "jwt-hs256").to_vec()
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn forged_and_malformed_tokens_are_401(app: TestApp) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let user = app.admin().await;
    let key = signing_key(&app);
    let valid = claims_of(&user.access_token);
    app.get("/api/v1/me", Some(&user.access_token)).await.assert_status(200);

    let sign = |claims: &Value, alg: Algorithm, key: &[u8]| {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
    };
    let without = |name: &str| {
        let mut c = valid.clone();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let now = chrono::Utc::now().timestamp();
    let mut expired = valid.clone();
    expired["iat"] = json!(now - 7200);
    expired["nbf"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&valid).unwrap());
    let alg_none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#));

    let mut cases: Vec<(&str, String)> = vec![
        ("alg none", alg_none),
        ("HS512", sign(&valid, Algorithm::HS512, &key)),
        ("HS384", sign(&valid, Algorithm::HS384, &key)),
        ("bad signature", sign(&valid, Algorithm::HS256, b"some-other-key-some-other-key-00")),
        ("expired", sign(&expired, Algorithm::HS256, &key)),
        ("refresh token as access token", user.refresh_token.clone()),
        ("garbage", "not.a.token".into()),
    ];
    for claim in ["iss", "aud", "sub", "exp", "nbf", "iat", "sid", "role", "jti", "typ"] {
        cases.push((claim, sign(&without(claim), Algorithm::HS256, &key)));
    }
    let mut wrong_iss = valid.clone();
    wrong_iss["iss"] = json!("someone-else");
    cases.push(("wrong iss", sign(&wrong_iss, Algorithm::HS256, &key)));
    let mut wrong_aud = valid.clone();
    wrong_aud["aud"] = json!("another-api");
    cases.push(("wrong aud", sign(&wrong_aud, Algorithm::HS256, &key)));
    let mut wrong_typ = valid.clone();
    wrong_typ["typ"] = json!("receipt");
    cases.push(("wrong typ", sign(&wrong_typ, Algorithm::HS256, &key)));

    for (name, token) in cases {
        let res = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(res.status.as_u16(), 401, "{name}: {}", res.text());
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
    }
    // A correctly re-signed copy of the real claims still works: the cases above failed for
    // the reason they name, not because the key was wrong.
    let resigned = sign(&valid, Algorithm::HS256, &key);
    app.get("/api/v1/me", Some(&resigned)).await.assert_status(200);

    let basic = TestRequest::get().uri("/api/v1/me").insert_header(("Authorization", "Basic YTpi"));
    app.send(basic).await.assert_problem(401);
    app.get("/api/v1/me", None).await.assert_problem(401);
}

async fn refresh_rotates_and_reuse_revokes_the_session(app: TestApp) {
    let user = app.reporter().await;
    let first = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await;
    first.assert_status(200);
    let pair = first.json();
    let (access2, refresh2) = (pair["access_token"].as_str().unwrap(), pair["refresh_token"].as_str().unwrap());
    assert_ne!(refresh2, user.refresh_token);
    app.get("/api/v1/me", Some(access2)).await.assert_status(200);
    assert_eq!(app.audit("auth.refresh").len(), 1);

    // The first refresh token again: replay. The whole session ends at once.
    let replay = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await;
    replay.assert_problem(401);
    app.get("/api/v1/me", Some(access2)).await.assert_problem(401);
    app.get("/api/v1/me", Some(&user.access_token)).await.assert_problem(401);
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh2})).await.assert_problem(401);

    // A reporter's session is not named in the trail; a caseworker's is (below).
    let reuse = app.audit_one("auth.refresh_reuse");
    assert_eq!((reuse.target_type.as_deref(), reuse.actor_id), (None, None));
    assert!(!reuse.details.contains(&user.id.to_string()));
    let worker = app.caseworker().await;
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": worker.refresh_token})).await.assert_status(200);
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": worker.refresh_token})).await.assert_problem(401);
    let reuse = app.audit("auth.refresh_reuse").pop().unwrap();
    assert_eq!(reuse.target_type.as_deref(), Some("session"));
    assert_eq!(TestApp::details(&reuse)["user_id"], json!(worker.id));

    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": "never-issued"})).await.assert_problem(401);
    app.post("/api/v1/auth/refresh", None, json!({})).await.assert_problem(422);
}

async fn logout_ends_the_session_at_once(app: TestApp) {
    let user = app.caseworker().await;
    let other = app.login(&user.email, PASSWORD).await.assert_json(200);
    let res = app.post("/api/v1/auth/logout", Some(&user.access_token), json!({})).await;
    res.assert_status(204);
    app.get("/api/v1/me", Some(&user.access_token)).await.assert_problem(401);
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await.assert_problem(401);
    // Only that session: the user's other session lives on.
    app.get("/api/v1/me", other["access_token"].as_str()).await.assert_status(200);
    let entry = app.audit_one("auth.logout");
    assert_eq!(entry.actor_id, Some(user.id));
    app.post("/api/v1/auth/logout", None, json!({})).await.assert_problem(401);
}

both_backends!(
    an_admin_unlocks_an_account_locked_by_guesses,
    register_creates_a_reporter,
    register_reports_every_invalid_field,
    register_can_be_switched_off,
    unknown_email_and_wrong_password_look_the_same,
    login_succeeds_and_is_audited,
    five_failures_throttle_even_the_right_password,
    a_success_resets_the_failure_count,
    the_read_before_hashing_brings_the_throttle_row_of_its_key,
    parallel_logins_with_the_right_password_all_succeed,
    a_burst_of_guesses_learns_five_outcomes,
    a_weak_stored_hash_is_upgraded_on_login,
    forged_and_malformed_tokens_are_401,
    refresh_rotates_and_reuse_revokes_the_session,
    logout_ends_the_session_at_once,
);
