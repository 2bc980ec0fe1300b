//! Layering rules of the core that the compiler cannot check.

use std::path::{Path, PathBuf};

/// The modules that decide policy. None of them may depend on `compat`, which exists only to
/// reproduce the original Python system's shapes at the edge.
const POLICY: &[&str] = &[
    "alerts", "batch", "breaker", "cache", "engine", "export", "health", "metrics", "retry",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .expect("readable source dir")
            .map(|e| e.expect("readable entry").path())
            .collect();
        entries.sort();
        for p in entries {
            rust_files(&p, out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// Lines of code (not comments) that name the compat module.
fn compat_uses(source: &str) -> Vec<(usize, String)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or_default();
            code.contains("compat::") || code.contains("compat::{") || code.contains("mod compat")
        })
        .map(|(i, line)| (i + 1, line.trim().to_owned()))
        .collect()
}

#[test]
fn compat_stays_at_the_edge() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in POLICY {
        let dir = src.join(module);
        let file = src.join(format!("{module}.rs"));
        assert!(
            dir.is_dir() || file.is_file(),
            "policy module {module} not found: update POLICY"
        );
        rust_files(&dir, &mut files);
        rust_files(&file, &mut files);
    }
    assert!(files.len() > POLICY.len(), "found too few files: {files:?}");
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable source");
        for (line, code) in compat_uses(&text) {
            offenders.push(format!("{}:{line}: {code}", f.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "policy modules must not use `compat`:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_check_sees_an_import() {
    // The detector itself: a use of compat in code is found, a mention in a comment is not.
    assert_eq!(
        compat_uses("use crate::compat::python_float_repr;\n// see crate::compat::x\n").len(),
        1
    );
    assert_eq!(
        compat_uses("let k = super::compat::compat_key(a);").len(),
        1
    );
    assert!(compat_uses("/// [`crate::compat`] has the original formats").is_empty());
}
