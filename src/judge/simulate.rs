//! A seeded simulator of the request streams a rollout sees, and three judges
//! run over the same streams: greenlight's sequential comparison, a
//! Flagger-style threshold checked every interval, and a Kayenta-style
//! fixed-horizon Mann-Whitney test. `benches/judge.rs` prints the table.
//!
//! Per interval: Poisson arrivals split by the step's canary share; each
//! request fails with its version's probability; latencies are log-normal with
//! a long tail. The baseline error probability can be noisy (a shared
//! log-normal factor per interval, as incidents hit both versions) and drift.
//! p99s are drawn exactly as order statistics (the k-th of n uniforms is
//! Beta(k, n + 1 − k)) so millions of requests cost nothing.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Beta, Binomial, Distribution, Normal, Poisson};
use statrs::distribution::{ContinuousCDF, Normal as StatNormal};

use super::sequential::{Call, CompareConfig, Counts, Margin, RateComparison};

/// Traffic and steps: what the rollout offers each version.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Requests per second to the service, both versions together.
    pub rate: f64,
    /// Seconds between two measurements.
    pub interval: f64,
    /// Canary share and the most intervals each step holds.
    pub steps: Vec<(f64, u32)>,
}

impl Rollout {
    /// Every request the new version could get if no judge stopped early.
    pub fn new_requests_offered(&self) -> f64 {
        self.steps
            .iter()
            .map(|(share, intervals)| self.rate * self.interval * share * f64::from(*intervals))
            .sum()
    }
}

/// How the two versions behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    pub stable_error: f64,
    pub new_error: f64,
    /// Median latency in ms, and the log-normal's sigma (the tail).
    pub latency_median_ms: f64,
    pub latency_sigma: f64,
    /// The new version's latencies are the stable's times this.
    pub new_latency_factor: f64,
    /// Sigma of a per-interval log-normal factor on both versions' error rates.
    pub noise: f64,
    /// Relative change of both error rates per interval.
    pub drift: f64,
}

impl Behaviour {
    pub fn healthy(error: f64) -> Self {
        Self {
            stable_error: error,
            new_error: error,
            latency_median_ms: 40.0,
            latency_sigma: 0.6,
            new_latency_factor: 1.0,
            noise: 0.0,
            drift: 0.0,
        }
    }

    /// The stable version's true p99 in ms.
    pub fn stable_p99_ms(&self) -> f64 {
        self.latency_median_ms * (self.latency_sigma * Z99).exp()
    }
}

/// Φ⁻¹(0.99).
const Z99: f64 = 2.326_347_874;

/// One interval as every judge sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub step: usize,
    pub new: Counts,
    pub stable: Counts,
    /// Requests slower than the stable's p99 of the interval before.
    pub new_slow: Counts,
    pub stable_slow: Counts,
    pub new_p99_ms: Option<f64>,
    pub stable_p99_ms: Option<f64>,
}

/// The stream of one run, interval by interval, for as long as a judge wants it.
pub struct Stream {
    rng: StdRng,
    rollout: Rollout,
    behaviour: Behaviour,
    interval: u32,
    /// The slow bound for the next window: the stable's p99 of the last one.
    slow_bound_ms: f64,
}

impl Stream {
    pub fn new(rollout: &Rollout, behaviour: Behaviour, seed: u64) -> Self {
        let mut stream = Self {
            rng: StdRng::seed_from_u64(seed),
            rollout: rollout.clone(),
            behaviour,
            interval: 0,
            slow_bound_ms: behaviour.stable_p99_ms(),
        };
        // Before the rollout all traffic is stable: that minute sets the first bound.
        let requests = stream.arrivals();
        if let Some(p99) = stream.p99(requests, 1.0) {
            stream.slow_bound_ms = p99;
        }
        stream
    }

    fn arrivals(&mut self) -> u64 {
        let mean = self.rollout.rate * self.rollout.interval;
        Poisson::new(mean).map_or(0, |poisson| poisson.sample(&mut self.rng) as u64)
    }

    fn binomial(&mut self, trials: u64, p: f64) -> u64 {
        Binomial::new(trials, p.clamp(0.0, 1.0))
            .map_or(0, |binomial| binomial.sample(&mut self.rng))
    }

    /// The nearest-rank p99 of `n` latencies scaled by `factor`.
    fn p99(&mut self, n: u64, factor: f64) -> Option<f64> {
        if n == 0 {
            return None;
        }
        let rank = (n * 99).div_ceil(100).max(1);
        let uniform = Beta::new(rank as f64, (n + 1 - rank) as f64)
            .map_or(0.99, |beta| beta.sample(&mut self.rng));
        let z = StatNormal::standard().inverse_cdf(uniform);
        let behaviour = self.behaviour;
        Some(factor * behaviour.latency_median_ms * (behaviour.latency_sigma * z).exp())
    }

    /// Share of a version's requests slower than `bound`.
    fn tail(&self, bound: f64, factor: f64) -> f64 {
        let behaviour = self.behaviour;
        let z = ((bound / (factor * behaviour.latency_median_ms)).ln()) / behaviour.latency_sigma;
        1.0 - StatNormal::standard().cdf(z)
    }

    /// The step the next window falls in, and its share; `None` after the last step.
    fn position(&self, interval: u32) -> Option<(usize, f64)> {
        let mut remaining = interval;
        for (index, (share, intervals)) in self.rollout.steps.iter().enumerate() {
            if remaining < *intervals {
                return Some((index, *share));
            }
            remaining -= intervals;
        }
        None
    }

    /// Skips to the start of `step` (a judge ended the step early).
    pub fn skip_to(&mut self, step: usize) {
        self.interval = self.rollout.steps[..step.min(self.rollout.steps.len())]
            .iter()
            .map(|(_, intervals)| intervals)
            .sum();
    }

    pub fn next_window(&mut self) -> Option<Window> {
        let (step, share) = self.position(self.interval)?;
        let behaviour = self.behaviour;
        let factor = (behaviour.noise
            * Normal::new(0.0, 1.0).map_or(0.0, |normal| normal.sample(&mut self.rng)))
        .exp()
            * (1.0 + behaviour.drift).powi(self.interval as i32);
        self.interval += 1;
        let total = self.arrivals();
        let new_requests = self.binomial(total, share);
        let stable_requests = total - new_requests;
        let new_errors = self.binomial(new_requests, behaviour.new_error * factor);
        let stable_errors = self.binomial(stable_requests, behaviour.stable_error * factor);
        let bound = self.slow_bound_ms;
        let new_tail = self.tail(bound, behaviour.new_latency_factor);
        let stable_tail = self.tail(bound, 1.0);
        let new_slow = self.binomial(new_requests, new_tail);
        let stable_slow = self.binomial(stable_requests, stable_tail);
        let new_p99 = self.p99(new_requests, behaviour.new_latency_factor);
        let stable_p99 = self.p99(stable_requests, 1.0);
        if let Some(p99) = stable_p99.filter(|_| stable_requests >= 100) {
            self.slow_bound_ms = p99;
        }
        Some(Window {
            step,
            new: Counts {
                requests: new_requests,
                events: new_errors,
            },
            stable: Counts {
                requests: stable_requests,
                events: stable_errors,
            },
            new_slow: Counts {
                requests: new_requests,
                events: new_slow,
            },
            stable_slow: Counts {
                requests: stable_requests,
                events: stable_slow,
            },
            new_p99_ms: new_p99,
            stable_p99_ms: stable_p99,
        })
    }
}

/// What a judge was asked to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Errors,
    Latency,
    /// Both gates at once, as the demo runs them.
    Both,
}

/// How one run ended for one judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub failed: bool,
    /// New-version requests and failures when the judge decided (or at the end).
    pub new_requests: u64,
    pub new_failures: u64,
    pub seconds: f64,
}

/// greenlight's judge, as the engine runs it: a rate comparison per gate looked
/// at every interval; a step ends early once every gate is shown not worse;
/// undecided steps go on (the default `inconclusive: continue`).
pub fn sequential(
    rollout: &Rollout,
    behaviour: Behaviour,
    metric: Metric,
    seed: u64,
    config: CompareConfig,
) -> Verdict {
    let mut stream = Stream::new(rollout, behaviour, seed);
    let mut errors = RateComparison::new(config);
    let mut latency = RateComparison::new(config);
    let mut totals = Counts::default();
    let mut seconds = 0.0;
    while let Some(window) = stream.next_window() {
        seconds += rollout.interval;
        totals.add(window.new);
        errors.observe(window.new, window.stable);
        latency.observe(window.new_slow, window.stable_slow);
        let calls = match metric {
            Metric::Errors => vec![errors.call()],
            Metric::Latency => vec![latency.call()],
            Metric::Both => vec![errors.call(), latency.call()],
        };
        if calls.contains(&Call::Regressed) {
            return verdict(true, totals, seconds);
        }
        if calls.iter().all(|call| *call == Call::NotWorse) {
            stream.skip_to(window.step + 1);
        }
    }
    verdict(false, totals, seconds)
}

/// Flagger-style: fail the moment the canary's interval value passes the threshold
/// (error rate above `max_error_rate`, p99 above `max_p99_ms`).
pub fn threshold(
    rollout: &Rollout,
    behaviour: Behaviour,
    metric: Metric,
    seed: u64,
    max_error_rate: f64,
    max_p99_ms: f64,
) -> Verdict {
    let mut stream = Stream::new(rollout, behaviour, seed);
    let mut totals = Counts::default();
    let mut seconds = 0.0;
    while let Some(window) = stream.next_window() {
        seconds += rollout.interval;
        totals.add(window.new);
        let errors_fail = window.new.rate().is_some_and(|rate| rate > max_error_rate);
        let latency_fail = window.new_p99_ms.is_some_and(|p99| p99 > max_p99_ms);
        let failed = match metric {
            Metric::Errors => errors_fail,
            Metric::Latency => latency_fail,
            Metric::Both => errors_fail || latency_fail,
        };
        if failed {
            return verdict(true, totals, seconds);
        }
    }
    verdict(false, totals, seconds)
}

/// Kayenta-style: one Mann-Whitney test of the canary's per-interval values
/// against the baseline's at the end of the rollout; "worse" when the one-sided
/// p-value is below 0.01 (the lower end of a two-sided 98% interval above 0).
pub fn fixed_horizon(
    rollout: &Rollout,
    behaviour: Behaviour,
    metric: Metric,
    seed: u64,
) -> Verdict {
    let mut stream = Stream::new(rollout, behaviour, seed);
    let mut totals = Counts::default();
    let mut seconds = 0.0;
    let (mut new_errors, mut stable_errors) = (Vec::new(), Vec::new());
    let (mut new_p99, mut stable_p99) = (Vec::new(), Vec::new());
    while let Some(window) = stream.next_window() {
        seconds += rollout.interval;
        totals.add(window.new);
        if let (Some(new), Some(stable)) = (window.new.rate(), window.stable.rate()) {
            new_errors.push(new);
            stable_errors.push(stable);
        }
        if let (Some(new), Some(stable)) = (window.new_p99_ms, window.stable_p99_ms) {
            new_p99.push(new);
            stable_p99.push(stable);
        }
    }
    let worse =
        |new: &[f64], stable: &[f64]| mann_whitney_greater(new, stable).is_some_and(|p| p < 0.01);
    let failed = match metric {
        Metric::Errors => worse(&new_errors, &stable_errors),
        Metric::Latency => worse(&new_p99, &stable_p99),
        Metric::Both => worse(&new_errors, &stable_errors) || worse(&new_p99, &stable_p99),
    };
    verdict(failed, totals, seconds)
}

fn verdict(failed: bool, totals: Counts, seconds: f64) -> Verdict {
    Verdict {
        failed,
        new_requests: totals.requests,
        new_failures: totals.events,
        seconds,
    }
}

/// One-sided p-value that `a` tends to be larger than `b` (normal approximation
/// with mid-ranks and the tie correction); `None` with an empty sample.
pub fn mann_whitney_greater(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|x| (*x, true))
        .chain(b.iter().map(|x| (*x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut rank_sum, mut ties, mut index) = (0.0, 0.0, 0);
    while index < all.len() {
        let mut end = index;
        while end + 1 < all.len() && all[end + 1].0 == all[index].0 {
            end += 1;
        }
        let size = (end - index + 1) as f64;
        let mid_rank = (index + end) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank
            * all[index..=end]
                .iter()
                .filter(|(_, from_a)| *from_a)
                .count() as f64;
        ties += size * size * size - size;
        index = end + 1;
    }
    let u = rank_sum - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return Some(1.0);
    }
    let z = (u - n1 * n2 / 2.0 - 0.5) / variance.sqrt();
    Some(1.0 - StatNormal::standard().cdf(z))
}

/// The default comparison settings: alpha 0.01, a 50% margin, 100 requests first.
pub fn default_config() -> CompareConfig {
    CompareConfig {
        alpha: 0.01,
        margin: Margin::Relative(0.5),
        min_requests: 100,
    }
}

/// The Clopper-Pearson interval of `successes` out of `trials` at `confidence`.
pub fn binomial_interval(successes: u64, trials: u64, confidence: f64) -> (f64, f64) {
    let tail = (1.0 - confidence) / 2.0;
    let (k, n) = (successes as f64, trials as f64);
    let lower = if successes == 0 {
        0.0
    } else {
        statrs::distribution::Beta::new(k, n - k + 1.0).map_or(0.0, |beta| beta.inverse_cdf(tail))
    };
    let upper = if successes == trials {
        1.0
    } else {
        statrs::distribution::Beta::new(k + 1.0, n - k)
            .map_or(1.0, |beta| beta.inverse_cdf(1.0 - tail))
    };
    (lower, upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> Rollout {
        Rollout {
            rate: 20.0,
            interval: 60.0,
            steps: vec![(0.05, 10), (0.1, 10), (0.2, 10), (0.4, 10)],
        }
    }

    #[test]
    fn streams_are_reproducible_and_follow_the_steps() {
        let behaviour = Behaviour::healthy(0.01);
        let windows = |seed| {
            let mut stream = Stream::new(&rollout(), behaviour, seed);
            std::iter::from_fn(move || stream.next_window()).collect::<Vec<_>>()
        };
        let first = windows(3);
        assert_eq!(first, windows(3));
        assert_ne!(first, windows(4));
        assert_eq!(first.len(), 40);
        let new: u64 = first.iter().map(|window| window.new.requests).sum();
        let offered = rollout().new_requests_offered();
        assert!(
            (new as f64 - offered).abs() < 0.1 * offered,
            "{new} vs {offered}"
        );
        assert_eq!(first[39].step, 3);
    }

    #[test]
    fn mann_whitney_matches_a_textbook_case() {
        // Every a above every b: U = n1·n2, a small p.
        let p = mann_whitney_greater(&[5.0, 6.0, 7.0, 8.0, 9.0], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert!(p.is_some_and(|p| p < 0.01 && p > 0.001), "{p:?}");
        let same = mann_whitney_greater(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
        assert!(same.is_some_and(|p| p > 0.4), "{same:?}");
    }

    #[test]
    fn the_sequential_judge_catches_a_doubling_that_a_threshold_cannot_tell_from_noise() {
        let mut bad = Behaviour::healthy(0.01);
        bad.new_error = 0.02;
        let caught = (0..50)
            .filter(|seed| {
                sequential(&rollout(), bad, Metric::Errors, *seed, default_config()).failed
            })
            .count();
        assert!(caught >= 45, "caught {caught} of 50");
        let interval = binomial_interval(3, 2_000, 0.95);
        assert!(
            interval.0 > 0.0003 && interval.0 < 0.0005 && interval.1 > 0.004 && interval.1 < 0.0046,
            "{interval:?}"
        );
    }
}
