//! Fuzzes `tether_core::internals::parse_vary` on arbitrary bytes (converted to UTF-8 lossily).
//! Checks: no panic; `Vary::Fields` holds non-empty, lower-case, de-duplicated field names made
//! of RFC 9110 `tchar`s only (each a valid `http::HeaderName`); `Vary::Any` exactly when some
//! comma-separated member is `*`.
#![no_main]

use http::HeaderName;
use libfuzzer_sys::fuzz_target;
use tether_core::{internals::Vary, internals::parse_vary};

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let v = parse_vary(&s);
    let has_star = s.split(',').any(|p| p.trim_matches([' ', '\t']) == "*");
    match &v {
        Vary::Any => assert!(has_star, "Any without a `*` member in {s:?}"),
        Vary::Fields(names) => {
            assert!(!has_star, "a `*` member was not reported as Any in {s:?}");
            for (i, n) in names.iter().enumerate() {
                assert!(!n.is_empty(), "empty name from {s:?}");
                assert!(n.bytes().all(is_tchar), "non-tchar name {n:?} from {s:?}");
                assert_eq!(*n, n.to_ascii_lowercase(), "not lower-cased: {n:?}");
                assert!(
                    !names[..i].contains(n),
                    "duplicate {n:?} in {names:?} from {s:?}"
                );
                assert!(
                    HeaderName::from_bytes(n.as_bytes()).is_ok(),
                    "{n:?} is not a valid header name"
                );
            }
            assert_eq!(v.is_empty(), names.is_empty());
        }
    }
});
