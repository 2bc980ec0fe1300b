//! The scenario vectors of `tests/vectors/`: every vector passes against the client on virtual
//! time, every file matches `schema.json`, the schema and the Rust model agree, and — so that a
//! runner that checks nothing cannot pass — every expectation a vector states is shown to be
//! checked by perturbing it and watching the runner report exactly that field.

// Native only: files, JSON Schema, property tests or processes (the wasm runs are
// `conformance.rs`, `scenarios.rs`, `client.rs` and `cache_isolation.rs`).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tether_tests::vectors::model::{
    BREAKER_STATES, CACHE_OUTCOMES, ERROR_KINDS, GIVE_UP_REASONS, NEXT, NOT_STORED_REASONS, TAGS,
    TRANSPORT_KINDS,
};
use tether_tests::vectors::{self, Driver, Location, Mismatch};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Every vector file, by name.
fn vector_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/vectors exists")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| n != "schema.json")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 22, "vectors are missing: {files:?}");
    files
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable vector");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("UTF-8 file name")
        .to_owned()
}

/// Every vector file through `driver`: the mismatches, as text.
fn run_all(driver: Driver) -> Vec<String> {
    let mut report = Vec::new();
    for f in vector_files() {
        let v =
            vectors::from_value(read_json(&f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(v.name, stem(&f), "a vector's name is its file name");
        report.extend(
            vectors::run_with(&v, driver)
                .iter()
                .map(Mismatch::to_string),
        );
    }
    report
}

/// Every vector file through `driver`, without a mismatch.
fn all_pass(driver: Driver) {
    let report = run_all(driver);
    assert!(
        report.is_empty(),
        "{} mismatches:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn every_vector_passes() {
    all_pass(Driver::Async);
}

/// The same files through the blocking API's model: each request on an OS thread of its own,
/// run by `tether_native::blocking`'s executor, on the same virtual clock.
#[test]
fn every_vector_passes_with_the_blocking_driver() {
    all_pass(Driver::Threads);
}

#[test]
fn the_embedded_vectors_are_the_files() {
    let files: Vec<(String, String)> = vector_files()
        .iter()
        .map(|f| {
            (
                stem(f),
                std::fs::read_to_string(f).expect("readable vector"),
            )
        })
        .collect();
    let embedded: Vec<(String, String)> = vectors::embedded()
        .iter()
        .map(|(n, j)| ((*n).to_owned(), (*j).to_owned()))
        .collect();
    assert_eq!(
        embedded, files,
        "the copies compiled in for wasm are the vector files"
    );
}

#[test]
fn every_behaviour_family_has_a_vector() {
    let mut seen = BTreeSet::new();
    for f in vector_files() {
        let v = vectors::from_value(read_json(&f)).expect("valid vector");
        seen.extend(v.tags);
    }
    for family in TAGS {
        assert!(
            seen.contains(*family),
            "no vector is tagged {family:?}: {seen:?}"
        );
    }
}

fn compiled_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    let path = dir().join("schema.json");
    let index = compiler
        .compile(path.to_str().expect("UTF-8 path"), &mut schemas)
        .unwrap_or_else(|e| panic!("schema.json does not compile: {e:#}"));
    (schemas, index)
}

#[test]
fn every_vector_matches_the_schema() {
    let (schemas, index) = compiled_schema();
    for f in vector_files() {
        let v = read_json(&f);
        if let Err(e) = schemas.validate(&v, index) {
            panic!("{} does not match schema.json:\n{e}", f.display());
        }
    }
}

#[test]
fn the_schema_lists_the_same_words_as_the_runner() {
    let schema = read_json(&dir().join("schema.json"));
    let words = |def: &str| -> Vec<String> {
        schema["$defs"][def]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("$defs.{def}.enum"))
            .iter()
            .map(|v| v.as_str().expect("string enum").to_owned())
            .collect()
    };
    let pairs: [(&str, &[&str]); 8] = [
        ("transport_kind", TRANSPORT_KINDS),
        ("error_kind", ERROR_KINDS),
        ("cache_outcome", CACHE_OUTCOMES),
        ("not_stored_reason", NOT_STORED_REASONS),
        ("breaker_state", BREAKER_STATES),
        ("next", NEXT),
        ("give_up_reason", GIVE_UP_REASONS),
        ("tag", TAGS),
    ];
    for (def, rust) in pairs {
        assert_eq!(words(def), rust, "$defs.{def} and the runner differ");
    }
}

/// A valid vector broken in one place: both the schema and the Rust model must refuse it.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one table of broken vectors, each a few lines"
)]
fn the_schema_and_the_runner_refuse_the_same_mistakes() {
    const EXPECT: &str = "/steps/0/send/0/expect";
    const ATTEMPT0: &str = "/steps/0/send/0/expect/attempts/0";
    const ATTEMPT3: &str = "/steps/0/send/0/expect/attempts/3";
    const REPLY0: &str = "/upstream/0/responses/0";
    let (schemas, index) = compiled_schema();
    let base = read_json(&dir().join("retry-exponential-delays.json"));
    // (what, object to edit, key, new value or removal)
    let breakages: [(&str, &str, &str, Option<Value>); 16] = [
        (
            "an unknown top-level field",
            "",
            "expected",
            Some(json!({})),
        ),
        ("an unknown expectation", EXPECT, "stauts", Some(json!(200))),
        (
            "an unknown attempt field",
            ATTEMPT0,
            "delay",
            Some(json!(1)),
        ),
        (
            "an unknown retry option",
            "/config/retry",
            "max_retries",
            Some(json!(3)),
        ),
        (
            "an unknown backoff kind",
            "/config/retry",
            "backoff",
            Some(json!({"kind": "linear", "delay_ms": 1})),
        ),
        (
            "an unknown cache outcome",
            EXPECT,
            "cache",
            Some(json!("hit")),
        ),
        (
            "an unknown error kind",
            "/steps/0/send/0",
            "expect",
            Some(json!({"error": "refused"})),
        ),
        (
            "both status and error",
            EXPECT,
            "error",
            Some(json!("timeout")),
        ),
        (
            "neither status nor error",
            "/steps/0/send/0",
            "expect",
            Some(json!({"from_cache": false})),
        ),
        ("a retry without delay", ATTEMPT0, "delay_ms", None),
        (
            "an accept with a delay",
            ATTEMPT3,
            "delay_ms",
            Some(json!(1)),
        ),
        (
            "a give_up without reason",
            ATTEMPT3,
            "next",
            Some(json!("give_up")),
        ),
        (
            "a reply with status and error",
            REPLY0,
            "error",
            Some(json!("reset")),
        ),
        (
            "an upper-case header name",
            REPLY0,
            "headers",
            Some(json!({"Retry-After": "1"})),
        ),
        ("an unknown tag", "", "tags", Some(json!(["retries"]))),
        ("no steps", "", "steps", None),
    ];
    assert!(
        schemas.validate(&base, index).is_ok()
            && vectors::from_value(base.clone()).is_ok_and(|v| v.problems().is_empty()),
        "the base vector is valid"
    );
    for (what, pointer, key, value) in breakages {
        let mut v = base.clone();
        let object = v
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .expect("the base vector has this object");
        match value {
            Some(value) => object.insert(key.to_owned(), value),
            None => object.remove(key),
        };
        assert!(
            schemas.validate(&v, index).is_err(),
            "schema.json accepts a vector with {what}"
        );
        let refused = match vectors::from_value(v) {
            Err(_) => true,
            Ok(parsed) => !parsed.problems().is_empty(),
        };
        assert!(refused, "the Rust model accepts a vector with {what}");
    }
}

#[test]
fn the_runner_reports_calls_no_route_answers_and_steps_in_the_past() {
    let v = vectors::parse(
        r#"{
        "name": "unscripted", "description": "x",
        "upstream": [{"path": "/known", "responses": [{"status": 200, "latency_ms": 500}]}],
        "steps": [
            {"send": [{"id": "a", "url": "http://svc.test/unknown", "expect": {"error": "other"}}]},
            {"send": [{"id": "b", "url": "http://svc.test/known", "expect": {"status": 200}}]},
            {"at_ms": 100, "check": {"upstream_calls": 2}}
        ]}"#,
    )
    .expect("valid vector");
    let found: Vec<(Location, String)> = vectors::run(&v)
        .into_iter()
        .map(|m| (m.location, m.field))
        .collect();
    assert_eq!(
        found,
        vec![
            (Location::Step(2), "at_ms".to_owned()),
            (Location::Upstream, "route".to_owned()),
        ]
    );
}

/// One perturbed expectation: where it is, its path in the runner's terms, and the vector.
struct Mutation {
    location: Location,
    path: String,
    what: String,
    vector: Value,
}

/// The next word of `words` after `current` (wrapping).
fn other(words: &[&str], current: &str) -> Value {
    let i = words.iter().position(|w| *w == current).unwrap_or(0);
    json!(words[(i + 1) % words.len()])
}

/// A perturbed copy of a leaf value, chosen by the key it sits under so that the vector stays
/// valid: numbers +1, booleans flipped, words replaced by another word of their vocabulary,
/// free text changed, `null` replaced by a value.
fn perturb_leaf(key: &str, parent: &str, value: &Value) -> Value {
    match value {
        Value::Bool(b) => json!(!b),
        Value::Number(n) => match n.as_u64() {
            Some(u) => json!(u + 1),
            None => json!(n.as_f64().expect("finite") + 1.0),
        },
        Value::String(s) => match (key, parent) {
            ("error", _) => other(ERROR_KINDS, s),
            ("cache", _) => other(CACHE_OUTCOMES, s),
            ("not_stored", _) => other(NOT_STORED_REASONS, s),
            ("breaker", _) | (_, "breakers") => other(BREAKER_STATES, s),
            ("reason", _) => other(GIVE_UP_REASONS, s),
            ("result", _) => other(TRANSPORT_KINDS, s),
            ("method", _) => json!(if s == "PATCH" { "GET" } else { "PATCH" }),
            _ => json!(format!("{s}~")),
        },
        Value::Null => match (key, parent) {
            ("breaker", _) | (_, "breakers") => json!("closed"),
            ("not_stored", _) => json!("no_store"),
            (_, "headers") => json!("x"),
            _ => json!(1),
        },
        _ => unreachable!("containers are walked"),
    }
}

/// Every perturbation of the expectation object at `pointer` (JSON pointer into `vector`).
fn perturb_all(vector: &Value, pointer: &str, location: &Location, out: &mut Vec<Mutation>) {
    // (JSON pointer, path in the runner's terms, key of the value, key of its container)
    let mut walk = vec![(
        pointer.to_owned(),
        String::new(),
        String::new(),
        String::new(),
    )];
    while let Some((ptr, path, key, parent)) = walk.pop() {
        let here = vector.pointer(&ptr).expect("walked pointers exist").clone();
        let mut push = |path: &str, what: String, f: &dyn Fn(&mut Value)| {
            let mut v = vector.clone();
            f(v.pointer_mut(&ptr).expect("walked pointers exist"));
            out.push(Mutation {
                location: location.clone(),
                path: path.to_owned(),
                what,
                vector: v,
            });
        };
        match &here {
            Value::Object(map) => {
                if map.is_empty() {
                    // A whole-compared map (failures, errors, breaker_transitions): add a key.
                    push(&path, "add a key".into(), &|v| v["other"] = json!(1));
                }
                if let Some(Value::String(next)) = map.get("next") {
                    // An attempt's verdict: change it with the fields that go with it.
                    let to = other(NEXT, next);
                    push(&format!("{path}.next"), format!("next -> {to}"), &|v| {
                        let o = v.as_object_mut().expect("attempt object");
                        for k in ["delay_ms", "retry_after_ms", "reason"] {
                            o.remove(k);
                        }
                        match to.as_str() {
                            Some("retry") => o.insert("delay_ms".into(), json!(1)),
                            Some("give_up") => o.insert("reason".into(), json!("not_retryable")),
                            _ => None,
                        };
                        o.insert("next".into(), to.clone());
                    });
                }
                for (k, _) in map.iter().filter(|(k, _)| *k != "next") {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let escaped = k.replace('~', "~0").replace('/', "~1");
                    walk.push((format!("{ptr}/{escaped}"), child, k.clone(), key.clone()));
                }
            }
            Value::Array(items) => {
                if let Some(last) = items.last().cloned() {
                    push(&path, "drop the last item".into(), &|v| {
                        v.as_array_mut().expect("array").pop();
                    });
                    push(&path, "repeat the last item".into(), &|v| {
                        v.as_array_mut().expect("array").push(last.clone());
                    });
                } else {
                    let item = if key == "attempts" {
                        json!({"result": 200, "next": "accept"})
                    } else {
                        json!({})
                    };
                    push(&path, "add an item".into(), &|v| {
                        v.as_array_mut().expect("array").push(item.clone());
                    });
                }
                for i in 0..items.len() {
                    walk.push((
                        format!("{ptr}/{i}"),
                        format!("{path}[{i}]"),
                        key.clone(),
                        parent.clone(),
                    ));
                }
            }
            leaf => {
                let to = perturb_leaf(&key, &parent, leaf);
                push(&path, format!("{leaf} -> {to}"), &|v| *v = to.clone());
            }
        }
    }
}

/// Every expectation of a vector, perturbed one at a time.
fn mutations(vector: &Value) -> Vec<Mutation> {
    let mut out = Vec::new();
    for (i, step) in vector["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        for (j, send) in step["send"].as_array().into_iter().flatten().enumerate() {
            let id = send["id"].as_str().expect("id").to_owned();
            let location = Location::Request { step: i, id };
            perturb_all(
                vector,
                &format!("/steps/{i}/send/{j}/expect"),
                &location,
                &mut out,
            );
        }
        if step.get("check").is_some() {
            perturb_all(
                vector,
                &format!("/steps/{i}/check"),
                &Location::Step(i),
                &mut out,
            );
        }
    }
    if vector.get("expect").is_some() {
        perturb_all(vector, "/expect", &Location::End, &mut out);
    }
    out
}

/// Whether a mismatch reported on `field` covers a perturbation at `path`.
fn covers(field: &str, path: &str) -> bool {
    path == field
        || path.starts_with(&format!("{field}."))
        || path.starts_with(&format!("{field}["))
}

#[test]
fn every_stated_expectation_is_checked() {
    every_stated_expectation_is_checked_by(Driver::Async);
}

/// The blocking driver reports the same perturbations: it checks what the async one checks.
#[test]
fn every_stated_expectation_is_checked_by_the_blocking_driver() {
    every_stated_expectation_is_checked_by(Driver::Threads);
}

fn every_stated_expectation_is_checked_by(driver: Driver) {
    let mut undetected = Vec::new();
    let mut total = 0;
    for f in vector_files() {
        let vector = read_json(&f);
        for m in mutations(&vector) {
            total += 1;
            let parsed = vectors::from_value(m.vector).unwrap_or_else(|e| {
                panic!(
                    "{}: {} ({}) made the vector unparsable: {e}",
                    stem(&f),
                    m.path,
                    m.what
                )
            });
            let problems = parsed.problems();
            assert!(
                problems.is_empty(),
                "{}: {} ({}) made the vector invalid: {problems:?}",
                stem(&f),
                m.path,
                m.what
            );
            let found = vectors::run_with(&parsed, driver);
            if !found
                .iter()
                .any(|r| r.location == m.location && covers(&r.field, &m.path))
            {
                undetected.push(format!(
                    "{} {}: {} ({}) went unnoticed; the runner said {:?}",
                    stem(&f),
                    m.location,
                    m.path,
                    m.what,
                    found.iter().map(Mismatch::to_string).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(total > 500, "only {total} expectations were perturbed");
    assert!(
        undetected.is_empty(),
        "{} of {total} perturbed expectations were not reported:\n{}",
        undetected.len(),
        undetected.join("\n")
    );
    eprintln!("{total} perturbed expectations, each reported by the runner ({driver:?})");
}
