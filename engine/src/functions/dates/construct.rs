//! The functions that make dates and times: `toDate`, `toDate32`, `toDateTime`, `toDateTime64`
//! (each with `OrZero` and `OrNull` forms), `fromUnixTimestamp`, `toTimeZone`, and the clock
//! functions `now`, `today` and `yesterday`.
//!
//! As in ClickHouse: strings are read as `YYYY-MM-DD[ hh:mm:ss[.fraction]]` wall-clock time in the
//! target zone; a number given to `toDate` is a day number below 65,536 and a Unix time from there
//! on; a number given to `toDateTime` is a Unix time clamped to the type's range; a `DateTime`
//! becomes a `Date` by its day in its zone.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
};
use arrow_array::{Array, ArrayRef, Int64Array, PrimitiveArray};
use arrow_schema::{DataType as ArrowType, FieldRef, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use granary_protocol::ErrorCode;
use granary_protocol::types::{CLICKHOUSE_TYPE_KEY, DataType, datetime64_unit, field_for};

use super::super::arguments::{
    argument_integer, constant_integer, constant_string, on_arrays, time_zone_argument,
};
use super::calendar::{DAY, Zone, parse_wall_time};
use super::column::{
    Moments, clickhouse_name, date_array, datetime_array, not_a_moment, typed_field,
};
use crate::Error;

/// What a conversion makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Date,
    Date32,
    DateTime,
    DateTime64,
}

/// What a conversion does with a string that is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OnError {
    Fail,
    Zero,
    Null,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    let mut functions = Vec::new();
    for (base, target) in [
        ("toDate", Target::Date),
        ("toDate32", Target::Date32),
        ("toDateTime", Target::DateTime),
        ("toDateTime64", Target::DateTime64),
    ] {
        for (suffix, on_error) in [
            ("", OnError::Fail),
            ("OrZero", OnError::Zero),
            ("OrNull", OnError::Null),
        ] {
            functions.push(ScalarUDF::new_from_impl(Conversion {
                name: format!("{base}{suffix}"),
                target,
                on_error,
                numbers_only: false,
                signature: Signature::variadic_any(Volatility::Immutable),
            }));
        }
    }
    functions.push(ScalarUDF::new_from_impl(Conversion {
        name: "fromUnixTimestamp".to_string(),
        target: Target::DateTime,
        on_error: OnError::Fail,
        numbers_only: true,
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
    functions.push(ScalarUDF::new_from_impl(ToTimeZone {
        aliases: vec!["toTimezone".to_string()],
        signature: Signature::any(2, Volatility::Immutable),
    }));
    for clock in [Clock::Now, Clock::Today, Clock::Yesterday] {
        functions.push(ScalarUDF::new_from_impl(ClockFunction {
            clock,
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::Any(1)],
                Volatility::Stable,
            ),
        }));
    }
    functions
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Conversion {
    name: String,
    target: Target,
    on_error: OnError,
    /// `fromUnixTimestamp` takes numbers only.
    numbers_only: bool,
    signature: Signature,
}

impl Conversion {
    /// The index of the time zone argument.
    fn zone_index(&self) -> usize {
        match self.target {
            Target::DateTime64 => 2,
            _ => 1,
        }
    }

    /// The ClickHouse result type for a precision and time zone.
    fn result_type(&self, precision: u8, tz: Option<String>) -> DataType {
        match self.target {
            Target::Date => DataType::Date,
            Target::Date32 => DataType::Date32,
            Target::DateTime => DataType::DateTime(tz),
            Target::DateTime64 => DataType::DateTime64(precision, tz),
        }
    }

    fn check(&self, types: &[ArrowType]) -> Result<(), Error> {
        let most = self.zone_index() + 1;
        let least = if self.target == Target::DateTime64 {
            2
        } else {
            1
        };
        if !(least..=most).contains(&types.len()) {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Number of arguments for function {} doesn't match: passed {}, should be {least} to {most}",
                    self.name,
                    types.len()
                ),
            ));
        }
        let first = &types[0];
        let accepted = match first {
            ArrowType::Null => true,
            t if t.is_numeric() => true,
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => !self.numbers_only,
            ArrowType::Date32 | ArrowType::Timestamp(..) => !self.numbers_only,
            _ => false,
        };
        if !accepted {
            return Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!(
                    "Illegal type {} of first argument of function {}",
                    clickhouse_name(first),
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// Target values (day numbers, seconds, or ticks of `unit`) of the argument.
    fn convert(
        &self,
        array: &ArrayRef,
        zone_name: Option<&str>,
        precision: u8,
    ) -> DfResult<Int64Array> {
        let zone = Zone::of(zone_name)?;
        let (unit, ticks_per_step) = datetime64_unit(precision);
        let per_second = ticks_per_second(unit);
        // Ticks of the unit, truncated to the precision.
        let ticks_of = move |seconds: i64, nanos: i64| {
            let ticks = seconds * per_second + nanos / (1_000_000_000 / per_second);
            ticks - ticks.rem_euclid(ticks_per_step)
        };
        Ok(match array.data_type() {
            ArrowType::Null => Int64Array::new_null(array.len()),
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
                let strings = datafusion::arrow::compute::cast(array, &ArrowType::Utf8)?;
                let strings = strings.as_string::<i32>();
                let mut values = Vec::with_capacity(strings.len());
                for text in strings.iter() {
                    let Some(text) = text else {
                        values.push(None);
                        continue;
                    };
                    let value = parse_wall_time(text).map(|wall| match self.target {
                        Target::Date | Target::Date32 => wall.days,
                        Target::DateTime => zone.utc(wall.local_seconds()),
                        Target::DateTime64 => {
                            ticks_of(zone.utc(wall.local_seconds()), i64::from(wall.nanos))
                        }
                    });
                    values.push(match (value, self.on_error) {
                        (Some(value), _) => Some(value),
                        (None, OnError::Zero) => Some(0),
                        (None, OnError::Null) => None,
                        (None, OnError::Fail) => return Err(self.unparsable(text).into()),
                    });
                }
                Int64Array::from(values)
            }
            ArrowType::Date32 | ArrowType::Timestamp(..) => {
                let moments = Moments::read(array, &self.name, zone_name)?;
                match self.target {
                    Target::Date | Target::Date32 => {
                        moments.local().unary(|seconds| seconds.div_euclid(DAY))
                    }
                    // A date is midnight in the target zone.
                    _ if !moments.has_time => {
                        let utc = moments.ticks.unary(|seconds| zone.utc(seconds));
                        match self.target {
                            Target::DateTime => utc,
                            _ => utc.unary(|seconds| ticks_of(seconds, 0)),
                        }
                    }
                    Target::DateTime => moments.utc(),
                    Target::DateTime64 => {
                        let from = moments.per_second;
                        moments.ticks.unary(|ticks| {
                            let seconds = ticks.div_euclid(from);
                            let nanos = ticks.rem_euclid(from) * (1_000_000_000 / from);
                            ticks_of(seconds, nanos)
                        })
                    }
                }
            }
            t if t.is_floating() && self.target == Target::DateTime64 => {
                let floats = datafusion::arrow::compute::cast(array, &ArrowType::Float64)?;
                floats
                    .as_primitive::<arrow_array::types::Float64Type>()
                    .unary(|value| {
                        let seconds = value.floor();
                        ticks_of(seconds as i64, ((value - seconds) * 1e9) as i64)
                    })
            }
            t if t.is_numeric() => {
                let numbers = super::column::integers(array)?;
                match self.target {
                    Target::Date => numbers.unary(|value| {
                        if value < 65_536 {
                            value.max(0)
                        } else {
                            zone.local(value.min(i64::from(u32::MAX))).div_euclid(DAY)
                        }
                    }),
                    Target::Date32 => numbers,
                    Target::DateTime => numbers.unary(|value| value.clamp(0, i64::from(u32::MAX))),
                    Target::DateTime64 => numbers.unary(|value| ticks_of(value, 0)),
                }
            }
            other => return Err(not_a_moment(&self.name, other).into()),
        })
    }

    fn unparsable(&self, text: &str) -> Error {
        let (code, what) = match self.target {
            Target::Date | Target::Date32 => (ErrorCode::CANNOT_PARSE_DATE, "Date"),
            Target::DateTime | Target::DateTime64 => (ErrorCode::CANNOT_PARSE_DATETIME, "DateTime"),
        };
        Error::query(
            code,
            format!(
                "Cannot parse {what} from String '{text}' in function {}",
                self.name
            ),
        )
    }
}

/// Ticks per second of a time unit.
fn ticks_per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Ticks of `unit` as a timestamp column in zone `tz`.
fn timestamp_array(ticks: Int64Array, unit: TimeUnit, tz: Option<Arc<str>>) -> ArrayRef {
    match unit {
        TimeUnit::Second => datetime_array(ticks, tz),
        TimeUnit::Millisecond => Arc::new(
            ticks
                .reinterpret_cast::<TimestampMillisecondType>()
                .with_timezone_opt(tz),
        ),
        TimeUnit::Microsecond => Arc::new(
            ticks
                .reinterpret_cast::<TimestampMicrosecondType>()
                .with_timezone_opt(tz),
        ),
        TimeUnit::Nanosecond => Arc::new(
            ticks
                .reinterpret_cast::<TimestampNanosecondType>()
                .with_timezone_opt(tz),
        ),
    }
}

/// The precision argument of `toDateTime64`: 0 to 9.
fn precision(value: i64, function: &str) -> Result<u8, Error> {
    u8::try_from(value).ok().filter(|p| *p <= 9).ok_or_else(|| {
        Error::query(
            ErrorCode::ARGUMENT_OUT_OF_BOUND,
            format!("The precision of function {function} must be 0 to 9, not {value}"),
        )
    })
}

impl ScalarUDFImpl for Conversion {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        crate::functions::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types = super::super::argument_types(&args);
        self.check(&types)?;
        let precision = match self.target {
            Target::DateTime64 => precision(
                constant_integer(&args, 1).ok_or_else(|| {
                    Error::query(
                        ErrorCode::ILLEGAL_COLUMN,
                        format!("The precision of function {} must be a constant", self.name),
                    )
                })?,
                &self.name,
            )?,
            _ => 0,
        };
        let tz = constant_string(&args, self.zone_index());
        let nullable = self.on_error == OnError::Null
            || args.arg_fields[0].is_nullable()
            || types[0] == ArrowType::Null;
        let data_type = self.result_type(precision, tz);
        let mut field = field_for(&self.name, &data_type).with_nullable(nullable);
        if matches!(self.target, Target::DateTime) {
            // A plain DateTime needs no type name: the Arrow type says it.
            field.set_metadata(HashMap::new());
        }
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let precision = match self.target {
            Target::DateTime64 => precision(
                argument_integer(&args.args[1], &self.name, "precision")?,
                &self.name,
            )?,
            _ => 0,
        };
        let tz = time_zone_argument(&args.args, self.zone_index(), &self.name)?;
        let return_type = args.return_field.data_type().clone();
        on_arrays(&args.args[..1], args.number_rows, |arrays| {
            let values = self.convert(&arrays[0], tz.as_deref(), precision)?;
            Ok(match (self.target, return_type) {
                (Target::Date | Target::Date32, _) => date_array(&values),
                (_, ArrowType::Timestamp(unit, tz)) => timestamp_array(values, unit, tz),
                (_, other) => unreachable!("{} returns {other}", self.name),
            })
        })
    }
}

/// `toTimeZone(t, zone)`: the same instants, shown in another zone.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToTimeZone {
    aliases: Vec<String>,
    signature: Signature,
}

impl ScalarUDFImpl for ToTimeZone {
    fn name(&self) -> &str {
        "toTimeZone"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        crate::functions::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let field = &args.arg_fields[0];
        let Some(zone) = constant_string(&args, 1) else {
            return Err(Error::query(
                ErrorCode::ILLEGAL_COLUMN,
                "The time zone argument of function toTimeZone must be a constant string",
            )
            .into());
        };
        Zone::of(Some(&zone))?;
        let data_type = match granary_protocol::types::field_clickhouse_type(field)
            .map_err(Error::from)?
            .strip_nullable()
        {
            DataType::DateTime(_) => DataType::DateTime(Some(zone)),
            DataType::DateTime64(precision, _) => DataType::DateTime64(*precision, Some(zone)),
            _ => return Err(not_a_moment("toTimeZone", field.data_type()).into()),
        };
        Ok(Arc::new(
            field_for(self.name(), &data_type).with_nullable(field.is_nullable()),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let ArrowType::Timestamp(unit, tz) = args.return_field.data_type().clone() else {
            unreachable!("toTimeZone returns a timestamp");
        };
        on_arrays(&args.args[..1], args.number_rows, |arrays| {
            let ticks: PrimitiveArray<Int64Type> = match arrays[0].data_type() {
                ArrowType::Timestamp(..) => {
                    let data = arrays[0].to_data();
                    let data = data.into_builder().data_type(ArrowType::Int64).build()?;
                    PrimitiveArray::from(data)
                }
                other => return Err(not_a_moment("toTimeZone", other).into()),
            };
            Ok(timestamp_array(ticks, unit, tz))
        })
    }
}

/// The clock functions, constant within a query (they read the query's start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Clock {
    Now,
    Today,
    Yesterday,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ClockFunction {
    clock: Clock,
    signature: Signature,
}

impl ClockFunction {
    /// The value at instant `now` (seconds since the epoch), with the time zone argument if any.
    fn value(&self, now: i64, tz: Option<&str>) -> Result<ScalarValue, Error> {
        let zone = Zone::of(tz)?;
        let today = zone.local(now).div_euclid(DAY) as i32;
        Ok(match self.clock {
            Clock::Now => ScalarValue::TimestampSecond(Some(now), tz.map(Arc::from)),
            Clock::Today => ScalarValue::Date32(Some(today)),
            Clock::Yesterday => ScalarValue::Date32(Some(today - 1)),
        })
    }

    fn field_metadata(&self) -> HashMap<String, String> {
        match self.clock {
            Clock::Now => HashMap::new(),
            Clock::Today | Clock::Yesterday => {
                HashMap::from([(CLICKHOUSE_TYPE_KEY.to_string(), "Date".to_string())])
            }
        }
    }
}

impl ScalarUDFImpl for ClockFunction {
    fn name(&self) -> &str {
        match self.clock {
            Clock::Now => "now",
            Clock::Today => "today",
            Clock::Yesterday => "yesterday",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        crate::functions::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let tz = constant_string(&args, 0);
        if !args.arg_fields.is_empty() && (self.clock != Clock::Now || tz.is_none()) {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Function {} takes {}",
                    self.name(),
                    if self.clock == Clock::Now {
                        "no argument or a constant time zone"
                    } else {
                        "no arguments"
                    }
                ),
            )
            .into());
        }
        let value = self.value(0, tz.as_deref())?;
        Ok(match self.clock {
            Clock::Now => super::column::datetime_field(self.name(), tz.map(Into::into), false),
            _ => typed_field(self.name(), value.data_type(), "Date", false),
        })
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        let Some(start) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        let tz = match args.first() {
            Some(Expr::Literal(ScalarValue::Utf8(Some(tz)), _)) => Some(tz.clone()),
            Some(_) => return Ok(ExprSimplifyResult::Original(args)),
            None => None,
        };
        let value = self.value(start.timestamp(), tz.as_deref())?;
        let metadata = self.field_metadata();
        let metadata = (!metadata.is_empty()).then(|| metadata.into());
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            value, metadata,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let tz = time_zone_argument(&args.args, 0, self.name())?;
        let now = chrono::Utc::now().timestamp();
        Ok(ColumnarValue::Scalar(self.value(now, tz.as_deref())?))
    }
}
