//! The response cache's `Lookup::Fresh` hit path allocates nothing (the module docs promise "one
//! `Arc` clone; the key is hashed in place"); neither do `Cache::key_for` and a Closed breaker's
//! `try_acquire` + `on_result`.
//!
//! A counting global allocator wraps `System`. Counts are per thread (a `const`-initialised
//! thread-local, which itself never allocates), so the test harness's other threads do not
//! disturb a measurement.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use tether_core::{Breaker, BreakerConfig, CallResult};
use tether_core::{Cache, CacheConfig, Lookup, StoreResult};
use tether_core::{Request, Timestamp, WallClock};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// `System`, counting allocations (and reallocations) made by the current thread.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the only
// addition is bumping a thread-local counter, which neither allocates nor unwinds.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn bump() {
    // `try_with`: the slot may already be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// Runs `f` and returns how many allocations it made on this thread, with its result.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

const NOW: Timestamp = Timestamp::from_secs(10);
const WALL: WallClock = WallClock::from_unix_secs(1_700_000_000);

fn request() -> Request {
    http::Request::get("https://api.example.com/v1/items?b=2&a=1")
        .header("accept", "application/json")
        .header("authorization", "Bearer 0123456789abcdef")
        .body(Bytes::new())
        .unwrap()
}

/// A cache holding a fresh response for `request()`, stored with the given extra response
/// header (e.g. `Vary`).
fn warm_cache(extra: Option<(&str, &str)>) -> (Cache, Request) {
    let config = CacheConfig {
        key_headers: vec!["accept".into()],
        ..CacheConfig::default()
    };
    let mut cache = Cache::new(config, 0x5eed).unwrap();
    let req = request();
    let Lookup::Miss(fill) = cache.lookup(NOW, &req, 1) else {
        panic!("expected a miss on an empty cache");
    };
    let mut resp = http::Response::builder()
        .header("cache-control", "max-age=3600")
        .header("content-type", "application/json")
        .header("etag", "\"v1\"");
    if let Some((name, value)) = extra {
        resp = resp.header(name, value);
    }
    let resp = resp
        .body(Bytes::from_static(br#"[{"id":1},{"id":2}]"#))
        .unwrap();
    let stored = cache.on_response(NOW, WALL, fill, &req, &resp);
    assert!(matches!(stored, StoreResult::Stored(_)), "{stored:?}");
    (cache, req)
}

fn assert_fresh_hits_do_not_allocate(cache: &mut Cache, req: &Request) {
    // The very first hit after the store, then a steady state.
    for ticket in 2..102 {
        let (n, hit) = allocations(|| cache.lookup(NOW, req, ticket));
        assert!(matches!(hit, Lookup::Fresh(_)), "hit {ticket}: {hit:?}");
        assert_eq!(n, 0, "Lookup::Fresh hit #{ticket} made {n} allocation(s)");
        drop(hit);
    }
    assert_eq!(cache.stats().hits, 100);
}

#[test]
fn fresh_hit_does_not_allocate() {
    let (mut cache, req) = warm_cache(None);
    assert_fresh_hits_do_not_allocate(&mut cache, &req);
}

#[test]
fn fresh_hit_with_vary_does_not_allocate() {
    let (mut cache, req) = warm_cache(Some(("vary", "accept, accept-encoding")));
    assert_fresh_hits_do_not_allocate(&mut cache, &req);
}

#[test]
fn fresh_hit_with_many_identifying_headers_does_not_allocate() {
    // Beyond the partition's stack capacity the identifying headers are hashed as a keyed
    // sum instead of being sorted: still no allocation. Trace headers are skipped.
    let config = CacheConfig::default();
    let mut cache = Cache::new(config, 0x5eed).unwrap();
    let mut builder = http::Request::get("https://api.example.com/v1/items").header(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    for i in 0..24 {
        builder = builder.header(format!("x-tenant-{i}"), format!("value-{i}"));
    }
    let req = builder.body(Bytes::new()).unwrap();
    let Lookup::Miss(fill) = cache.lookup(NOW, &req, 1) else {
        panic!("expected a miss on an empty cache");
    };
    let resp = http::Response::builder()
        .header("cache-control", "max-age=3600")
        .body(Bytes::from_static(b"[]"))
        .unwrap();
    let stored = cache.on_response(NOW, WALL, fill, &req, &resp);
    assert!(matches!(stored, StoreResult::Stored(_)), "{stored:?}");
    assert_fresh_hits_do_not_allocate(&mut cache, &req);
}

#[test]
fn key_for_does_not_allocate() {
    let (cache, req) = warm_cache(None);
    let (n, key) = allocations(|| cache.key_for(&req));
    assert_eq!(n, 0, "key_for made {n} allocation(s)");
    assert_eq!(key, cache.key_for(&req));
}

#[test]
fn closed_breaker_admission_does_not_allocate() {
    let mut breaker = Breaker::new(BreakerConfig::default()).unwrap();
    for _ in 0..100 {
        let (n, ()) = allocations(|| {
            let permit = breaker.try_acquire(NOW).unwrap();
            breaker.on_result(NOW, permit, CallResult::success(Duration::from_millis(5)));
        });
        assert_eq!(
            n, 0,
            "try_acquire + on_result (Closed) made {n} allocation(s)"
        );
    }
}

#[test]
fn the_counter_counts() {
    let (n, v) = allocations(|| vec![1u8; 64]);
    assert!(n >= 1, "a Vec allocation went uncounted");
    drop(v);
}
