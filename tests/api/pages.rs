//! SPEC §16: the reporter's website, through HTTP like every other route: a form post makes a
//! report through the API's own intake, errors keep what was typed, cross-site posts are
//! refused, every language renders with its `lang` and `dir`, and the follow-up page reads and
//! writes the thread by receipt.

use actix_web::test::TestRequest;
use serde_json::json;

use crate::both_backends;
use crate::common::{Response, TestApp};

const LANGS: [(&str, &str); 5] = [("en", "ltr"), ("zh-Hans", "ltr"), ("zh-Hant", "ltr"), ("ug", "rtl"), ("bo", "ltr")];
const PAGE_CSP: &str = "default-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// The value of the first hidden or text input named `name` in a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

fn text_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    Some(rest[start..start + rest[start..].find('<')?].to_string())
}

async fn form_token(app: &TestApp, path: &str) -> String {
    let page = app.get(path, None).await;
    page.assert_status(200);
    input_value(&page.text(), "form_token").expect("a form token")
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

async fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
    let mut req = TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header(("host", "localhost:8080"));
    for header in headers {
        req = req.insert_header(*header);
    }
    app.send(req.set_payload(encode(pairs))).await
}

const SAME_ORIGIN: [(&str, &str); 2] = [("sec-fetch-site", "same-origin"), ("origin", "null")];

fn assert_page(res: &Response, lang: &str, dir: &str) {
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(res.header("content-security-policy"), Some(PAGE_CSP));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    assert!(res.header("set-cookie").is_none(), "no cookies");
    let text = res.text();
    assert!(text.contains(&format!("<html lang=\"{lang}\" dir=\"{dir}\">")), "{lang}: {text}");
    assert!(!text.contains("<script"), "no scripts");
}

/// A whole report through the form, in `lang`; answers the receipt page.
async fn report_through_page(app: &TestApp, lang: &str, narrative: &str) -> Response {
    let token = form_token(app, &format!("/{lang}/report")).await;
    let res = post_form(
        app,
        &format!("/{lang}/report"),
        &[
            ("form_token", &token),
            ("kind", "incident"),
            ("tactics", "threat_to_family"),
            ("tactics", "summons_or_visit"),
            ("narrative", narrative),
            ("occurred_on", "2025-03-01"),
            ("occurred_on_precision", "month"),
            ("country", "nl"),
            ("city", "Rotterdam"),
            ("location_detail", ""),
            ("station_id", ""),
            ("station_hint", ""),
            ("contact", "signal: +31 6 0000 0000"),
            ("consent.contact_ok", "true"),
            ("on_behalf_of_other", "true"),
            ("language", "zh-Hans"),
        ],
        &SAME_ORIGIN,
    )
    .await;
    res.assert_status(200);
    res
}

async fn a_form_post_creates_a_report(app: TestApp) {
    let res = report_through_page(&app, "zh-Hans", "他们威胁我的家人。\r\n第二行").await;
    assert_page(&res, "zh-Hans", "ltr");
    let html = res.text();
    let reference = text_of(&html, "reference").expect("reference shown");
    let receipt = text_of(&html, "receipt").expect("receipt shown");
    assert!(reference.starts_with("TL-") && receipt.len() == 20, "{reference} {receipt}");
    assert_eq!(app.count("reports"), 1);
    let entry = app.audit_one("report.create");
    assert_eq!(entry.actor_role.as_deref(), Some("anonymous"));
    assert_eq!(TestApp::details(&entry), json!({"kind": "incident", "source": "anonymous"}));

    // The same report the API would have stored: read back through the API by its receipt.
    let token = app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await.assert_json(200);
    assert_eq!(token["reference"], reference.as_str());
    let id = token["report_id"].as_str().unwrap();
    let view = app.get(&format!("/api/v1/reports/{id}"), token["access_token"].as_str()).await.assert_json(200);
    assert_eq!(view["narrative"], "他们威胁我的家人。\n第二行");
    assert_eq!(view["tactics"], json!(["summons_or_visit", "threat_to_family"]));
    assert_eq!(view["country"], "NL");
    assert_eq!(view["consent"], json!({"contact_ok": true, "share_with_authorities": false}));
    assert_eq!(view["on_behalf_of_other"], true);
    assert_eq!(view["occurred_on_precision"], "month");
    assert_eq!(view["location_detail"], json!(null));
}

async fn a_validation_error_keeps_every_typed_value(app: TestApp) {
    let token = form_token(&app, "/ug/report").await;
    let res = post_form(
        &app,
        "/ug/report",
        &[
            ("form_token", &token),
            ("kind", "incident"),
            ("narrative", "ئائىلەمگە تەھدىت <b>قىلدى</b>"),
            ("country", "XX"),
            ("city", "Ürümqi"),
            ("contact", "my signal"),
            ("consent.share_with_authorities", "true"),
        ],
        &SAME_ORIGIN,
    )
    .await;
    res.assert_status(422);
    assert_page(&res, "ug", "rtl");
    let html = res.text();
    assert!(html.contains("ئائىلەمگە تەھدىت &#60;b&#62;قىلدى&#60;/b&#62;") || html.contains("&lt;b&gt;"), "{html}");
    assert!(!html.contains("<b>"), "typed text is escaped");
    assert_eq!(input_value(&html, "city").as_deref(), Some("Ürümqi"));
    assert_eq!(input_value(&html, "country").as_deref(), Some("XX"));
    assert!(html.contains(">my signal</textarea>"));
    assert!(html.contains("id=\"kind-incident\" value=\"incident\" checked"));
    assert!(html.contains("id=\"f-consent-share_with_authorities\" value=\"true\" checked"));
    assert!(html.contains("id=\"e-tactics\"") && html.contains("id=\"e-country\""), "errors beside their fields");
    assert!(!html.contains("id=\"e-narrative\""), "only the fields at fault");
    assert!(html.contains("aria-invalid=\"true\"") && html.contains("role=\"alert\""));
    assert!(html.contains(&tipline::pages::i18n::text(tipline::pages::Lang::Ug, "errors-title")));
    assert_eq!(app.count("reports"), 0);
    assert!(app.audit("report.create").is_empty());
}

async fn cross_site_posts_are_refused(app: TestApp) {
    let token = form_token(&app, "/en/report").await;
    let body = [
        ("form_token", token.as_str()),
        ("kind", "station"),
        ("narrative", "a station on the corner"),
        ("country", "NL"),
    ];
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "https://attacker.example")],
    ] {
        let res = post_form(&app, "/en/report", &body, &headers).await;
        res.assert_status(403);
        assert_page(&res, "en", "ltr");
        assert!(!res.text().contains("a station on the corner"));
    }
    let res = post_form(
        &app,
        "/en/follow-up",
        &[("form_token", &token), ("receipt", "x")],
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    res.assert_status(403);
    // Without a good token the form comes back, typed values kept, and nothing is stored.
    for bad in ["", "1.00", token.replace('.', ".0").as_str()] {
        let mut fields = body.to_vec();
        fields[0] = ("form_token", bad);
        let res = post_form(&app, "/en/report", &fields, &SAME_ORIGIN).await;
        res.assert_status(403);
        assert!(res.text().contains("a station on the corner"));
    }
    let res = app
        .send(
            TestRequest::post()
                .uri("/en/report")
                .insert_header(("content-type", "text/plain"))
                .set_payload(encode(&body)),
        )
        .await;
    res.assert_problem(415);
    assert_eq!(app.count("reports"), 0);
    assert!(app.audit("report.create").is_empty());
    // The same post from the site itself goes through.
    post_form(&app, "/en/report", &body, &[("origin", "http://localhost:8080")]).await.assert_status(200);
    assert_eq!(app.count("reports"), 1);
}

async fn every_language_renders_every_page(app: TestApp) {
    for (lang, dir) in LANGS {
        for page in ["report", "follow-up", "about"] {
            let res = app.get(&format!("/{lang}/{page}"), None).await;
            res.assert_status(200);
            assert_page(&res, lang, dir);
            let html = res.text();
            for (other, _) in LANGS {
                assert!(html.contains(&format!("href=\"/{other}/{page}\" lang=\"{other}\"")), "{lang} {page}");
            }
            assert!(html.contains("Test Tipline") && html.contains("help@example.org"), "the organisation is named");
            assert!(!html.contains("http://") && !html.contains("https://"), "nothing from elsewhere");
        }
        let form = app.get(&format!("/{lang}/report"), None).await.text();
        for tactic in tipline::reports::Tactic::ALL {
            assert!(form.contains(&format!("name=\"tactics\" id=\"tactic-{}\"", tactic.as_str())), "{lang}");
        }
        for field in ["narrative", "occurred_on", "occurred_on_precision", "country", "city", "location_detail"] {
            assert!(form.contains(&format!("<label for=\"f-{field}\"")), "{lang}: {field} labelled");
        }
        for field in ["station_id", "station_hint", "contact", "language"] {
            assert!(form.contains(&format!("name=\"{field}\"")), "{lang}: {field}");
        }
    }
    let index = app.get("/", None).await;
    index.assert_status(200);
    assert_eq!(index.header("content-security-policy"), Some(PAGE_CSP));
    for (lang, dir) in LANGS {
        assert!(index.text().contains(&format!("lang=\"{lang}\" dir=\"{dir}\"><a href=\"/{lang}/report\"")));
    }
    let css = app.get("/assets/style.css", None).await;
    css.assert_status(200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(!css.text().contains("url("), "no fonts or images from anywhere");
    let missing = app.get("/fr/report", None).await;
    missing.assert_status(404);
    assert_eq!(missing.header("content-type"), Some("text/html; charset=utf-8"));
    // The API keeps its own, stricter policy.
    let api = app.get("/healthz", None).await;
    assert_eq!(api.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
}

async fn the_follow_up_page_shows_the_thread_and_takes_a_reply(app: TestApp) {
    let html = report_through_page(&app, "bo", "they called me in").await.text();
    let receipt = text_of(&html, "receipt").unwrap();
    let exchanged = app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await.assert_json(200);
    let id = exchanged["report_id"].as_str().unwrap().to_string();
    let worker = app.caseworker().await;
    app.post(&format!("/api/v1/reports/{id}/messages"), Some(&worker.access_token), json!({"body": "We read it."}))
        .await
        .assert_status(201);

    let token = form_token(&app, "/bo/follow-up").await;
    let wrong = post_form(
        &app,
        "/bo/follow-up",
        &[("form_token", &token), ("receipt", "0000-0000-0000-0000-0000")],
        &SAME_ORIGIN,
    )
    .await;
    wrong.assert_status(401);
    assert_page(&wrong, "bo", "ltr");

    // Typed as a person might: lower case, in groups.
    let typed = receipt.to_lowercase();
    let res = post_form(&app, "/bo/follow-up", &[("form_token", &token), ("receipt", &typed)], &SAME_ORIGIN).await;
    res.assert_status(200);
    assert_page(&res, "bo", "ltr");
    let page = res.text();
    assert!(page.contains("they called me in") && page.contains("We read it."), "{page}");
    assert!(page.contains(&tipline::pages::i18n::text(tipline::pages::Lang::Bo, "status-new")));
    assert_eq!(input_value(&page, "receipt").as_deref(), Some(typed.as_str()), "the reply form carries the receipt");
    let reads = app.audit("report.read");
    assert_eq!(reads.last().and_then(|e| e.target_id.clone()), Some(id.clone()));

    let token = input_value(&page, "form_token").unwrap();
    let empty =
        post_form(&app, "/bo/follow-up", &[("form_token", &token), ("receipt", &typed), ("body", "  ")], &SAME_ORIGIN)
            .await;
    empty.assert_status(422);
    assert!(empty.text().contains("id=\"e-body\""));
    let reply = post_form(
        &app,
        "/bo/follow-up",
        &[("form_token", &token), ("receipt", &typed), ("body", "ང་ཚོའི་ནང་མི་ལ་ thank you")],
        &SAME_ORIGIN,
    )
    .await;
    reply.assert_status(200);
    assert!(reply.text().contains("ང་ཚོའི་ནང་མི་ལ་ thank you"));
    let entry = app.audit("message.create").pop().expect("the reply is audited");
    assert_eq!(entry.target_id.as_deref(), Some(id.as_str()));
    assert_eq!(entry.actor_role.as_deref(), Some("anonymous"));
    assert_eq!(TestApp::details(&entry)["author"], "reporter");
    let thread = app.get(&format!("/api/v1/reports/{id}/messages"), Some(&worker.access_token)).await.assert_json(200);
    let bodies: Vec<&str> = thread["items"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["We read it.", "ང་ཚོའི་ནང་མི་ལ་ thank you"]);
    // The receipt never appears in a URL or cookie: no redirect, no Set-Cookie.
    assert!(reply.header("location").is_none() && reply.header("set-cookie").is_none());
}

both_backends!(
    a_form_post_creates_a_report,
    a_validation_error_keeps_every_typed_value,
    cross_site_posts_are_refused,
    every_language_renders_every_page,
    the_follow_up_page_shows_the_thread_and_takes_a_reply,
);
