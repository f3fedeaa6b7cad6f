//! From the filters DataFusion pushes into a scan to a [`KeyCondition`] on some columns (the
//! primary key, or the columns with min/max indexes): `=`, `IN`, `<`, `<=`, `>`, `>=`, `BETWEEN`,
//! `AND`, `OR` between a column and literals. Anything else constrains nothing, which is always
//! safe: pruning only ever skips granules that cannot match.

use arrow_array::ArrayRef;
use arrow_schema::DataType as ArrowType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, expr::InList};

use crate::storage::key_condition::{Bound, ColumnRange, KeyCondition};

/// More alternatives than this (from `IN` lists and ORs multiplied out) constrain nothing.
const MAX_ALTERNATIVES: usize = 1024;

type Alternatives = Vec<Vec<(usize, ColumnRange)>>;

/// The condition all `filters` put together on `columns` (name and Arrow type of the index values).
pub fn key_condition(filters: &[Expr], columns: &[(String, ArrowType)]) -> KeyCondition {
    let mut alternatives: Option<Alternatives> = None;
    for filter in filters {
        alternatives = and(alternatives, condition(filter, columns));
    }
    match alternatives {
        Some(alternatives) => KeyCondition { alternatives },
        None => KeyCondition::always(),
    }
}

/// Both conditions: every pairing of their alternatives. `None` means unconstrained.
fn and(left: Option<Alternatives>, right: Option<Alternatives>) -> Option<Alternatives> {
    match (left, right) {
        (None, other) | (other, None) => other,
        (Some(left), Some(right)) => {
            if left.len() * right.len() > MAX_ALTERNATIVES {
                // Keep the more selective-looking side: dropping a conjunct only loosens.
                return Some(if left.len() <= right.len() {
                    left
                } else {
                    right
                });
            }
            let mut combined = Vec::with_capacity(left.len() * right.len());
            for l in &left {
                for r in &right {
                    combined.push(l.iter().chain(r.iter()).cloned().collect());
                }
            }
            Some(combined)
        }
    }
}

fn condition(expr: &Expr, columns: &[(String, ArrowType)]) -> Option<Alternatives> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => and(condition(left, columns), condition(right, columns)),
            Operator::Or => {
                let mut left = condition(left, columns)?;
                let right = condition(right, columns)?;
                left.extend(right);
                (left.len() <= MAX_ALTERNATIVES).then_some(left)
            }
            _ => comparison(left, *op, right, columns)
                .or_else(|| comparison(right, op.swap()?, left, columns)),
        },
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let (column, data_type) = column_of(expr, columns)?;
            let range = ColumnRange {
                low: Some(Bound {
                    value: literal(low, data_type)?,
                    inclusive: true,
                }),
                high: Some(Bound {
                    value: literal(high, data_type)?,
                    inclusive: true,
                }),
            };
            Some(vec![vec![(column, range)]])
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) if list.len() <= MAX_ALTERNATIVES => {
            let (column, data_type) = column_of(expr, columns)?;
            list.iter()
                .map(|item| {
                    Some(vec![(
                        column,
                        ColumnRange::point(literal(item, data_type)?),
                    )])
                })
                .collect()
        }
        _ => None,
    }
}

/// `column op literal`.
fn comparison(
    left: &Expr,
    op: Operator,
    right: &Expr,
    columns: &[(String, ArrowType)],
) -> Option<Alternatives> {
    let (column, data_type) = column_of(left, columns)?;
    let value = literal(right, data_type)?;
    let bound = |inclusive| {
        Some(Bound {
            value: value.clone(),
            inclusive,
        })
    };
    let range = match op {
        Operator::Eq => ColumnRange::point(value.clone()),
        Operator::Lt => ColumnRange {
            low: None,
            high: bound(false),
        },
        Operator::LtEq => ColumnRange {
            low: None,
            high: bound(true),
        },
        Operator::Gt => ColumnRange {
            low: bound(false),
            high: None,
        },
        Operator::GtEq => ColumnRange {
            low: bound(true),
            high: None,
        },
        _ => return None,
    };
    Some(vec![vec![(column, range)]])
}

/// The key column an expression reads: the column itself, or a cast of it (then the literal is
/// converted to the column's type, see [`literal`]).
fn column_of<'a>(
    expr: &Expr,
    columns: &'a [(String, ArrowType)],
) -> Option<(usize, &'a ArrowType)> {
    match expr {
        Expr::Column(column) => columns
            .iter()
            .position(|(name, _)| *name == column.name)
            .map(|index| (index, &columns[index].1)),
        Expr::Cast(cast) => column_of(&cast.expr, columns),
        Expr::TryCast(cast) => column_of(&cast.expr, columns),
        _ => None,
    }
}

/// A literal as a one-row array of the index's type — only when the conversion is exact (casting
/// back gives the same literal), so that `x < 3.5` never becomes `x < 3`.
fn literal(expr: &Expr, data_type: &ArrowType) -> Option<ArrayRef> {
    let value = match expr {
        Expr::Literal(value, _) => value,
        Expr::Cast(cast) => return literal(&cast.expr, data_type),
        _ => return None,
    };
    if value.is_null() {
        return None;
    }
    let converted = value.cast_to(data_type).ok()?;
    let back: ScalarValue = converted.cast_to(&value.data_type()).ok()?;
    if &back != value {
        return None;
    }
    converted.to_array().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn columns() -> Vec<(String, ArrowType)> {
        vec![
            ("k".to_string(), ArrowType::UInt32),
            ("s".to_string(), ArrowType::Utf8),
        ]
    }

    #[test]
    fn comparisons_in_lists_and_ors_become_alternatives() {
        let condition = key_condition(
            &[col("k")
                .eq(lit(5u32))
                .or(col("k").in_list(vec![lit(7u32), lit(9u32)], false))],
            &columns(),
        );
        assert_eq!(condition.alternatives.len(), 3);
        let condition = key_condition(&[col("k").gt(lit(5u32)), col("s").eq(lit("x"))], &columns());
        assert_eq!(condition.alternatives.len(), 1);
        assert_eq!(condition.alternatives[0].len(), 2);
    }

    #[test]
    fn inexact_literals_and_other_columns_constrain_nothing() {
        // 3.5 is not a UInt32: the comparison must not become k < 3.
        let condition = key_condition(
            &[datafusion::logical_expr::cast(col("k"), ArrowType::Float64).lt(lit(3.5f64))],
            &columns(),
        );
        assert_eq!(condition.alternatives.len(), 1);
        assert!(condition.alternatives[0].is_empty());
        let condition = key_condition(&[col("other").eq(lit(1u32))], &columns());
        assert_eq!(condition.alternatives.len(), 1);
        assert!(condition.alternatives[0].is_empty());
        // A negative number is no UInt32 either.
        let condition = key_condition(&[col("k").gt(lit(-1i64))], &columns());
        assert!(condition.alternatives[0].is_empty());
    }
}
