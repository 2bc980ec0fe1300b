// A typed tour of the JavaScript API, compiled with `tsc --strict` by `make test-wasm` and then
// run under Node against the chaos upstream (run-example.mjs). In a browser:
//
//   import init from "tether-wasm";
//   await init();                      // fetches tether_wasm_bg.wasm next to the module
//   console.log(await tour("https://api.example.com"));
import {
  TetherClient,
  isTetherError,
  type ClientMetrics,
  type CircuitBreakerState,
  type DecisionTrace,
  type ResponseEvent,
  type TetherResponse,
} from "tether-wasm";

export interface TourResult {
  status: number;
  attempts: number;
  fromCache: boolean;
  requestId: string | null;
  errorKind: string;
  errorStatus: number | undefined;
  breaker: CircuitBreakerState["state"];
  successRate: number;
  responsesSeen: number;
  prometheusLines: number;
}

export async function tour(baseUrl: string, key: string): Promise<TourResult> {
  const client = new TetherClient({
    timeout: 5_000,
    maxRetries: 3,
    backoff: { kind: "constant", delay: 20 },
    cache: { maxEntries: 1_000 },
    breaker: { consecutiveFailures: 5, breakDuration: 30_000 },
    headers: { "x-app": "tour" },
  });

  const seen: ResponseEvent[] = [];
  client.onRequest((_event, headers) => {
    headers["x-request-id"] = `tour-${key}`;
  });
  client.onResponse(async (event) => {
    seen.push(event);
  });

  // Retried twice, then a 200: the trace says why.
  const flaky: TetherResponse = await client.request("GET", `${baseUrl}/flaky/${key}?fail=2`);
  const trace: DecisionTrace = flaky.trace;
  const body = flaky.json() as { attempt: number };
  if (body.attempt !== trace.attempts.length) {
    throw new Error(`attempt ${body.attempt} vs ${trace.attempts.length} in the trace`);
  }

  // The cache answers the second call.
  await client.get(`${baseUrl}/cache/60?key=${key}`);
  const cached = await client.get(`${baseUrl}/cache/60?key=${key}`);
  const echo = await client.get(`${baseUrl}/echo`);
  const requestId = echo.json().headers["x-request-id"] ?? null;

  // A service client rejects 4xx/5xx with a typed error.
  const api = client.serviceClient("tour-api", baseUrl);
  let errorKind = "none";
  let errorStatus: number | undefined;
  try {
    await api.get(`/status/404?key=${key}`);
  } catch (e: unknown) {
    if (!isTetherError(e)) throw e;
    errorKind = e.kind;
    errorStatus = e.status;
  }

  const metrics: ClientMetrics = client.metrics();
  const prometheus: string = client.exportMetrics("prometheus");
  const breaker = api.breakerState();
  client.close();
  return {
    status: flaky.status,
    attempts: trace.attempts.length,
    fromCache: cached.fromCache,
    requestId,
    errorKind,
    errorStatus,
    breaker: breaker.state,
    successRate: metrics.success_rate,
    responsesSeen: seen.length,
    prometheusLines: prometheus.split("\n").length,
  };
}
