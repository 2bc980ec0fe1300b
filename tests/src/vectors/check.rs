//! Compares expectations with what happened. Every comparison that fails becomes a
//! [`Mismatch`] whose `field` is the expectation's path, so a report points at the exact line
//! of the vector.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use tether_core::GiveUpReason;
use tether_core::{
    AttemptNext, AttemptResult, AttemptTrace, CacheTrace, DecisionTrace, RejectReason, Timestamp,
};

use super::adapter::{self, Observed};
use super::model::{AttemptExpect, AttemptOutcome, Checks, Expect, Ms, Nullable};
use super::run::{Record, World, path_of};
use super::{Location, Mismatch};

/// Collects the mismatches of one location.
pub(super) struct Sink<'a> {
    vector: &'a str,
    location: Location,
    out: &'a RefCell<Vec<Mismatch>>,
}

impl<'a> Sink<'a> {
    pub(super) fn new(
        vector: &'a str,
        location: Location,
        out: &'a RefCell<Vec<Mismatch>>,
    ) -> Self {
        Sink {
            vector,
            location,
            out,
        }
    }

    /// Records a mismatch.
    pub(super) fn push(
        &mut self,
        field: impl Into<String>,
        expected: impl Display,
        actual: impl Display,
    ) {
        self.out.borrow_mut().push(Mismatch {
            vector: self.vector.to_owned(),
            location: self.location.clone(),
            field: field.into(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }

    /// Records a mismatch when `expected` is given and differs from `actual`.
    fn check<T: PartialEq + Display>(&mut self, field: &str, expected: Option<T>, actual: T) {
        if let Some(e) = expected
            && e != actual
        {
            self.push(field, e, actual);
        }
    }

    /// Records a mismatch when `expected` is given (`null` included) and differs.
    fn check_opt<T: PartialEq + Display>(
        &mut self,
        field: &str,
        expected: Option<&Nullable<T>>,
        actual: Option<&T>,
    ) {
        if let Some(e) = expected {
            self.check_maybe(field, e.0.as_ref(), actual);
        }
    }

    /// Records a mismatch when two possibly absent values differ.
    fn check_maybe<T: PartialEq + Display + ?Sized>(
        &mut self,
        field: &str,
        expected: Option<&T>,
        actual: Option<&T>,
    ) {
        if expected != actual {
            self.push(field, Shown(expected), Shown(actual));
        }
    }
}

/// `null` for `None`, the value otherwise.
struct Shown<'a, T: ?Sized>(Option<&'a T>);

impl<T: Display + ?Sized> Display for Shown<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("null"),
        }
    }
}

/// A string shown quoted.
struct Quoted<'a>(&'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl PartialEq for Quoted<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

fn ms(d: Duration) -> Ms {
    Ms::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn at(t: Timestamp) -> Ms {
    Ms::from_micros(t.as_micros())
}

/// The format's name of a cache outcome.
fn cache_name(t: CacheTrace) -> &'static str {
    match t {
        CacheTrace::Bypass => "bypass",
        CacheTrace::Fresh => "fresh",
        CacheTrace::Stale {
            revalidating: false,
        } => "stale",
        CacheTrace::Stale { revalidating: true } => "stale_revalidating",
        CacheTrace::Miss { stored: true, .. } => "miss_stored",
        CacheTrace::Miss { .. } => "miss",
        CacheTrace::Revalidated => "revalidated",
        CacheTrace::StaleIfError => "stale_if_error",
        CacheTrace::Coalesced => "coalesced",
        CacheTrace::Unsatisfiable => "unsatisfiable",
        _ => "unknown",
    }
}

fn not_stored(t: CacheTrace) -> Option<String> {
    match t {
        CacheTrace::Miss {
            not_stored: Some(r),
            ..
        } => serde_json::to_value(r)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned)),
        _ => None,
    }
}

fn outcome(o: &Observed) -> String {
    match (o.status, &o.error) {
        (Some(s), _) => format!("status {s}"),
        (None, Some(e)) => format!("error {e:?}"),
        (None, None) => "nothing".to_owned(),
    }
}

/// Checks one request's expectations.
pub(super) fn request(want: &Expect, record: &Record, sink: &mut Sink<'_>) {
    let seen = &record.observed;
    if let Some(status) = want.status
        && seen.status != Some(status)
    {
        sink.push("status", status, outcome(seen));
    }
    if let Some(error) = &want.error
        && seen.error.as_ref() != Some(error)
    {
        sink.push("error", format!("error {error:?}"), outcome(seen));
    }
    if let Some(body) = &want.body {
        let got = String::from_utf8_lossy(&seen.body);
        sink.check("body", Some(Quoted(body)), Quoted(&got));
    }
    for (name, value) in want.headers.iter().flatten() {
        let got = header(&seen.headers, name);
        sink.check_maybe(&format!("headers.{name}"), value.as_deref(), got.as_deref());
    }
    sink.check("from_cache", want.from_cache, seen.from_cache);
    sink.check("finished_at_ms", want.finished_at_ms, at(record.finished));

    let wants_trace = want.cache.is_some()
        || want.not_stored.is_some()
        || want.breaker.is_some()
        || want.retry_at_ms.is_some()
        || want.attempts.is_some()
        || want.elapsed_ms.is_some()
        || want.budget_left.is_some();
    let Some(trace) = seen.trace.as_ref() else {
        if wants_trace {
            sink.push(
                "trace",
                "a decision trace",
                "none (the engine never saw it)",
            );
        }
        return;
    };
    sink.check("cache", want.cache.as_deref(), cache_name(trace.cache));
    sink.check_opt(
        "not_stored",
        want.not_stored.as_ref(),
        not_stored(trace.cache).as_ref(),
    );
    let breaker = trace.breaker.map(|b| b.as_str().to_owned());
    sink.check_opt("breaker", want.breaker.as_ref(), breaker.as_ref());
    if let Some(retry_at_ms) = want.retry_at_ms {
        match trace.rejected {
            Some(RejectReason::BreakerOpen { retry_at, .. }) => {
                sink.check("retry_at_ms", Some(retry_at_ms), at(retry_at));
            }
            other => sink.push(
                "retry_at_ms",
                retry_at_ms,
                format!("no breaker refusal ({other:?})"),
            ),
        }
    }
    if let Some(attempts) = &want.attempts {
        check_attempts(attempts, trace, sink);
    }
    sink.check("elapsed_ms", want.elapsed_ms, ms(trace.total));
    sink.check_opt(
        "budget_left",
        want.budget_left.as_ref(),
        trace.budget_left.as_ref(),
    );
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn check_attempts(want: &[AttemptExpect], trace: &DecisionTrace, sink: &mut Sink<'_>) {
    if want.len() != trace.attempts.len() {
        sink.push(
            "attempts",
            format!("{} attempts", want.len()),
            format!("{} attempts ({})", trace.attempts.len(), trace.summary()),
        );
    }
    for (i, (w, got)) in want.iter().zip(&trace.attempts).enumerate() {
        check_attempt(&format!("attempts[{i}]"), w, got, sink);
    }
}

fn check_attempt(path: &str, want: &AttemptExpect, got: &AttemptTrace, sink: &mut Sink<'_>) {
    let field = |name: &str| format!("{path}.{name}");
    let result = match got.result {
        AttemptResult::Status { status } => AttemptOutcome::Status(status),
        AttemptResult::Transport { error } => AttemptOutcome::Error(error.as_str().to_owned()),
        _ => AttemptOutcome::Error("unknown".to_owned()),
    };
    sink.check(&field("result"), Some(&want.result), &result);
    let (next, delay, retry_after, reason): (_, _, _, Option<GiveUpReason>) = match got.next {
        AttemptNext::Accept => ("accept", None, None, None),
        AttemptNext::Retry {
            delay, retry_after, ..
        } => ("retry", Some(ms(delay)), retry_after.map(ms), None),
        AttemptNext::GiveUp { reason } => ("give_up", None, None, Some(reason)),
        _ => ("unknown", None, None, None),
    };
    sink.check(&field("next"), Some(want.next.as_str()), next);
    if let Some(delay_ms) = want.delay_ms {
        sink.check_maybe(&field("delay_ms"), Some(&delay_ms), delay.as_ref());
    }
    sink.check_opt(
        &field("retry_after_ms"),
        want.retry_after_ms.as_ref(),
        retry_after.as_ref(),
    );
    if let Some(expected) = &want.reason {
        sink.check_maybe(
            &field("reason"),
            Some(expected.as_str()),
            reason.map(GiveUpReason::as_str),
        );
    }
    sink.check(&field("started_ms"), want.started_ms, at(got.started_at));
    sink.check(&field("latency_ms"), want.latency_ms, ms(got.latency));
}

/// Checks the client as a whole.
#[expect(
    clippy::too_many_lines,
    reason = "one flat list of checks, each a few lines, in the order of the vector format"
)]
pub(super) fn client(c: &Checks, w: &World<'_>, s: &mut Sink<'_>) {
    s.check("clock_ms", c.clock_ms, at(w.clock.now()));
    let sent = w.transport.sent();
    s.check("upstream_calls", c.upstream_calls, sent.len() as u64);
    for (key, want) in c.upstream_hits.iter().flatten() {
        let got = sent
            .iter()
            .filter(|(_, r)| format!("{} {}", r.method(), path_of(r)) == *key)
            .count() as u64;
        s.check(&format!("upstream_hits.{key}"), Some(*want), got);
    }
    if let Some(log) = &c.upstream_log {
        if log.len() != sent.len() {
            let calls: Vec<String> = sent
                .iter()
                .map(|(t, r)| format!("{} {} at {}", r.method(), path_of(r), at(*t)))
                .collect();
            s.push(
                "upstream_log",
                format!("{} calls", log.len()),
                format!("{} calls [{}]", sent.len(), calls.join(", ")),
            );
        }
        for (i, (want, (t, r))) in log.iter().zip(sent.iter()).enumerate() {
            s.check(&format!("upstream_log[{i}].at_ms"), want.at_ms, at(*t));
            s.check(
                &format!("upstream_log[{i}].method"),
                want.method.as_deref(),
                r.method().as_str(),
            );
            s.check(
                &format!("upstream_log[{i}].path"),
                want.path.as_deref(),
                path_of(r),
            );
            for (name, value) in want.headers.iter().flatten() {
                let got = header(r.headers(), name);
                s.check_maybe(
                    &format!("upstream_log[{i}].headers.{name}"),
                    value.as_deref(),
                    got.as_deref(),
                );
            }
        }
    }
    drop(sent);

    let needs_snapshot = c.breakers.is_some()
        || c.metrics.is_some()
        || c.cache.is_some()
        || c.retry_budget.is_some()
        || c.in_flight.is_some();
    if !needs_snapshot {
        return;
    }
    let snap = adapter::snapshot(w.client);
    for (name, want) in c.breakers.iter().flatten() {
        let got = snap
            .breakers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.state.as_str());
        s.check_maybe(&format!("breakers.{name}"), want.as_deref(), got);
    }
    for (scope, want) in c.metrics.iter().flatten() {
        let got = if scope == "global" {
            Some(&snap.metrics.global)
        } else {
            snap.metrics.service(scope)
        };
        let Some(got) = got else {
            s.push(
                format!("metrics.{scope}"),
                "a tracked service",
                "not tracked",
            );
            continue;
        };
        let f = |name: &str| format!("metrics.{scope}.{name}");
        s.check(&f("requests"), want.requests, got.total_requests);
        s.check(&f("successful"), want.successful, got.successful_requests);
        s.check(&f("failed"), want.failed, got.failed_requests);
        s.check(&f("attempts"), want.attempts, got.attempts);
        s.check(
            &f("failed_attempts"),
            want.failed_attempts,
            got.failed_attempts,
        );
        s.check(&f("retries"), want.retries, got.retries);
        s.check(&f("cache_hits"), want.cache_hits, got.cache.hits);
        s.check(&f("cache_misses"), want.cache_misses, got.cache.misses);
        s.check(&f("cache_stale"), want.cache_stale, got.cache.stale);
        s.check(
            &f("cache_revalidated"),
            want.cache_revalidated,
            got.cache.revalidated,
        );
        s.check(&f("cache_bypass"), want.cache_bypass, got.cache.bypass);
        let failures: BTreeMap<String, u64> = got
            .failures_by_category
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.as_str().to_owned(), *n))
            .collect();
        map(s, &f("failures"), want.failures.as_ref(), &failures);
        let counts = |m: &tether_core::CountMap| -> BTreeMap<String, u64> {
            m.iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_owned(), n))
                .collect()
        };
        map(
            s,
            &f("errors"),
            want.errors.as_ref(),
            &counts(&got.error_counts),
        );
        map(
            s,
            &f("breaker_transitions"),
            want.breaker_transitions.as_ref(),
            &counts(&got.breaker_transitions),
        );
    }
    if let Some(want) = &c.cache {
        let got = &snap.cache;
        s.check("cache.entries", want.entries, got.entries as u64);
        s.check("cache.stores", want.stores, got.stores);
        s.check("cache.hits", want.hits, got.hits);
        s.check("cache.misses", want.misses, got.misses);
        s.check("cache.stale_hits", want.stale_hits, got.stale_hits);
        s.check("cache.revalidations", want.revalidations, got.revalidations);
        s.check("cache.coalesced", want.coalesced, got.coalesced);
        s.check("cache.uncoalesced", want.uncoalesced, got.uncoalesced);
        s.check("cache.bypasses", want.bypasses, got.bypasses);
        s.check("cache.evictions", want.evictions, got.evictions);
    }
    s.check_opt(
        "retry_budget",
        c.retry_budget.as_ref(),
        snap.retry_budget.as_ref(),
    );
    s.check("in_flight", c.in_flight, snap.in_flight as u64);
}

/// A name → count map, compared whole.
fn map(
    s: &mut Sink<'_>,
    field: &str,
    want: Option<&BTreeMap<String, u64>>,
    got: &BTreeMap<String, u64>,
) {
    if let Some(want) = want
        && want != got
    {
        s.push(field, format!("{want:?}"), format!("{got:?}"));
    }
}

/// The end-of-run invariant: the engine tracks no request once all have finished.
pub(super) fn no_leak(w: &World<'_>, s: &mut Sink<'_>) {
    let snap = adapter::snapshot(w.client);
    if snap.in_flight != 0 {
        s.push(
            "in_flight (end of run)",
            0,
            format!("{} requests still tracked by the engine", snap.in_flight),
        );
    }
}
