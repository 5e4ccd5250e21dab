//! SPEC §10: api-spec/openapi.yaml, read once, and the check every response of the test suite
//! goes through (see `TestApp::send`). A status the operation does not document fails, and so
//! does a JSON body its schema refuses: a field the code sends and the document lacks, a value
//! outside a documented enum or range, a missing required field.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::Validator;
use serde_json::{json, Value};

pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("read api-spec/openapi.yaml");
        serde_yaml::from_str(&text).expect("api-spec/openapi.yaml is valid YAML")
    })
}

/// Follows a local `$ref` (`#/components/...`) to what it names; anything else as it is.
pub fn resolve(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("only local $refs: {reference}"));
            resolve(document().pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}")))
        }
        None => value,
    }
}

/// The path template of the spec that `path` falls under. Literal segments win over `{param}`
/// ones (`/api/v1/reports/mine` before `/api/v1/reports/{id}`), as in the router.
fn template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let fits = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(part, segment)| {
                part == segment || (part.starts_with('{') && part.ends_with('}') && !segment.is_empty())
            })
    };
    document()["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .filter(|template| fits(template))
        .min_by_key(|template| template.matches('{').count())
        .map(String::as_str)
}

/// Checks one response against the document: `Err` says what disagrees.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &[u8]) -> Result<(), String> {
    let (operation, response) = documented_response(method, path, status)?;
    // A body that is not JSON (none, or text) is held to its status only.
    let Some(media_type) = json_media_type(content_type).filter(|_| !body.is_empty()) else { return Ok(()) };
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return Err(format!("{operation} {status}: sent with a {media_type} body, documented without one"));
    };
    let Some(schema) = content.get(&media_type).and_then(|c| c.get("schema")) else {
        let documented: Vec<&String> = content.keys().collect();
        return Err(format!("{operation} {status}: sent as {media_type}, documented as {documented:?}"));
    };
    let instance: Value = serde_json::from_slice(body).map_err(|e| format!("{operation} {status}: not JSON ({e})"))?;
    let errors = validate(&format!("{operation} {status} {media_type}"), schema, &instance);
    if errors.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{operation} {status}: the body does not match the document:\n  {}\nbody: {instance}",
        errors.join("\n  ")
    ))
}

fn json_media_type(content_type: Option<&str>) -> Option<String> {
    let media_type = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    (media_type == "application/json" || media_type.ends_with("+json")).then_some(media_type)
}

/// The operation's name (`GET /api/v1/reports/{id}`) and its response object for `status`.
fn documented_response(method: &str, path: &str, status: u16) -> Result<(String, &'static Value), String> {
    let method = method.to_ascii_lowercase();
    let Some(template) = template(path) else {
        // The conventions of `info.description`: an unknown path is 404.
        let operation = format!("{} {path} (no such path)", method.to_uppercase());
        return expect_convention(operation, status, 404, "NotFound");
    };
    let operation = format!("{} {template}", method.to_uppercase());
    let Some(op) = document()["paths"][template].get(&method) else {
        return expect_convention(operation, status, 405, "MethodNotAllowed");
    };
    let responses = &op["responses"];
    let range = format!("{}XX", status / 100);
    [status.to_string(), range, "default".to_string()]
        .iter()
        .find_map(|key| responses.get(key))
        .map(|response| (operation.clone(), resolve(response)))
        .ok_or_else(|| format!("{operation}: status {status} is not documented"))
}

fn expect_convention(
    operation: String,
    status: u16,
    expected: u16,
    response: &str,
) -> Result<(String, &'static Value), String> {
    if status != expected {
        return Err(format!("{operation}: status {status}, where the document's conventions give {expected}"));
    }
    Ok((operation, resolve(&document()["components"]["responses"][response])))
}

/// Every error of `instance` against `schema`, with the place it was found. Validators are
/// compiled once per response of an operation.
fn validate(key: &str, schema: &Value, instance: &Value) -> Vec<String> {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, Arc<Validator>>>> = OnceLock::new();
    let mut cache = VALIDATORS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let validator = cache.entry(key.to_string()).or_insert_with(|| Arc::new(compile(schema))).clone();
    drop(cache);
    validator.iter_errors(instance).map(|e| format!("at '{}': {e}", e.instance_path())).collect()
}

/// A validator for one schema of the document. OpenAPI 3.1 schemas are JSON Schema 2020-12;
/// the schema becomes the root of a document that also holds `components`, so that its
/// `#/components/schemas/...` references resolve as they do in the spec.
fn compile(schema: &Value) -> Validator {
    let mut root = match schema {
        Value::Object(map) => map.clone(),
        other => panic!("a response schema must be an object: {other}"),
    };
    root.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    root.insert("components".into(), json!({"schemas": document()["components"]["schemas"]}));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        // In 2020-12 `format` is only an annotation unless asked for, and the document relies
        // on it for ids, dates and emails.
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema}"))
}
