//! `tether get URL`: one request through the resilient client, and why it went the way it did.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::json;
use tether_native::tether_core::{redact_headers, redact_url};
use tether_native::{
    AttemptNext, AttemptResult, CacheTrace, DecisionTrace, Error, RejectReason, Response,
    tether_core::RetryReason,
};

use crate::Failure;
use crate::clock;
use crate::duration::{Human, millis};
use crate::request::RequestArgs;

/// `tether get URL`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The URL (http:// or https://).
    url: String,
    #[command(flatten)]
    request: RequestArgs,
    /// Print the outcome and the decision trace as one JSON document (no body).
    #[arg(long)]
    json: bool,
    /// Also print the response headers (secret ones redacted).
    #[arg(short = 'i', long)]
    include: bool,
    /// Do not print the response body.
    #[arg(long)]
    no_body: bool,
}

/// Sends the request and prints the outcome. Exit status 0 only for a response below 400.
pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let prepared = args.request.prepare(&args.url)?;
    let client = args.request.client()?;
    let started = clock::now();
    let result = prepared.on(&client).send().await;
    let elapsed = started.elapsed();
    let shown_url = redact_url(&args.url);
    let text = if args.json {
        let mut doc = json!({
            "request": { "method": prepared.method.as_str(), "url": shown_url },
            "elapsed_ms": millis(elapsed),
        });
        match &result {
            Ok(response) => {
                let headers: Vec<_> = redact_headers(response.headers());
                doc["status"] = json!(response.status().as_u16());
                doc["from_cache"] = json!(response.from_cache());
                doc["service"] = json!(response.service());
                doc["headers"] = json!(headers);
                doc["body_bytes"] = json!(response.bytes().len());
                doc["trace"] = json!(response.trace());
            }
            Err(error) => {
                doc["error"] = json!({
                    "kind": error.kind(),
                    "message": error.to_string(),
                    "http_status": error.http_status(),
                });
                doc["trace"] = json!(error.trace());
            }
        }
        let mut s = serde_json::to_string_pretty(&doc)
            .map_err(|e| Failure::Failed(format!("cannot write JSON: {e}")))?;
        s.push('\n');
        s
    } else {
        let mut s = format!("{} {shown_url}\n", prepared.method);
        match &result {
            Ok(response) => human_response(&mut s, response, elapsed, args.include),
            Err(error) => human_error(&mut s, error, elapsed),
        }
        s
    };
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| {
        match &result {
            Ok(response) if !args.json && !args.no_body && !response.bytes().is_empty() => {
                out.write_all(b"\n")?;
                out.write_all(response.bytes())?;
                if !response.bytes().ends_with(b"\n") {
                    out.write_all(b"\n")?;
                }
            }
            _ => {}
        }
        out.flush()
    });
    // A closed pipe (`| head`) is not worth a message.
    drop(written);
    match result {
        Ok(response) if response.status().as_u16() < 400 => Ok(()),
        _ => Err(Failure::Failed(String::new())),
    }
}

fn human_response(
    s: &mut String,
    response: &Response,
    elapsed: std::time::Duration,
    include: bool,
) {
    let status = response.status();
    let _ = writeln!(
        s,
        "{} {} in {} ({}, service {})",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        Human(elapsed),
        if response.from_cache() {
            "from cache"
        } else {
            "from upstream"
        },
        response.service(),
    );
    trace_lines(s, response.trace());
    if include {
        s.push_str("headers:\n");
        for (name, value) in redact_headers(response.headers()) {
            let _ = writeln!(s, "  {name}: {value}");
        }
    }
}

fn human_error(s: &mut String, error: &Error, elapsed: std::time::Duration) {
    let _ = writeln!(
        s,
        "error after {}: {error}\n  kind {} (a gateway would answer {})",
        Human(elapsed),
        error.kind(),
        error.http_status(),
    );
    if let Some(trace) = error.trace() {
        trace_lines(s, trace);
    }
}

fn retry_reason(reason: RetryReason) -> String {
    match reason {
        RetryReason::Status(status) => format!("status {status}"),
        RetryReason::Transport(kind) => format!("{kind} error"),
        other => format!("{other:?}"),
    }
}

/// The decision trace, one decision a line, then its one-line summary.
pub(crate) fn trace_lines(s: &mut String, trace: &DecisionTrace) {
    let cache = match trace.cache {
        CacheTrace::Bypass => "bypass (not looked up)".to_owned(),
        CacheTrace::Fresh => "fresh hit (nothing sent)".to_owned(),
        CacheTrace::Stale { revalidating } => format!(
            "stale hit{}",
            if revalidating {
                ", revalidating in the background"
            } else {
                ""
            }
        ),
        CacheTrace::Miss { stored, not_stored } => match (stored, not_stored) {
            (true, _) => "miss, response stored".to_owned(),
            (false, Some(reason)) => format!("miss, not stored ({reason:?})"),
            (false, None) => "miss".to_owned(),
        },
        CacheTrace::Revalidated => "revalidated (304 Not Modified)".to_owned(),
        CacheTrace::StaleIfError => "served stale after an upstream error".to_owned(),
        CacheTrace::Coalesced => "waited for an identical request in flight".to_owned(),
        CacheTrace::Unsatisfiable => "only-if-cached, nothing stored".to_owned(),
        _ => format!("{:?}", trace.cache),
    };
    let _ = writeln!(s, "  cache    {cache}");
    if let Some(breaker) = trace.breaker {
        let _ = writeln!(s, "  breaker  {breaker}");
    }
    for a in &trace.attempts {
        let result = match a.result {
            AttemptResult::Status { status } => status.to_string(),
            AttemptResult::Transport { error } => format!("{error} error"),
            _ => "?".to_owned(),
        };
        let next = match a.next {
            AttemptNext::Accept => "accepted".to_owned(),
            AttemptNext::Retry {
                delay,
                reason,
                retry_after,
            } => format!(
                "retry in {} ({}{})",
                Human(delay),
                retry_reason(reason),
                if retry_after.is_some() {
                    ", server's Retry-After"
                } else {
                    ""
                }
            ),
            AttemptNext::GiveUp { reason } => format!("give up ({})", reason.as_str()),
            _ => "?".to_owned(),
        };
        let _ = writeln!(
            s,
            "  attempt {}  {result} in {}  -> {next}",
            a.attempt,
            Human(a.latency)
        );
    }
    if let Some(reject) = trace.rejected {
        let why = match reject {
            RejectReason::BreakerOpen { state, .. } => format!("circuit breaker {state}"),
            other => format!("{other:?}"),
        };
        let _ = writeln!(s, "  refused  {why}");
    }
    if let Some(left) = trace.budget_left {
        let _ = writeln!(s, "  retry budget left {left}");
    }
    let _ = writeln!(s, "  trace    {}", trace.summary());
}
