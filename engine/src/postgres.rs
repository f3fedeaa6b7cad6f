//! PostgreSQL's catalogs for PostgreSQL clients: psql's `\dt`, `\l`, `\dn`, pgjdbc's
//! `DatabaseMetaData` and drivers' type lookups query `pg_catalog` and `information_schema` in
//! PostgreSQL's own dialect. Such queries are parsed as PostgreSQL (`~` regex operators,
//! `E'...'` strings, `OPERATOR(pg_catalog.~)`, `COLLATE`), lightly rewritten into what DataFusion
//! plans, and run with PostgreSQL's semantics against relations made from Granary's catalog
//! ([`tables`]) and the catalog functions ([`functions`]).

pub mod array_text;
pub mod copy;
pub mod functions;
mod names;
mod nested;
pub mod tables;
pub mod types;
mod unnest;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionConfig;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, CastKind, DataType as SqlType, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName, Query,
    SelectItem, SetExpr, Statement, TableAliasColumnDef, TableFactor, Value, VisitMut, VisitorMut,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use granary_protocol::ErrorCode;
use granary_protocol::types::field_for;

use crate::functions::type_name::clickhouse_type;
use crate::sql::rewrite::function_call;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

/// The DataFusion catalog the PostgreSQL schemas live in.
const CATALOG_NAME: &str = "postgres";

/// A role (user) as `pg_roles` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// May write (and cancel any backend); read-only users are not superusers.
    pub superuser: bool,
}

/// `pg_cancel_backend(pid)`: whether a backend was signalled, or why the caller may not.
pub type CancelBackend = Arc<dyn Fn(i32) -> std::result::Result<bool, String> + Send + Sync>;

/// The front end's PostgreSQL settings, as `current_setting(name)` reads them and
/// `set_config(name, value, is_local)` changes them.
pub trait PgSettingsAccess: Send + Sync {
    /// A setting's value, `None` if there is no such setting.
    fn get(&self, name: &str) -> Option<String>;
    /// Sets a setting for the rest of the session: the value it now has, or an error.
    fn set(&self, name: &str, value: &str) -> Result<String>;
}

/// What catalog queries know of the front end's connection: PostgreSQL's version string, the
/// user and the roles there are, the backend's process id, and how to cancel another backend.
#[derive(Clone)]
pub struct PgContext {
    /// What `version()` answers.
    pub version: String,
    /// `current_user`.
    pub user: String,
    pub roles: Vec<Role>,
    /// `pg_backend_pid()`.
    pub backend_pid: i32,
    pub cancel_backend: Option<CancelBackend>,
    /// The settings `current_setting` and `set_config` reach.
    pub settings: Option<Arc<dyn PgSettingsAccess>>,
}

impl std::fmt::Debug for PgContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgContext")
            .field("version", &self.version)
            .field("user", &self.user)
            .field("roles", &self.roles)
            .field("backend_pid", &self.backend_pid)
            .finish_non_exhaustive()
    }
}

impl PgContext {
    /// A context with `version` and the one superuser `default` (embedded use, tests).
    pub fn with_version(version: &str) -> PgContext {
        PgContext {
            version: version.to_string(),
            user: tables::ROLE.to_string(),
            roles: vec![Role {
                name: tables::ROLE.to_string(),
                superuser: true,
            }],
            backend_pid: 0,
            cancel_backend: None,
            settings: None,
        }
    }
}

/// Whether `sql` reads PostgreSQL's catalogs: it names `pg_catalog`, `information_schema`, or
/// a relation or function whose name starts with `pg_`. (A Granary table named `pg_...` is
/// therefore reached over the PostgreSQL protocol only qualified by its database.)
pub fn is_catalog_query(sql: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return false;
    };
    let words: Vec<String> = tokens
        .iter()
        .filter(|token| !matches!(token, Token::Whitespace(_)))
        .map(|token| match token {
            Token::Word(word) => word.value.to_ascii_lowercase(),
            other => other.to_string(),
        })
        .collect();
    let names_catalog = words.iter().any(|word| {
        word == "pg_catalog" || word == "information_schema" || word.starts_with("pg_")
    });
    // `SELECT version()`, `SELECT current_schema()` without a table: the session's PostgreSQL
    // answers (`version()` names PostgreSQL 15, which clients parse).
    let session_function = !words.iter().any(|word| word == "from")
        && (words
            .windows(2)
            .any(|pair| SESSION_FUNCTIONS.contains(&pair[0].as_str()) && pair[1] == "(")
            || words
                .iter()
                .any(|word| BARE_SESSION_FUNCTIONS.contains(&word.as_str())));
    names_catalog || session_function
}

/// SQL's functions written without parentheses (`SELECT current_user`).
const BARE_SESSION_FUNCTIONS: &[&str] = &["current_user", "session_user", "current_catalog"];

/// Functions PostgreSQL clients call on their own, answered as PostgreSQL does.
const SESSION_FUNCTIONS: &[&str] = &[
    "version",
    "current_schema",
    "current_schemas",
    "current_user",
    "session_user",
    "pg_backend_pid",
    "current_setting",
    "set_config",
];

/// The state catalog queries of a session run in: the PostgreSQL schemas of `catalog` now,
/// `pg_catalog` first on the search path, and the catalog functions for `current` (the
/// session's database).
fn state(catalog: &Catalog, current: &str, context: &PgContext) -> Result<SessionState> {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, "pg_catalog")
        .with_information_schema(false);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    let schemas = MemoryCatalogProvider::new();
    schemas.register_schema("pg_catalog", tables::pg_catalog(catalog, &context.roles)?)?;
    schemas.register_schema(
        "information_schema",
        tables::information_schema(catalog, current)?,
    )?;
    state
        .catalog_list()
        .register_catalog(CATALOG_NAME.to_string(), Arc::new(schemas));
    let visible: HashSet<u32> = catalog
        .tables(current)
        .unwrap_or_default()
        .iter()
        .map(|table| tables::table_oid(current, &table.name))
        .collect();
    let facts = functions::SessionFacts {
        database: current.to_string(),
        visible,
        context: context.clone(),
        relations: tables::relation_oids(catalog, current)?,
        namespaces: tables::namespace_oids(catalog)?,
        indexes: tables::index_definitions(catalog)?,
        sizes: tables::sizes(catalog)?,
    };
    for function in functions::functions(&facts) {
        datafusion::execution::FunctionRegistry::register_udf(&mut state, Arc::new(function))?;
    }
    Ok(state)
}

/// `OPERATOR(pg_catalog.~)` and friends as the plain operators.
fn plain_operator(parts: &[String]) -> Option<BinaryOperator> {
    Some(match parts.last()?.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "=" => BinaryOperator::Eq,
        "<>" => BinaryOperator::NotEq,
        _ => return None,
    })
}

/// What DataFusion does not plan as PostgreSQL writes it: qualified operators, `COLLATE`, and
/// functions qualified with `pg_catalog.`.
fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        match expr {
            Expr::BinaryOp { op, left, right } => {
                if let BinaryOperator::PGCustomBinaryOperator(parts) = op
                    && let Some(plain) = plain_operator(parts)
                {
                    *op = plain;
                }
                if matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq) {
                    for operand in [left, right] {
                        if let Some(array) = integer_array_literal(operand) {
                            **operand = array;
                        }
                    }
                }
            }
            Expr::Cast {
                expr: operand,
                data_type,
                ..
            } => {
                if let Some(replacement) = cast(operand, data_type) {
                    *expr = replacement;
                }
            }
            Expr::Subquery(query) => aggregate_scalar_subquery(query),
            Expr::Collate { expr: inner, .. } => {
                *expr = std::mem::replace(
                    inner.as_mut(),
                    Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                );
            }
            Expr::Identifier(ident)
                if ident.quote_style.is_none()
                    && BARE_SESSION_FUNCTIONS
                        .contains(&ident.value.to_ascii_lowercase().as_str()) =>
            {
                let name = match ident.value.to_ascii_lowercase().as_str() {
                    "current_catalog" => "current_database".to_string(),
                    other => other.to_string(),
                };
                *expr = function_call(&name, Vec::new());
            }
            Expr::Function(function)
                if matches!(function.args, FunctionArguments::None)
                    && function.name.0.len() == 1
                    && BARE_SESSION_FUNCTIONS
                        .contains(&function.name.to_string().to_ascii_lowercase().as_str()) =>
            {
                let name = match function.name.to_string().to_ascii_lowercase().as_str() {
                    "current_catalog" => "current_database".to_string(),
                    other => other.to_string(),
                };
                *expr = function_call(&name, Vec::new());
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                // `(composite).field` reads a field of a struct.
                if let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() {
                    let field = Expr::value(Value::SingleQuotedString(field.value.clone()));
                    let root = std::mem::replace(root.as_mut(), Expr::value(Value::Null));
                    *expr = function_call("get_field", vec![root, field]);
                }
            }
            Expr::Function(function) if is_expandarray(function) => {
                function.name = ObjectName::from(vec![Ident::new("pg_expandarray")]);
                let call = std::mem::replace(expr, Expr::value(Value::Null));
                *expr = function_call("unnest", vec![call]);
            }
            // Arrays start at 1 here: the upper bound of a dimension is its length.
            Expr::Function(function)
                if function
                    .name
                    .0
                    .last()
                    .and_then(|part| part.as_ident())
                    .is_some_and(|ident| ident.value.eq_ignore_ascii_case("array_upper")) =>
            {
                // PostgreSQL's bounds are int4; DataFusion's length is unsigned.
                function.name = ObjectName::from(vec![Ident::new("array_length")]);
                let length = std::mem::replace(expr, Expr::value(Value::Null));
                *expr = Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(length),
                    data_type: SqlType::BigInt(None),
                    array: false,
                    format: None,
                };
            }
            Expr::Function(function) => {
                let parts = &function.name.0;
                if parts.len() == 2
                    && parts[0]
                        .as_ident()
                        .is_some_and(|ident| ident.value.eq_ignore_ascii_case("pg_catalog"))
                {
                    function.name = ObjectName(vec![parts[1].clone()]);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    // Table functions: `FROM pg_catalog.unnest(a) x` as DataFusion's `UNNEST(a) AS x(x)` (a
    // function's alias names its column too, in PostgreSQL).
    struct TableFunctions;
    impl VisitorMut for TableFunctions {
        type Break = ();
        fn pre_visit_table_factor(&mut self, relation: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name,
                alias,
                args: Some(args),
                with_ordinality,
                ..
            } = relation
            {
                if name.0.len() == 2
                    && name.0[0]
                        .as_ident()
                        .is_some_and(|ident| ident.value.eq_ignore_ascii_case("pg_catalog"))
                {
                    name.0.remove(0);
                }
                let is_unnest = name.0.len() == 1
                    && name.0[0]
                        .as_ident()
                        .is_some_and(|ident| ident.value.eq_ignore_ascii_case("unnest"));
                let arrays: Option<Vec<Expr>> = args
                    .args
                    .iter()
                    .map(|arg| match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr.clone()),
                        _ => None,
                    })
                    .collect();
                if is_unnest && let Some(array_exprs) = arrays {
                    let mut alias = alias.take();
                    if let Some(alias) = alias.as_mut()
                        && alias.columns.is_empty()
                    {
                        alias
                            .columns
                            .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
                    }
                    *relation = TableFactor::UNNEST {
                        alias,
                        array_exprs,
                        with_offset: false,
                        with_offset_alias: None,
                        with_ordinality: *with_ordinality,
                    };
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut TableFunctions);
}

/// Aggregate functions a scalar subquery's item may already be.
const AGGREGATES: &[&str] = &[
    "count",
    "max",
    "min",
    "sum",
    "avg",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
];

/// `(SELECT x FROM ... WHERE <correlated>)` as `(SELECT max(x) ...)`: DataFusion runs correlated
/// scalar subqueries only when aggregated, and the catalog's subqueries find at most one row, so
/// the maximum is that row's value (or NULL, as without a row).
fn aggregate_scalar_subquery(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let grouped = match &select.group_by {
        GroupByExpr::Expressions(expressions, _) => !expressions.is_empty(),
        GroupByExpr::All(_) => true,
    };
    if grouped || select.projection.len() != 1 {
        return;
    }
    let item = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return,
    };
    if let Expr::Function(function) = item
        && function
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .is_some_and(|ident| AGGREGATES.contains(&ident.value.to_ascii_lowercase().as_str()))
    {
        return;
    }
    let inner = std::mem::replace(item, Expr::value(Value::Null));
    // `ORDER BY o LIMIT 1` picks the first row in that order: `first_value(x ORDER BY o)`.
    // Without a LIMIT the order does not matter to the one value; an order with another LIMIT
    // is left as written.
    let limit = query.limit_clause.as_ref().map(ToString::to_string);
    *item = match (query.order_by.as_ref(), limit.as_deref().map(str::trim)) {
        (Some(order), Some("LIMIT 1")) => {
            let sql = format!("first_value({inner} {order})");
            match Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&sql)
                .and_then(|mut parser| parser.parse_expr())
            {
                Ok(first) => {
                    query.order_by = None;
                    query.limit_clause = None;
                    first
                }
                Err(_) => inner,
            }
        }
        (Some(_), Some(_)) => inner,
        _ => {
            query.order_by = None;
            call("max", inner)
        }
    };
}

/// A comparison operand `'{0}'` (PostgreSQL's text form of an integer array, which takes the
/// type of the array it is compared with) as `make_array(0)`.
fn integer_array_literal(operand: &Expr) -> Option<Expr> {
    let Expr::Value(value) = operand else {
        return None;
    };
    let Value::SingleQuotedString(text) = &value.value else {
        return None;
    };
    let elements = text.strip_prefix('{')?.strip_suffix('}')?;
    let elements: Vec<Expr> = elements
        .split(',')
        .map(|element| {
            let element = element.trim();
            element.parse::<i64>().ok()?;
            Some(Expr::value(Value::Number(element.to_string(), false)))
        })
        .collect::<Option<_>>()?;
    Some(function_call("make_array", elements))
}

/// `information_schema._pg_expandarray(a)`: the set of `(x, n)`, each element of `a` with its
/// position; planned as `unnest(pg_expandarray(a))` over a list of such structs, so that
/// `(information_schema._pg_expandarray(a)).n` reads a field of it.
fn is_expandarray(function: &Function) -> bool {
    function
        .name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .is_some_and(|ident| ident.value.eq_ignore_ascii_case("_pg_expandarray"))
}

/// `name(argument)`.
fn call(name: &str, argument: Expr) -> Expr {
    function_call(name, vec![argument])
}

/// A cast to a PostgreSQL type DataFusion does not know (`::regclass`, `::oid`,
/// `::pg_catalog.text`): a catalog function or a cast to the DataFusion type it stands for.
fn cast(operand: &Expr, data_type: &SqlType) -> Option<Expr> {
    // `oid[]`: an array of the type the element stands for.
    if let SqlType::Array(ArrayElemTypeDef::SquareBracket(element, size)) = data_type {
        let Some(Expr::Cast {
            data_type: target, ..
        }) = cast(operand, element)
        else {
            return None;
        };
        return Some(Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(operand.clone()),
            data_type: SqlType::Array(ArrayElemTypeDef::SquareBracket(Box::new(target), *size)),
            array: false,
            format: None,
        });
    }
    let name = match data_type {
        SqlType::Regclass => "regclass".to_string(),
        SqlType::Custom(name, _) => name.0.last()?.as_ident()?.value.to_ascii_lowercase(),
        _ => return None,
    };
    let target = match name.as_str() {
        "regclass" | "regtype" | "regnamespace" | "regproc" | "regprocedure" => {
            let function = format!("pg_{}", name.trim_end_matches("edure"));
            return Some(call(&function, operand.clone()));
        }
        "oid" | "regrole" | "xid" => SqlType::IntUnsigned(None),
        "text" | "name" | "varchar" | "bpchar" | "char" => SqlType::Text,
        "int2" => SqlType::SmallInt(None),
        "int4" => SqlType::Int(None),
        "int8" => SqlType::BigInt(None),
        "bool" => SqlType::Boolean,
        _ => return None,
    };
    Some(Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(operand.clone()),
        data_type: target,
        array: false,
        format: None,
    })
}

/// The result columns of a catalog query as Granary describes values: PostgreSQL's booleans are
/// `Bool` (a ClickHouse comparison's `Boolean` is a `UInt8`), a bare NULL is `Nullable(Nothing)`,
/// and names are PostgreSQL's ([`names`]).
pub fn result_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let name = names::output_name(field.name());
            match field.data_type() {
                arrow_schema::DataType::Boolean => {
                    let data_type = granary_protocol::DataType::Bool;
                    let data_type = if field.is_nullable() {
                        granary_protocol::DataType::Nullable(Box::new(data_type))
                    } else {
                        data_type
                    };
                    field_for(name, &data_type)
                }
                arrow_schema::DataType::Null => field_for(
                    name,
                    &granary_protocol::DataType::Nullable(Box::new(
                        granary_protocol::DataType::Nothing,
                    )),
                ),
                // The catalogs' OIDs (UInt32) are `oid` to clients, as in PostgreSQL.
                arrow_schema::DataType::UInt32 => with_pg_type(field, name, types::OID),
                arrow_schema::DataType::List(item)
                    if *item.data_type() == arrow_schema::DataType::UInt32 =>
                {
                    with_pg_type(field, name, types::OID_ARRAY)
                }
                _ => field.as_ref().clone().with_name(name),
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The types DataFusion gives the `$n` of a catalog query (`None` where it gives none).
pub fn parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<granary_protocol::DataType>>> {
    let found = placeholder_types(plan)?;
    let count = found
        .keys()
        .filter_map(|name| crate::sql::parameters::index(name).ok())
        .map(|index| index + 1)
        .max()
        .unwrap_or(0);
    let mut types = vec![None; count];
    for (name, data_type) in found {
        if let (Ok(index), Some(data_type)) = (crate::sql::parameters::index(&name), data_type) {
            types[index] = clickhouse_type(&Field::new("", data_type, true))
                .ok()
                .map(|data_type| data_type.strip_nullable().clone());
        }
    }
    Ok(types)
}

/// `plan` with its `$n` replaced by the values of `parameters`, each converted from its text to
/// the type the plan expects there.
pub fn bind(plan: LogicalPlan, parameters: &[crate::Parameter]) -> Result<LogicalPlan> {
    let expected = placeholder_types(&plan)?;
    if expected.is_empty() && parameters.is_empty() {
        return Ok(plan);
    }
    let values = parameters
        .iter()
        .enumerate()
        .map(|(index, parameter)| {
            let target = expected
                .get(&format!("${}", index + 1))
                .cloned()
                .flatten()
                .unwrap_or(arrow_schema::DataType::Utf8);
            match &parameter.value {
                Some(text) => parameter_value(text, &target),
                None => Ok(ScalarValue::try_from(&target)?),
            }
        })
        .collect::<Result<Vec<ScalarValue>>>()?;
    Ok(plan.with_param_values(values)?)
}

/// The PostgreSQL types the text of a catalog query casts its `$n` to (`$1::oid[]` is `_oid`),
/// for the first `count` parameters; `None` where it casts to none Granary knows by name.
pub fn parameter_casts(sql: &str, count: usize) -> Vec<Option<u32>> {
    let mut found = vec![None; count];
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return found;
    };
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(&statements, |expr| {
        if let Expr::Cast {
            expr, data_type, ..
        } = expr
            && let Expr::Value(value) = expr.as_ref()
            && let Value::Placeholder(name) = &value.value
            && let Ok(index) = crate::sql::parameters::index(name)
            && let Some(slot) = found.get_mut(index)
        {
            let name = data_type.to_string().to_ascii_lowercase();
            let name = name.trim_start_matches("pg_catalog.");
            let oid = match name.strip_suffix("[]") {
                Some(element) => types::TYPES
                    .iter()
                    .find(|t| t.name == element)
                    .map(|t| t.array),
                None => types::TYPES.iter().find(|t| t.name == name).map(|t| t.oid),
            };
            if slot.is_none() {
                *slot = oid.filter(|oid| *oid != 0);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// `field` named `name`, sent to PostgreSQL clients as type `oid`.
fn with_pg_type(field: &Field, name: &str, oid: u32) -> Field {
    let mut metadata = field.metadata().clone();
    metadata.insert(types::PG_TYPE_METADATA.to_string(), oid.to_string());
    field.clone().with_name(name).with_metadata(metadata)
}

/// The types of a plan's `$n`: DataFusion's, else the type a `$n::T` casts it to (DataFusion
/// does not type a placeholder by its cast, which matters for arrays: `$1::oid[]`).
fn placeholder_types(
    plan: &LogicalPlan,
) -> Result<std::collections::HashMap<String, Option<arrow_schema::DataType>>> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{Cast, Expr as PlanExpr};
    let mut types = plan.get_parameter_types()?;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|expr| {
                if let PlanExpr::Cast(Cast { expr, field }) = expr
                    && let PlanExpr::Placeholder(placeholder) = expr.as_ref()
                {
                    let known = types.entry(placeholder.id.clone()).or_insert(None);
                    if known.is_none() {
                        *known = Some(field.data_type().clone());
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(types)
}

/// A parameter's text as a value of `target`: an array (`['23','1007']`, as the front end
/// writes PostgreSQL's `{23,1007}`) element by element.
fn parameter_value(text: &str, target: &arrow_schema::DataType) -> Result<ScalarValue> {
    match target {
        arrow_schema::DataType::List(item) => {
            let elements = crate::sql::parameters::array_elements(text)?
                .into_iter()
                .map(|element| match element {
                    Some(element) => parameter_value(&element, item.data_type()),
                    None => Ok(ScalarValue::try_from(item.data_type())?),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                &elements,
                item.data_type(),
            )))
        }
        _ => Ok(ScalarValue::Utf8(Some(text.to_string())).cast_to(target)?),
    }
}

/// The plan of one catalog query, and the state to run it in.
pub async fn plan(
    catalog: &Catalog,
    current: &str,
    context: &PgContext,
    sql: &str,
) -> Result<(SessionState, LogicalPlan)> {
    crate::sql::limits::check(sql, &PostgreSqlDialect {})?;
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|error| Error::query(ErrorCode::SYNTAX_ERROR, error.to_string()))?;
    let mut statement = match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => statement,
        _ => {
            return Err(Error::query(
                ErrorCode::SYNTAX_ERROR,
                "a catalog query is one statement",
            ));
        }
    };
    if !matches!(statement, Statement::Query(_)) {
        return Err(Error::not_implemented(
            "statements other than queries on PostgreSQL's catalogs",
        ));
    }
    let empty: Vec<&str> = tables::empty_relations()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names::name_columns(&mut statement);
    unnest::drop_unread_subqueries(&mut statement, &empty);
    unnest::unnest(&mut statement);
    rewrite(&mut statement);
    let state = state(catalog, current, context)?;
    let schema = state
        .catalog_list()
        .catalog(CATALOG_NAME)
        .and_then(|catalog| catalog.schema("pg_catalog"))
        .ok_or_else(|| Error::query(ErrorCode::LOGICAL_ERROR, "pg_catalog is not registered"))?;
    nested::evaluate(&mut statement, &state, schema.as_ref()).await?;
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(statement)))
        .await?;
    Ok((state, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap();
        unnest::unnest(&mut statement);
        rewrite(&mut statement);
        statement.to_string()
    }

    #[test]
    fn correlated_subqueries_become_joins_on_the_outer_values_they_read() {
        let sql = rewritten(
            "SELECT a.attname, (SELECT c.collname FROM pg_collation c, pg_type t \
             WHERE c.oid = a.attcollation AND t.oid = a.atttypid \
             AND a.attcollation <> t.typcollation) FROM pg_attribute a WHERE a.attnum > 0",
        );
        assert_eq!(
            sql,
            "SELECT a.attname, __s0.v FROM pg_attribute a, (SELECT __d0.k0, __d0.k1, \
             max(c.collname) AS v FROM (SELECT DISTINCT a.attcollation AS k0, a.atttypid AS k1 \
             FROM pg_attribute a) AS __d0 LEFT JOIN (pg_collation c CROSS JOIN pg_type t) \
             ON c.oid = __d0.k0 AND t.oid = __d0.k1 AND __d0.k0 <> t.typcollation \
             GROUP BY __d0.k0, __d0.k1) AS __s0 WHERE a.attnum > 0 \
             AND (__s0.k0 IS NOT DISTINCT FROM a.attcollation) \
             AND (__s0.k1 IS NOT DISTINCT FROM a.atttypid)"
        );
    }

    #[test]
    fn array_subqueries_aggregate_in_their_order() {
        let sql = rewritten(
            "SELECT array(SELECT rolname FROM pg_roles WHERE oid = any(pol.polroles) \
             ORDER BY 1) FROM pg_policy pol",
        );
        assert!(sql.contains("array_agg(rolname ORDER BY rolname)"), "{sql}");
        assert!(sql.contains("oid = ANY(__d0.k0)"), "{sql}");
    }

    #[test]
    fn uncorrelated_subqueries_stay() {
        let sql = rewritten("SELECT (SELECT max(oid) FROM pg_class) FROM pg_namespace n");
        assert_eq!(
            sql,
            "SELECT (SELECT max(oid) FROM pg_class) FROM pg_namespace n"
        );
    }

    #[test]
    fn catalog_queries_are_recognised_by_their_names() {
        assert!(is_catalog_query("SELECT * FROM pg_catalog.pg_class"));
        assert!(is_catalog_query("select relname from PG_CLASS"));
        assert!(is_catalog_query(
            "SELECT table_name FROM information_schema.tables"
        ));
        assert!(!is_catalog_query("SELECT 'pg_class' FROM numbers(1)"));
        assert!(!is_catalog_query("SELECT count() FROM hits"));
        assert!(is_catalog_query("select version()"));
        assert!(!is_catalog_query("SELECT version() FROM hits"));
        assert!(!is_catalog_query("SELECT 'version' AS version"));
    }
}
