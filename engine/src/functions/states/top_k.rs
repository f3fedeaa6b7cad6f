//! `topK(N)(x)`: the N most frequent values, most frequent first, by ClickHouse's algorithm
//! (Space-Saving with room for 3·N values: a value that finds the table full takes the place of the
//! least counted one and inherits its count, remembered as its error). Exact while the group has
//! at most 3·N distinct values. Values counted equally come in the order they were first seen,
//! where ClickHouse's order among them is its sort's (unspecified).
//!
//! The state's bytes are Granary's own (value, count, error per kept value), so `topKState` is
//! refused; they only travel between partial and final aggregation.

use std::collections::HashMap;

use arrow_array::ArrayRef;
use datafusion::common::ScalarValue;
use granary_protocol::io::{Cursor, write_var_uint};
use granary_protocol::{DataType, ErrorCode};

use super::State;
use super::values::{array_scalar, conformed, items_array, read_count, read_scalar, write_scalar};
use crate::error::{Error, Result};

/// How many values a state keeps per value asked for.
const ROOM_PER_RESULT: usize = 3;
/// The most values topK returns.
const MAX_COUNT: u64 = 65_536;
/// What topK returns without a parameter.
const DEFAULT_COUNT: usize = 10;

#[derive(Debug, Clone)]
struct Counter {
    count: u64,
    error: u64,
    /// When the value was first seen (ties come in this order).
    order: u64,
}

/// `topK`'s state.
#[derive(Debug)]
pub struct TopK {
    data_type: DataType,
    wanted: usize,
    counters: HashMap<ScalarValue, Counter>,
    seen: u64,
}

impl TopK {
    /// An empty state with `parameters` (N) over values of `argument`.
    pub fn new(parameters: &[String], argument: &DataType) -> Result<TopK> {
        let wanted = match parameters {
            [] => DEFAULT_COUNT,
            [text] => match text.parse::<u64>() {
                Ok(count) if (1..=MAX_COUNT).contains(&count) => count as usize,
                _ => {
                    return Err(Error::query(
                        ErrorCode::ARGUMENT_OUT_OF_BOUND,
                        format!(
                            "parameter {text} of aggregate function topK must be 1 to {MAX_COUNT}"
                        ),
                    ));
                }
            },
            _ => {
                return Err(Error::query(
                    ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                    "aggregate function topK takes one parameter",
                ));
            }
        };
        Ok(TopK {
            data_type: argument.clone(),
            wanted,
            counters: HashMap::new(),
            seen: 0,
        })
    }

    fn room(&self) -> usize {
        self.wanted * ROOM_PER_RESULT
    }

    fn insert(&mut self, value: ScalarValue, count: u64, error: u64) {
        let order = self.seen;
        self.seen += 1;
        if let Some(counter) = self.counters.get_mut(&value) {
            counter.count += count;
            counter.error += error;
            return;
        }
        if self.counters.len() < self.room() {
            self.counters.insert(
                value,
                Counter {
                    count,
                    error,
                    order,
                },
            );
            return;
        }
        // The least counted value gives its place up; the newcomer inherits its count as error.
        let Some((least, _)) = self
            .counters
            .iter()
            .min_by_key(|(_, counter)| (counter.count, std::cmp::Reverse(counter.order)))
            .map(|(value, counter)| (value.clone(), counter.count))
        else {
            return;
        };
        if let Some(evicted) = self.counters.remove(&least) {
            self.counters.insert(
                value,
                Counter {
                    count: evicted.count + count,
                    error: evicted.count + error,
                    order,
                },
            );
        }
    }

    /// The kept values, most counted first.
    fn ranked(&self) -> Vec<(&ScalarValue, &Counter)> {
        let mut ranked: Vec<_> = self.counters.iter().collect();
        ranked.sort_by(|(_, a), (_, b)| {
            b.count
                .cmp(&a.count)
                .then(a.error.cmp(&b.error))
                .then(a.order.cmp(&b.order))
        });
        ranked
    }
}

impl State for TopK {
    fn memory(&self) -> usize {
        self.counters.capacity()
            * (std::mem::size_of::<ScalarValue>() + std::mem::size_of::<Counter>())
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let values = conformed(&self.data_type, &arguments[0])?;
        for row in 0..values.len() {
            self.insert(ScalarValue::try_from_array(&values, row)?, 1, 0);
        }
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        let count = read_count(input, "topK value count")?;
        for _ in 0..count {
            let value = read_scalar(&self.data_type, input)?;
            let count = input.read_u64("topK count")?;
            let error = input.read_u64("topK error")?;
            self.insert(value, count, error);
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        let ranked = self.ranked();
        write_var_uint(out, ranked.len() as u64);
        for (value, counter) in ranked {
            write_scalar(&self.data_type, value, out)?;
            out.extend_from_slice(&counter.count.to_le_bytes());
            out.extend_from_slice(&counter.error.to_le_bytes());
        }
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        let top: Vec<ScalarValue> = self
            .ranked()
            .into_iter()
            .take(self.wanted)
            .map(|(value, _)| value.clone())
            .collect();
        array_scalar(&self.data_type, items_array(&self.data_type, top)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_frequent_value_survives_more_distinct_values_than_the_room() {
        // Room for 3 values; 1,000 distinct values pass, one of them every other row.
        let mut state = TopK::new(&["1".to_string()], &DataType::UInt64).unwrap();
        let values: Vec<u64> = (0..2000)
            .map(|i| if i % 2 == 0 { 7 } else { 1000 + i })
            .collect();
        state
            .add(&[Arc::new(arrow_array::UInt64Array::from(values)) as ArrayRef])
            .unwrap();
        assert!(state.counters.len() <= 3);
        let mut out = Vec::new();
        state.write(&mut out).unwrap();
        let mut copy = TopK::new(&["1".to_string()], &DataType::UInt64).unwrap();
        copy.merge(&mut Cursor::new(&out)).unwrap();
        let ScalarValue::List(list) = copy.result().unwrap() else {
            unreachable!()
        };
        let top = list.value(0);
        assert_eq!(
            ScalarValue::try_from_array(&top, 0).unwrap(),
            ScalarValue::UInt64(Some(7))
        );
    }
}
