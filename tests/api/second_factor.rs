//! SPEC §12.1 and §12.2: staff sign in with a TOTP second factor; every login failure is the
//! same 401; one code signs in once; strangers' guesses cannot lock out the owner's device.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{Response, TestApp, PASSWORD};
use tipline::auth::totp;
use tipline::db::Id;
use tipline::users::Role;

fn step_now() -> i64 {
    totp::step_at(chrono::Utc::now().timestamp())
}

/// Enrols through the API with an enrolment or access token; returns the secret and the
/// recovery codes.
async fn enrol(app: &TestApp, token: &str) -> (Vec<u8>, Vec<String>) {
    let res = app.post("/api/v1/me/totp", Some(token), json!({}));
    let res = res.await;
    res.assert_status(200);
    let body = res.json();
    let secret = totp::base32_decode(body["secret"].as_str().unwrap()).unwrap();
    assert!(body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Tipline%3A"));
    let code = totp::code_at(&secret, step_now());
    let res = app.post("/api/v1/me/totp/confirm", Some(token), json!({"code": code})).await;
    res.assert_status(200);
    let codes: Vec<String> =
        res.json()["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    (secret, codes)
}

fn problem(res: &Response, status: u16) -> Value {
    res.assert_problem(status)
}

async fn staff_enrol_at_first_sign_in_then_need_a_code(app: TestApp) {
    let (id, email) = app.insert_user_without_second_factor(Role::Admin);
    let login = app.login(&email, PASSWORD).await;
    login.assert_status(200);
    let body = login.json();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    let enrolment = body["enrolment_token"].as_str().expect("an enrolment token").to_string();

    // The enrolment token opens /me and /me/totp only.
    app.get("/api/v1/me", Some(&enrolment)).await.assert_status(200);
    for path in ["/api/v1/users", "/api/v1/audit", "/api/v1/reports"] {
        let refused = problem(&app.get(path, Some(&enrolment)).await, 403);
        assert_eq!(refused["type"], "urn:tipline:problem:enrolment-required", "{path}");
    }
    let refused = app.post("/api/v1/auth/logout", Some(&enrolment), json!({})).await;
    assert_eq!(problem(&refused, 403)["type"], "urn:tipline:problem:enrolment-required");

    // A wrong code does not confirm; the right one answers ten recovery codes, once.
    let res = app.post("/api/v1/me/totp", Some(&enrolment), json!({})).await;
    res.assert_status(200);
    let secret = totp::base32_decode(res.json()["secret"].as_str().unwrap()).unwrap();
    let wrong = totp::code_at(&secret, step_now() + 5);
    let res = app.post("/api/v1/me/totp/confirm", Some(&enrolment), json!({"code": wrong})).await;
    assert_eq!(problem(&res, 422)["errors"][0]["field"], "code");
    assert!(!res.text().contains(&wrong));
    let used = totp::code_at(&secret, step_now());
    let res = app.post("/api/v1/me/totp/confirm", Some(&enrolment), json!({"code": used})).await;
    res.assert_status(200);
    let recovery: Vec<String> =
        res.json()["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(recovery.len(), 10);
    assert!(recovery.iter().all(|c| totp::normalize_recovery_code(c).is_some()));
    let again = app.post("/api/v1/me/totp/confirm", Some(&enrolment), json!({"code": used})).await;
    problem(&again, 409);
    problem(&app.post("/api/v1/me/totp", Some(&enrolment), json!({})).await, 409);

    let enrol_entry = app.audit_one("auth.totp_enrol");
    assert_eq!((enrol_entry.actor_id, enrol_entry.target_id.clone()), (Some(id), Some(id.to_string())));
    let confirm = app.audit_one("auth.totp_confirm");
    assert_eq!(confirm.actor_id, Some(id));
    assert_eq!(TestApp::details(&confirm), json!({"recovery_codes": 10}));

    // Neither the secret nor a recovery code is stored in the clear.
    let raw = app.raw_database();
    assert!(!crate::common::contains(&raw, &totp::base32(&secret)));
    assert!(!crate::common::contains(&raw, &recovery[0].replace('-', "")));
    assert!(!crate::common::contains(&raw, &recovery[0]));

    // From now on the password alone is not enough, and a code signs in once.
    app.remember_authenticator(id, &email, secret.clone());
    problem(&app.login_with(&email, PASSWORD, json!({"totp": null})).await, 401);
    let ok = app.login(&email, PASSWORD).await;
    ok.assert_status(200);
    let ok = ok.json();
    assert!(ok["access_token"].is_string() && ok["device_token"].is_string(), "{ok}");
    let last = tipline::auth::store::totp_of(&mut app.conn(), id).unwrap().unwrap().last_step;
    let replayed = totp::code_at(&secret, last);
    problem(&app.login_with(&email, PASSWORD, json!({"totp": replayed})).await, 401);
    let failed = app.audit("auth.login_failed");
    assert_eq!(
        failed.iter().map(|e| TestApp::details(e)["reason"].clone()).collect::<Vec<_>>(),
        vec![json!("second_factor"), json!("second_factor")]
    );

    // A recovery code works once, however it is typed.
    let typed = recovery[3].to_lowercase().replace('-', " ");
    app.login_with(&email, PASSWORD, json!({"recovery_code": typed})).await.assert_status(200);
    let used_entry = app.audit_one("auth.recovery_code_used");
    assert_eq!(used_entry.actor_id, Some(id));
    problem(&app.login_with(&email, PASSWORD, json!({"recovery_code": recovery[3]})).await, 401);

    // The trail never holds a code.
    for entry in app.audit("auth.login").iter().chain(app.audit("auth.login_failed").iter()) {
        for code in [&used, &replayed, &recovery[3]] {
            assert!(!entry.details.contains(code.as_str()), "{entry:?}");
        }
    }
}

async fn every_login_failure_is_the_same_401(app: TestApp) {
    let (id, email) = app.insert_user(Role::Caseworker);
    let (_, secret) = app.authenticator(&email).unwrap();
    let current = app.next_code(id, &secret).await;
    let attempts = [
        json!({"email": email, "password": "not the right password", "totp": current}),
        json!({"email": email, "password": PASSWORD}),
        json!({"email": email, "password": PASSWORD, "totp": "000000x"}),
        json!({"email": email, "password": PASSWORD, "totp": totp::code_at(&secret, step_now() + 7)}),
        json!({"email": email, "password": PASSWORD, "recovery_code": "0000-0000-0000-0000"}),
        json!({"email": "nobody@example.org", "password": PASSWORD, "totp": current}),
    ];
    let mut bodies = Vec::new();
    for body in attempts {
        let res = app.post("/api/v1/auth/login", None, body).await;
        bodies.push(problem(&res, 401));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert_eq!(app.audit("auth.login_failed").len(), 6);
}

/// Several logins with one code at once: exactly one signs in (SPEC §12.1). The same for one
/// recovery code. On PostgreSQL the requests run on separate connections at the same time.
async fn one_code_signs_in_once_however_many_send_it(app: TestApp) {
    for round in 0..3 {
        let (id, email) = app.insert_user(Role::Caseworker);
        let (_, secret) = app.authenticator(&email).unwrap();
        let code = app.next_code(id, &secret).await;
        let body = json!({"email": email, "password": PASSWORD, "totp": code});
        let requests = (0..4).map(|_| app.post("/api/v1/auth/login", None, body.clone()));
        let statuses: Vec<u16> = join_all(requests).await.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "round {round}: {statuses:?}");
    }
    let (_, email) = app.insert_user_without_second_factor(Role::Reporter);
    let login = app.login(&email, PASSWORD).await.json();
    let (_, recovery) = enrol(&app, login["access_token"].as_str().unwrap()).await;
    let body = json!({"account": email, "password": PASSWORD, "recovery_code": recovery[0]});
    let requests = (0..4).map(|_| app.post("/api/v1/auth/login", None, body.clone()));
    let statuses: Vec<u16> = join_all(requests).await.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(app.audit("auth.recovery_code_used").len(), 1);
}

async fn reporters_may_remove_their_factor_staff_may_not(app: TestApp) {
    let worker = app.caseworker().await;
    let (_, secret) = app.authenticator(&worker.email).unwrap();
    let code = app.next_code(worker.id, &secret).await;
    let refused = app.delete("/api/v1/me/totp", Some(&worker.access_token), json!({"code": code})).await;
    problem(&refused, 403);
    assert!(app.audit("auth.totp_remove").is_empty());

    let (id, account) = app.insert_user_without_second_factor(Role::Reporter);
    let token = app.login(&account, PASSWORD).await.json()["access_token"].as_str().unwrap().to_string();
    let (secret, _) = enrol(&app, &token).await;
    app.remember_authenticator(id, &account, secret.clone());
    problem(&app.login_with(&account, PASSWORD, json!({"totp": null})).await, 401);
    app.login(&account, PASSWORD).await.assert_status(200);
    let wrong = app.delete("/api/v1/me/totp", Some(&token), json!({"code": "123"})).await;
    problem(&wrong, 422);
    let code = app.next_code(id, &secret).await;
    app.delete("/api/v1/me/totp", Some(&token), json!({"code": code})).await.assert_status(204);
    let removed = app.audit_one("auth.totp_remove");
    // A reporter's own entries name the role only (SPEC §14.3).
    assert_eq!((removed.actor_id, removed.actor_role.as_deref(), removed.target_id), (None, Some("reporter"), None));
    app.login_with(&account, PASSWORD, json!({"totp": null})).await.assert_status(200);
    problem(&app.delete("/api/v1/me/totp", Some(&token), json!({"code": code})).await, 409);
}

async fn an_admin_reset_ends_sessions_and_the_user_enrols_again(app: TestApp) {
    let admin = app.admin().await;
    let worker = app.caseworker().await;
    let path = format!("/api/v1/users/{}/totp/reset", worker.id);
    problem(&app.post(&path, Some(&worker.access_token), json!({})).await, 403);
    app.post(&path, Some(&admin.access_token), json!({})).await.assert_status(204);
    let entry = app.audit_one("auth.totp_reset");
    assert_eq!((entry.actor_id, entry.target_id.clone()), (Some(admin.id), Some(worker.id.to_string())));
    assert_eq!(TestApp::details(&entry), json!({"had_second_factor": true, "sessions_revoked": 1}));
    problem(&app.get("/api/v1/me", Some(&worker.access_token)).await, 401);
    let again = app.login_with(&worker.email, PASSWORD, json!({"totp": null})).await;
    again.assert_status(200);
    let enrolment = again.json()["enrolment_token"].as_str().expect("enrol again").to_string();
    let (secret, _) = enrol(&app, &enrolment).await;
    app.remember_authenticator(worker.id, &worker.email, secret);
    app.login(&worker.email, PASSWORD).await.assert_status(200);
    problem(
        &app.post(&format!("/api/v1/users/{}/totp/reset", Id::new()), Some(&admin.access_token), json!({})).await,
        404,
    );
}

/// SPEC §12.2: fifty wrong guesses from strangers lock strangers out; the owner, with the
/// device token of an earlier sign-in, gets in at once. Another account's device token does
/// not count as a known device.
async fn strangers_guesses_do_not_lock_out_the_owners_device(app: TestApp) {
    let owner = app.caseworker().await;
    let other = app.caseworker().await;
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let res = app.login_with(&owner.email, "a stranger's guess at it", json!({"totp": "123456"})).await;
        statuses.push(res.status.as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 45);
    problem(&app.login(&owner.email, PASSWORD).await, 429);
    problem(&app.login_with(&owner.email, PASSWORD, json!({"device_token": other.device_token})).await, 429);
    let ok = app.login_with(&owner.email, PASSWORD, json!({"device_token": owner.device_token})).await;
    ok.assert_status(200);
    assert_eq!(ok.json()["device_token"], json!(owner.device_token), "the known device keeps its token");
    let entry = app.audit("auth.login").pop().unwrap();
    assert_eq!(TestApp::details(&entry)["known_device"], json!(true));

    // Guesses sent with a device token count for that device only.
    for _ in 0..5 {
        app.login_with(&other.email, "wrong again", json!({"device_token": other.device_token})).await;
    }
    problem(&app.login_with(&other.email, PASSWORD, json!({"device_token": other.device_token})).await, 429);
    app.login(&other.email, PASSWORD).await.assert_status(200);
}

async fn without_the_requirement_staff_sign_in_with_a_password(app: TestApp) {
    let app = app.restart(|config| config.require_staff_2fa = false).await;
    let (_, email) = app.insert_user_without_second_factor(Role::Caseworker);
    let res = app.login(&email, PASSWORD).await;
    res.assert_status(200);
    let token = res.json()["access_token"].as_str().unwrap().to_string();
    let (secret, _) = enrol(&app, &token).await;
    let code = totp::code_at(&secret, step_now() + 1);
    app.delete("/api/v1/me/totp", Some(&token), json!({"code": code})).await.assert_status(204);
    app.audit_one("auth.totp_remove");
}

/// A staff session begun while no second factor was required ends at its next refresh once
/// one is.
async fn sessions_without_a_second_factor_end_when_it_becomes_required(app: TestApp) {
    let app = app.restart(|config| config.require_staff_2fa = false).await;
    let (_, email) = app.insert_user_without_second_factor(Role::Admin);
    let pair = app.login(&email, PASSWORD).await.json();
    let app = app.restart(|config| config.require_staff_2fa = true).await;
    let refreshed = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": pair["refresh_token"]})).await;
    problem(&refreshed, 401);
    problem(&app.get("/api/v1/me", pair["access_token"].as_str()).await, 401);
    let again = app.login(&email, PASSWORD).await.json();
    assert!(again["enrolment_token"].is_string(), "{again}");
}

both_backends!(
    sessions_without_a_second_factor_end_when_it_becomes_required,
    staff_enrol_at_first_sign_in_then_need_a_code,
    every_login_failure_is_the_same_401,
    one_code_signs_in_once_however_many_send_it,
    reporters_may_remove_their_factor_staff_may_not,
    an_admin_reset_ends_sessions_and_the_user_enrols_again,
    strangers_guesses_do_not_lock_out_the_owners_device,
    without_the_requirement_staff_sign_in_with_a_password,
    an_enrolment_token_opens_no_other_route,
    a_step_is_taken_only_for_the_secret_that_was_read,
);

/// A login reads the account's TOTP row before it hashes the password and takes the code's
/// step after, in its write transaction. A secret reset and enrolled anew in between (an admin
/// reset, the owner enrolling a new phone) must not take a code of the old secret.
async fn a_step_is_taken_only_for_the_secret_that_was_read(app: TestApp) {
    use tipline::auth::store::{self, TotpRow};
    let (user, _) = app.insert_user_without_second_factor(Role::Caseworker);
    let mut conn = app.db.connect();
    let pending = |secret: &str| TotpRow {
        user_id: user,
        secret_sealed: secret.into(),
        confirmed_at: None,
        last_step: 0,
        created_at: tipline::db::now(),
        master_key_id: String::new(),
    };
    let read = |conn: &mut tipline::db::DbConn| store::totp_of(conn, user).unwrap().unwrap();
    store::put_pending_totp(&mut conn, &pending("first secret")).unwrap();
    let first = read(&mut conn);
    assert!(store::accept_step(&mut conn, &first, 10, Some(tipline::db::now())).unwrap());
    let before_hashing = read(&mut conn);

    store::remove_second_factor(&mut conn, user).unwrap();
    store::put_pending_totp(&mut conn, &pending("second secret")).unwrap();
    let second = read(&mut conn);
    assert!(store::accept_step(&mut conn, &second, 11, Some(tipline::db::now())).unwrap());

    assert!(!store::accept_step(&mut conn, &before_hashing, 12, None).unwrap(), "the old secret's code");
    let now = read(&mut conn);
    assert_eq!((now.secret_sealed.as_str(), now.last_step), ("second secret", 11), "nothing was written");
    assert!(store::accept_step(&mut conn, &now, 12, None).unwrap());
    assert!(!store::accept_step(&mut conn, &now, 12, None).unwrap(), "a step is taken once");
}

/// SPEC §12.1: an enrolment token opens `/me` and the three `/me/totp` routes, and every other
/// route that reads a token answers 403 with the enrolment problem type.
async fn an_enrolment_token_opens_no_other_route(app: TestApp) {
    let (_, email) = app.insert_user_without_second_factor(Role::Caseworker);
    let enrolment = app.login(&email, PASSWORD).await.json()["enrolment_token"].as_str().unwrap().to_string();
    // Routes that read no token at all.
    let open = [
        "/healthz",
        "/readyz",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/receipt",
        // The reporter website.
        "/",
        "/assets/style.css",
        "/{lang}/report",
        "/{lang}/follow-up",
        "/{lang}/about",
    ];
    let enrolling = ["/api/v1/me", "/api/v1/me/totp", "/api/v1/me/totp/confirm"];
    let mut checked = 0;
    for (method, pattern) in tipline::routes::table() {
        if open.contains(&pattern) || enrolling.contains(&pattern) {
            continue;
        }
        let path = pattern
            .replace("{id}", &Id::new().to_string())
            .replace("{report_id}", &Id::new().to_string())
            .replace("{station_id}", &Id::new().to_string());
        let req = actix_web::test::TestRequest::default()
            .method(method.clone())
            .uri(&path)
            .insert_header(("Authorization", format!("Bearer {enrolment}")))
            .set_json(json!({}));
        let res = app.send(req).await;
        let body = problem(&res, 403);
        assert_eq!(body["type"], "urn:tipline:problem:enrolment-required", "{method} {pattern}");
        checked += 1;
    }
    assert!(checked >= 30, "{checked}");
    app.get("/api/v1/me", Some(&enrolment)).await.assert_status(200);
}
