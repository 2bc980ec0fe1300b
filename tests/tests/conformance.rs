//! Cross-runtime conformance: every scenario vector, from the copies compiled into the library
//! ([`vectors::embedded`]), through the client layer on the virtual runtime — natively under
//! `cargo test`, and under wasm-bindgen-test in Node (`make test-wasm`). Both print one
//! fingerprint of every request's outcome and decision trace; `make test-wasm` fails when the
//! two differ, so "the same decisions on the same virtual timeline" is checked byte for byte,
//! not only where a vector states an expectation.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tether_tests::vectors::{self, Mismatch};

/// Prints a line the harness shows (`--nocapture` natively; always under wasm-bindgen-test).
macro_rules! say {
    ($($t:tt)*) => {{
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_test::console_log!($($t)*);
        #[cfg(not(target_arch = "wasm32"))]
        println!($($t)*);
    }};
}

#[test]
fn every_embedded_vector_passes_with_one_fingerprint() {
    let all = vectors::embedded();
    assert!(all.len() >= 22, "vectors are missing: {}", all.len());
    let mut report = Vec::new();
    let mut transcripts = String::new();
    for (name, json) in all {
        let vector = vectors::parse(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(vector.name, *name, "a vector's name is its file name");
        let (mismatches, transcript) = vectors::run_recorded(&vector);
        report.extend(mismatches.iter().map(Mismatch::to_string));
        assert!(!transcript.is_empty(), "{name}: empty transcript");
        transcripts.push_str(name);
        transcripts.push('\n');
        transcripts.push_str(&transcript);
    }
    assert!(
        report.is_empty(),
        "{} mismatches:\n{}",
        report.len(),
        report.join("\n")
    );
    say!(
        "conformance: {} vectors, {} requests, fingerprint {:016x}",
        all.len(),
        transcripts.lines().count() - all.len(),
        vectors::fingerprint(&transcripts)
    );
}

#[test]
fn a_changed_decision_changes_the_fingerprint() {
    let (_, json) = vectors::embedded()
        .iter()
        .find(|(name, _)| *name == "retry-exponential-delays")
        .expect("the vector exists");
    let vector = vectors::parse(json).expect("valid");
    let (_, base) = vectors::run_recorded(&vector);
    // One more millisecond of backoff: a different timeline, a different transcript.
    let slower = json.replacen("\"base_ms\": 100", "\"base_ms\": 101", 1);
    assert_ne!(&slower, json, "the vector has a base_ms of 100");
    let (_, changed) = vectors::run_recorded(&vectors::parse(&slower).expect("valid"));
    assert_ne!(vectors::fingerprint(&base), vectors::fingerprint(&changed));
    assert_eq!(
        vectors::fingerprint(&base),
        vectors::fingerprint(&vectors::run_recorded(&vector).1),
        "a run is deterministic"
    );
}
