//! Fuzzes `tether_core::internals::parse_cache_control` on arbitrary bytes (converted to UTF-8
//! lossily). Checks: no panic; every delta-seconds argument respects `DELTA_SECONDS_CAP`
//! (`max-stale` may also be `Duration::MAX`, its bare form); and when the text is a valid header
//! value, `CacheControl::from_headers` on a single `Cache-Control` line agrees with it.
#![no_main]

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header::CACHE_CONTROL};
use libfuzzer_sys::fuzz_target;
use tether_core::{internals::CacheControl, internals::DELTA_SECONDS_CAP, internals::parse_cache_control};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let cc = parse_cache_control(&s);
    let cap = Duration::from_secs(DELTA_SECONDS_CAP);
    for d in [
        cc.max_age,
        cc.s_maxage,
        cc.stale_while_revalidate,
        cc.stale_if_error,
        cc.min_fresh,
    ]
    .into_iter()
    .flatten()
    {
        assert!(d <= cap, "delta-seconds {d:?} above the cap for {s:?}");
    }
    if let Some(d) = cc.max_stale {
        assert!(d <= cap || d == Duration::MAX, "max-stale {d:?} for {s:?}");
    }
    assert_eq!(cc, parse_cache_control(&s), "not deterministic for {s:?}");

    if let Ok(v) = HeaderValue::from_bytes(s.as_bytes()) {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, v);
        assert_eq!(
            CacheControl::from_headers(&h),
            cc,
            "from_headers disagrees with parse_cache_control for {s:?}"
        );
    }
});
