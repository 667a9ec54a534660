//! Mapping a traffic percentage to HAProxy server weights and back.
//!
//! HAProxy splits a backend's traffic in proportion to its servers' weights (0–256 each). Each
//! side (stable, new) owns a fixed total `W` (the "weight per side", 100–256, default 256):
//!
//! * set: the new side gets `round_half_up(p × W / 100)`, the stable side the rest, so the two
//!   sides always add up to `W`; each side's total is spread evenly over its servers, the
//!   first servers in the list getting the remainder one by one.
//! * read back: `round_half_up(100 × new / (new + stable))` over the weights in effect.
//!
//! Read-back returns exactly the percentage that was set, for every `p` in 0..=100, because
//! `W ≥ 100`: the new side's total is within 0.5 of `p × W / 100`, so the share read back is
//! within `50 / W ≤ 0.5` points of `p` (and exactly `p` when `W = 100`). The tests check every
//! combination.

/// The most HAProxy accepts for one server (management.txt, `set weight`).
pub const MAX_SERVER_WEIGHT: u16 = 256;
/// Below this, two neighbouring percentages could map to the same weights.
pub const MIN_WEIGHT_PER_SIDE: u16 = 100;
pub const DEFAULT_WEIGHT_PER_SIDE: u16 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub stable: Vec<u16>,
    pub new: Vec<u16>,
}

/// Server weights that send `percent` of the traffic to the new servers.
pub fn weights(
    percent: u8,
    weight_per_side: u16,
    stable_servers: usize,
    new_servers: usize,
) -> Split {
    let percent = u32::from(percent.min(100));
    let total = u32::from(weight_per_side);
    let new_total = (percent * total + 50) / 100;
    let stable_total = total - new_total;
    Split {
        stable: spread(stable_total, stable_servers),
        new: spread(new_total, new_servers),
    }
}

/// The share of traffic on the new servers, in percent, given the weights in effect on each
/// side. None when no server takes traffic at all.
pub fn percent(new_total: u32, stable_total: u32) -> Option<u8> {
    let sum = u64::from(new_total) + u64::from(stable_total);
    if sum == 0 {
        return None;
    }
    let share = (200 * u64::from(new_total) + sum) / (2 * sum);
    u8::try_from(share).ok()
}

fn spread(total: u32, servers: usize) -> Vec<u16> {
    if servers == 0 {
        return Vec::new();
    }
    let n = servers as u32;
    (0..n)
        .map(|i| {
            let w = total / n + u32::from(i < total % n);
            // total ≤ weight per side ≤ 256, so this never saturates.
            u16::try_from(w).unwrap_or(MAX_SERVER_WEIGHT)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(ws: &[u16]) -> u32 {
        ws.iter().map(|w| u32::from(*w)).sum()
    }

    #[test]
    fn read_back_equals_set_for_every_percent_and_config() {
        for per_side in MIN_WEIGHT_PER_SIDE..=MAX_SERVER_WEIGHT {
            for stable_n in 1..=3 {
                for new_n in 1..=3 {
                    for p in 0..=100u8 {
                        let split = weights(p, per_side, stable_n, new_n);
                        assert_eq!(split.stable.len(), stable_n);
                        assert_eq!(split.new.len(), new_n);
                        assert_eq!(sum(&split.stable) + sum(&split.new), u32::from(per_side));
                        assert!(split.new.iter().chain(&split.stable).all(|w| *w <= 256));
                        assert_eq!(
                            percent(sum(&split.new), sum(&split.stable)),
                            Some(p),
                            "p={p} W={per_side} {split:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn default_examples() {
        assert_eq!(
            weights(0, 256, 1, 1),
            Split {
                stable: vec![256],
                new: vec![0]
            }
        );
        assert_eq!(
            weights(100, 256, 1, 1),
            Split {
                stable: vec![0],
                new: vec![256]
            }
        );
        // 10% of 256 = 25.6 → 26 on the new side, spread 9/9/8.
        assert_eq!(
            weights(10, 256, 2, 3),
            Split {
                stable: vec![115, 115],
                new: vec![9, 9, 8]
            }
        );
    }

    #[test]
    fn no_traffic_anywhere_has_no_percentage() {
        assert_eq!(percent(0, 0), None);
        assert_eq!(percent(1, 2), Some(33));
        assert_eq!(percent(1, 1), Some(50));
    }
}
