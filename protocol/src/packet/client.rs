//! Packets a client sends (`native-protocol.md` §4.1, §4.3, §5): Hello, the addendum, Query with
//! its ClientInfo and settings, Data, Cancel and Ping.

use crate::compress::Method;
use crate::error::{Error, Result};
use crate::io::{Cursor, write_string, write_var_uint};
use crate::packet::settings::{Setting, read_settings, write_settings};
use crate::packet::{Context, Data, read_data, revision, write_data};

/// Client packet type numbers.
pub mod kind {
    /// Hello.
    pub const HELLO: u64 = 0;
    /// Query.
    pub const QUERY: u64 = 1;
    /// Data (external tables, INSERT blocks).
    pub const DATA: u64 = 2;
    /// Cancel the running query.
    pub const CANCEL: u64 = 3;
    /// Ping.
    pub const PING: u64 = 4;
    /// TablesStatusRequest.
    pub const TABLES_STATUS_REQUEST: u64 = 5;
    /// KeepAlive.
    pub const KEEP_ALIVE: u64 = 6;
}

/// The client's Hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// `ClickHouse python-driver`, `ClickHouse client`, ...
    pub client_name: String,
    /// Client version, major.
    pub version_major: u64,
    /// Client version, minor.
    pub version_minor: u64,
    /// The client's protocol revision.
    pub revision: u64,
    /// The database to start in; empty for the default.
    pub database: String,
    /// The user.
    pub user: String,
    /// The password, in plain text (the connection is TLS or trusted).
    pub password: String,
}

impl ClientHello {
    /// Appends the packet.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_var_uint(out, kind::HELLO);
        write_string(out, self.client_name.as_bytes());
        write_var_uint(out, self.version_major);
        write_var_uint(out, self.version_minor);
        write_var_uint(out, self.revision);
        write_string(out, self.database.as_bytes());
        write_string(out, self.user.as_bytes());
        write_string(out, self.password.as_bytes());
    }

    /// Reads the packet, type included.
    pub fn decode(input: &mut Cursor<'_>) -> Result<ClientHello> {
        let packet = input.read_var_uint("packet type")?;
        if packet != kind::HELLO {
            return Err(Error::UnexpectedPacket {
                got: client_packet_name(packet),
                expected: "Hello",
                from: "client",
            });
        }
        Ok(ClientHello {
            client_name: input.read_str("client name")?.to_string(),
            version_major: input.read_var_uint("client version major")?,
            version_minor: input.read_var_uint("client version minor")?,
            revision: input.read_var_uint("client revision")?,
            database: input.read_str("default database")?.to_string(),
            user: input.read_str("user")?.to_string(),
            password: input.read_str("password")?.to_string(),
        })
    }
}

/// What a client sends right after the server's Hello from revision 54458 on (not a packet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addendum {
    /// The quota key.
    pub quota_key: String,
}

impl Addendum {
    /// Appends the addendum when the negotiated revision has one.
    pub fn encode(&self, out: &mut Vec<u8>, revision: u64) {
        if revision >= revision::ADDENDUM {
            write_string(out, self.quota_key.as_bytes());
        }
    }

    /// Reads the addendum of a connection at `revision` (nothing below 54458).
    pub fn decode(input: &mut Cursor<'_>, revision: u64) -> Result<Addendum> {
        if revision < revision::ADDENDUM {
            return Ok(Addendum::default());
        }
        Ok(Addendum {
            quota_key: input.read_str("quota key")?.to_string(),
        })
    }
}

/// An OpenTelemetry trace context in ClientInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// Trace id.
    pub trace_id: [u8; 16],
    /// Span id.
    pub span_id: u64,
    /// W3C tracestate.
    pub tracestate: String,
    /// Trace flags.
    pub trace_flags: u8,
}

/// HTTP fields of ClientInfo (a query that came through ClickHouse's HTTP interface).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpInfo {
    /// 1 GET, 2 POST.
    pub method: u8,
    /// User agent.
    pub user_agent: String,
    /// X-Forwarded-For (from 54443).
    pub forwarded_for: String,
    /// Referer (from 54447).
    pub referer: String,
}

/// Who runs a query (`native-protocol.md` §5.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// 0 none (nothing else follows), 1 initial, 2 secondary.
    pub query_kind: u8,
    /// The user of the initial query.
    pub initial_user: String,
    /// The id of the initial query.
    pub initial_query_id: String,
    /// `ip:port` of the initial client.
    pub initial_address: String,
    /// Microseconds since the epoch (from 54449).
    pub initial_query_start_time_us: u64,
    /// 1 TCP, 2 HTTP, ...
    pub interface: u8,
    /// TCP: the client's OS user.
    pub os_user: String,
    /// TCP: the client's host name.
    pub client_hostname: String,
    /// TCP: the client program's name.
    pub client_name: String,
    /// TCP: client version, major.
    pub client_version_major: u64,
    /// TCP: client version, minor.
    pub client_version_minor: u64,
    /// TCP: the client's own revision.
    pub client_revision: u64,
    /// TCP: client version, patch (from 54401).
    pub client_version_patch: u64,
    /// HTTP fields.
    pub http: Option<HttpInfo>,
    /// Quota key (from 54060).
    pub quota_key: String,
    /// Distributed depth (from 54448).
    pub distributed_depth: u64,
    /// OpenTelemetry context (from 54442).
    pub trace: Option<TraceContext>,
    /// Parallel replicas: collaborate_with_initiator, count_participating_replicas,
    /// number_of_current_replica (from 54453).
    pub parallel_replicas: [u64; 3],
}

const INTERFACE_TCP: u8 = 1;
const INTERFACE_HTTP: u8 = 2;

impl ClientInfo {
    /// ClientInfo of an initial query from a TCP client.
    pub fn tcp(client_name: &str, major: u64, minor: u64, patch: u64) -> ClientInfo {
        ClientInfo {
            query_kind: 1,
            initial_address: "0.0.0.0:0".to_string(),
            interface: INTERFACE_TCP,
            client_name: client_name.to_string(),
            client_version_major: major,
            client_version_minor: minor,
            client_revision: revision::GRANARY,
            client_version_patch: patch,
            ..ClientInfo::default()
        }
    }

    fn encode(&self, out: &mut Vec<u8>, revision: u64) {
        out.push(self.query_kind);
        if self.query_kind == 0 {
            return;
        }
        write_string(out, self.initial_user.as_bytes());
        write_string(out, self.initial_query_id.as_bytes());
        write_string(out, self.initial_address.as_bytes());
        if revision >= revision::INITIAL_QUERY_START_TIME {
            out.extend_from_slice(&self.initial_query_start_time_us.to_le_bytes());
        }
        out.push(self.interface);
        match self.interface {
            INTERFACE_TCP => {
                write_string(out, self.os_user.as_bytes());
                write_string(out, self.client_hostname.as_bytes());
                write_string(out, self.client_name.as_bytes());
                write_var_uint(out, self.client_version_major);
                write_var_uint(out, self.client_version_minor);
                write_var_uint(out, self.client_revision);
            }
            INTERFACE_HTTP => {
                let http = self.http.clone().unwrap_or_default();
                out.push(http.method);
                write_string(out, http.user_agent.as_bytes());
                if revision >= 54443 {
                    write_string(out, http.forwarded_for.as_bytes());
                }
                if revision >= 54447 {
                    write_string(out, http.referer.as_bytes());
                }
            }
            _ => {}
        }
        if revision >= revision::QUOTA_KEY_IN_CLIENT_INFO {
            write_string(out, self.quota_key.as_bytes());
        }
        if revision >= revision::DISTRIBUTED_DEPTH {
            write_var_uint(out, self.distributed_depth);
        }
        if self.interface == INTERFACE_TCP && revision >= revision::VERSION_PATCH {
            write_var_uint(out, self.client_version_patch);
        }
        if revision >= revision::OPENTELEMETRY {
            match &self.trace {
                None => out.push(0),
                Some(trace) => {
                    out.push(1);
                    out.extend_from_slice(&trace.trace_id);
                    out.extend_from_slice(&trace.span_id.to_le_bytes());
                    write_string(out, trace.tracestate.as_bytes());
                    out.push(trace.trace_flags);
                }
            }
        }
        if revision >= revision::PARALLEL_REPLICAS {
            for value in self.parallel_replicas {
                write_var_uint(out, value);
            }
        }
    }

    fn decode(input: &mut Cursor<'_>, revision: u64) -> Result<ClientInfo> {
        let mut info = ClientInfo {
            query_kind: input.read_u8("query kind")?,
            ..ClientInfo::default()
        };
        if info.query_kind == 0 {
            return Ok(info);
        }
        info.initial_user = input.read_str("initial user")?.to_string();
        info.initial_query_id = input.read_str("initial query id")?.to_string();
        info.initial_address = input.read_str("initial address")?.to_string();
        if revision >= revision::INITIAL_QUERY_START_TIME {
            info.initial_query_start_time_us = input.read_u64("initial query start time")?;
        }
        info.interface = input.read_u8("interface")?;
        match info.interface {
            INTERFACE_TCP => {
                info.os_user = input.read_str("os user")?.to_string();
                info.client_hostname = input.read_str("client hostname")?.to_string();
                info.client_name = input.read_str("client name")?.to_string();
                info.client_version_major = input.read_var_uint("client version major")?;
                info.client_version_minor = input.read_var_uint("client version minor")?;
                info.client_revision = input.read_var_uint("client revision")?;
            }
            INTERFACE_HTTP => {
                let mut http = HttpInfo {
                    method: input.read_u8("http method")?,
                    user_agent: input.read_str("http user agent")?.to_string(),
                    ..HttpInfo::default()
                };
                if revision >= 54443 {
                    http.forwarded_for = input.read_str("forwarded for")?.to_string();
                }
                if revision >= 54447 {
                    http.referer = input.read_str("http referer")?.to_string();
                }
                info.http = Some(http);
            }
            _ => {}
        }
        if revision >= revision::QUOTA_KEY_IN_CLIENT_INFO {
            info.quota_key = input.read_str("quota key")?.to_string();
        }
        if revision >= revision::DISTRIBUTED_DEPTH {
            info.distributed_depth = input.read_var_uint("distributed depth")?;
        }
        if info.interface == INTERFACE_TCP && revision >= revision::VERSION_PATCH {
            info.client_version_patch = input.read_var_uint("client version patch")?;
        }
        if revision >= revision::OPENTELEMETRY && input.read_u8("trace context flag")? != 0 {
            info.trace = Some(TraceContext {
                trace_id: input.read_array("trace id")?,
                span_id: input.read_u64("span id")?,
                tracestate: input.read_str("tracestate")?.to_string(),
                trace_flags: input.read_u8("trace flags")?,
            });
        }
        if revision >= revision::PARALLEL_REPLICAS {
            for value in &mut info.parallel_replicas {
                *value = input.read_var_uint("parallel replicas")?;
            }
        }
        Ok(info)
    }
}

/// The processing stage every client asks for: the complete result.
pub const STAGE_COMPLETE: u64 = 2;

/// A Query packet (`native-protocol.md` §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The query id; empty: the server makes one.
    pub query_id: String,
    /// Who runs it (from 54032).
    pub client_info: Option<ClientInfo>,
    /// Settings for this query.
    pub settings: Vec<Setting>,
    /// Inter-server secret hash (from 54441; empty from clients).
    pub interserver_secret: String,
    /// Processing stage; clients send [`STAGE_COMPLETE`].
    pub stage: u64,
    /// Whether this query's Data blocks are compressed, both ways.
    pub compression: bool,
    /// The SQL, without INSERT data.
    pub sql: String,
    /// Query parameters (from 54459), values as quoted literals.
    pub parameters: Vec<Setting>,
}

impl Query {
    /// Appends the packet for a connection at `revision`.
    pub fn encode(&self, out: &mut Vec<u8>, revision: u64) -> Result<()> {
        write_var_uint(out, kind::QUERY);
        write_string(out, self.query_id.as_bytes());
        if revision >= revision::CLIENT_INFO {
            self.client_info
                .clone()
                .unwrap_or_default()
                .encode(out, revision);
        }
        write_settings(out, &self.settings, revision)?;
        if revision >= revision::INTERSERVER_SECRET {
            write_string(out, self.interserver_secret.as_bytes());
        }
        write_var_uint(out, self.stage);
        write_var_uint(out, u64::from(self.compression));
        write_string(out, self.sql.as_bytes());
        if revision >= revision::PARAMETERS {
            write_settings(out, &self.parameters, revision)?;
        }
        Ok(())
    }

    fn decode_body(input: &mut Cursor<'_>, revision: u64) -> Result<Query> {
        let query_id = input.read_str("query id")?.to_string();
        let client_info = if revision >= revision::CLIENT_INFO {
            Some(ClientInfo::decode(input, revision)?)
        } else {
            None
        };
        let settings = read_settings(input, revision)?;
        let interserver_secret = if revision >= revision::INTERSERVER_SECRET {
            input.read_str("inter-server secret")?.to_string()
        } else {
            String::new()
        };
        let stage = input.read_var_uint("processing stage")?;
        let compression = input.read_var_uint("compression")? != 0;
        let sql = input.read_str("query")?.to_string();
        let parameters = if revision >= revision::PARAMETERS {
            read_settings(input, revision)?
        } else {
            Vec::new()
        };
        Ok(Query {
            query_id,
            client_info,
            settings,
            interserver_secret,
            stage,
            compression,
            sql,
            parameters,
        })
    }
}

/// A packet from the client after the handshake.
#[derive(Debug, Clone)]
pub enum ClientPacket {
    /// Run a query.
    Query(Box<Query>),
    /// A block: external tables or INSERT data; a zero-column block ends them.
    Data(Data),
    /// Stop the running query.
    Cancel,
    /// Are you there?
    Ping,
    /// Keep the connection alive (ignored).
    KeepAlive,
}

impl ClientPacket {
    /// Reads one packet. Data blocks are compressed when `context.compression` is set.
    pub fn decode(input: &mut Cursor<'_>, context: &Context) -> Result<ClientPacket> {
        let packet = input.read_var_uint("packet type")?;
        Ok(match packet {
            kind::QUERY => {
                ClientPacket::Query(Box::new(Query::decode_body(input, context.revision)?))
            }
            kind::DATA => ClientPacket::Data(read_data(input, context, context.compression)?),
            kind::CANCEL => ClientPacket::Cancel,
            kind::PING => ClientPacket::Ping,
            kind::KEEP_ALIVE => ClientPacket::KeepAlive,
            kind::HELLO | kind::TABLES_STATUS_REQUEST | 7..=16 => {
                return Err(Error::UnexpectedPacket {
                    got: client_packet_name(packet),
                    expected: "Query, Data, Cancel or Ping",
                    from: "client",
                });
            }
            other => {
                return Err(Error::UnknownPacket {
                    packet: other,
                    from: "client",
                });
            }
        })
    }

    /// Appends a Data packet (compressed with `method` when given).
    pub fn encode_data(
        out: &mut Vec<u8>,
        data: &Data,
        revision: u64,
        method: Option<Method>,
    ) -> Result<()> {
        write_var_uint(out, kind::DATA);
        write_data(out, data, revision, method)
    }

    /// Appends a packet without a body (Cancel, Ping).
    pub fn encode_bare(out: &mut Vec<u8>, packet: u64) {
        write_var_uint(out, packet);
    }
}

/// The name of a client packet type, for messages.
pub fn client_packet_name(packet: u64) -> String {
    let name = match packet {
        0 => "Hello",
        1 => "Query",
        2 => "Data",
        3 => "Cancel",
        4 => "Ping",
        5 => "TablesStatusRequest",
        6 => "KeepAlive",
        7 => "Scalar",
        8 => "IgnoredPartUUIDs",
        9 => "ReadTaskResponse",
        10 => "MergeTreeReadTaskResponse",
        11 => "SSHChallengeRequest",
        12 => "SSHChallengeResponse",
        13 => "QueryPlan",
        14 => "MergeTreeAllRangesAnnouncementResponse",
        _ => return format!("#{packet}"),
    };
    name.to_string()
}
