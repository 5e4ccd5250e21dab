//! SPEC §10: the code and api-spec/openapi.yaml say the same thing: the same routes and the
//! responses the document describes (checked on every response in `TestApp::send`, see
//! `spec.rs`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::TestApp;
use crate::spec::{self, document, resolve};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn operations() -> impl Iterator<Item = (String, &'static Value)> {
    document()["paths"].as_object().expect("paths").iter().flat_map(|(path, item)| {
        METHODS.iter().filter_map(move |method| Some((format!("{} {path}", method.to_uppercase()), item.get(*method)?)))
    })
}

#[test]
fn every_route_is_in_the_spec_and_every_operation_is_routed() {
    assert!(document()["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
    let documented: BTreeSet<String> = operations().map(|(name, _)| name).collect();
    let routed: BTreeSet<String> =
        tipline::routes::table().into_iter().map(|(method, path)| format!("{method} {path}")).collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routes missing from api-spec/openapi.yaml: {missing:?}");
    assert!(extra.is_empty(), "operations in the spec that the app does not serve: {extra:?}");
}

#[test]
fn every_operation_documents_its_errors() {
    for (name, op) in operations() {
        let codes: BTreeSet<&String> =
            op["responses"].as_object().unwrap_or_else(|| panic!("{name}: no responses")).keys().collect();
        assert!(codes.iter().any(|c| c.starts_with('2')), "{name}: no success response");
        let public = op.get("security").and_then(Value::as_array).is_some_and(|s| s.is_empty());
        if !public {
            assert!(codes.contains(&"401".to_string()), "{name}: 401 not documented");
        }
        if op.get("requestBody").is_some() {
            for code in ["400", "413", "415", "422"] {
                assert!(codes.contains(&code.to_string()), "{name}: {code} not documented");
            }
        }
    }
}

// --- Responses are closed: a field the document lacks is an error --------------------------

/// Every object schema a response can hold states what it admits beyond its `properties`:
/// `additionalProperties: false` (or `unevaluatedProperties: false`) for the API's own objects,
/// `additionalProperties: true` only where the document leaves an object open on purpose.
#[test]
fn every_response_object_is_closed_or_deliberately_open() {
    let mut seen = BTreeSet::new();
    let mut unstated = Vec::new();
    for (name, op) in operations() {
        for (status, response) in op["responses"].as_object().expect("responses") {
            for (media_type, content) in resolve(response)["content"].as_object().into_iter().flatten() {
                let place = format!("{name} {status} {media_type}");
                walk(&content["schema"], &place, &mut seen, &mut unstated);
            }
        }
    }
    assert!(unstated.is_empty(), "response objects that do not say whether they admit other fields: {unstated:#?}");
}

fn walk(schema: &'static Value, place: &str, seen: &mut BTreeSet<&'static str>, unstated: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        if seen.insert(reference) {
            walk(resolve(schema), reference, seen, unstated);
        }
    }
    let Some(map) = schema.as_object() else { return };
    let is_object = match &map.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => map.contains_key("properties"),
    };
    if is_object && !map.contains_key("additionalProperties") && !map.contains_key("unevaluatedProperties") {
        unstated.push(place.to_string());
    }
    for (keyword, value) in map {
        match keyword.as_str() {
            "properties" => {
                for (field, sub) in value.as_object().into_iter().flatten() {
                    walk(sub, &format!("{place}.{field}"), seen, unstated);
                }
            }
            "items" | "additionalProperties" | "unevaluatedProperties" => {
                walk(value, &format!("{place}[]"), seen, unstated)
            }
            "allOf" | "anyOf" | "oneOf" => {
                for sub in value.as_array().into_iter().flatten() {
                    walk(sub, place, seen, unstated);
                }
            }
            _ => {}
        }
    }
}

/// The check of `TestApp::send` catches a field the code would add to a response and the
/// document does not list, at the top level and inside nested objects; the same body without
/// it passes.
#[actix_web::test]
async fn a_response_field_missing_from_the_spec_fails() {
    let app = TestApp::sqlite().await;
    let worker = app.caseworker().await;
    let me = app.get("/api/v1/me", Some(&worker.access_token)).await;
    me.assert_status(200);
    let mut body = me.json();
    assert_eq!(check_json("GET", "/api/v1/me", 200, &body), Ok(()));
    body["nickname"] = json!("Ana");
    let error = check_json("GET", "/api/v1/me", 200, &body).expect_err("an extra field must be refused");
    assert!(error.contains("nickname"), "{error}");

    let station = json!({
        "name": "Fuzhou PSB station, Rotterdam", "country": "NL", "visibility": "public",
        "sources": [{"title": "Safeguard Defenders: 110 Overseas", "url": "https://example.org/110", "published_on": "2022-09-12"}]
    });
    let created = app.post("/api/v1/stations", Some(&worker.access_token), station).await;
    created.assert_status(201);
    let path = format!("/api/v1/stations/{}", created.json()["id"].as_str().expect("id"));
    let public = app.get(&path, None).await;
    public.assert_status(200);
    let mut body = public.json();
    assert_eq!(check_json("GET", &path, 200, &body), Ok(()));
    body["sources"][0]["archived_at"] = json!("2024-01-01");
    let error = check_json("GET", &path, 200, &body).expect_err("an extra nested field must be refused");
    assert!(error.contains("archived_at"), "{error}");
}

#[test]
fn a_status_or_value_outside_the_spec_fails() {
    let user = json!({
        "id": "9b2f6a8e-3c1d-4e5f-8a7b-1c2d3e4f5a6b", "email": "ana@example.org", "display_name": "Ana",
        "role": "reporter", "active": true, "created_at": "2026-11-28T10:15:30.123456Z"
    });
    assert_eq!(check_json("GET", "/api/v1/me", 200, &user), Ok(()));
    assert!(check_json("GET", "/api/v1/me", 418, &user).is_err(), "an undocumented status");
    let mut superuser = user.clone();
    superuser["role"] = json!("superuser");
    assert!(check_json("GET", "/api/v1/me", 200, &superuser).is_err(), "a role the document does not list");
    let mut missing = user.clone();
    missing.as_object_mut().expect("object").remove("created_at");
    assert!(check_json("GET", "/api/v1/me", 200, &missing).is_err(), "a missing required field");
    assert!(spec::check("DELETE", "/api/v1/me", 200, None, b"").is_err(), "a method the path does not have");
    assert!(spec::check("GET", "/api/v1/nowhere", 200, None, b"").is_err(), "a path the document does not have");
}

fn check_json(method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
    spec::check(method, path, status, Some("application/json"), body.to_string().as_bytes())
}
