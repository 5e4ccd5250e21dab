//! SPEC §10: the routes in the code and the operations in api-spec/openapi.yaml are the same.

use std::collections::BTreeSet;

use serde_yaml::Value;

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.yaml")).expect("spec");
    serde_yaml::from_str(&text).expect("valid YAML")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[test]
fn every_route_is_in_the_spec_and_every_operation_is_routed() {
    let spec = spec();
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                documented.insert(format!("{} {}", method.to_uppercase(), path.as_str().unwrap()));
            }
        }
    }
    let routed: BTreeSet<String> =
        tipline::routes::table().into_iter().map(|(method, path)| format!("{method} {path}")).collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routes missing from api-spec/openapi.yaml: {missing:?}");
    assert!(extra.is_empty(), "operations in the spec that the app does not serve: {extra:?}");
}

#[test]
fn every_operation_documents_its_errors() {
    let spec = spec();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let name = format!("{method} {}", path.as_str().unwrap());
            let responses = op["responses"].as_mapping().unwrap_or_else(|| panic!("{name}: no responses"));
            let codes: BTreeSet<String> = responses
                .keys()
                .map(|k| k.as_str().map(str::to_string).unwrap_or_else(|| k.as_u64().unwrap().to_string()))
                .collect();
            assert!(codes.iter().any(|c| c.starts_with('2')), "{name}: no success response");
            let public = op.get("security").and_then(Value::as_sequence).is_some_and(|s| s.is_empty());
            if !public {
                assert!(codes.contains("401"), "{name}: 401 not documented");
            }
            if op.get("requestBody").is_some() {
                for code in ["400", "413", "415", "422"] {
                    assert!(codes.contains(code), "{name}: {code} not documented");
                }
            }
        }
    }
}
