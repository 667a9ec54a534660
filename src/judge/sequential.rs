//! An anytime-valid comparison of the new version's event rate with the stable
//! version's over the same windows. An event is a failed request for an error
//! gate, or a request slower than a latency bound for a latency gate.
//!
//! Model: within one window each version's events form a Poisson process whose
//! intensity is proportional to the requests it served. Given that the window had
//! `k` events in all, the new version's share of them is Binomial(k, p) with
//! `p = ρn / (ρn + s)`, where `n` and `s` are the requests each version served and
//! `ρ` is the ratio of their rates. Conditioning on the total removes the unknown,
//! drifting baseline rate, and canary shares that change from step to step only
//! change `p`, so windows from every step add up into one test.
//!
//! For every candidate ratio `ρ₀` the mixture likelihood ratio
//! `M(ρ₀) = ∫ Π L(ρ) / L(ρ₀) dπ(log ρ − log ρ₀)`, with a normal prior `π` on the log
//! ratio, is a non-negative martingale when `ρ₀` is true, so by Ville's inequality
//! `P(sup M(ρ₀) ≥ 1/α) ≤ α`. The ratios not yet rejected form a (1 − α) confidence
//! sequence: it holds at every look at once, which is what lets a gate look every
//! interval and stop the moment the answer is clear, without the false alarms a
//! fixed-horizon test checked repeatedly accumulates (0.05 looked at 5 times ≈ 14%).
//!
//! References: M. Lindon, C. Sanden, V. Shirikian, "Rapid Regression Detection in
//! Software Deployments through Sequential Testing", KDD 2022 (mixture martingales
//! for canary analysis under continuous monitoring); M. Lindon, A. Malek,
//! "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022; and
//! Netflix's "Sequential A/B Testing Keeps the World Streaming Netflix, Part 2:
//! Counting Processes" (2024), whose conditional-on-the-total argument for Poisson
//! rates is the one used here. The statistic is written out here rather than taken
//! from a crate because none implements it.

use serde::Serialize;

/// Requests one version served in a window, and how many of them were events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub requests: u64,
    /// Failed requests, or requests slower than the latency bound.
    pub events: u64,
}

impl Counts {
    pub fn rate(self) -> Option<f64> {
        (self.requests > 0).then(|| self.events as f64 / self.requests as f64)
    }

    pub fn add(&mut self, other: Counts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.events = self.events.saturating_add(other.events);
    }
}

/// How much worse the new version may be and still pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Margin {
    /// New rate ≤ stable rate × (1 + this): `0.5` for "at most 50% more".
    Relative(f64),
    /// New rate ≤ stable rate + this, in rate units (`0.005` = half a percentage point).
    Absolute(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CompareConfig {
    /// The chance, over the whole rollout, of failing a version no worse than stable.
    pub alpha: f64,
    pub margin: Margin,
    /// No decision before the new version has served this many requests.
    pub min_requests: u64,
}

/// What the evidence so far supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The new version's rate is higher than stable's, beyond chance.
    Regressed,
    /// The new version is shown to be no worse than stable by more than the margin.
    NotWorse,
    /// Neither yet: keep watching.
    Undecided,
    /// Fewer requests than `minRequests` so far.
    TooFewRequests,
}

/// Log-ratio grid: ±6 (ratios from 1/400 to 400) in steps of 0.02 (2% apart).
const STEP: f64 = 0.02;
const HALF_WIDTH: usize = 300;
/// Standard deviation of the mixing prior on the log ratio, in grid steps: 1.0, a
/// compromise between ratios around 1.5–2 with plenty of data and ratios of 3–5 on
/// the few dozen events a short step gives.
const PRIOR_SD_STEPS: f64 = 50.0;
/// The prior is cut at four standard deviations; what is cut only makes the test
/// more conservative.
const KERNEL_HALF_WIDTH: usize = 200;

/// The running state of one comparison gate across a rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct RateComparison {
    config: CompareConfig,
    /// Log-likelihood of each grid ratio given every informative window so far.
    log_likelihood: Vec<f64>,
    /// Log of the prior's weight at each offset from the tested ratio.
    log_kernel: Vec<f64>,
    /// Events in windows where both versions served requests.
    informative_events: u64,
    new: Counts,
    stable: Counts,
}

impl RateComparison {
    pub fn new(config: CompareConfig) -> Self {
        let weights: Vec<f64> = (0..=2 * KERNEL_HALF_WIDTH)
            .map(|index| {
                let offset = index as f64 - KERNEL_HALF_WIDTH as f64;
                (-0.5 * (offset / PRIOR_SD_STEPS).powi(2)).exp()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        Self {
            config,
            log_likelihood: vec![0.0; 2 * HALF_WIDTH + 1],
            log_kernel: weights.iter().map(|weight| (weight / total).ln()).collect(),
            informative_events: 0,
            new: Counts::default(),
            stable: Counts::default(),
        }
    }

    pub fn config(&self) -> &CompareConfig {
        &self.config
    }

    /// Adds one window; windows must not overlap.
    pub fn observe(&mut self, new: Counts, stable: Counts) {
        self.new.add(new);
        self.stable.add(stable);
        // A window where one version had no traffic says nothing about the ratio
        // (at 100% every event is the new version's whatever the ratio).
        if new.requests == 0 || stable.requests == 0 || new.events + stable.events == 0 {
            return;
        }
        self.informative_events += new.events + stable.events;
        let exposure = (new.requests as f64 / stable.requests as f64).ln();
        let (x, y) = (new.events as f64, stable.events as f64);
        for (index, log_likelihood) in self.log_likelihood.iter_mut().enumerate() {
            let logit = grid_log_ratio(index) + exposure;
            // log p = −softplus(−logit), log(1 − p) = −softplus(logit)
            *log_likelihood -= x * softplus(-logit) + y * softplus(logit);
        }
    }

    /// Totals over every window: (new, stable).
    pub fn totals(&self) -> (Counts, Counts) {
        (self.new, self.stable)
    }

    /// The most likely ratio of the new version's rate to the stable's.
    pub fn ratio(&self) -> Option<f64> {
        self.peak().map(|index| grid_log_ratio(index).exp())
    }

    /// The (1 − α) anytime-valid interval of the ratio; `None` before any event.
    /// A bound at the edge of the grid reads as 0 or infinity.
    pub fn interval(&self) -> Option<(f64, f64)> {
        let peak = self.peak()?;
        let last = self.log_likelihood.len() - 1;
        let lower = (0..peak)
            .rev()
            .find(|index| self.rejects(*index))
            .map_or(0.0, |index| grid_log_ratio(index + 1).exp());
        let upper = (peak + 1..=last)
            .find(|index| self.rejects(*index))
            .map_or(f64::INFINITY, |index| grid_log_ratio(index - 1).exp());
        Some((lower, upper))
    }

    /// Regressed when every ratio ≤ 1 is rejected; not worse when every ratio
    /// above the margin is. Both at once means a real but tolerated increase: it
    /// passes. The checks look at the boundary ratio only: the log-likelihood is
    /// concave in the log ratio, so the rejected ratios lie beyond the boundary
    /// on the side away from the most likely one.
    pub fn call(&self) -> Call {
        if self.new.requests < self.config.min_requests {
            return Call::TooFewRequests;
        }
        let Some(peak) = self.peak() else {
            return Call::Undecided;
        };
        if let Some(limit) = self.margin_log_ratio() {
            let boundary = nearest_at_or_above(limit);
            if boundary.is_some_and(|boundary| peak < boundary && self.rejects(boundary)) {
                return Call::NotWorse;
            }
        }
        let one = HALF_WIDTH;
        if peak > one && self.rejects(one) {
            return Call::Regressed;
        }
        Call::Undecided
    }

    /// The margin as a log ratio; an absolute margin is turned into one with the
    /// stable version's observed rate (none while stable has had no events).
    fn margin_log_ratio(&self) -> Option<f64> {
        match self.config.margin {
            Margin::Relative(increase) => Some((1.0 + increase).ln()),
            Margin::Absolute(increase) => {
                let stable = self.stable.rate().filter(|rate| *rate > 0.0)?;
                Some((1.0 + increase / stable).ln())
            }
        }
    }

    fn peak(&self) -> Option<usize> {
        if self.informative_events == 0 {
            return None;
        }
        let mut best = 0;
        for (index, value) in self.log_likelihood.iter().enumerate() {
            if *value > self.log_likelihood[best] {
                best = index;
            }
        }
        Some(best)
    }

    /// Whether the mixture martingale against the grid ratio `tested` has reached 1/α.
    fn rejects(&self, tested: usize) -> bool {
        self.log_mixture(tested) >= -self.config.alpha.ln()
    }

    fn log_mixture(&self, tested: usize) -> f64 {
        let base = self.log_likelihood[tested];
        let first = tested.saturating_sub(KERNEL_HALF_WIDTH);
        let last = (tested + KERNEL_HALF_WIDTH).min(self.log_likelihood.len() - 1);
        let terms = (first..=last).map(|index| {
            self.log_kernel[index + KERNEL_HALF_WIDTH - tested] + self.log_likelihood[index] - base
        });
        log_sum_exp(terms)
    }
}

fn grid_log_ratio(index: usize) -> f64 {
    (index as f64 - HALF_WIDTH as f64) * STEP
}

/// The first grid index whose ratio is at or above `log_ratio`.
fn nearest_at_or_above(log_ratio: f64) -> Option<usize> {
    let steps = (log_ratio / STEP).ceil() + HALF_WIDTH as f64;
    (steps >= 0.0 && steps <= (2 * HALF_WIDTH) as f64).then_some(steps as usize)
}

/// ln(1 + eˣ) without overflow.
fn softplus(x: f64) -> f64 {
    if x > 30.0 { x } else { x.exp().ln_1p() }
}

fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + terms.map(|term| (term - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Binomial, Distribution};

    fn config(alpha: f64) -> CompareConfig {
        CompareConfig {
            alpha,
            margin: Margin::Relative(0.5),
            min_requests: 0,
        }
    }

    /// One window of `requests` split `share` to the new version, each request
    /// failing with its version's probability.
    fn window(
        rng: &mut StdRng,
        requests: u64,
        share: f64,
        new_p: f64,
        stable_p: f64,
    ) -> (Counts, Counts) {
        let new_requests = sample(rng, requests, share);
        let stable_requests = requests - new_requests;
        (
            Counts {
                requests: new_requests,
                events: sample(rng, new_requests, new_p),
            },
            Counts {
                requests: stable_requests,
                events: sample(rng, stable_requests, stable_p),
            },
        )
    }

    fn sample(rng: &mut StdRng, trials: u64, p: f64) -> u64 {
        Binomial::new(trials, p).map_or(0, |binomial| binomial.sample(rng))
    }

    /// Runs windows until a decision or `windows` run out.
    fn run(seed: u64, windows: usize, new_p: f64, stable_p: f64) -> (Call, RateComparison) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut test = RateComparison::new(config(0.01));
        let shares = [0.1, 0.25, 0.5];
        for index in 0..windows {
            let share = shares[(index * shares.len()) / windows];
            let (new, stable) = window(&mut rng, 1_000, share, new_p, stable_p);
            test.observe(new, stable);
            let call = test.call();
            if call != Call::Undecided {
                return (call, test);
            }
        }
        (Call::Undecided, test)
    }

    #[test]
    fn equal_versions_are_rarely_called_regressed_even_looked_at_every_window() {
        let runs = 400;
        let false_alarms = (0..runs)
            .filter(|seed| run(*seed, 60, 0.01, 0.01).0 == Call::Regressed)
            .count();
        // α = 0.01: 400 runs expect at most 4; 12 would be a 1-in-10⁴ event.
        assert!(false_alarms <= 12, "{false_alarms} false alarms in {runs}");
    }

    #[test]
    fn a_doubled_error_rate_is_caught_and_a_healthy_version_shown_not_worse() {
        let caught = (0..100)
            .filter(|seed| run(*seed, 60, 0.02, 0.01).0 == Call::Regressed)
            .count();
        assert!(caught >= 95, "caught {caught} of 100");
        // 60k requests at 1% give enough events to bound the ratio below 1.5.
        let passed = (0..100)
            .filter(|seed| run(1_000 + seed, 60, 0.01, 0.01).0 == Call::NotWorse)
            .count();
        assert!(passed >= 80, "passed {passed} of 100");
    }

    #[test]
    fn the_interval_covers_the_true_ratio_and_narrows_with_evidence() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut test = RateComparison::new(config(0.05));
        let mut widths = Vec::new();
        for _ in 0..50 {
            let (new, stable) = window(&mut rng, 2_000, 0.3, 0.03, 0.01);
            test.observe(new, stable);
            let (lower, upper) = test.interval().unwrap_or((0.0, f64::INFINITY));
            assert!(lower <= 3.0 && 3.0 <= upper, "[{lower}, {upper}] misses 3");
            widths.push((upper / lower).ln());
        }
        // Ten times the data: about √10 ≈ 3 times narrower on the log scale.
        assert!(widths[49] < widths[4] / 2.0, "{widths:?}");
        let ratio = test.ratio().unwrap_or_default();
        assert!((2.5..3.5).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn decisions_wait_for_min_requests_and_for_events() {
        let mut test = RateComparison::new(CompareConfig {
            min_requests: 500,
            ..config(0.01)
        });
        assert_eq!(test.call(), Call::TooFewRequests);
        test.observe(
            Counts {
                requests: 400,
                events: 40,
            },
            Counts {
                requests: 400,
                events: 0,
            },
        );
        assert_eq!(test.call(), Call::TooFewRequests);
        let mut quiet = RateComparison::new(config(0.01));
        quiet.observe(
            Counts {
                requests: 10_000,
                events: 0,
            },
            Counts {
                requests: 10_000,
                events: 0,
            },
        );
        assert_eq!(quiet.call(), Call::Undecided);
        assert_eq!(quiet.interval(), None);
    }

    #[test]
    fn windows_without_stable_traffic_add_no_evidence() {
        let mut test = RateComparison::new(config(0.01));
        test.observe(
            Counts {
                requests: 1_000,
                events: 900,
            },
            Counts {
                requests: 0,
                events: 0,
            },
        );
        assert_eq!(test.call(), Call::Undecided);
        assert_eq!(test.totals().0.events, 900);
    }

    #[test]
    fn an_absolute_margin_is_judged_against_the_stable_rate() {
        // 1.2% vs 1.0% with lots of data: within +0.5 points, not within +0.1.
        let observe = |margin| {
            let mut test = RateComparison::new(CompareConfig {
                margin,
                ..config(0.01)
            });
            for _ in 0..20 {
                test.observe(
                    Counts {
                        requests: 10_000,
                        events: 120,
                    },
                    Counts {
                        requests: 10_000,
                        events: 100,
                    },
                );
            }
            test.call()
        };
        assert_eq!(observe(Margin::Absolute(0.005)), Call::NotWorse);
        assert_eq!(observe(Margin::Absolute(0.001)), Call::Regressed);
    }
}
