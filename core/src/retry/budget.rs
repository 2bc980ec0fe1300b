//! A Finagle-style retry budget: retries may use at most a percentage of recent requests, plus a
//! small per-second reserve so that low-traffic clients can still retry.
//!
//! Every logical request calls [`RetryBudget::deposit`]; every retry must win
//! [`RetryBudget::try_withdraw`]. Deposits **and** withdrawals expire after `ttl`. The window is
//! time-bucketed (10 buckets over `ttl`, fixed memory), so an event lives between 0.9·ttl and
//! ttl, depending on where in its bucket it fell.
//!
//! Accounting, in integer units ([`UNITS_PER_RETRY`] per retry, so no float drift):
//!
//! ```text
//! deposit       : +round(percent_can_retry · UNITS_PER_RETRY)   (into the current bucket)
//! withdraw      : −UNITS_PER_RETRY                                (only if balance allows)
//! reserve       : min_per_sec · ttl_seconds · UNITS_PER_RETRY     (constant, never spent down)
//! balance(now)  : (reserve + Σ live buckets) / UNITS_PER_RETRY   (whole retries available)
//! ```
//!
//! Invariant: whenever a retry is granted, counting the events live at that instant (the grant
//! included), `withdrawals ≤ reserve_retries + percent · deposits`. (Later, when old deposits
//! expire before the withdrawals they paid for, the live sum may dip below zero; no retry is
//! granted until it recovers.)
//! `percent_can_retry` is quantised to 1/10 000.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, Timestamp};

/// Units that one retry costs.
pub const UNITS_PER_RETRY: i64 = 10_000;

/// Number of time buckets over `ttl`.
pub const BUCKETS: usize = 10;

/// Retry budget parameters (Finagle's `RetryBudget(ttl, minRetriesPerSec, percentCanRetry)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// How long a deposit (or withdrawal) counts. Must be in `[1 s, 1 h]`. Default 10 s.
    pub ttl: Duration,
    /// Retries per second always allowed regardless of traffic; the reserve is
    /// `min_per_sec × ttl` retries. Default 10.
    pub min_per_sec: u32,
    /// Fraction of requests that may be retried on top of the reserve, in `[0, 1000]`.
    /// Default 0.2 (20 %).
    pub percent_can_retry: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            percent_can_retry: 0.2,
        }
    }
}

impl BudgetConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_hours(1) {
            return Err(ConfigError::invalid(
                "retry.budget.ttl",
                "must be between 1 s and 1 h",
            ));
        }
        if !self.percent_can_retry.is_finite() || !(0.0..=1000.0).contains(&self.percent_can_retry)
        {
            return Err(ConfigError::invalid(
                "retry.budget.percent_can_retry",
                "must be in [0, 1000]",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Which bucket-width epoch this slot currently holds.
    epoch: u64,
    /// Net units deposited minus withdrawn during that epoch.
    net: i64,
}

/// The shared retry budget of one client. One instance serves every request of the client; the
/// engine owns it and lends it to [`crate::retry::RetryPolicy::decide`].
#[derive(Clone, Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    deposit_units: i64,
    reserve_units: i64,
    width_us: u64,
    buckets: [Bucket; BUCKETS],
    /// Σ `net` of the buckets live at `last_epoch` (kept up to date by `add`).
    live: i64,
    /// First microsecond after `last_epoch`: earlier instants need no division.
    epoch_end_us: u64,
    /// Latest epoch seen; time never moves backwards inside the budget.
    last_epoch: u64,
}

impl RetryBudget {
    /// A budget with nothing deposited (only the reserve is available).
    pub fn new(config: BudgetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let ttl_us = u64::try_from(config.ttl.as_micros()).unwrap_or(u64::MAX);
        let width_us = ttl_us.div_ceil(BUCKETS as u64).max(1);
        let reserve =
            u128::from(config.min_per_sec) * u128::from(ttl_us) * (UNITS_PER_RETRY as u128)
                / 1_000_000;
        let reserve_units = i64::try_from(reserve).unwrap_or(i64::MAX);
        let deposit_units = (config.percent_can_retry * UNITS_PER_RETRY as f64).round() as i64;
        Ok(RetryBudget {
            config,
            deposit_units,
            reserve_units,
            width_us,
            // Epoch 0 with net 0 is indistinguishable from empty, so zeroed slots are fine.
            buckets: [Bucket::default(); BUCKETS],
            live: 0,
            epoch_end_us: width_us,
            last_epoch: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// Records one logical request (call it once per request, not per attempt).
    pub fn deposit(&mut self, now: Timestamp) {
        let units = self.deposit_units;
        self.add(now, units);
    }

    /// Takes one retry out of the budget if the balance allows; `false` means "do not retry".
    pub fn try_withdraw(&mut self, now: Timestamp) -> bool {
        if self.units(now) >= UNITS_PER_RETRY {
            self.add(now, -UNITS_PER_RETRY);
            true
        } else {
            false
        }
    }

    /// Whole retries available at `now`.
    pub fn balance(&self, now: Timestamp) -> u64 {
        u64::try_from(self.units(now).max(0) / UNITS_PER_RETRY).unwrap_or(0)
    }

    fn epoch(&self, now: Timestamp) -> u64 {
        let us = now.as_micros();
        if us < self.epoch_end_us {
            // Within (or before) the latest epoch: no division.
            self.last_epoch
        } else {
            (us / self.width_us).max(self.last_epoch)
        }
    }

    fn live_at(&self, e: u64) -> i64 {
        self.buckets
            .iter()
            .filter(|b| is_live(b.epoch, e))
            .fold(0i64, |acc, b| acc.saturating_add(b.net))
    }

    fn units(&self, now: Timestamp) -> i64 {
        let e = self.epoch(now);
        let live = if e == self.last_epoch {
            self.live
        } else {
            self.live_at(e)
        };
        live.saturating_add(self.reserve_units)
    }

    fn add(&mut self, now: Timestamp, units: i64) {
        let e = self.epoch(now);
        let slot = &mut self.buckets[(e % BUCKETS as u64) as usize];
        if e == self.last_epoch && slot.epoch == e {
            slot.net = slot.net.saturating_add(units);
            self.live = self.live.saturating_add(units);
            return;
        }
        if slot.epoch != e {
            *slot = Bucket { epoch: e, net: 0 };
        }
        slot.net = slot.net.saturating_add(units);
        self.last_epoch = e;
        self.epoch_end_us = e.saturating_add(1).saturating_mul(self.width_us);
        self.live = self.live_at(e);
    }
}

/// A bucket of epoch `b` counts at epoch `e` if it is one of the last `BUCKETS` epochs.
fn is_live(b: u64, e: u64) -> bool {
    b <= e && e - b < BUCKETS as u64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn reserve_only_then_percent() {
        let mut b = RetryBudget::new(BudgetConfig::default()).unwrap();
        // Reserve: 10/s × 10 s = 100 retries.
        assert_eq!(b.balance(t(0)), 100);
        for _ in 0..100 {
            assert!(b.try_withdraw(t(0)));
        }
        assert!(!b.try_withdraw(t(0)));
        assert_eq!(b.balance(t(0)), 0);
        // 5 deposits at 20 % buy exactly one retry.
        for _ in 0..4 {
            b.deposit(t(1));
        }
        assert!(!b.try_withdraw(t(1)));
        b.deposit(t(1));
        assert!(b.try_withdraw(t(1)));
        assert!(!b.try_withdraw(t(1)));
    }

    #[test]
    fn withdrawals_expire_after_ttl() {
        let mut b = RetryBudget::new(BudgetConfig::default()).unwrap();
        for _ in 0..100 {
            assert!(b.try_withdraw(t(0)));
        }
        assert_eq!(b.balance(t(9_999)), 0);
        // Bucket width is 1 s; epoch 0 drops out at epoch 10.
        assert_eq!(b.balance(t(10_000)), 100);
    }

    #[test]
    fn deposits_expire_after_ttl() {
        let cfg = BudgetConfig {
            min_per_sec: 0,
            percent_can_retry: 1.0,
            ..BudgetConfig::default()
        };
        let mut b = RetryBudget::new(cfg).unwrap();
        assert_eq!(b.balance(t(0)), 0);
        for i in 0..10 {
            b.deposit(t(i * 1_000 + 500));
        }
        assert_eq!(b.balance(t(9_999)), 10);
        assert_eq!(b.balance(t(10_000)), 9);
        assert_eq!(b.balance(t(15_000)), 4);
        assert_eq!(b.balance(t(20_000)), 0);
        assert_eq!(b.balance(Timestamp::MAX), 0);
    }

    #[test]
    fn time_going_backwards_is_clamped() {
        let cfg = BudgetConfig {
            min_per_sec: 0,
            percent_can_retry: 1.0,
            ..BudgetConfig::default()
        };
        let mut b = RetryBudget::new(cfg).unwrap();
        b.deposit(t(50_000));
        // An older timestamp is treated as the latest one seen: the deposit is still live and a
        // stale slot is not resurrected.
        b.deposit(t(1_000));
        assert_eq!(b.balance(t(1_000)), 2);
        assert_eq!(b.balance(t(50_000)), 2);
    }

    #[test]
    fn zero_percent_leaves_only_reserve() {
        let cfg = BudgetConfig {
            min_per_sec: 1,
            percent_can_retry: 0.0,
            ttl: Duration::from_secs(2),
        };
        let mut b = RetryBudget::new(cfg).unwrap();
        for _ in 0..1_000 {
            b.deposit(t(0));
        }
        assert_eq!(b.balance(t(0)), 2);
    }

    #[test]
    fn validation() {
        let bad_ttl = BudgetConfig {
            ttl: Duration::from_millis(10),
            ..BudgetConfig::default()
        };
        assert!(RetryBudget::new(bad_ttl).is_err());
        for p in [-0.1, f64::NAN, f64::INFINITY, 1000.5] {
            let cfg = BudgetConfig {
                percent_can_retry: p,
                ..BudgetConfig::default()
            };
            assert!(cfg.validate().is_err(), "{p}");
        }
        let big = BudgetConfig {
            ttl: Duration::from_hours(1),
            min_per_sec: u32::MAX,
            percent_can_retry: 1000.0,
        };
        let mut b = RetryBudget::new(big).unwrap();
        b.deposit(Timestamp::MAX);
        assert!(b.try_withdraw(Timestamp::MAX));
    }

    /// A naive model: a list of `(epoch, units)` events, live under the same bucket rule.
    struct Model {
        events: Vec<(u64, i64)>,
        deposit: i64,
        reserve: i64,
        width: u64,
        last_epoch: u64,
    }

    impl Model {
        fn epoch(&self, now: u64) -> u64 {
            (now / self.width).max(self.last_epoch)
        }
        fn live_sum(&self, e: u64) -> i64 {
            self.events
                .iter()
                .filter(|(b, _)| is_live(*b, e))
                .map(|(_, u)| u)
                .sum()
        }
        fn deposit(&mut self, now: u64) {
            let e = self.epoch(now);
            self.last_epoch = e;
            self.events.push((e, self.deposit));
        }
        fn withdraw(&mut self, now: u64) -> bool {
            let e = self.epoch(now);
            if self.live_sum(e) + self.reserve >= UNITS_PER_RETRY {
                self.last_epoch = e;
                self.events.push((e, -UNITS_PER_RETRY));
                true
            } else {
                false
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Deposit,
        Withdraw,
    }

    proptest! {
        #[test]
        fn matches_reference_model(
            ttl_s in 1u64..20,
            min_per_sec in 0u32..5,
            percent in 0.0f64..2.0,
            ops in proptest::collection::vec(
                (prop_oneof![Just(Op::Deposit), Just(Op::Withdraw)], 0u64..3_000_000),
                1..400,
            ),
        ) {
            let cfg = BudgetConfig { ttl: Duration::from_secs(ttl_s), min_per_sec, percent_can_retry: percent };
            let mut b = RetryBudget::new(cfg).unwrap();
            let mut m = Model {
                events: Vec::new(),
                deposit: b.deposit_units,
                reserve: i64::from(min_per_sec) * ttl_s as i64 * UNITS_PER_RETRY,
                width: (ttl_s * 1_000_000).div_ceil(BUCKETS as u64),
                last_epoch: 0,
            };
            prop_assert_eq!(b.reserve_units, m.reserve);
            let mut now = 0u64;
            let mut log: Vec<(u64, bool, bool)> = Vec::new(); // (epoch, deposit?, accepted)
            for (op, dt) in ops {
                // Mostly forward in time, sometimes a little backwards.
                now = if dt % 17 == 0 { now.saturating_sub(dt / 10) } else { now + dt };
                let ts = Timestamp::from_micros(now);
                match op {
                    Op::Deposit => {
                        b.deposit(ts);
                        m.deposit(now);
                        log.push((m.last_epoch, true, true));
                    }
                    Op::Withdraw => {
                        let got = b.try_withdraw(ts);
                        let want = m.withdraw(now);
                        prop_assert_eq!(got, want);
                        log.push((m.epoch(now), false, got));
                    }
                }
                let e = m.epoch(now);
                let units = (m.live_sum(e) + m.reserve).max(0);
                prop_assert_eq!(b.balance(ts), (units / UNITS_PER_RETRY) as u64);

                // The budget's promise, checked whenever a retry is granted: counted over the
                // window live at that instant, withdrawals ≤ reserve + percent · deposits.
                if !matches!(log.last(), Some((_, false, true))) {
                    continue;
                }
                let live = log.iter().filter(|(ep, _, _)| is_live(*ep, e));
                let (mut deposits, mut withdrawals) = (0i64, 0i64);
                for (_, dep, ok) in live {
                    if *dep { deposits += 1 } else if *ok { withdrawals += 1 }
                }
                prop_assert!(
                    withdrawals * UNITS_PER_RETRY <= m.reserve + deposits * m.deposit,
                    "withdrawals {withdrawals} > reserve + percent·deposits ({deposits})"
                );
            }
        }
    }
}
