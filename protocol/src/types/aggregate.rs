//! `AggregateFunction(...)` and `SimpleAggregateFunction(...)` type descriptions.

use std::fmt;

use super::DataType;

/// A function with optional parameters, as written in a type: `uniqCombined(15)`, `quantiles(0.5, 0.9)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionCall {
    /// The function name, case as written (`sum`, `uniqCombined`, `sumIf`).
    pub name: String,
    /// Parameter literals in ClickHouse's printed form (`15`, `0.5`, `'x'`).
    pub parameters: Vec<String>,
}

impl fmt::Display for FunctionCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.parameters.is_empty() {
            write!(f, "({})", self.parameters.join(", "))?;
        }
        Ok(())
    }
}

/// `AggregateFunction([version, ]f[(params)], T...)`: the column holds one state of `f` per row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregateFunction {
    /// The state-format version, when the type names one (`AggregateFunction(1, sumMap, ...)`).
    pub version: Option<u64>,
    /// The function and its parameters.
    pub function: FunctionCall,
    /// The argument types.
    pub arguments: Vec<DataType>,
}

impl fmt::Display for AggregateFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AggregateFunction(")?;
        if let Some(version) = self.version {
            write!(f, "{version}, ")?;
        }
        write!(f, "{}", self.function)?;
        for argument in &self.arguments {
            write!(f, ", {argument}")?;
        }
        f.write_str(")")
    }
}
