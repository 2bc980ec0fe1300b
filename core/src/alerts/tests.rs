//! Unit and model tests of the alert engine (exact float values are asserted on purpose).
#![allow(clippy::float_cmp)]

use super::*;

fn t(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn w(s: u64) -> WallClock {
    WallClock::from_unix_secs(1_800_000_000 + s)
}

fn engine() -> AlertEngine {
    AlertEngine::new(AlertConfig::default()).expect("default config is valid")
}

fn engine_with(rules: Vec<AlertRule>) -> AlertEngine {
    AlertEngine::new(AlertConfig {
        rules,
        ..AlertConfig::default()
    })
    .expect("valid test config")
}

fn drain(e: &mut AlertEngine) -> Vec<AlertEvent> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn fired(events: &[AlertEvent]) -> Vec<&Alert> {
    events
        .iter()
        .filter_map(|e| match e {
            AlertEvent::Fired(a) => Some(a),
            AlertEvent::Resolved(_) => None,
        })
        .collect()
}

fn resolved(events: &[AlertEvent]) -> Vec<&Alert> {
    events
        .iter()
        .filter_map(|e| match e {
            AlertEvent::Resolved(a) => Some(a),
            AlertEvent::Fired(_) => None,
        })
        .collect()
}

fn svc(name: &str, requests: u64, error_rate: f64, avg_ms: f64) -> ServiceSignals {
    ServiceSignals {
        name: name.to_owned(),
        requests_in_window: requests,
        avg_response_ms: avg_ms,
        p95_response_ms: avg_ms,
        error_rate,
        ..ServiceSignals::default()
    }
}

fn services(list: Vec<ServiceSignals>) -> AlertInput {
    AlertInput {
        system: None,
        services: list,
    }
}

fn system(cpu: f64, mem: f64) -> AlertInput {
    AlertInput {
        system: Some(SystemSignals {
            cpu_percent: cpu,
            memory_percent: mem,
        }),
        services: Vec::new(),
    }
}

#[test]
fn alert_fires_once_and_resolves_once() {
    let mut e = engine();
    let bad = services(vec![svc("api", 10, 1.0, 20.0)]);
    let mut events = Vec::new();
    for i in 0..10 {
        e.evaluate(t(i * 30), w(i * 30), &bad);
        events.extend(drain(&mut e));
    }
    let f = fired(&events);
    assert_eq!(f.len(), 1, "{events:?}");
    assert_eq!(f[0].alert_type, SERVICE_ERRORS);
    assert_eq!(f[0].service.as_deref(), Some("api"));
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].message, "Service api success rate is 0.00%");
    assert_eq!(f[0].value, 1.0);
    assert_eq!(f[0].threshold, 0.1);
    assert_eq!(f[0].fired_at, w(0));
    assert_eq!(f[0].id, 1);
    assert!(resolved(&events).is_empty());
    assert_eq!(e.active().count(), 1);

    let good = services(vec![svc("api", 10, 0.0, 20.0)]);
    let mut events = Vec::new();
    for i in 10..20 {
        e.evaluate(t(i * 30), w(i * 30), &good);
        events.extend(drain(&mut e));
    }
    assert!(fired(&events).is_empty());
    let r = resolved(&events);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].id, 1);
    assert_eq!(r[0].resolved_at, Some(w(300)));
    assert_eq!(e.active().count(), 0);
    let h: Vec<_> = e.history(None, None).collect();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].resolved_at, Some(w(300)));

    // Firing again later is a new alert with a new id.
    e.evaluate(t(1000), w(1000), &bad);
    let again = drain(&mut e);
    assert_eq!(fired(&again)[0].id, 2);
}

#[test]
fn no_alert_for_an_idle_service() {
    let mut e = engine();
    // The original's idle client: 0 requests, success rate 0.0 (error rate reads as 1.0 or 0.0).
    let idle = services(vec![
        svc("api", 0, 1.0, 0.0),
        ServiceSignals::idle("data-service"),
    ]);
    for i in 0..5 {
        e.evaluate(t(i), w(i), &idle);
    }
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.history(None, None).count(), 0);
}

#[test]
fn firing_alert_resolves_when_service_goes_idle_or_away() {
    let mut e = engine();
    e.evaluate(
        t(0),
        w(0),
        &services(vec![svc("a", 5, 0.5, 1.0), svc("b", 5, 0.5, 1.0)]),
    );
    assert_eq!(fired(&drain(&mut e)).len(), 2);
    // a goes idle, b disappears from the input.
    e.evaluate(t(1), w(1), &services(vec![ServiceSignals::idle("a")]));
    let ev = drain(&mut e);
    let mut names: Vec<_> = resolved(&ev)
        .iter()
        .map(|a| a.service.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["a", "b"]);
}

#[test]
fn min_requests_gates_error_rate() {
    let mut e = engine_with(vec![AlertRule::new(
        "errs",
        RuleKind::ErrorRate { min_requests: 20 },
        Severity::Error,
        0.1,
    )]);
    e.evaluate(t(0), w(0), &services(vec![svc("api", 19, 1.0, 0.0)]));
    assert!(drain(&mut e).is_empty());
    e.evaluate(t(1), w(1), &services(vec![svc("api", 20, 1.0, 0.0)]));
    assert_eq!(fired(&drain(&mut e)).len(), 1);
}

#[test]
fn hysteresis_prevents_flapping() {
    let mut e = engine();
    // Error rate oscillating around 0.1; the band is (0.09, 0.1].
    let values = [0.11, 0.095, 0.105, 0.091, 0.12, 0.1, 0.099];
    let mut events = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let i = i as u64;
        e.evaluate(t(i), w(i), &services(vec![svc("api", 100, *v, 1.0)]));
        events.extend(drain(&mut e));
    }
    assert_eq!(fired(&events).len(), 1);
    assert!(resolved(&events).is_empty());
    // Back past the band: resolves.
    e.evaluate(t(10), w(10), &services(vec![svc("api", 100, 0.09, 1.0)]));
    assert_eq!(resolved(&drain(&mut e)).len(), 1);
    // Without hysteresis the same sequence flaps.
    let mut e = engine_with(vec![
        AlertRule::new(
            "errs",
            RuleKind::ErrorRate { min_requests: 1 },
            Severity::Error,
            0.1,
        )
        .with_hysteresis(0.0),
    ]);
    let mut events = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let i = i as u64;
        e.evaluate(t(i), w(i), &services(vec![svc("api", 100, *v, 1.0)]));
        events.extend(drain(&mut e));
    }
    assert_eq!(fired(&events).len(), 3);
    assert_eq!(resolved(&events).len(), 3);
}

#[test]
fn resolve_after_requires_a_sustained_clear() {
    let mut e = engine_with(vec![
        AlertRule::new("cpu", RuleKind::CpuPercent, Severity::Warning, 80.0)
            .with_resolve_after(Duration::from_mins(1)),
    ]);
    e.evaluate(t(0), w(0), &system(90.0, 0.0));
    assert_eq!(fired(&drain(&mut e)).len(), 1);
    e.evaluate(t(30), w(30), &system(10.0, 0.0));
    e.evaluate(t(60), w(60), &system(10.0, 0.0));
    assert!(drain(&mut e).is_empty());
    // Back above the clear level: the clear timer restarts.
    e.evaluate(t(70), w(70), &system(75.0, 0.0));
    e.evaluate(t(100), w(100), &system(10.0, 0.0));
    e.evaluate(t(150), w(150), &system(10.0, 0.0));
    assert!(drain(&mut e).is_empty());
    e.evaluate(t(160), w(160), &system(10.0, 0.0));
    let r = drain(&mut e);
    assert_eq!(resolved(&r).len(), 1);
    assert_eq!(resolved(&r)[0].resolved_at, Some(w(160)));
}

#[test]
fn for_duration_waits_in_pending() {
    let mut e = engine_with(vec![
        AlertRule::new("cpu", RuleKind::CpuPercent, Severity::Critical, 80.0)
            .with_for_duration(Duration::from_mins(1)),
    ]);
    e.evaluate(t(0), w(0), &system(95.0, 0.0));
    assert_eq!(e.pending_count(), 1);
    e.evaluate(t(59), w(59), &system(95.0, 0.0));
    assert!(drain(&mut e).is_empty());
    // Condition drops while pending: back to inactive, the clock restarts.
    e.evaluate(t(60), w(60), &system(50.0, 0.0));
    assert_eq!(e.pending_count(), 0);
    e.evaluate(t(61), w(61), &system(95.0, 0.0));
    e.evaluate(t(120), w(120), &system(95.0, 0.0));
    assert!(drain(&mut e).is_empty());
    e.evaluate(t(121), w(121), &system(99.5, 0.0));
    let f = drain(&mut e);
    assert_eq!(fired(&f).len(), 1);
    assert_eq!(fired(&f)[0].fired_at, w(121));
    assert_eq!(fired(&f)[0].message, "CPU usage is 99.5%");
    assert_eq!(fired(&f)[0].severity, Severity::Critical);
    assert_eq!(e.pending_count(), 0);
}

#[test]
fn system_rules_use_the_original_thresholds_and_messages() {
    let mut e = engine();
    e.evaluate(t(0), w(0), &system(80.0, 85.0));
    assert!(drain(&mut e).is_empty(), "comparisons are strict");
    e.evaluate(t(1), w(1), &system(99.5, 90.0));
    let ev = drain(&mut e);
    let f = fired(&ev);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].alert_type, SYSTEM_CPU_HIGH);
    assert_eq!(f[0].message, "CPU usage is 99.5%");
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].service, None);
    assert_eq!(f[1].alert_type, SYSTEM_MEMORY_HIGH);
    assert_eq!(f[1].message, "Memory usage is 90.0%");
    // No system sample: held, neither resolved nor re-fired.
    e.evaluate(t(2), w(2), &AlertInput::default());
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.active().count(), 2);
    e.evaluate(t(3), w(3), &system(10.0, 10.0));
    assert_eq!(resolved(&drain(&mut e)).len(), 2);
}

#[test]
fn service_slow_and_unhealthy_messages() {
    let mut e = engine();
    let mut s = svc("api", 3, 0.0, 6000.0);
    s.health = Some(HealthStatus::Unhealthy);
    let mut d = ServiceSignals::idle("data-service");
    d.health = Some(HealthStatus::Degraded);
    e.evaluate(t(0), w(0), &services(vec![s, d]));
    let ev = drain(&mut e);
    let f = fired(&ev);
    assert_eq!(f.len(), 2, "{f:?}");
    let slow = f.iter().find(|a| a.alert_type == SERVICE_SLOW).unwrap();
    assert_eq!(slow.message, "Service api response time is 6.00s");
    assert_eq!(slow.severity, Severity::Warning);
    assert_eq!(slow.value, 6000.0);
    assert_eq!(slow.threshold, 5000.0);
    let unh = f
        .iter()
        .find(|a| a.alert_type == SERVICE_UNHEALTHY)
        .unwrap();
    assert_eq!(unh.message, "Service api is unhealthy");
    assert_eq!(unh.severity, Severity::Error);
}

#[test]
fn p95_rule() {
    let mut e = engine_with(vec![AlertRule::new(
        "p95",
        RuleKind::ResponseTime {
            stat: LatencyStat::P95,
            min_requests: 1,
        },
        Severity::Warning,
        1000.0,
    )]);
    let mut s = svc("api", 10, 0.0, 100.0);
    s.p95_response_ms = 1500.0;
    e.evaluate(t(0), w(0), &services(vec![s]));
    let ev = drain(&mut e);
    assert_eq!(
        fired(&ev)[0].message,
        "Service api p95 response time is 1.50s"
    );
}

#[test]
fn breaker_open_rule() {
    let mut e = engine();
    let mut s = ServiceSignals::idle("api");
    s.breaker_open = true;
    for i in 0..3 {
        e.evaluate(t(i), w(i), &services(vec![s.clone()]));
    }
    let ev = drain(&mut e);
    let f = fired(&ev);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].alert_type, BREAKER_OPEN);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].message, "Service api circuit breaker is open");
    s.breaker_open = false;
    e.evaluate(t(5), w(5), &services(vec![s]));
    assert_eq!(resolved(&drain(&mut e)).len(), 1);
}

#[test]
fn cache_hit_ratio_rule_is_off_by_default_and_fires_below() {
    let mut s = ServiceSignals::idle("api");
    s.cache_lookups = 100;
    s.cache_hit_ratio = 0.2;
    let mut e = engine();
    e.evaluate(t(0), w(0), &services(vec![s.clone()]));
    assert!(drain(&mut e).is_empty());
    e.set_enabled(CACHE_HIT_RATIO_LOW, true).unwrap();
    e.evaluate(t(1), w(1), &services(vec![s.clone()]));
    let ev = drain(&mut e);
    assert_eq!(
        fired(&ev)[0].message,
        "Service api cache hit ratio is 20.00%"
    );
    assert_eq!(fired(&ev)[0].severity, Severity::Warning);
    // 0.52 is inside the band [0.5, 0.55): still firing.
    s.cache_hit_ratio = 0.52;
    e.evaluate(t(2), w(2), &services(vec![s.clone()]));
    assert!(drain(&mut e).is_empty());
    s.cache_hit_ratio = 0.6;
    e.evaluate(t(3), w(3), &services(vec![s.clone()]));
    assert_eq!(resolved(&drain(&mut e)).len(), 1);
    // Too few lookups: idle.
    s.cache_lookups = 5;
    s.cache_hit_ratio = 0.0;
    e.evaluate(t(4), w(4), &services(vec![s]));
    assert!(drain(&mut e).is_empty());
}

#[test]
fn severities_filter_history() {
    let mut e = engine();
    let mut input = system(99.0, 10.0);
    input.services.push(svc("api", 10, 1.0, 1.0));
    e.evaluate(t(0), w(0), &input);
    drain(&mut e);
    let warnings: Vec<_> = e.history(Some(Severity::Warning), None).collect();
    let errors: Vec<_> = e.history(Some(Severity::Error), None).collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].alert_type, SYSTEM_CPU_HIGH);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].alert_type, SERVICE_ERRORS);
    assert_eq!(e.history(Some(Severity::Critical), None).count(), 0);
    assert!(Severity::Warning < Severity::Error && Severity::Error < Severity::Critical);
    // `since` filter.
    e.evaluate(t(5), w(5), &services(vec![svc("db", 10, 1.0, 1.0)]));
    let recent: Vec<_> = e.history(None, Some(w(5))).collect();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].service.as_deref(), Some("db"));
    assert_eq!(
        e.history(None, None)
            .next_back()
            .unwrap()
            .service
            .as_deref(),
        Some("db")
    );
}

#[test]
fn history_is_bounded_and_aged() {
    let mut e = AlertEngine::new(AlertConfig {
        history_capacity: 3,
        ..AlertConfig::default()
    })
    .unwrap();
    // Five fire/resolve cycles on one service.
    for i in 0..5 {
        e.evaluate(
            t(2 * i),
            w(2 * i),
            &services(vec![svc("api", 10, 1.0, 1.0)]),
        );
        e.evaluate(
            t(2 * i + 1),
            w(2 * i + 1),
            &services(vec![svc("api", 10, 0.0, 1.0)]),
        );
    }
    let ids: Vec<u64> = e.history(None, None).map(|a| a.id).collect();
    assert_eq!(ids, vec![3, 4, 5]);
    assert!(e.history(None, None).all(|a| a.resolved_at.is_some()));
    // Resolved alerts older than the retention (24 h) go; firing ones stay.
    e.evaluate(t(100), w(100), &services(vec![svc("db", 10, 1.0, 1.0)]));
    let day = 24 * 3600;
    e.evaluate(
        t(day + 20),
        w(day + 20),
        &services(vec![svc("db", 10, 1.0, 1.0)]),
    );
    let left: Vec<_> = e.history(None, None).collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].service.as_deref(), Some("db"));
    assert!(left[0].is_active());
}

#[test]
fn events_and_instances_are_bounded() {
    let mut e = AlertEngine::new(AlertConfig {
        max_pending_events: 4,
        max_instances: 3,
        ..AlertConfig::default()
    })
    .unwrap();
    let many: Vec<_> = (0..10)
        .map(|i| svc(&format!("s{i}"), 10, 1.0, 1.0))
        .collect();
    e.evaluate(t(0), w(0), &services(many));
    assert_eq!(e.active().count(), 3);
    assert_eq!(e.dropped_events(), 0);
    let snap = e.snapshot();
    assert_eq!(snap.dropped_instances, 7);
    // Resolve the 3 and fire 3 others: 6 events into a queue of 4.
    let many: Vec<_> = (3..10)
        .map(|i| svc(&format!("s{i}"), 10, 1.0, 1.0))
        .collect();
    e.evaluate(t(1), w(1), &services(many));
    assert_eq!(e.dropped_events(), 2);
    assert_eq!(drain(&mut e).len(), 4);
}

#[test]
fn set_threshold_validates() {
    let mut e = engine();
    assert!(e.set_threshold(SERVICE_ERRORS, f64::NAN).is_err());
    assert!(e.set_threshold(SERVICE_ERRORS, -0.1).is_err());
    assert!(e.set_threshold(SERVICE_ERRORS, 1.5).is_err());
    assert!(e.set_threshold(SYSTEM_CPU_HIGH, 101.0).is_err());
    assert!(e.set_threshold(SERVICE_SLOW, f64::INFINITY).is_err());
    assert_eq!(
        e.set_threshold("nope", 1.0),
        Err(ConfigError::invalid(
            "alerts.rules.name",
            "no rule with that name"
        ))
    );
    e.set_threshold(SYSTEM_CPU_HIGH, 95.0).unwrap();
    e.evaluate(t(0), w(0), &system(90.0, 0.0));
    assert!(drain(&mut e).is_empty());
    e.set_threshold(SYSTEM_CPU_HIGH, 50.0).unwrap();
    e.evaluate(t(1), w(1), &system(90.0, 0.0));
    let ev = drain(&mut e);
    assert_eq!(fired(&ev)[0].threshold, 50.0);
}

#[test]
fn set_rules_validates_and_orphans_resolve() {
    let mut e = engine();
    let dup = vec![
        AlertRule::new("x", RuleKind::CpuPercent, Severity::Warning, 1.0),
        AlertRule::new("x", RuleKind::MemoryPercent, Severity::Warning, 1.0),
    ];
    assert!(e.set_rules(dup).is_err());
    assert!(
        e.set_rules(vec![AlertRule::new(
            "",
            RuleKind::CpuPercent,
            Severity::Warning,
            1.0
        )])
        .is_err()
    );
    assert!(
        e.set_rules(vec![
            AlertRule::new("h", RuleKind::CpuPercent, Severity::Warning, 1.0).with_hysteresis(1.0)
        ])
        .is_err()
    );
    assert_eq!(e.rules().len(), 7, "unchanged after errors");
    e.evaluate(t(0), w(0), &system(99.0, 99.0));
    assert_eq!(fired(&drain(&mut e)).len(), 2);
    e.set_rules(vec![AlertRule::new(
        SYSTEM_CPU_HIGH,
        RuleKind::CpuPercent,
        Severity::Warning,
        80.0,
    )])
    .unwrap();
    e.evaluate(t(1), w(1), &system(99.0, 99.0));
    let ev = drain(&mut e);
    assert!(fired(&ev).is_empty(), "cpu stays firing, no duplicate");
    assert_eq!(resolved(&ev).len(), 1);
    assert_eq!(resolved(&ev)[0].alert_type, SYSTEM_MEMORY_HIGH);
    e.set_enabled(SYSTEM_CPU_HIGH, false).unwrap();
    e.evaluate(t(2), w(2), &system(99.0, 99.0));
    assert_eq!(resolved(&drain(&mut e))[0].alert_type, SYSTEM_CPU_HIGH);
}

#[test]
fn nan_values_are_treated_as_no_data() {
    let mut e = engine();
    e.evaluate(
        t(0),
        w(0),
        &services(vec![svc("api", 10, f64::NAN, f64::NAN)]),
    );
    e.evaluate(t(0), w(0), &system(f64::NAN, f64::NAN));
    assert!(drain(&mut e).is_empty());
}

#[test]
fn config_validation() {
    assert!(AlertConfig::default().validate().is_ok());
    for bad in [
        AlertConfig {
            history_capacity: 0,
            ..AlertConfig::default()
        },
        AlertConfig {
            max_instances: 0,
            ..AlertConfig::default()
        },
        AlertConfig {
            max_pending_events: 0,
            ..AlertConfig::default()
        },
    ] {
        assert!(AlertEngine::new(bad).is_err());
    }
}

#[test]
fn serde_shapes() {
    let mut e = engine();
    e.evaluate(t(0), w(0), &system(99.5, 10.0));
    let ev = drain(&mut e);
    let v = serde_json::to_value(&ev[0]).unwrap();
    assert_eq!(v["event"], "fired");
    assert_eq!(v["alert"]["type"], "system_cpu_high");
    assert_eq!(v["alert"]["severity"], "warning");
    assert_eq!(v["alert"]["message"], "CPU usage is 99.5%");
    assert!(v["alert"].get("service").is_none());
    assert_eq!(v["alert"]["resolved_at"], serde_json::Value::Null);
    let snap = serde_json::to_value(e.snapshot()).unwrap();
    assert_eq!(snap["active"].as_array().unwrap().len(), 1);
    assert_eq!(snap["rules"][3]["kind"], "error_rate");
    assert_eq!(snap["rules"][3]["min_requests"], 1);
    // Rules and configs round-trip, with defaults for omitted fields.
    let cfg: AlertConfig = serde_json::from_value(serde_json::json!({
        "rules": [{"name": "slow", "kind": "response_time", "severity": "critical", "threshold": 250.0}]
    }))
    .unwrap();
    assert_eq!(
        cfg.rules[0],
        AlertRule::new(
            "slow",
            RuleKind::ResponseTime {
                stat: LatencyStat::Avg,
                min_requests: 1
            },
            Severity::Critical,
            250.0
        )
    );
    assert_eq!(cfg.history_capacity, DEFAULT_HISTORY_CAPACITY);
    let back: AlertConfig =
        serde_json::from_str(&serde_json::to_string(&AlertConfig::default()).unwrap()).unwrap();
    assert_eq!(back, AlertConfig::default());
}

mod model {
    use super::*;
    use proptest::prelude::*;

    /// Reference model of one `service_errors` instance (for_duration = resolve_after = 0).
    #[derive(Default)]
    struct Model {
        firing: bool,
    }

    impl Model {
        /// Returns +1 on fire, -1 on resolve, 0 otherwise.
        fn step(&mut self, requests: u64, rate: f64, threshold: f64, h: f64) -> i8 {
            let idle = requests == 0;
            if !self.firing && !idle && rate > threshold {
                self.firing = true;
                1
            } else if self.firing && (idle || rate <= threshold * (1.0 - h)) {
                self.firing = false;
                -1
            } else {
                0
            }
        }
    }

    proptest! {
        #[test]
        fn matches_reference_model(
            steps in proptest::collection::vec((0u64..3, 0u64..4, 0.0f64..0.3), 1..80),
            h in 0.0f64..0.5,
        ) {
            let rule = AlertRule::new(
                SERVICE_ERRORS,
                RuleKind::ErrorRate { min_requests: 1 },
                Severity::Error,
                0.1,
            )
            .with_hysteresis(h);
            let mut e = engine_with(vec![rule]);
            let mut models: [Model; 3] = Default::default();
            let mut last_id = 0;
            for (i, (which, requests, rate)) in steps.into_iter().enumerate() {
                let i = i as u64;
                let name = format!("s{which}");
                // Every service is present each time; only `which` changes its numbers.
                let mut input = Vec::new();
                let mut expected = [0i8; 3];
                for (k, m) in models.iter_mut().enumerate() {
                    let (req, r) = if k as u64 == which {
                        (requests, rate)
                    } else {
                        (0, 0.0)
                    };
                    expected[k] = m.step(req, r, 0.1, h);
                    input.push(svc(&format!("s{k}"), req, r, 1.0));
                }
                e.evaluate(t(i), w(i), &services(input));
                let mut got = [0i8; 3];
                for ev in drain(&mut e) {
                    let (a, d) = match &ev {
                        AlertEvent::Fired(a) => {
                            prop_assert!(a.id > last_id);
                            last_id = a.id;
                            (a, 1)
                        }
                        AlertEvent::Resolved(a) => (a, -1),
                    };
                    let k: usize = a.service.as_deref().unwrap()[1..].parse().unwrap();
                    prop_assert_eq!(got[k], 0, "two events for one instance in one step");
                    got[k] = d;
                }
                prop_assert_eq!(got, expected, "step {} ({})", i, name);
                let firing = models.iter().filter(|m| m.firing).count();
                prop_assert_eq!(e.active().count(), firing);
            }
        }
    }
}
