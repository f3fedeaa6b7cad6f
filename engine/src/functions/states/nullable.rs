//! Functions over `Nullable` arguments, as ClickHouse adapts them: rows where an argument is NULL
//! are skipped, and the state is prefixed by a flag byte saying whether a row was seen — except
//! for `count` and `groupArray`, which skip NULLs themselves and write no flag, and for `uniq` and
//! `uniqExact`, whose result is never NULL and whose flag is always set.

use arrow_array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::compute::{and, filter, is_not_null};
use datafusion::common::ScalarValue;
use granary_protocol::io::Cursor;

use super::State;
use crate::error::Result;

/// What the flag byte of a function's state says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// No flag byte.
    Absent,
    /// Always 1; the result is never NULL.
    Always,
    /// 1 when a row was seen (then the nested state follows); the result is NULL otherwise.
    Seen,
}

impl Flag {
    /// The flag of function `name`.
    pub fn of(name: &str) -> Flag {
        match name {
            "count" | "groupArray" => Flag::Absent,
            "uniq" | "uniqExact" => Flag::Always,
            _ => Flag::Seen,
        }
    }
}

/// A state that skips rows with a NULL argument.
#[derive(Debug)]
pub struct NullSkipping {
    inner: Box<dyn State>,
    flag: Flag,
    seen: bool,
}

impl NullSkipping {
    /// `inner` behind the NULL-skipping adapter.
    pub fn new(inner: Box<dyn State>, flag: Flag) -> NullSkipping {
        NullSkipping {
            inner,
            flag,
            seen: false,
        }
    }
}

/// The rows where no argument is NULL, or `None` when that is every row.
fn present_rows(arguments: &[ArrayRef]) -> Result<Option<BooleanArray>> {
    let mut mask: Option<BooleanArray> = None;
    for argument in arguments
        .iter()
        .filter(|argument| argument.null_count() > 0)
    {
        let present = is_not_null(argument)?;
        mask = Some(match mask {
            Some(mask) => and(&mask, &present)?,
            None => present,
        });
    }
    Ok(mask)
}

impl State for NullSkipping {
    fn memory(&self) -> usize {
        self.inner.memory()
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let arguments = match present_rows(arguments)? {
            Some(mask) => arguments
                .iter()
                .map(|argument| filter(argument, &mask))
                .collect::<Result<Vec<_>, _>>()?,
            None => arguments.to_vec(),
        };
        if arguments.first().is_some_and(|first| !first.is_empty()) {
            self.seen = true;
        }
        self.inner.add(&arguments)
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        if self.flag != Flag::Absent && input.read_u8("aggregate state null flag")? == 0 {
            return Ok(());
        }
        self.seen = true;
        self.inner.merge(input)
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        match self.flag {
            Flag::Absent => self.inner.write(out),
            Flag::Always => {
                out.push(1);
                self.inner.write(out)
            }
            Flag::Seen => {
                out.push(u8::from(self.seen));
                if self.seen {
                    self.inner.write(out)?;
                }
                Ok(())
            }
        }
    }

    fn result(&self) -> Result<ScalarValue> {
        let result = self.inner.result()?;
        if self.flag == Flag::Seen && !self.seen {
            return Ok(ScalarValue::try_from(&result.data_type())?);
        }
        Ok(result)
    }
}
