//! SPEC §7: the registry, its public and staff views, edits, and the CSV import.

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{Client, TestApp};

async fn create(app: &TestApp, who: &Client, body: Value) -> Value {
    let res = app.post("/api/v1/stations", Some(&who.access_token), body).await;
    res.assert_status(201);
    res.json()
}

fn station(name: &str, city: &str, country: &str, visibility: &str) -> Value {
    json!({
        "name": name, "city": city, "country": country, "operating_bureau": "Fuzhou PSB",
        "status": "reported", "visibility": visibility, "address": "Main Street 1",
        "notes": "INTERNAL-NOTE", "first_reported_on": "2022-09-12",
        "sources": [{"title": "Safeguard Defenders: 110 Overseas", "url": null, "published_on": "2022-09-12"}],
        "latitude": 51.92, "longitude": 4.48
    })
}

async fn the_public_sees_public_entries_without_notes(app: TestApp) {
    let worker = app.caseworker().await;
    let public = create(&app, &worker, station("Fuzhou PSB station, Rotterdam", "Rotterdam", "NL", "public")).await;
    let internal = create(&app, &worker, station("Suspected site, Amsterdam", "Amsterdam", "NL", "internal")).await;
    let reporter = app.reporter().await;
    for token in [None, Some(reporter.access_token.as_str())] {
        let list = app.get("/api/v1/stations", token).await;
        list.assert_status(200);
        let list = list.json();
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], public["id"]);
        assert!(items[0].get("notes").is_none() && items[0].get("visibility").is_none());
        assert_eq!(items[0]["sources"][0]["published_on"], "2022-09-12");
        let hidden = app.get(&format!("/api/v1/stations/{}", internal["id"].as_str().unwrap()), token).await;
        hidden.assert_problem(404);
        let shown =
            app.get(&format!("/api/v1/stations/{}", public["id"].as_str().unwrap()), token).await.assert_json(200);
        assert_eq!(shown["id"], public["id"]);
        assert!(shown.get("notes").is_none() && shown.get("cases").is_none() && shown.get("report_count").is_none());
        // Asking for internal entries changes nothing for the public.
        let asked = app.get("/api/v1/stations?visibility=internal", token).await.assert_json(200);
        assert_eq!(asked["items"].as_array().unwrap().len(), 1);
        let wrong = app.get("/api/v1/stations?visibility=secret", token).await;
        assert_eq!(wrong.assert_problem(422)["errors"][0]["field"], "visibility");
    }
    let staff = app.get("/api/v1/stations", Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(staff["items"].as_array().unwrap().len(), 2);
    assert_eq!(staff["items"][0]["notes"], "INTERNAL-NOTE");
    let detail =
        app.get(&format!("/api/v1/stations/{}", internal["id"].as_str().unwrap()), Some(&worker.access_token)).await;
    assert_eq!(detail.header("etag"), Some("\"1\""));
    let detail = detail.json();
    assert_eq!(detail["report_count"], 0);
    assert_eq!(detail["cases"], json!([]));
}

async fn filters_and_case_insensitive_search(app: TestApp) {
    let admin = app.admin().await;
    create(&app, &admin, station("Fuzhou PSB station, Rotterdam", "Rotterdam", "NL", "public")).await;
    let mut madrid = station("Qingtian station, Madrid", "Madrid", "ES", "public");
    madrid["operating_bureau"] = json!("unknown");
    create(&app, &admin, madrid).await;
    let mut closed = station("Wenzhou station, Prato", "Prato", "IT", "public");
    closed["status"] = json!("closed");
    closed["operating_bureau"] = json!("Wenzhou PSB");
    create(&app, &admin, closed).await;
    let names = |v: Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
    };
    let app = &app;
    let get = |q: &'static str| async move { app.get(&format!("/api/v1/stations?{q}"), None).await.assert_json(200) };
    assert_eq!(names(get("q=MADRID").await), vec!["Qingtian station, Madrid"]);
    assert_eq!(names(get("q=psb").await), vec!["Fuzhou PSB station, Rotterdam", "Wenzhou station, Prato"]);
    assert_eq!(names(get("q=100%25").await), Vec::<String>::new(), "% is literal");
    assert_eq!(names(get("country=es").await), vec!["Qingtian station, Madrid"]);
    assert_eq!(names(get("city=rotterdam").await), vec!["Fuzhou PSB station, Rotterdam"]);
    assert_eq!(names(get("bureau=wenzhou%20psb").await), vec!["Wenzhou station, Prato"]);
    assert_eq!(names(get("status=closed").await), vec!["Wenzhou station, Prato"]);
    let page = get("limit=2").await;
    let next = page["next_cursor"].as_str().unwrap().to_string();
    let rest = app.get(&format!("/api/v1/stations?limit=2&cursor={next}"), None).await.assert_json(200);
    assert_eq!(names(rest), vec!["Wenzhou station, Prato"]);
    let bad = app.get("/api/v1/stations?country=XX&status=gone&limit=900", None).await;
    assert_eq!(bad.assert_problem(422)["errors"].as_array().unwrap().len(), 3);
    // A NUL, which PostgreSQL's text cannot hold, is refused before any query.
    let nul = app.get("/api/v1/stations?q=a%00b", None).await.assert_problem(422);
    assert_eq!(nul["errors"][0]["field"], "q");
}

async fn staff_create_and_edit_with_if_match(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let reporter = app.reporter().await;
    let created = create(&app, &worker, json!({"name": "New site", "country": "de"})).await;
    assert_eq!((created["visibility"].as_str(), created["status"].as_str()), (Some("internal"), Some("reported")));
    let entry = app.audit_one("station.create");
    assert_eq!(entry.actor_id, Some(worker.id));
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/stations/{id}");
    let patch = |who: &Client, version: Option<i32>, body: Value| {
        let mut req = TestRequest::patch()
            .uri(&path)
            .insert_header(("Authorization", format!("Bearer {}", who.access_token)))
            .set_json(body);
        if let Some(v) = version {
            req = req.insert_header(("If-Match", format!("\"{v}\"")));
        }
        app.send(req)
    };
    patch(&admin, None, json!({"status": "confirmed"})).await.assert_problem(428);
    let res = patch(&admin, Some(1), json!({"status": "confirmed", "visibility": "public", "city": "Berlin"})).await;
    res.assert_status(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    patch(&worker, Some(1), json!({"status": "closed"})).await.assert_problem(412);
    let update = app.audit_one("station.update");
    assert_eq!(update.actor_id, Some(admin.id));
    assert_eq!(TestApp::details(&update)["fields"], json!(["city", "status", "visibility"]));
    patch(&worker, Some(2), json!({"latitude": 123})).await.assert_problem(422);
    patch(&worker, Some(2), json!({})).await.assert_problem(422);

    app.post("/api/v1/stations", Some(&reporter.access_token), json!({"name": "x", "country": "NL"}))
        .await
        .assert_problem(403);
    app.post("/api/v1/stations", None, json!({"name": "x", "country": "NL"})).await.assert_problem(401);
    patch(&reporter, Some(2), json!({"status": "closed"})).await.assert_problem(403);
    app.post("/api/v1/stations", Some(&worker.access_token), json!({"name": "New site", "country": "DE"}))
        .await
        .assert_problem(409);
    let invalid = app
        .post(
            "/api/v1/stations",
            Some(&worker.access_token),
            json!({"country": "NL", "sources": [
                {"url": "javascript:x"},
                {"title": "t", "url": "http://["},
                {"title": "t", "url": "https://reporter:secret@example.org/"}
            ]}),
        )
        .await;
    let fields: Vec<String> = invalid.assert_problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, vec!["name", "sources[0].title", "sources[0].url", "sources[1].url", "sources[2].url"]);
    // A valid source URL is kept in the WHATWG serialization.
    let sourced = json!({"name": "Sourced site", "country": "DE", "sources": [
        {"title": "A report", "url": "https://News.Example.ORG", "published_on": null}
    ]});
    let created = create(&app, &worker, sourced).await;
    assert_eq!(created["sources"][0]["url"], "https://news.example.org/");
}

fn import(app: &TestApp, file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["stations", "import"])
        .arg(file)
        .env("DATABASE_URL", &app.db.url)
        .env("TIPLINE_DATA_DIR", app.db.dir.path())
        .output()
        .expect("run tipline")
}

async fn the_seed_file_imports_once(app: TestApp) {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/stations.csv");
    let rows = std::fs::read_to_string(&seed).unwrap().lines().count() as i64 - 1;
    let first = import(&app, &seed);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains(&format!("{rows} created")));
    assert_eq!(app.count("stations"), rows);
    let second = import(&app, &seed);
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("nothing changed"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(app.count("stations"), rows);
    let entries = app.audit("stations.import");
    assert_eq!(entries.len(), 2);
    assert_eq!(TestApp::details(&entries[0])["created"], rows);
    assert_eq!(TestApp::details(&entries[1])["unchanged"], rows);
    assert_eq!(entries[1].actor_role.as_deref(), Some("system"));

    // The public registry now lists them, with their sources.
    let page = app.get("/api/v1/stations?q=new%20york", None).await.assert_json(200);
    assert!(!page["items"].as_array().unwrap().is_empty());
    assert!(!page["items"][0]["sources"].as_array().unwrap().is_empty());
    assert!(page["items"][0].get("notes").is_none());
}

async fn a_bad_row_imports_nothing(app: TestApp) {
    let file = app.db.dir.path().join("bad.csv");
    std::fs::write(
        &file,
        "name,city,country,address,operating_bureau,status,visibility,sources,first_reported_on,notes\n\
         Good,Rotterdam,NL,,unknown,reported,public,[],,\n\
         Bad,,XX,,unknown,reported,public,[],2022-02-30,\n",
    )
    .unwrap();
    let out = import(&app, &file);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3: country") && stderr.contains("line 3: first_reported_on"), "{stderr}");
    assert!(stderr.contains("nothing was imported"));
    assert_eq!(app.count("stations"), 0);
    assert!(app.audit("stations.import").is_empty());
}

both_backends!(
    the_public_sees_public_entries_without_notes,
    filters_and_case_insensitive_search,
    staff_create_and_edit_with_if_match,
    the_seed_file_imports_once,
    a_bad_row_imports_nothing,
);
