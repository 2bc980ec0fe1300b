/** Milliseconds. */
export type Millis = number;

/** Options of `new TetherClient(options)`; every field is optional. Durations in ms. */
export interface ClientOptions {
  /** Time limit of each attempt (default 30 000). */
  timeout?: Millis;
  /** Overall limit of each request, retries and backoff included (default: none). */
  totalTimeout?: Millis;
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** Delay before each retry (default: decorrelated jitter, 250 ms first median, 5 s cap). */
  backoff?: BackoffOptions;
  /** The client-wide retry budget; `false` turns it off (default: 10 s, 10/s, 20 %). */
  retryBudget?: boolean | RetryBudgetOptions;
  /** Which outcomes are retried, and `Retry-After`. */
  retry?: RetryOptions;
  /** The response cache (RFC 9111, credential-partitioned); `false` turns it off. */
  cache?: boolean | CacheOptions;
  /** The circuit breaker of every service (and host) without an override. */
  breaker?: BreakerOptions;
  /** Per-service breaker overrides (each starts from `breaker`). */
  serviceBreakers?: Record<string, BreakerOptions>;
  /** Headers sent with every request unless the request sets them (default: `Accept: application/json`). */
  headers?: Record<string, string>;
  /** How `fetch` is called. */
  fetch?: FetchOptions;
}

export type BackoffOptions =
  | { kind: "constant"; delay: Millis }
  | { kind: "exponential"; base: Millis; factor?: number; max: Millis }
  | { kind: "fullJitter"; base: Millis; max: Millis }
  | { kind: "decorrelatedJitter"; medianFirst: Millis; max: Millis }
  | { kind: "original" };

export interface RetryBudgetOptions {
  ttl?: Millis;
  minPerSec?: number;
  percentCanRetry?: number;
}

export interface RetryOptions {
  /** Default 408, 429, 500, 502, 503, 504. */
  retryableStatuses?: number[];
  /** Default true. */
  respectRetryAfter?: boolean;
  /** The longest `Retry-After` honoured; a longer one gives up (default 60 000). */
  maxRetryAfter?: Millis;
  /** Cap on a backoff delay (default 30 000). */
  maxDelay?: Millis;
  /** Retry POST/PATCH without an idempotency key (default false). */
  retryNonIdempotent?: boolean;
  /** Default `Idempotency-Key`. */
  idempotencyHeader?: string;
}

export interface CacheOptions {
  mode?: "rfc9111" | "ttlOnly";
  defaultTtl?: Millis;
  maxTtl?: Millis;
  maxEntries?: number;
  maxBytes?: number;
  maxEntryBytes?: number;
  staleIfError?: Millis;
  keyHeaders?: string[];
  nonIdentifyingHeaders?: string[];
  excludeQueryParams?: string[];
}

export interface BreakerOptions {
  /** Open after this many consecutive failures (default 5); `null` turns the trigger off. */
  consecutiveFailures?: number | null;
  /** How long the breaker stays open (default 60 000). */
  breakDuration?: Millis;
  /** Probes that must succeed in half-open (default 1). */
  halfOpenProbes?: number;
  /** A probe not back after this long failed (default 30 000). */
  probeTimeout?: Millis;
  /** Open when the failure ratio over a window reaches `threshold`. */
  failureRatio?: { threshold: number; minThroughput: number; windowCalls?: number; windowMs?: Millis };
}

export interface FetchOptions {
  /** Default "same-origin". Clear the cache (`clearCache()`) when the cookies change. */
  credentials?: "omit" | "same-origin" | "include";
  /** Default "cors". */
  mode?: "cors" | "same-origin" | "no-cors";
  /** The browser's own HTTP cache; default "no-store" (the client's cache decides). */
  cache?: "no-store" | "default" | "no-cache" | "reload" | "force-cache";
  /** Default 16 MiB. */
  maxBodyBytes?: number;
  /** Default false: the browser sends its own User-Agent. */
  sendUserAgent?: boolean;
}

/** Options of one request. */
export interface RequestOptions {
  headers?: Record<string, string> | Headers | [string, string][];
  /** Appended to the URL, form-encoded. */
  query?: Record<string, string | number | boolean> | [string, string | number | boolean][];
  /** A JSON body (`Content-Type: application/json` unless set). */
  json?: unknown;
  /** A raw body. */
  body?: string | Uint8Array | ArrayBuffer;
  /** Overall limit of this request, retries included. */
  timeout?: Millis;
  /** Account the request under this service (breaker, metrics) instead of the URL's host. */
  service?: string;
  /** Marks a POST/PATCH as safe to retry. */
  idempotencyKey?: string;
  /** Aborting it cancels the request (it rejects with kind "cancelled"). */
  signal?: AbortSignal;
}

/** Every `kind` a {@link TetherError} may have. */
export type ErrorKind =
  | "invalid_url" | "invalid_endpoint" | "invalid_header" | "invalid_method" | "invalid_body"
  | "invalid_request"
  | "status"
  | "timeout" | "connect" | "reset" | "body_too_large" | "protocol" | "other" | "cancelled"
  | "circuit_open" | "only_if_cached" | "overloaded"
  | "closed" | "json" | "config" | "registry_full" | "no_executor" | "runtime_unavailable"
  | "internal";

/** What every failed call rejects with: an `Error` whose `name` is "TetherError". */
export interface TetherError extends Error {
  name: "TetherError";
  kind: ErrorKind;
  /** The status a gateway would answer with (502, 503, 504, 400, or the upstream's). */
  httpStatus: number;
  /** The upstream's status, for kind "status". */
  status?: number;
  /** The service the request was accounted under. */
  service?: string;
  /** For kind "circuit_open": when the breaker admits a call again. */
  retryAfterMs?: number;
  /** For kind "status": the upstream's `detail`, or the start of its body. */
  bodyExcerpt?: string;
  /** Why it went the way it did, when the engine saw the request. */
  trace?: DecisionTrace;
}

export type TransportErrorKind =
  | "connect" | "timeout" | "reset" | "body_too_large" | "protocol" | "cancelled"
  | "invalid_request" | "other";
export type BreakerStateName = "closed" | "open" | "half_open" | "isolated" | "disabled";

export type CacheTrace =
  | { kind: "bypass" } | { kind: "fresh" } | { kind: "stale"; revalidating: boolean }
  | { kind: "miss"; stored: boolean; not_stored: string | null }
  | { kind: "revalidated" } | { kind: "stale_if_error" } | { kind: "coalesced" }
  | { kind: "unsatisfiable" };

export interface AttemptTrace {
  attempt: number;
  /** Microseconds on the client's monotonic clock. */
  started_at: number;
  latency_ms: number;
  result: { kind: "status"; status: number } | { kind: "transport"; error: TransportErrorKind };
  next:
    | { kind: "accept" }
    | { kind: "retry"; delay_ms: number; reason: { status: number } | { transport: TransportErrorKind }; retry_after_ms: number | null }
    | { kind: "give_up"; reason: string };
}

/** Every decision on the way: cache, breaker, each attempt and what followed it. */
export interface DecisionTrace {
  /** Microseconds on the client's monotonic clock. */
  started_at: number;
  cache: CacheTrace;
  breaker: BreakerStateName | null;
  attempts: AttemptTrace[];
  budget_left: number | null;
  rejected: { kind: string; [key: string]: unknown } | null;
  total_ms: number;
}

/** What a request hook sees (secrets redacted). */
export interface RequestEvent {
  service: string | null;
  method: string;
  url: string;
  headers: [string, string][];
  /** RFC 3339. */
  timestamp: string;
}

/** What a response hook sees. */
export interface ResponseEvent {
  requestId: number;
  service: string;
  method: string;
  url: string;
  status: number;
  fromCache: boolean;
  attempts: number;
  elapsedMs: number;
  trace: DecisionTrace;
  timestamp: string;
}

/** What an error hook sees. */
export interface RequestErrorEvent {
  requestId: number;
  service: string;
  method: string;
  url: string;
  kind: ErrorKind;
  message: string;
  attempts: number;
  elapsedMs: number;
  trace: DecisionTrace;
  timestamp: string;
}

/** A breaker, health or alert event. */
export interface EngineEvent {
  source: "breaker" | "alert" | "health";
  [key: string]: unknown;
}

export interface HookFailure {
  stage: "request" | "response" | "error" | "event";
  message: string;
}

/**
 * Runs before the cache lookup. Change `headers` in place, or return (or resolve to) the
 * headers to send; a throw or a rejection is reported, never fails the request.
 */
export type RequestHook = (event: RequestEvent, headers: Record<string, string>) =>
  void | Record<string, string> | Promise<void | Record<string, string>>;
export type ResponseHook = (event: ResponseEvent) => void | Promise<void>;
export type ErrorHook = (event: RequestErrorEvent) => void | Promise<void>;
export type EventHook = (event: EngineEvent) => void;
export type FailureHook = (failure: HookFailure) => void;

export interface CacheStats {
  enabled: boolean;
  hits: number;
  misses: number;
  stale_hits: number;
  revalidations: number;
  coalesced: number;
  uncoalesced: number;
  bypasses: number;
  stores: number;
  evictions: number;
  invalidations: number;
  entries: number;
  bytes: number;
  max_entries: number;
  max_bytes: number;
}

/** A client's totals (the same record every Tether frontend reports). Times in seconds. */
export interface ClientMetrics {
  total_requests: number;
  successful_requests: number;
  failed_requests: number;
  success_rate: number;
  average_response_time: number;
  min_response_time: number;
  max_response_time: number;
  error_counts: Record<string, number>;
  cache_stats: CacheStats;
  last_request_time: string | null;
}

/** One service's numbers (the same counters, without the cache), then its client's totals. */
export interface ServiceMetrics extends Omit<ClientMetrics, "cache_stats"> {
  service: string;
  http_client_metrics: ClientMetrics;
}

export interface CircuitBreakerState {
  service: string;
  state: "CLOSED" | "OPEN" | "HALF_OPEN";
  failure_count: number;
  last_failure_time: string | null;
  failure_threshold: number | null;
}

export interface HealthCheck {
  service: string;
  healthy: boolean;
  status_code: number | null;
  /** Seconds. */
  check_time: number;
  last_check: string;
  error: string | null;
}

export type MetricsFormat = "json" | "prometheus" | "influxdb";

export interface ServiceClientOptions {
  /** The path `healthCheck()` probes (default "/health"), confined to the base URL. */
  healthPath?: string;
}
