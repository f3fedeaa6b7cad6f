//! Primary-key analysis: which granules of a part can hold rows matching a condition on the key
//! (ClickHouse's `KeyCondition`, for conditions that are ORs of ANDs of ranges on key columns).
//!
//! Granule `g` holds rows whose key lies between index entries `g` and `g + 1` (the final entry is
//! the part's last row). Its first key column is bounded by those two entries; a later column is
//! bounded only while every earlier column has the same value at both entries.

use std::cmp::Ordering;
use std::ops::Range;

use arrow_array::{Array, ArrayRef};
use arrow_ord::ord::{DynComparator, make_comparator};
use arrow_schema::SortOptions;

use crate::error::Result;

/// One end of a range: a one-row array of the key column's type.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The value.
    pub value: ArrayRef,
    /// Whether the value itself is in the range.
    pub inclusive: bool,
}

/// A range of one key column; `None` ends are unbounded.
#[derive(Debug, Clone, Default)]
pub struct ColumnRange {
    /// Lower end.
    pub low: Option<Bound>,
    /// Upper end.
    pub high: Option<Bound>,
}

impl ColumnRange {
    /// `column = value`.
    pub fn point(value: ArrayRef) -> ColumnRange {
        ColumnRange {
            low: Some(Bound {
                value: value.clone(),
                inclusive: true,
            }),
            high: Some(Bound {
                value,
                inclusive: true,
            }),
        }
    }
}

/// An OR of alternatives, each an AND of ranges on key columns (by position in the key).
#[derive(Debug, Clone)]
pub struct KeyCondition {
    /// The alternatives; a condition with none matches nothing.
    pub alternatives: Vec<Vec<(usize, ColumnRange)>>,
}

impl KeyCondition {
    /// The condition that every granule may match.
    pub fn always() -> KeyCondition {
        KeyCondition {
            alternatives: vec![Vec::new()],
        }
    }

    /// Whether the condition narrows nothing: one of its alternatives constrains no column.
    pub fn is_unconstrained(&self) -> bool {
        self.alternatives.iter().any(Vec::is_empty)
    }
}

/// A range of one key column, with its comparators built once for all granules.
struct PreparedRange {
    column: usize,
    /// Entry vs the lower end, and whether the end is included.
    low: Option<(DynComparator, bool)>,
    /// Entry vs the upper end, and whether the end is included.
    high: Option<(DynComparator, bool)>,
}

impl PreparedRange {
    fn new(index: &[ArrayRef], column: usize, range: &ColumnRange) -> Result<PreparedRange> {
        let comparator = |bound: &Option<Bound>| -> Result<Option<(DynComparator, bool)>> {
            bound
                .as_ref()
                .map(|bound| {
                    Ok((
                        make_comparator(
                            index[column].as_ref(),
                            bound.value.as_ref(),
                            SortOptions::default(),
                        )?,
                        bound.inclusive,
                    ))
                })
                .transpose()
        };
        Ok(PreparedRange {
            column,
            low: comparator(&range.low)?,
            high: comparator(&range.high)?,
        })
    }

    /// Whether the entries `[low, high]` of the column can meet the range.
    fn intersects(&self, low: usize, high: usize) -> bool {
        if let Some((compare, inclusive)) = &self.low {
            // The granule's largest value is below the range's lower end.
            match compare(high, 0) {
                Ordering::Less => return false,
                Ordering::Equal if !inclusive => return false,
                _ => {}
            }
        }
        if let Some((compare, inclusive)) = &self.high {
            match compare(low, 0) {
                Ordering::Greater => return false,
                Ordering::Equal if !inclusive => return false,
                _ => {}
            }
        }
        true
    }
}

/// The granules of a part (whose primary index is `index`, one array per key column with
/// granules + 1 entries) that may hold matching rows, as ranges of consecutive granules.
pub fn select_granules(index: &[ArrayRef], condition: &KeyCondition) -> Result<Vec<Range<usize>>> {
    let entries = index.first().map_or(0, |column| column.len());
    let granules = entries.saturating_sub(1);
    // For each granule, how many leading key columns are constant across it: a column is
    // bounded by the granule's entries only while every earlier one is constant.
    let self_comparators = index
        .iter()
        .map(|column| make_comparator(column.as_ref(), column.as_ref(), SortOptions::default()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let constant_prefix: Vec<usize> = (0..granules)
        .map(|granule| {
            self_comparators
                .iter()
                .take_while(|compare| compare(granule, granule + 1) == Ordering::Equal)
                .count()
        })
        .collect();
    let alternatives = condition
        .alternatives
        .iter()
        .map(|alternative| {
            alternative
                .iter()
                .map(|(column, range)| PreparedRange::new(index, *column, range))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let mut selected: Vec<Range<usize>> = Vec::new();
    for (granule, constant) in constant_prefix.iter().enumerate() {
        let may_match = alternatives.iter().any(|ranges| {
            ranges
                .iter()
                .all(|range| range.column > *constant || range.intersects(granule, granule + 1))
        });
        if may_match {
            match selected.last_mut() {
                Some(last) if last.end == granule => last.end = granule + 1,
                _ => selected.push(granule..granule + 1),
            }
        }
    }
    Ok(selected)
}

/// Whether a part whose columns lie within `bounds` (per column of the condition: a two-row array,
/// minimum then maximum) may hold rows matching `condition`.
pub fn part_may_match(bounds: &[ArrayRef], condition: &KeyCondition) -> Result<bool> {
    for alternative in &condition.alternatives {
        let mut may_match = true;
        for (column, range) in alternative {
            if !PreparedRange::new(bounds, *column, range)?.intersects(0, 1) {
                may_match = false;
                break;
            }
        }
        if may_match {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // expected granule lists of one range
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{StringArray, UInt32Array};

    fn value(v: u32) -> ArrayRef {
        Arc::new(UInt32Array::from(vec![v]))
    }

    /// Five granules of 100 keys each: entries 0, 100, ..., 400 and the last row 499.
    fn index() -> Vec<ArrayRef> {
        vec![Arc::new(UInt32Array::from(vec![
            0, 100, 200, 300, 400, 499,
        ]))]
    }

    #[test]
    fn points_ranges_and_alternatives_select_granules() {
        let point = |v| KeyCondition {
            alternatives: vec![vec![(0, ColumnRange::point(value(v)))]],
        };
        assert_eq!(select_granules(&index(), &point(150)).unwrap(), [1..2]);
        // A key equal to a granule boundary may be at the end of the previous granule too.
        assert_eq!(select_granules(&index(), &point(200)).unwrap(), [1..3]);
        assert_eq!(
            select_granules(&index(), &point(600)).unwrap(),
            Vec::<Range<usize>>::new()
        );
        let range = ColumnRange {
            low: Some(Bound {
                value: value(250),
                inclusive: false,
            }),
            high: Some(Bound {
                value: value(300),
                inclusive: false,
            }),
        };
        assert_eq!(
            select_granules(
                &index(),
                &KeyCondition {
                    alternatives: vec![vec![(0, range)]]
                }
            )
            .unwrap(),
            [2..3]
        );
        let either = KeyCondition {
            alternatives: vec![
                vec![(0, ColumnRange::point(value(50)))],
                vec![(0, ColumnRange::point(value(450)))],
            ],
        };
        assert_eq!(select_granules(&index(), &either).unwrap(), [0..1, 4..5]);
        assert_eq!(
            select_granules(&index(), &KeyCondition::always()).unwrap(),
            [0..5]
        );
    }

    #[test]
    fn later_key_columns_prune_only_under_a_constant_prefix() {
        // (site, path): site constant over the first two granules, then changing.
        let index: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "a", "a", "b", "c"])),
            Arc::new(UInt32Array::from(vec![1, 50, 90, 5, 7])),
        ];
        let condition = |path| KeyCondition {
            alternatives: vec![vec![(1, ColumnRange::point(value(path)))]],
        };
        // path = 60: granule 0 ([1, 50] under site 'a') cannot hold it; granule 1 ([50, 90]) can;
        // granules 2 and 3 change site, so path is unbounded there.
        assert_eq!(select_granules(&index, &condition(60)).unwrap(), [1..4]);
    }
}
