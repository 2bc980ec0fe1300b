//! Runs every scenario vector of `tests/vectors/` against the client on virtual time.

use std::path::PathBuf;

use tether_tests::vectors;

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| n != "schema.json")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_vector_passes() {
    let mut report = Vec::new();
    for f in vector_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let v = vectors::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for m in vectors::run(&v) {
            report.push(m.to_string());
        }
    }
    assert!(
        report.is_empty(),
        "{} mismatches:\n{}",
        report.len(),
        report.join("\n")
    );
}
