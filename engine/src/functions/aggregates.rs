//! DataFusion's `count`, `sum`, `avg`, `min` and `max` (their accumulators, their use of table
//! statistics, `DISTINCT`) with ClickHouse's result types and empty-set values: `count` is
//! `UInt64`; the others are `Nullable` only when their argument is, and over no rows (or no rows
//! passing an `-If` condition) give the type's default — `sum` 0, `avg` nan, `min`/`max` 0 or ''
//! — where DataFusion gives NULL. `avg` of integers is [`super::average`]'s exact one. The
//! statistics (`varPop`, `varSamp`, `stddevPop`, `stddevSamp`, `covarPop`, `covarSamp`, `corr`)
//! are `Float64`, nan where undefined (no rows; one row for the sample ones), as in ClickHouse.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray};

use super::average;
use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{cast, is_null};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::correlation::corr_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::covariance::{covar_pop_udaf, covar_samp_udaf};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::stddev::{stddev_pop_udaf, stddev_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::functions_aggregate::variance::{var_pop_udaf, var_samp_udaf};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    SetMonotonicity, Signature, StatisticsArgs,
};

/// The aggregate functions of this module.
pub fn functions() -> Vec<AggregateUDF> {
    [
        (Kind::Count, count_udaf()),
        (Kind::Sum, sum_udaf()),
        (Kind::Avg, avg_udaf()),
        (Kind::MinMax, min_udaf()),
        (Kind::MinMax, max_udaf()),
        (Kind::Statistic, var_samp_udaf()),
        (Kind::Statistic, var_pop_udaf()),
        (Kind::Statistic, stddev_udaf()),
        (Kind::Statistic, stddev_pop_udaf()),
        (Kind::Statistic, covar_samp_udaf()),
        (Kind::Statistic, covar_pop_udaf()),
        (Kind::Statistic, corr_udaf()),
    ]
    .into_iter()
    .map(|(kind, inner)| {
        let signature = match kind {
            Kind::Avg => average::signature(inner.signature()),
            _ => inner.signature().clone(),
        };
        AggregateUDF::new_from_impl(Wrapped {
            kind,
            inner,
            signature,
        })
    })
    .collect()
}

/// How a wrapped aggregate differs from DataFusion's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `UInt64`, never NULL.
    Count,
    /// 0 over no rows.
    Sum,
    /// nan over no rows.
    Avg,
    /// The type's default over no rows.
    MinMax,
    /// nan where undefined.
    Statistic,
}

/// A DataFusion aggregate with ClickHouse's result type and empty-set value.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Wrapped {
    kind: Kind,
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl Wrapped {
    /// The value over no rows of an aggregate with `output` type and non-nullable input.
    fn empty_value(&self, output: &ArrowType) -> DfResult<ScalarValue> {
        match self.kind {
            Kind::Count | Kind::Sum => ScalarValue::new_zero(output),
            Kind::Avg | Kind::Statistic => ScalarValue::Float64(Some(f64::NAN)).cast_to(output),
            Kind::MinMax => ScalarValue::new_default(output),
        }
    }

    /// Whether this is `avg` of integers, which [`average`] computes exactly.
    fn exact_average(&self, input: &ArrowType) -> bool {
        self.kind == Kind::Avg && average::is_exact(input)
    }

    fn exact_input(&self, inputs: &[FieldRef]) -> bool {
        matches!(inputs, [input] if self.exact_average(input.data_type()))
    }

    /// What the accumulators of `args` convert their results with.
    fn conversion(&self, args: &AccumulatorArgs) -> DfResult<Conversion> {
        let output = args.return_field.data_type().clone();
        let input_nullable = args.expr_fields.iter().any(|field| field.is_nullable());
        let fill = if self.kind == Kind::Count || !input_nullable {
            Some(self.empty_value(&output)?)
        } else {
            None
        };
        Ok(Conversion { output, fill })
    }
}

/// The result type and the value that replaces a NULL result (none: NULL stays).
#[derive(Debug, Clone)]
struct Conversion {
    output: ArrowType,
    fill: Option<ScalarValue>,
}

impl Conversion {
    fn scalar(&self, value: ScalarValue) -> DfResult<ScalarValue> {
        let value = if value.data_type() == self.output {
            value
        } else {
            value.cast_to(&self.output)?
        };
        Ok(match (&self.fill, value.is_null()) {
            (Some(fill), true) => fill.clone(),
            _ => value,
        })
    }

    fn array(&self, values: ArrayRef) -> DfResult<ArrayRef> {
        let values = if *values.data_type() == self.output {
            values
        } else {
            cast(&values, &self.output)?
        };
        match &self.fill {
            Some(fill) if values.null_count() > 0 => {
                let nulls = is_null(&values)?;
                Ok(zip(&nulls, &fill.to_scalar()?, &values)?)
            }
            _ => Ok(values),
        }
    }
}

fn to_uint64(value: ScalarValue) -> DfResult<ScalarValue> {
    Ok(match value {
        ScalarValue::Int64(count) => ScalarValue::UInt64(count.map(|count| count.max(0) as u64)),
        other => other.cast_to(&ArrowType::UInt64)?,
    })
}

impl AggregateUDFImpl for Wrapped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[ArrowType]) -> DfResult<Vec<ArrowType>> {
        match arg_types {
            [input] if self.exact_average(input) => Ok(arg_types.to_vec()),
            _ => self.inner.inner().coerce_types(arg_types),
        }
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        match (self.kind, arg_types) {
            (Kind::Count, _) => Ok(ArrowType::UInt64),
            (_, [input]) if self.exact_average(input) => Ok(ArrowType::Float64),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> DfResult<FieldRef> {
        let types: Vec<ArrowType> = arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let nullable = self.kind != Kind::Count && arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            self.return_type(&types)?,
            nullable,
        )))
    }

    fn is_nullable(&self) -> bool {
        self.kind != Kind::Count
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let conversion = self.conversion(&args)?;
        let inner: Box<dyn Accumulator> = if self.exact_input(args.expr_fields) {
            Box::<average::Average>::default()
        } else {
            self.inner.accumulator(args)?
        };
        Ok(Box::new(WrappedAccumulator(inner, conversion)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        if self.exact_input(args.input_fields) {
            return Ok(average::state_fields(args.name));
        }
        // A partial state over no rows is NULL even when the result never is.
        Ok(self
            .inner
            .state_fields(args)?
            .into_iter()
            .map(|field| Arc::new(field.as_ref().clone().with_nullable(true)))
            .collect())
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        (self.exact_input(args.expr_fields) && !args.is_distinct)
            || self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        let conversion = self.conversion(&args)?;
        let inner: Box<dyn GroupsAccumulator> = if self.exact_input(args.expr_fields) {
            Box::<average::GroupAverages>::default()
        } else {
            self.inner.create_groups_accumulator(args)?
        };
        Ok(Box::new(WrappedGroups(inner, conversion)))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let conversion = self.conversion(&args)?;
        Ok(Box::new(WrappedAccumulator(
            self.inner.create_sliding_accumulator(args)?,
            conversion,
        )))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn default_value(&self, data_type: &ArrowType) -> DfResult<ScalarValue> {
        match self.kind {
            Kind::Count => Ok(ScalarValue::UInt64(Some(0))),
            _ => self.inner.default_value(data_type),
        }
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        let value = self.inner.inner().value_from_stats(statistics_args)?;
        match self.kind {
            Kind::Count => to_uint64(value).ok(),
            _ => value.cast_to(statistics_args.return_type).ok(),
        }
    }

    fn set_monotonicity(&self, data_type: &ArrowType) -> SetMonotonicity {
        self.inner.inner().set_monotonicity(data_type)
    }
}

#[derive(Debug)]
struct WrappedAccumulator(Box<dyn Accumulator>, Conversion);

impl Accumulator for WrappedAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.0.update_batch(values)
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        self.1.scalar(self.0.evaluate()?)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        self.0.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.0.merge_batch(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.0.retract_batch(values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.0.supports_retract_batch()
    }
}

struct WrappedGroups(Box<dyn GroupsAccumulator>, Conversion);

impl GroupsAccumulator for WrappedGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.0
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        self.1.array(self.0.evaluate(emit_to)?)
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        self.0.state(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.0.merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        self.0.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.0.size()
    }
}
