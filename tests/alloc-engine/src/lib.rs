//! Allocation-count tests of the engine's hot paths.
//!
//! A counting global allocator (per thread, so the test harness's own threads do not disturb
//! the count) wraps the system allocator; the tests drive a `tether_core::Engine` and assert
//! how many allocations a path makes. The only `unsafe` in the workspace lives here: a
//! `GlobalAlloc` implementation cannot be written without it, and it only forwards to
//! [`std::alloc::System`].

#[cfg(test)]
mod counting {
    // A global allocator must be an `unsafe impl`; it forwards every call to `System`
    // unchanged and only counts on the side.
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCS: Cell<u64> = const { Cell::new(0) };
        static FREES: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) struct Counting;

    fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
        // `try_with`: allocations during thread teardown are simply not counted.
        let _ = counter.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every method forwards to `System` with the caller's arguments, so `System`'s
    // guarantees carry over; the counters are plain thread-local cells that never allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump(&ALLOCS);
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            bump(&ALLOCS);
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump(&ALLOCS);
            // SAFETY: forwarded unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            bump(&FREES);
            // SAFETY: forwarded unchanged.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// (allocations incl. reallocations, deallocations) made by `f` on this thread.
    pub(crate) fn count<R>(f: impl FnOnce() -> R) -> (u64, u64, R) {
        let (a0, f0) = (ALLOCS.with(Cell::get), FREES.with(Cell::get));
        let r = f();
        let (a1, f1) = (ALLOCS.with(Cell::get), FREES.with(Cell::get));
        (a1 - a0, f1 - f0, r)
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;
    use std::time::Duration;

    use bytes::Bytes;
    use tether_core::{
        CacheTrace, Decision, Engine, EngineConfig, Next, Request, Response, Timestamp, WallClock,
    };

    use super::counting::count;

    /// The request of `core/benches/engine.rs` (an unsorted query, a credential header).
    fn request() -> Request {
        http::Request::get("https://api.example.com/v1/items?b=2&a=1")
            .header("accept", "application/json")
            .header("authorization", "Bearer token-123")
            .body(Bytes::new())
            .expect("valid")
    }

    fn response(cache_control: &str) -> Response {
        http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("cache-control", cache_control)
            .body(Bytes::from_static(b"{\"items\":[1,2,3]}"))
            .expect("valid")
    }

    fn engine() -> Engine {
        let c = EngineConfig {
            alert_interval: None,
            housekeeping_interval: Duration::from_hours(1),
            ..EngineConfig::default()
        };
        Engine::new(c, 1).expect("valid config")
    }

    #[test]
    fn a_fresh_hit_through_begin_does_not_allocate() {
        let mut e = engine();
        let req = request();
        let wall = WallClock::from_unix_secs(1_800_000_000);
        let now = Timestamp::from_secs(1);
        let Ok(Decision::Send(permit)) = e.begin(now, wall, &req, Some("catalog")) else {
            panic!("first request misses")
        };
        let Ok(Next::Done(_)) =
            e.on_response(now, wall, permit, &req, Ok(response("max-age=3600")))
        else {
            panic!("200 is final")
        };
        // Warm-up hit (first use of every lazily grown structure), then the measured ones.
        let hit = |e: &mut Engine, t: u64| {
            let now = Timestamp::from_secs(t);
            match e.begin(now, wall, black_box(&req), Some("catalog")) {
                Ok(Decision::Done(f)) => {
                    assert_eq!(f.trace.cache, CacheTrace::Fresh);
                    black_box(f)
                }
                _ => panic!("fresh entry hits"),
            }
        };
        drop(hit(&mut e, 2));
        let (allocs, frees, ()) = count(|| {
            for t in 3..1003 {
                // Dropping the answer only releases shared handles.
                drop(hit(&mut e, t));
            }
        });
        assert_eq!(
            (allocs, frees),
            (0, 0),
            "1000 hits: {allocs} allocations, {frees} deallocations"
        );
        assert_eq!(e.in_flight(), 0);
    }

    #[test]
    fn the_counter_counts() {
        let (allocs, frees, v) = count(|| black_box(vec![1u8; 64]));
        drop(v);
        assert_eq!((allocs, frees), (1, 0));
    }
}
