//! Protocol revisions: each side sends its own, both use the smaller one ("negotiated"), and every
//! optional field is present exactly when the negotiated revision reaches its gate
//! (`native-protocol.md` §3; ClickHouse `src/Core/ProtocolDefines.h`).

/// The revision Granary advertises, as a server and as a client (`native-protocol.md` §12.1).
pub const GRANARY: u64 = 54468;

/// Data/Totals/Extremes/Log/ProfileEvents packets carry a table name before the block.
pub const TEMPORARY_TABLES: u64 = 50264;
/// Progress has `total_rows_to_read`.
pub const TOTAL_ROWS_IN_PROGRESS: u64 = 51554;
/// Query carries ClientInfo.
pub const CLIENT_INFO: u64 = 54032;
/// Server Hello has the server's time zone.
pub const SERVER_TIMEZONE: u64 = 54058;
/// ClientInfo has a quota key.
pub const QUOTA_KEY_IN_CLIENT_INFO: u64 = 54060;
/// Server Hello has a display name.
pub const SERVER_DISPLAY_NAME: u64 = 54372;
/// Server Hello and ClientInfo have a patch version.
pub const VERSION_PATCH: u64 = 54401;
/// LowCardinality columns may be sent as such (below: as their plain type).
pub const LOW_CARDINALITY_TYPE: u64 = 54405;
/// The server may send TableColumns before an INSERT's header.
pub const COLUMN_DEFAULTS_METADATA: u64 = 54410;
/// Progress has written rows and bytes.
pub const CLIENT_WRITE_INFO: u64 = 54420;
/// Settings travel as name/flags/text (below: typed binary).
pub const SETTINGS_AS_STRINGS: u64 = 54429;
/// Query has an inter-server secret hash.
pub const INTERSERVER_SECRET: u64 = 54441;
/// ClientInfo has an OpenTelemetry trace context.
pub const OPENTELEMETRY: u64 = 54442;
/// ClientInfo has `distributed_depth`.
pub const DISTRIBUTED_DEPTH: u64 = 54448;
/// ClientInfo has the initial query's start time.
pub const INITIAL_QUERY_START_TIME: u64 = 54449;
/// ClientInfo has three parallel-replica numbers.
pub const PARALLEL_REPLICAS: u64 = 54453;
/// Each block column has a custom-serialization byte (also `block::REVISION_CUSTOM_SERIALIZATION`).
pub const CUSTOM_SERIALIZATION: u64 = 54454;
/// The server sends ProfileEvents after every INSERT block; the driver waits for them.
pub const PROFILE_EVENTS_IN_INSERT: u64 = 54456;
/// The client sends an addendum (quota key) right after the server Hello.
pub const ADDENDUM: u64 = 54458;
/// Query ends with a list of query parameters.
pub const PARAMETERS: u64 = 54459;
/// Progress has `elapsed_ns`.
pub const SERVER_QUERY_TIME_IN_PROGRESS: u64 = 54460;
/// Server Hello has password complexity rules.
pub const PASSWORD_COMPLEXITY_RULES: u64 = 54461;
/// Server Hello has a nonce.
pub const INTERSERVER_SECRET_V2: u64 = 54462;
/// Progress has `total_bytes_to_read`.
pub const TOTAL_BYTES_IN_PROGRESS: u64 = 54463;
/// The server may send TimezoneUpdate packets.
pub const TIMEZONE_UPDATES: u64 = 54464;
/// ProfileInfo has the rows before aggregation (not reached at [`GRANARY`]).
pub const ROWS_BEFORE_AGGREGATION: u64 = 54469;

/// The revision both sides use.
pub fn negotiate(client: u64, server: u64) -> u64 {
    client.min(server)
}
