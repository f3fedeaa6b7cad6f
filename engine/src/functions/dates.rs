//! Date and time functions with ClickHouse's names, types and results.
//!
//! Values are Arrow `Date32` (ClickHouse `Date`/`Date32`, told apart by the field's type name) and
//! `Timestamp` (`DateTime` in seconds, `DateTime64` in the finest unit its precision needs), with
//! the time zone in the Arrow type. A value without a zone is read in UTC, Granary's server time
//! zone.
//!
//! - [`calendar`] — day numbers ↔ civil dates, ISO weeks, time zones, reading date text;
//! - [`column`] — date columns as instants and wall-clock seconds, constant arguments, result fields;
//! - [`parts`] — `toYear` ... `toSecond`, `toYYYYMM`, `toUnixTimestamp`, `toStartOf*`, `toMonday`;
//! - [`construct`] — `toDate`, `toDate32`, `toDateTime`, `toDateTime64`, `fromUnixTimestamp`,
//!   `toTimeZone`, `now`, `today`, `yesterday`;
//! - [`units`] — `date_trunc`, `dateDiff`;
//! - [`shift`] — `+` and `-` on dates and times;
//! - [`format`] — `formatDateTime`.

pub mod calendar;
mod column;
mod construct;
mod format;
mod parts;
pub mod shift;
mod units;

use datafusion::logical_expr::ScalarUDF;

pub use calendar::civil_from_days;

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    let mut functions = parts::functions();
    functions.extend(construct::functions());
    functions.extend(units::functions());
    functions.extend(shift::functions());
    functions.push(format::function());
    functions
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt32Type;
    use arrow_array::{ArrayRef, TimestampSecondArray};
    use datafusion::arrow::datatypes::{DataType as ArrowType, Field};
    use datafusion::common::config::ConfigOptions;
    use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

    use super::*;

    fn call(name: &str, argument: ArrayRef) -> ArrayRef {
        let function = functions().into_iter().find(|f| f.name() == name).unwrap();
        let field = Arc::new(Field::new("t", argument.data_type().clone(), false));
        let return_field = function
            .return_field_from_args(datafusion::logical_expr::ReturnFieldArgs {
                arg_fields: std::slice::from_ref(&field),
                scalar_arguments: &[None],
            })
            .unwrap();
        let result = function
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(argument.clone())],
                arg_fields: vec![field],
                number_rows: argument.len(),
                return_field,
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        match result {
            ColumnarValue::Array(array) => array,
            ColumnarValue::Scalar(_) => panic!("an array argument gives an array"),
        }
    }

    #[test]
    fn timestamps_are_read_in_their_time_zone() {
        // 2024-01-31 23:30:00 UTC is already February in Berlin.
        let instant = 1_706_743_800i64;
        let utc: ArrayRef = Arc::new(TimestampSecondArray::from(vec![instant]));
        let berlin: ArrayRef =
            Arc::new(TimestampSecondArray::from(vec![instant]).with_timezone("Europe/Berlin"));
        let month = |array: ArrayRef| {
            call("toYYYYMM", array)
                .as_primitive::<UInt32Type>()
                .value(0)
        };
        assert_eq!(month(utc.clone()), 202_401);
        assert_eq!(month(berlin.clone()), 202_402);
        // Rounding keeps the zone and rounds the wall clock.
        let start = call("toStartOfDay", berlin);
        assert_eq!(
            start.data_type(),
            &ArrowType::Timestamp(arrow_schema::TimeUnit::Second, Some("Europe/Berlin".into()))
        );
        let start = start
            .as_primitive::<arrow_array::types::TimestampSecondType>()
            .value(0);
        // Midnight of 1 February in Berlin is 23:00 UTC.
        assert_eq!(start, instant - 30 * 60);
    }
}
