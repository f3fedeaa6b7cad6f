//! The DataFusion side of the engine: the session configuration (ClickHouse's case-sensitive
//! identifiers), the functions, and the catalog bridge that shows Granary's databases as DataFusion
//! schemas and its tables as [`MergeTreeProvider`]s.
//!
//! `SELECT ... FROM t FINAL` is rewritten to read `t` from a second catalog, [`FINAL_CATALOG`],
//! whose providers scan with FINAL semantics.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;

use datafusion::optimizer::{Analyzer, AnalyzerRule};

use super::join_defaults::JoinDefaults;
use super::scan::MergeTreeProvider;
use super::semantics::ClickHouseSemantics;
use super::system::SystemSchema;
use crate::catalog::{Catalog, DEFAULT_DATABASE, SYSTEM_DATABASE};

/// The DataFusion catalog holding Granary's databases.
pub const CATALOG: &str = "granary";
/// The catalog through which `FINAL` reads a table (internal; see the module doc).
pub const FINAL_CATALOG: &str = "granary_final";

/// The configuration every query runs with.
fn config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG, DEFAULT_DATABASE)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(false);
    let options = config.options_mut();
    // ClickHouse identifiers are case-sensitive.
    options.sql_parser.enable_ident_normalization = false;
    options.sql_parser.dialect = datafusion::config::Dialect::ClickHouse;
    // Single-stream sources (numbers, system.numbers, VALUES) keep their order as in ClickHouse:
    // `SELECT number FROM system.numbers WHERE number % 3 = 1 LIMIT 3` is 1, 4, 7, not whichever
    // rows a parallel filter finds first. MergeTree scans are split into partitions themselves.
    options.optimizer.enable_round_robin_repartition = false;
    config
}

/// A session state with Granary's functions and no tables: compiles table expressions.
pub fn functions_state() -> SessionState {
    let mut analyzer_rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>> =
        vec![Arc::new(ClickHouseSemantics), Arc::new(JoinDefaults)];
    analyzer_rules.extend(Analyzer::new().rules);
    let mut state = SessionStateBuilder::new()
        .with_config(config())
        .with_default_features()
        .with_analyzer_rules(analyzer_rules)
        .build();
    // Registering a planner cannot fail (the trait's signature allows it to).
    let _ = datafusion::execution::FunctionRegistry::register_expr_planner(
        &mut state,
        Arc::new(super::planner::DateArithmeticPlanner),
    );
    state.register_udtf("numbers", Arc::new(super::numbers::NumbersFunction));
    let aggregates = crate::functions::aggregates::functions()
        .into_iter()
        .chain(crate::functions::states::functions());
    for function in aggregates {
        let _ =
            datafusion::execution::FunctionRegistry::register_udaf(&mut state, Arc::new(function));
    }
    // Each aggregate under its own name: an alias may still name a function Granary replaced.
    let aggregates: Vec<_> = state
        .aggregate_functions()
        .iter()
        .filter(|(name, function)| *name == function.name())
        .map(|(_, function)| Arc::clone(function))
        .collect();
    for function in crate::functions::array_combinator::array_forms(&aggregates) {
        let _ =
            datafusion::execution::FunctionRegistry::register_udaf(&mut state, Arc::new(function));
    }
    for function in crate::functions::scalar_functions() {
        // Registering replaces nothing of DataFusion's: the names are ClickHouse's own.
        let _ =
            datafusion::execution::FunctionRegistry::register_udf(&mut state, Arc::new(function));
    }
    // Functions whose result size an argument chooses check it before building the value.
    let bounded: Vec<_> = state
        .scalar_functions()
        .values()
        .filter_map(crate::functions::bounded::Bounded::wrap)
        .collect();
    for function in bounded {
        let _ =
            datafusion::execution::FunctionRegistry::register_udf(&mut state, Arc::new(function));
    }
    state
}

/// The state queries start from: the functions and the catalog of `catalog`.
pub fn query_state(catalog: Arc<Catalog>) -> SessionState {
    let state = functions_state();
    let list = state.catalog_list();
    list.register_catalog(
        CATALOG.to_string(),
        Arc::new(GranaryCatalog {
            catalog: Arc::clone(&catalog),
            final_: false,
        }),
    );
    list.register_catalog(
        FINAL_CATALOG.to_string(),
        Arc::new(GranaryCatalog {
            catalog,
            final_: true,
        }),
    );
    state
}

/// Granary's databases as DataFusion schemas.
#[derive(Debug)]
struct GranaryCatalog {
    catalog: Arc<Catalog>,
    final_: bool,
}

impl CatalogProvider for GranaryCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.catalog.database_names().unwrap_or_default()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SYSTEM_DATABASE {
            return Some(Arc::new(SystemSchema::new(Arc::clone(&self.catalog))));
        }
        if !self.catalog.database_exists(name).unwrap_or(false) {
            return None;
        }
        Some(Arc::new(DatabaseSchema {
            catalog: Arc::clone(&self.catalog),
            database: name.to_string(),
            final_: self.final_,
        }))
    }
}

/// One database's tables.
#[derive(Debug)]
struct DatabaseSchema {
    catalog: Arc<Catalog>,
    database: String,
    final_: bool,
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        self.catalog
            .tables(&self.database)
            .map(|tables| tables.iter().map(|table| table.name.clone()).collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let table = self.catalog.find(&self.database, name)?;
        Ok(table.map(|table| {
            Arc::new(MergeTreeProvider::new(table, self.final_)) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        matches!(self.catalog.find(&self.database, name), Ok(Some(_)))
    }
}
