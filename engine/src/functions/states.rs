//! Aggregate-function states and the `-State`, `-Merge` and `-MergeState` combinators.
//!
//! `fState(args)` returns each group's intermediate state of `f` as a value of type
//! `AggregateFunction(f, T...)` (Arrow `Binary`, the type name in the field's metadata);
//! `fMerge(states)` combines states and returns `f`'s result; `fMergeState(states)` combines them
//! into a state again; `finalizeAggregation(state)` finishes one state per row. States are what
//! AggregatingMergeTree columns store and what the native protocol carries, so their bytes are a
//! format: Granary writes ClickHouse's own layouts (the ones `granary_protocol::column::
//! state_length` reads), so a state written by either merges in the other, and a state written today
//! merges tomorrow. Sets are written in a canonical order (ClickHouse writes hash-table order);
//! readers of either accept any order.
//!
//! Functions with states: `count`, `sum`, `avg`, `min`, `max`, `any`, `anyLast`, `argMin`,
//! `argMax`, `uniq` (ClickHouse's adaptive-sampling set, with its exact estimates), `uniqExact`,
//! `uniqCombined(K)`/`uniqCombined64(K)` (ClickHouse's set-then-HyperLogLog), `groupArray`. The
//! quantile family, `topK` and `sumMap` are computed through states too, but their bytes are
//! Granary's own, so their `-State` forms do not exist. Others
//! are refused with NOT_IMPLEMENTED by name. Parameters (`uniqCombined(12)`) reach the aggregate as
//! trailing arguments marked [`PARAMETER_KEY`], since DataFusion's aggregates have no parameters.

mod combined;
mod extremes;
mod group_array;
mod nullable;
mod quantiles;
mod sum_map;
mod sums;
mod top_k;
mod uniques;
mod values;

use std::fmt::Debug;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray};
use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use granary_protocol::io::Cursor;
use granary_protocol::types::{AggregateFunction, FunctionCall, field_for};
use granary_protocol::{DataType, ErrorCode};

use super::type_name::clickhouse_type;
use crate::error::{Error, Result};

/// The functions whose states Granary keeps.
pub const FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "any",
    "anyLast",
    "argMin",
    "argMax",
    "uniq",
    "uniqExact",
    "uniqCombined",
    "uniqCombined64",
    "groupArray",
];

/// Functions that take parameters (`uniqCombined(12)`, `topK(5)`), besides the quantile family.
const PARAMETRIC: &[&str] = &["uniqCombined", "uniqCombined64", "topK"];

/// Whether aggregate `name` takes parameters, which reach it as marked arguments.
pub fn takes_parameters(name: &str) -> bool {
    PARAMETRIC.contains(&name) || quantiles::FUNCTIONS.contains(&name)
}

/// Metadata key that marks an argument carrying one parameter of a parametric aggregate
/// (`uniqCombined(12)(x)` is planned as `uniqCombined(x, parameter(12))`); its value is the
/// parameter as ClickHouse writes it in type names.
pub const PARAMETER_KEY: &str = "granary.parameter";

/// Metadata key that marks the argument the analyzer adds to `countState()` so that the
/// accumulator sees how many rows there are; it is not part of the state's type.
pub const ROW_MARKER_KEY: &str = "granary.row_marker";

/// One group's state of one aggregate function.
pub trait State: Debug + Send + Sync {
    /// Adds every row of `arguments` (one array per argument, no NULLs: see [`nullable`]).
    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()>;
    /// Reads one serialized state from `input` and merges it into this one.
    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()>;
    /// Appends the serialized state.
    fn write(&self, out: &mut Vec<u8>) -> Result<()>;
    /// The function's result, of the Arrow type of [`StateFunction::result_type`].
    fn result(&self) -> Result<ScalarValue>;
    /// Heap bytes the state holds beyond its own size (what the query's memory pool counts):
    /// states that grow with their input report it.
    fn memory(&self) -> usize {
        0
    }
}

/// An aggregate function with its argument types: what an `AggregateFunction(f, T...)` type names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateFunction {
    name: String,
    parameters: Vec<String>,
    arguments: Vec<DataType>,
    /// The arguments as the function's state sees them (without LowCardinality and Nullable).
    plain: Vec<DataType>,
}

impl StateFunction {
    /// `name` over arguments of these types. Whether Granary keeps states of this function over
    /// these types is checked by [`StateFunction::new_state`]: DataFusion types a query once before
    /// ClickHouse's typing rules apply, so the types seen first may not be the final ones.
    pub fn new(name: &str, arguments: Vec<DataType>) -> StateFunction {
        StateFunction::with_parameters(name, Vec::new(), arguments)
    }

    /// `name(parameters...)` over arguments of these types.
    pub fn with_parameters(
        name: &str,
        parameters: Vec<String>,
        arguments: Vec<DataType>,
    ) -> StateFunction {
        let plain: Vec<DataType> = arguments.iter().map(plain_type).collect();
        StateFunction {
            name: name.to_string(),
            parameters,
            arguments,
            plain,
        }
    }

    /// The function a column type `AggregateFunction(...)` names.
    pub fn of_type(data_type: &DataType) -> Result<StateFunction> {
        match data_type {
            DataType::AggregateFunction(AggregateFunction {
                version: None,
                function,
                arguments,
            }) if function.parameters.is_empty() || takes_parameters(&function.name) => {
                Ok(StateFunction::with_parameters(
                    &function.name,
                    function.parameters.clone(),
                    arguments.clone(),
                ))
            }
            DataType::AggregateFunction(_) => Err(Error::not_implemented(format!(
                "states of type {data_type}"
            ))),
            other => Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!("{other} is not an AggregateFunction type"),
            )),
        }
    }

    /// The name of the function.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `AggregateFunction(name, arguments...)`.
    pub fn state_type(&self) -> DataType {
        DataType::AggregateFunction(AggregateFunction {
            version: None,
            function: FunctionCall {
                name: self.name.clone(),
                parameters: self.parameters.clone(),
            },
            arguments: self.arguments.clone(),
        })
    }

    /// Whether some argument is `Nullable`.
    fn nullable_arguments(&self) -> bool {
        self.arguments.iter().any(|argument| {
            matches!(argument, DataType::LowCardinality(inner) if inner.is_nullable())
                || argument.is_nullable()
        })
    }

    /// The type of the function's result.
    pub fn result_type(&self) -> Result<DataType> {
        let plain = match (self.name.as_str(), self.plain.as_slice()) {
            ("count" | "uniq" | "uniqExact", _) => return Ok(DataType::UInt64),
            ("uniqCombined" | "uniqCombined64", _) => DataType::UInt64,
            ("topK", [argument]) => return Ok(DataType::Array(Box::new(argument.clone()))),
            ("sumMap", [keys, values]) => return sum_map::result_type(keys, values),
            (name, [argument]) if quantiles::FUNCTIONS.contains(&name) => {
                let result = quantiles::result_type(name, argument)?;
                if matches!(result, DataType::Array(_)) {
                    return Ok(result);
                }
                result
            }
            ("groupArray", [element]) => return Ok(DataType::Array(Box::new(element.clone()))),
            ("sum", [argument]) => sums::sum_type(argument)?,
            ("avg", _) => DataType::Float64,
            ("min" | "max" | "any" | "anyLast" | "argMin" | "argMax", [result, ..]) => {
                result.clone()
            }
            _ => return Err(self.unsupported()),
        };
        Ok(if self.nullable_arguments() {
            DataType::Nullable(Box::new(plain))
        } else {
            plain
        })
    }

    /// A new, empty state.
    pub fn new_state(&self) -> Result<Box<dyn State>> {
        if !self.parameters.is_empty() && !takes_parameters(&self.name) {
            return Err(Error::not_implemented(format!(
                "states of aggregate function {} with parameters",
                self.name
            )));
        }
        let state: Box<dyn State> = match (self.name.as_str(), self.plain.as_slice()) {
            ("count", _) => Box::new(sums::Count::default()),
            ("sum", [argument]) => Box::new(sums::Sum::new(argument)?),
            ("avg", [argument]) => Box::new(sums::Average::new(argument)?),
            ("min" | "max" | "any" | "anyLast", [argument]) => {
                Box::new(extremes::Extreme::new(&self.name, argument)?)
            }
            ("argMin" | "argMax", [result, key]) => {
                Box::new(extremes::ArgExtreme::new(&self.name, result, key)?)
            }
            ("uniq", [argument]) => Box::new(uniques::Uniq::new(argument)?),
            ("uniqExact", [argument]) => Box::new(uniques::UniqExact::new(argument)?),
            ("uniqCombined" | "uniqCombined64", [argument]) => Box::new(
                combined::UniqCombined::new(&self.name, &self.parameters, argument)?,
            ),
            ("topK", [argument]) => Box::new(top_k::TopK::new(&self.parameters, argument)?),
            ("sumMap", [keys, values]) => Box::new(sum_map::SumMap::new(keys, values)?),
            (name, [argument]) if quantiles::FUNCTIONS.contains(&name) => {
                Box::new(quantiles::Quantiles::new(name, &self.parameters, argument)?)
            }
            ("uniq" | "uniqExact" | "uniqCombined" | "uniqCombined64", _) => {
                return Err(Error::not_implemented(format!(
                    "aggregate function {} of several arguments",
                    self.name
                )));
            }
            ("groupArray", [element]) => Box::new(group_array::GroupArray::new(element)?),
            (name, _) if FUNCTIONS.contains(&name) => {
                return Err(Error::query(
                    ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                    format!(
                        "aggregate function {name} does not take {} arguments",
                        self.arguments.len()
                    ),
                ));
            }
            _ => return Err(self.unsupported()),
        };
        Ok(if self.nullable_arguments() {
            Box::new(nullable::NullSkipping::new(
                state,
                nullable::Flag::of(&self.name),
            ))
        } else {
            state
        })
    }

    fn unsupported(&self) -> Error {
        Error::not_implemented(format!(
            "states of aggregate function {}",
            self.state_type()
        ))
    }

    /// The state that merging serialized `states` gives, serialized.
    pub fn combine<'a>(&self, states: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>> {
        let mut state = self.new_state()?;
        for bytes in states {
            merge_exactly(state.as_mut(), bytes)?;
        }
        let mut out = Vec::new();
        state.write(&mut out)?;
        Ok(out)
    }

    /// The result of one serialized state.
    pub fn finish(&self, bytes: &[u8]) -> Result<ScalarValue> {
        let mut state = self.new_state()?;
        merge_exactly(state.as_mut(), bytes)?;
        state.result()
    }
}

/// The type a state works with: LowCardinality is transparent and Nullable handled by [`nullable`].
fn plain_type(argument: &DataType) -> DataType {
    match argument {
        DataType::LowCardinality(inner) => plain_type(inner),
        DataType::Nullable(inner) => plain_type(inner),
        other => other.clone(),
    }
}

/// Merges one whole serialized state; bytes left over mean it was not a state of this function.
fn merge_exactly(state: &mut dyn State, bytes: &[u8]) -> Result<()> {
    let mut cursor = Cursor::new(bytes);
    state.merge(&mut cursor)?;
    if !cursor.is_empty() {
        return Err(Error::query(
            ErrorCode::CANNOT_READ_ALL_DATA,
            format!(
                "{} bytes left over after reading an aggregate function state",
                cursor.remaining()
            ),
        ));
    }
    Ok(())
}

/// What a combinator does with its input and what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    /// The function itself, computed through its state: values in, the result out (for `uniq`,
    /// whose estimates are then ClickHouse's).
    Plain,
    /// `-State`: values in, a state out.
    State,
    /// `-Merge`: states in, the result out.
    Merge,
    /// `-MergeState`: states in, a state out.
    MergeState,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::State, Mode::Merge, Mode::MergeState];

    fn suffix(self) -> &'static str {
        match self {
            Mode::Plain => "",
            Mode::State => "State",
            Mode::Merge => "Merge",
            Mode::MergeState => "MergeState",
        }
    }
}

/// Functions computed through their states ([`Mode::Plain`]), besides the quantile family.
const PLAIN: &[&str] = &[
    "uniq",
    "groupArray",
    "uniqCombined",
    "uniqCombined64",
    "topK",
    "sumMap",
];

/// The `-State`, `-Merge` and `-MergeState` aggregates of every function in [`FUNCTIONS`], and the
/// functions of [`PLAIN`].
pub fn functions() -> Vec<AggregateUDF> {
    let plain_functions = || PLAIN.iter().chain(quantiles::FUNCTIONS);
    let plain = plain_functions().map(|base| (base, Mode::Plain));
    // Functions computed through Granary-internal states get their combined names too, which
    // answer NOT_IMPLEMENTED (see `Combinator::return_field`) rather than "unknown function".
    let internal = plain_functions().filter(|base| !FUNCTIONS.contains(base));
    let combined = FUNCTIONS
        .iter()
        .chain(internal)
        .flat_map(|base| Mode::ALL.into_iter().map(move |mode| (base, mode)));
    plain
        .chain(combined)
        .map(|(base, mode)| {
            let signature = match mode {
                Mode::Plain | Mode::State => Signature::one_of(
                    vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                    Volatility::Immutable,
                ),
                // One state, and the parameters of parametric functions (checked by `function`).
                Mode::Merge | Mode::MergeState => Signature::variadic_any(Volatility::Immutable),
            };
            AggregateUDF::new_from_impl(Combinator {
                base,
                mode,
                name: format!("{base}{}", mode.suffix()),
                signature,
            })
        })
        .collect()
}

/// `finalizeAggregation(state)`.
/// `finalizeAggregation(state)` and [`PARAMETER_FUNCTION`].
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Finalize {
            signature: Signature::any(1, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Parameter {
            // Volatile, so that constant folding keeps the call and with it the field's marker.
            signature: Signature::any(1, Volatility::Volatile),
        }),
    ]
}

/// The function that marks a parametric aggregate's parameter passed as an argument.
pub const PARAMETER_FUNCTION: &str = "granary_parameter";

/// `granary_parameter(literal)`: the literal, its field marked with [`PARAMETER_KEY`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct Parameter {
    signature: Signature,
}

impl ScalarUDFImpl for Parameter {
    fn name(&self) -> &str {
        PARAMETER_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let Some(Some(value)) = args.scalar_arguments.first() else {
            return Err(Error::query(
                ErrorCode::BAD_ARGUMENTS,
                "parameters of aggregate functions must be literals",
            )
            .into());
        };
        let text = match value {
            ScalarValue::Utf8(Some(text)) | ScalarValue::LargeUtf8(Some(text)) => {
                format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
            }
            other => other.to_string(),
        };
        let field = Field::new(PARAMETER_FUNCTION, value.data_type(), false).with_metadata(
            std::collections::HashMap::from([(PARAMETER_KEY.to_string(), text)]),
        );
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(args.args[0].clone())
    }
}

/// One combinator applied to one function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Combinator {
    base: &'static str,
    mode: Mode,
    name: String,
    signature: Signature,
}

impl Combinator {
    /// The function whose states this aggregate reads or makes, from its argument fields.
    fn function(&self, fields: &[FieldRef]) -> Result<StateFunction> {
        let (parameters, arguments) = split_parameters(fields);
        match self.mode {
            Mode::Plain | Mode::State => {
                let types = arguments
                    .iter()
                    .filter(|field| !field.metadata().contains_key(ROW_MARKER_KEY))
                    .map(|field| clickhouse_type(field))
                    .collect::<Result<Vec<_>>>()?;
                Ok(StateFunction::with_parameters(self.base, parameters, types))
            }
            Mode::Merge | Mode::MergeState => {
                let [argument] = arguments.as_slice() else {
                    return Err(Error::query(
                        ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                        format!("aggregate function {} takes one argument", self.name),
                    ));
                };
                let data_type = clickhouse_type(argument)?;
                let expected = matches!(
                    &data_type,
                    DataType::AggregateFunction(AggregateFunction { function, .. })
                        if function.name == self.base
                );
                if !expected {
                    return Err(Error::query(
                        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                        format!(
                            "illegal type {data_type} of argument of aggregate function {}: \
                             expected AggregateFunction({}, ...)",
                            self.name, self.base
                        ),
                    ));
                }
                let function = StateFunction::of_type(&data_type)?;
                if takes_parameters(self.base) && function.parameters != parameters {
                    return Err(Error::query(
                        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                        format!(
                            "illegal type {data_type} of argument of aggregate function {}: \
                             the state was made with other parameters",
                            self.name
                        ),
                    ));
                }
                Ok(function)
            }
        }
    }

    /// How many of the accumulator's inputs are arguments (the parameters follow them).
    fn input_count(fields: &[FieldRef]) -> usize {
        split_parameters(fields).1.len()
    }
}

/// The parameters (their ClickHouse text) and the other fields of an aggregate's inputs.
fn split_parameters(fields: &[FieldRef]) -> (Vec<String>, Vec<&FieldRef>) {
    let mut parameters = Vec::new();
    let mut arguments = Vec::new();
    for field in fields {
        match field.metadata().get(PARAMETER_KEY) {
            Some(text) => parameters.push(text.clone()),
            None => arguments.push(field),
        }
    }
    (parameters, arguments)
}

impl AggregateUDFImpl for Combinator {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        super::typed_by_fields(&self.name)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> DfResult<FieldRef> {
        if self.mode != Mode::Plain && !FUNCTIONS.contains(&self.base) {
            return Err(Error::not_implemented(format!(
                "{}: states of aggregate function {} (Granary keeps them in a form of its own, \
                 not ClickHouse's)",
                self.name, self.base
            ))
            .into());
        }
        let function = self.function(arg_fields)?;
        let data_type = match self.mode {
            Mode::State | Mode::MergeState => function.state_type(),
            Mode::Plain | Mode::Merge => function.result_type()?,
        };
        Ok(Arc::new(field_for(&self.name, &data_type)))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let function = self.function(args.expr_fields)?;
        Ok(Box::new(StateAccumulator {
            mode: self.mode,
            inputs: Combinator::input_count(args.expr_fields),
            state: function.new_state()?,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[state]", args.name),
            ArrowType::Binary,
            true,
        ))])
    }
}

/// The accumulator of one group: a [`State`] fed with values or with states.
#[derive(Debug)]
struct StateAccumulator {
    mode: Mode,
    /// How many inputs are arguments: the parameters that follow are not.
    inputs: usize,
    state: Box<dyn State>,
}

impl StateAccumulator {
    fn merge_states(&mut self, states: &ArrayRef) -> Result<()> {
        let states: &BinaryArray = states.as_binary_opt().ok_or_else(|| {
            Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!(
                    "aggregate states must be binary, not {}",
                    states.data_type()
                ),
            )
        })?;
        for bytes in states.iter().flatten() {
            merge_exactly(self.state.as_mut(), bytes)?;
        }
        Ok(())
    }

    fn serialized(&self) -> Result<ScalarValue> {
        let mut out = Vec::new();
        self.state.write(&mut out)?;
        Ok(ScalarValue::Binary(Some(out)))
    }
}

impl Accumulator for StateAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        match self.mode {
            Mode::Plain | Mode::State => self.state.add(&values[..self.inputs])?,
            Mode::Merge | Mode::MergeState => self.merge_states(&values[0])?,
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        Ok(self.merge_states(&states[0])?)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![self.serialized()?])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(match self.mode {
            Mode::State | Mode::MergeState => self.serialized()?,
            Mode::Plain | Mode::Merge => self.state.result()?,
        })
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.state.memory()
    }
}

/// `finalizeAggregation(state)`: each row's state finished.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Finalize {
    signature: Signature,
}

impl ScalarUDFImpl for Finalize {
    fn name(&self) -> &str {
        "finalizeAggregation"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        super::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let function = StateFunction::of_type(&clickhouse_type(&args.arg_fields[0])?)?;
        Ok(Arc::new(field_for(self.name(), &function.result_type()?)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let function = StateFunction::of_type(&clickhouse_type(&args.arg_fields[0])?)?;
        let states = args.args[0].to_array(args.number_rows)?;
        let states = states.as_binary_opt::<i32>().ok_or_else(|| {
            Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                "finalizeAggregation takes an AggregateFunction value",
            )
        })?;
        let results = states
            .iter()
            .map(|bytes| match bytes {
                Some(bytes) => function.finish(bytes),
                None => Ok(ScalarValue::try_from(args.return_field.data_type())?),
            })
            .collect::<Result<Vec<_>>>()?;
        let array = if results.is_empty() {
            arrow_array::new_empty_array(args.return_field.data_type())
        } else {
            ScalarValue::iter_to_array(results)?
        };
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_bytes(name: &str, arguments: &[&str], columns: Vec<ArrayRef>) -> Vec<u8> {
        let types = arguments
            .iter()
            .map(|name| DataType::parse(name).unwrap())
            .collect();
        let function = StateFunction::new(name, types);
        let mut state = function.new_state().unwrap();
        state.add(&columns).unwrap();
        let mut out = Vec::new();
        state.write(&mut out).unwrap();
        out
    }

    #[test]
    fn states_have_clickhouse_bytes() {
        // Each expected value is what ClickHouse (chDB) returned for `hex(fState(x))` over the
        // same values.
        let numbers: ArrayRef = Arc::new(arrow_array::UInt64Array::from(vec![0, 1, 2, 3, 4]));
        let strings: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["0", "1", "2"]));
        let cases: Vec<(&str, Vec<&str>, Vec<ArrayRef>, &str)> = vec![
            ("count", vec!["UInt64"], vec![numbers.clone()], "05"),
            (
                "sum",
                vec!["UInt64"],
                vec![numbers.clone()],
                "0a00000000000000",
            ),
            (
                "avg",
                vec!["UInt64"],
                vec![numbers.clone()],
                "0a0000000000000005",
            ),
            (
                "min",
                vec!["UInt64"],
                vec![numbers.clone()],
                "010000000000000000",
            ),
            ("max", vec!["String"], vec![strings.clone()], "020000003200"),
            ("any", vec!["String"], vec![strings.clone()], "020000003000"),
            (
                "argMax",
                vec!["String", "UInt64"],
                vec![
                    strings.clone(),
                    Arc::new(arrow_array::UInt64Array::from(vec![0, 1, 2])),
                ],
                "020000003200010200000000000000",
            ),
            (
                "uniqExact",
                vec!["String"],
                vec![Arc::new(arrow_array::StringArray::from(vec!["0"]))],
                "018b0b836069a91c43c1552354d9a2b3f5",
            ),
            (
                "groupArray",
                vec!["String"],
                vec![strings.clone()],
                "03013001310132",
            ),
        ];
        for (name, arguments, columns, expected) in cases {
            assert_eq!(
                hex::encode(state_bytes(name, &arguments, columns)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn states_split_as_the_protocol_reads_them() {
        let numbers: ArrayRef = Arc::new(arrow_array::UInt64Array::from(vec![7, 7, 9]));
        for name in FUNCTIONS {
            let arguments: Vec<&str> = match *name {
                "argMin" | "argMax" => vec!["UInt64", "UInt64"],
                _ => vec!["UInt64"],
            };
            let columns = vec![numbers.clone(); arguments.len()];
            let bytes = state_bytes(name, &arguments, columns);
            let function = StateFunction::new(
                name,
                arguments
                    .iter()
                    .map(|a| DataType::parse(a).unwrap())
                    .collect(),
            );
            let DataType::AggregateFunction(data_type) = function.state_type() else {
                unreachable!()
            };
            assert_eq!(
                granary_protocol::column::state_length(&data_type, &bytes).unwrap(),
                bytes.len(),
                "{name}"
            );
        }
    }
}
