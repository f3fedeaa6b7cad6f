//! ClickHouse's simple merge selector (`mergetree.md` §5.2, `SimpleMergeSelector.cpp`).

/// A part as the selector sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeCandidate {
    /// Bytes on disk.
    pub size: u64,
    /// Seconds since the part was created.
    pub age: u64,
}

/// The selector's settings, with ClickHouse's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSelectorSettings {
    /// `max_parts_to_merge_at_once`.
    pub max_parts_to_merge_at_once: usize,
    /// `merge_selector_base`.
    pub base: f64,
    /// `max_bytes_to_merge_at_max_space_in_pool`: ranges larger than this are never chosen.
    pub max_total_size_to_merge: u64,
}

impl Default for MergeSelectorSettings {
    fn default() -> Self {
        MergeSelectorSettings {
            max_parts_to_merge_at_once: 100,
            base: 5.0,
            max_total_size_to_merge: 150 << 30,
        }
    }
}

const MIN_SIZE_TO_LOWER_BASE: f64 = 1024.0 * 1024.0;
const MAX_SIZE_TO_LOWER_BASE: f64 = 100.0 * 1024.0 * 1024.0 * 1024.0;
const MIN_AGE_TO_LOWER_BASE_AT_MIN_SIZE: f64 = 10.0;
const MIN_AGE_TO_LOWER_BASE_AT_MAX_SIZE: f64 = 10.0;
const MAX_AGE_TO_LOWER_BASE_AT_MIN_SIZE: f64 = 3600.0;
const MAX_AGE_TO_LOWER_BASE_AT_MAX_SIZE: f64 = 30.0 * 86400.0;
const MIN_PARTS_TO_LOWER_BASE: f64 = 10.0;
const MAX_PARTS_TO_LOWER_BASE: f64 = 50.0;
const SIZE_FIXED_COST_TO_ADD: f64 = 5.0 * 1024.0 * 1024.0;
const HEURISTIC_ALIGN_RATIO: f64 = 0.9;
const HEURISTIC_ALIGN_MAX_LOG2_DIFFERENCE: f64 = 0.5;
const HEURISTIC_ALIGN_MAX_SCORE_FACTOR: f64 = 0.75;
const HEURISTIC_SMALL_PARTS_AT_RIGHT_RATIO: f64 = 0.01;
/// ClickHouse looks at most this many range starts per run.
const BEGINS_MAX: usize = 1001;

fn lin01(value: f64, low: f64, high: f64) -> f64 {
    if value <= low {
        0.0
    } else if value >= high {
        1.0
    } else {
        (value - low) / (high - low)
    }
}

fn lerp(from: f64, to: f64, t: f64) -> f64 {
    from + (to - from) * t
}

/// Chooses the range of parts to merge: `(run index, start, end)` (end exclusive), or `None`.
/// Each run is one partition's adjacent, mergeable parts in block order.
pub fn select_merge(
    runs: &[Vec<MergeCandidate>],
    settings: &MergeSelectorSettings,
) -> Option<(usize, usize, usize)> {
    let mut best: Option<((usize, usize, usize), f64)> = None;
    for (run_index, run) in runs.iter().enumerate() {
        let parts_n = lin01(
            run.len() as f64,
            MIN_PARTS_TO_LOWER_BASE,
            MAX_PARTS_TO_LOWER_BASE,
        );
        for begin in 0..run.len().min(BEGINS_MAX) {
            let mut sum = 0u64;
            let mut max_size = 0u64;
            let mut min_age = u64::MAX;
            for end in begin + 1..=run.len() {
                let part = &run[end - 1];
                sum += part.size;
                max_size = max_size.max(part.size);
                min_age = min_age.min(part.age);
                let count = end - begin;
                if count < 2 {
                    continue;
                }
                if count > settings.max_parts_to_merge_at_once
                    || sum > settings.max_total_size_to_merge
                {
                    break;
                }
                let size_n = lin01(
                    (1.0 + sum as f64).ln(),
                    (1.0 + MIN_SIZE_TO_LOWER_BASE).ln(),
                    (1.0 + MAX_SIZE_TO_LOWER_BASE).ln(),
                );
                let age_low = lerp(
                    MIN_AGE_TO_LOWER_BASE_AT_MIN_SIZE,
                    MIN_AGE_TO_LOWER_BASE_AT_MAX_SIZE,
                    size_n,
                );
                let age_high = lerp(
                    MAX_AGE_TO_LOWER_BASE_AT_MIN_SIZE,
                    MAX_AGE_TO_LOWER_BASE_AT_MAX_SIZE,
                    size_n,
                );
                let age_n = lin01(min_age as f64, age_low, age_high);
                let base = lerp(settings.base, 2.0, (age_n + parts_n).min(1.0));
                let total = sum as f64 + count as f64 * SIZE_FIXED_COST_TO_ADD;
                if total / (max_size as f64 + SIZE_FIXED_COST_TO_ADD) < base {
                    continue;
                }
                let mut score = total / (count as f64 - 1.9);
                let previous = if begin > 0 {
                    run[begin - 1].size as f64
                } else {
                    0.0
                };
                if previous > HEURISTIC_ALIGN_RATIO * sum as f64 {
                    let difference = (sum as f64 / previous).log2().abs();
                    if difference < HEURISTIC_ALIGN_MAX_LOG2_DIFFERENCE {
                        score *= lerp(
                            HEURISTIC_ALIGN_MAX_SCORE_FACTOR,
                            1.0,
                            difference / HEURISTIC_ALIGN_MAX_LOG2_DIFFERENCE,
                        );
                    }
                }
                let mut trimmed = end;
                while trimmed >= begin + 3
                    && (run[trimmed - 1].size as f64)
                        < HEURISTIC_SMALL_PARTS_AT_RIGHT_RATIO * sum as f64
                {
                    trimmed -= 1;
                }
                if best
                    .as_ref()
                    .is_none_or(|(_, best_score)| score < *best_score)
                {
                    best = Some(((run_index, begin, trimmed), score));
                }
            }
        }
    }
    best.map(|(range, _)| range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sizes: &[u64], age: u64) -> Vec<MergeCandidate> {
        sizes
            .iter()
            .map(|size| MergeCandidate { size: *size, age })
            .collect()
    }

    #[test]
    fn small_fresh_parts_merge_all_at_once() {
        // Ten 1 KiB parts: the fixed cost makes any range allowed; more parts per byte scores best.
        let runs = vec![parts(&[1024; 10], 1)];
        assert_eq!(
            select_merge(&runs, &MergeSelectorSettings::default()),
            Some((0, 0, 10))
        );
    }

    #[test]
    fn one_part_or_an_unbalanced_young_pair_does_not_merge() {
        assert_eq!(
            select_merge(&[parts(&[1 << 20], 1)], &MergeSelectorSettings::default()),
            None
        );
        // A 10 GiB part and a 1 MiB part, both fresh: the total is not `base` times the biggest.
        assert_eq!(
            select_merge(
                &[parts(&[10 << 30, 1 << 20], 1)],
                &MergeSelectorSettings::default()
            ),
            None
        );
        // Old enough, the base drops toward 2 and... still not 2x the biggest part.
        assert_eq!(
            select_merge(
                &[parts(&[10 << 30, 1 << 20], 40 * 86400)],
                &MergeSelectorSettings::default()
            ),
            None
        );
        // Two equal old parts merge.
        assert_eq!(
            select_merge(
                &[parts(&[10 << 30, 10 << 30], 40 * 86400)],
                &MergeSelectorSettings::default()
            ),
            Some((0, 0, 2))
        );
    }

    #[test]
    fn limits_are_respected() {
        // Fresh tiny parts need a range of at least `base` (5) parts to be worth a merge.
        let settings = MergeSelectorSettings {
            max_parts_to_merge_at_once: 4,
            ..MergeSelectorSettings::default()
        };
        assert_eq!(select_merge(&[parts(&[1024; 10], 1)], &settings), None);
        let settings = MergeSelectorSettings {
            max_parts_to_merge_at_once: 6,
            ..MergeSelectorSettings::default()
        };
        let chosen = select_merge(&[parts(&[1024; 10], 1)], &settings).unwrap();
        assert_eq!(chosen.2 - chosen.1, 6);
        let settings = MergeSelectorSettings {
            max_total_size_to_merge: 1000,
            ..MergeSelectorSettings::default()
        };
        assert_eq!(select_merge(&[parts(&[1024; 10], 1)], &settings), None);
    }
}
