//! Packets a server sends (`native-protocol.md` §4.2, §6): Hello, Data, Exception, Progress, Pong,
//! EndOfStream, ProfileInfo, Totals, Extremes, Log, TableColumns, ProfileEvents, TimezoneUpdate.

use crate::ErrorCode;
use crate::compress::Method;
use crate::error::{Error, Result};
use crate::io::{Cursor, write_string, write_var_uint};
use crate::packet::{Context, Data, read_data, revision, write_data};

/// Server packet type numbers.
pub mod kind {
    /// Hello.
    pub const HELLO: u64 = 0;
    /// Data.
    pub const DATA: u64 = 1;
    /// Exception.
    pub const EXCEPTION: u64 = 2;
    /// Progress.
    pub const PROGRESS: u64 = 3;
    /// Pong.
    pub const PONG: u64 = 4;
    /// EndOfStream.
    pub const END_OF_STREAM: u64 = 5;
    /// ProfileInfo.
    pub const PROFILE_INFO: u64 = 6;
    /// Totals.
    pub const TOTALS: u64 = 7;
    /// Extremes.
    pub const EXTREMES: u64 = 8;
    /// TablesStatusResponse.
    pub const TABLES_STATUS_RESPONSE: u64 = 9;
    /// Log.
    pub const LOG: u64 = 10;
    /// TableColumns.
    pub const TABLE_COLUMNS: u64 = 11;
    /// ProfileEvents.
    pub const PROFILE_EVENTS: u64 = 14;
    /// TimezoneUpdate.
    pub const TIMEZONE_UPDATE: u64 = 17;
}

/// The server's Hello (`native-protocol.md` §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// Server name (`ClickHouse`).
    pub name: String,
    /// Version, major.
    pub version_major: u64,
    /// Version, minor.
    pub version_minor: u64,
    /// The server's own revision.
    pub revision: u64,
    /// The server's time zone (from 54058).
    pub timezone: String,
    /// Display name (from 54372).
    pub display_name: String,
    /// Version, patch (from 54401).
    pub version_patch: u64,
    /// Password complexity rules: (pattern, message) (from 54461).
    pub password_rules: Vec<(String, String)>,
    /// Nonce for inter-server authentication (from 54462).
    pub nonce: u64,
}

impl ServerHello {
    /// Appends the Hello as a peer at `negotiated` reads it.
    pub fn encode(&self, out: &mut Vec<u8>, negotiated: u64) {
        write_var_uint(out, kind::HELLO);
        write_string(out, self.name.as_bytes());
        write_var_uint(out, self.version_major);
        write_var_uint(out, self.version_minor);
        write_var_uint(out, self.revision);
        if negotiated >= revision::SERVER_TIMEZONE {
            write_string(out, self.timezone.as_bytes());
        }
        if negotiated >= revision::SERVER_DISPLAY_NAME {
            write_string(out, self.display_name.as_bytes());
        }
        if negotiated >= revision::VERSION_PATCH {
            write_var_uint(out, self.version_patch);
        }
        if negotiated >= revision::PASSWORD_COMPLEXITY_RULES {
            write_var_uint(out, self.password_rules.len() as u64);
            for (pattern, message) in &self.password_rules {
                write_string(out, pattern.as_bytes());
                write_string(out, message.as_bytes());
            }
        }
        if negotiated >= revision::INTERSERVER_SECRET_V2 {
            out.extend_from_slice(&self.nonce.to_le_bytes());
        }
    }

    /// Reads the Hello body (after its type) as a client at `client_revision`.
    fn decode_body(input: &mut Cursor<'_>, client_revision: u64) -> Result<ServerHello> {
        let name = input.read_str("server name")?.to_string();
        let version_major = input.read_var_uint("server version major")?;
        let version_minor = input.read_var_uint("server version minor")?;
        let server_revision = input.read_var_uint("server revision")?;
        let negotiated = revision::negotiate(client_revision, server_revision);
        let mut hello = ServerHello {
            name,
            version_major,
            version_minor,
            revision: server_revision,
            timezone: String::new(),
            display_name: String::new(),
            version_patch: 0,
            password_rules: Vec::new(),
            nonce: 0,
        };
        if negotiated >= revision::SERVER_TIMEZONE {
            hello.timezone = input.read_str("server time zone")?.to_string();
        }
        if negotiated >= revision::SERVER_DISPLAY_NAME {
            hello.display_name = input.read_str("server display name")?.to_string();
        }
        if negotiated >= revision::VERSION_PATCH {
            hello.version_patch = input.read_var_uint("server version patch")?;
        }
        if negotiated >= revision::PASSWORD_COMPLEXITY_RULES {
            let rules = input.read_size(
                "password complexity rules",
                1_000,
                ErrorCode::INCORRECT_DATA,
            )?;
            for _ in 0..rules {
                let pattern = input.read_str("password rule pattern")?.to_string();
                let message = input.read_str("password rule message")?.to_string();
                hello.password_rules.push((pattern, message));
            }
        }
        if negotiated >= revision::INTERSERVER_SECRET_V2 {
            hello.nonce = input.read_u64("nonce")?;
        }
        Ok(hello)
    }
}

/// An Exception packet (`native-protocol.md` §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// ClickHouse error code.
    pub code: i32,
    /// Exception class name (`DB::Exception`).
    pub name: String,
    /// The message, starting with the name: `DB::Exception: ...`.
    pub message: String,
    /// Stack trace (Granary: the chain of causes, or empty).
    pub stack_trace: String,
    /// A nested exception.
    pub nested: Option<Box<Exception>>,
}

impl Exception {
    /// A `DB::Exception` with `code` and `text`.
    pub fn new(code: ErrorCode, text: &str) -> Exception {
        Exception {
            code: code.0,
            name: "DB::Exception".to_string(),
            message: format!("DB::Exception: {text}"),
            stack_trace: String::new(),
            nested: None,
        }
    }

    /// The message without the `DB::Exception: ` prefix.
    pub fn text(&self) -> &str {
        self.message
            .strip_prefix(&format!("{}: ", self.name))
            .unwrap_or(&self.message)
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.code.to_le_bytes());
        write_string(out, self.name.as_bytes());
        write_string(out, self.message.as_bytes());
        write_string(out, self.stack_trace.as_bytes());
        match &self.nested {
            None => out.push(0),
            Some(nested) => {
                out.push(1);
                nested.encode_body(out);
            }
        }
    }

    fn decode_body(input: &mut Cursor<'_>, depth: usize) -> Result<Exception> {
        let code = input.read_i32("exception code")?;
        let name = input.read_str("exception name")?.to_string();
        let message = input.read_str("exception message")?.to_string();
        let stack_trace = input.read_str("exception stack trace")?.to_string();
        let nested = if input.read_u8("exception has_nested")? != 0 {
            if depth >= 32 {
                return Err(Error::incorrect("exceptions nested more than 32 deep"));
            }
            Some(Box::new(Exception::decode_body(input, depth + 1)?))
        } else {
            None
        };
        Ok(Exception {
            code,
            name,
            message,
            stack_trace,
            nested,
        })
    }
}

impl std::fmt::Display for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code: {}. {}", self.code, self.message)
    }
}

/// Progress increments since the previous Progress packet (`native-protocol.md` §6.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows read.
    pub read_rows: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Rows the query expects to read (from 51554).
    pub total_rows_to_read: u64,
    /// Bytes the query expects to read (from 54463).
    pub total_bytes_to_read: u64,
    /// Rows written (from 54420).
    pub written_rows: u64,
    /// Bytes written (from 54420).
    pub written_bytes: u64,
    /// Nanoseconds since the previous Progress (from 54460).
    pub elapsed_ns: u64,
}

impl Progress {
    /// Adds an increment (Progress packets carry increments since the previous one), saturating:
    /// the numbers come from the peer.
    pub fn add(&mut self, increment: &Progress) {
        self.read_rows = self.read_rows.saturating_add(increment.read_rows);
        self.read_bytes = self.read_bytes.saturating_add(increment.read_bytes);
        self.total_rows_to_read = self
            .total_rows_to_read
            .saturating_add(increment.total_rows_to_read);
        self.total_bytes_to_read = self
            .total_bytes_to_read
            .saturating_add(increment.total_bytes_to_read);
        self.written_rows = self.written_rows.saturating_add(increment.written_rows);
        self.written_bytes = self.written_bytes.saturating_add(increment.written_bytes);
        self.elapsed_ns = self.elapsed_ns.saturating_add(increment.elapsed_ns);
    }

    fn encode_body(&self, out: &mut Vec<u8>, revision: u64) {
        write_var_uint(out, self.read_rows);
        write_var_uint(out, self.read_bytes);
        if revision >= revision::TOTAL_ROWS_IN_PROGRESS {
            write_var_uint(out, self.total_rows_to_read);
        }
        if revision >= revision::TOTAL_BYTES_IN_PROGRESS {
            write_var_uint(out, self.total_bytes_to_read);
        }
        if revision >= revision::CLIENT_WRITE_INFO {
            write_var_uint(out, self.written_rows);
            write_var_uint(out, self.written_bytes);
        }
        if revision >= revision::SERVER_QUERY_TIME_IN_PROGRESS {
            write_var_uint(out, self.elapsed_ns);
        }
    }

    fn decode_body(input: &mut Cursor<'_>, revision: u64) -> Result<Progress> {
        let mut progress = Progress {
            read_rows: input.read_var_uint("progress read rows")?,
            read_bytes: input.read_var_uint("progress read bytes")?,
            ..Progress::default()
        };
        if revision >= revision::TOTAL_ROWS_IN_PROGRESS {
            progress.total_rows_to_read = input.read_var_uint("progress total rows")?;
        }
        if revision >= revision::TOTAL_BYTES_IN_PROGRESS {
            progress.total_bytes_to_read = input.read_var_uint("progress total bytes")?;
        }
        if revision >= revision::CLIENT_WRITE_INFO {
            progress.written_rows = input.read_var_uint("progress written rows")?;
            progress.written_bytes = input.read_var_uint("progress written bytes")?;
        }
        if revision >= revision::SERVER_QUERY_TIME_IN_PROGRESS {
            progress.elapsed_ns = input.read_var_uint("progress elapsed")?;
        }
        Ok(progress)
    }
}

/// ProfileInfo at the end of a SELECT (`native-protocol.md` §6.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfileInfo {
    /// Rows sent.
    pub rows: u64,
    /// Blocks sent.
    pub blocks: u64,
    /// Bytes sent (uncompressed).
    pub bytes: u64,
    /// Whether a LIMIT applied.
    pub applied_limit: bool,
    /// Rows before the LIMIT.
    pub rows_before_limit: u64,
    /// Obsolete; always true.
    pub calculated_rows_before_limit: bool,
}

impl ProfileInfo {
    fn encode_body(&self, out: &mut Vec<u8>) {
        write_var_uint(out, self.rows);
        write_var_uint(out, self.blocks);
        write_var_uint(out, self.bytes);
        out.push(u8::from(self.applied_limit));
        write_var_uint(out, self.rows_before_limit);
        out.push(u8::from(self.calculated_rows_before_limit));
    }

    fn decode_body(input: &mut Cursor<'_>, revision: u64) -> Result<ProfileInfo> {
        let info = ProfileInfo {
            rows: input.read_var_uint("profile rows")?,
            blocks: input.read_var_uint("profile blocks")?,
            bytes: input.read_var_uint("profile bytes")?,
            applied_limit: input.read_u8("profile applied_limit")? != 0,
            rows_before_limit: input.read_var_uint("profile rows_before_limit")?,
            calculated_rows_before_limit: input.read_u8("profile calculated")? != 0,
        };
        if revision >= revision::ROWS_BEFORE_AGGREGATION {
            input.read_u8("profile applied_aggregation")?;
            input.read_var_uint("profile rows_before_aggregation")?;
        }
        Ok(info)
    }
}

/// A packet from the server.
#[derive(Debug, Clone)]
pub enum ServerPacket {
    /// The handshake answer.
    Hello(ServerHello),
    /// Result or header block.
    Data(Data),
    /// The query failed.
    Exception(Exception),
    /// Progress increments.
    Progress(Progress),
    /// Answer to Ping.
    Pong,
    /// The query is done.
    EndOfStream,
    /// Result statistics.
    ProfileInfo(ProfileInfo),
    /// `WITH TOTALS` row.
    Totals(Data),
    /// `extremes = 1` rows.
    Extremes(Data),
    /// Server log rows.
    Log(Data),
    /// Column descriptions before an INSERT's header: table name, text.
    TableColumns(String, String),
    /// Profile counters.
    ProfileEvents(Data),
    /// The session time zone changed.
    TimezoneUpdate(String),
}

impl ServerPacket {
    /// The packet's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ServerPacket::Hello(_) => "Hello",
            ServerPacket::Data(_) => "Data",
            ServerPacket::Exception(_) => "Exception",
            ServerPacket::Progress(_) => "Progress",
            ServerPacket::Pong => "Pong",
            ServerPacket::EndOfStream => "EndOfStream",
            ServerPacket::ProfileInfo(_) => "ProfileInfo",
            ServerPacket::Totals(_) => "Totals",
            ServerPacket::Extremes(_) => "Extremes",
            ServerPacket::Log(_) => "Log",
            ServerPacket::TableColumns(..) => "TableColumns",
            ServerPacket::ProfileEvents(_) => "ProfileEvents",
            ServerPacket::TimezoneUpdate(_) => "TimezoneUpdate",
        }
    }

    /// Appends the packet for a client at the negotiated `context.revision`. Data, Totals and
    /// Extremes blocks are compressed with `method` when the query asked for compression.
    pub fn encode(&self, out: &mut Vec<u8>, revision: u64, method: Option<Method>) -> Result<()> {
        match self {
            ServerPacket::Hello(hello) => hello.encode(out, revision),
            ServerPacket::Data(data) => {
                write_var_uint(out, kind::DATA);
                write_data(out, data, revision, method)?;
            }
            ServerPacket::Totals(data) => {
                write_var_uint(out, kind::TOTALS);
                write_data(out, data, revision, method)?;
            }
            ServerPacket::Extremes(data) => {
                write_var_uint(out, kind::EXTREMES);
                write_data(out, data, revision, method)?;
            }
            ServerPacket::Log(data) => {
                write_var_uint(out, kind::LOG);
                write_data(out, data, revision, None)?;
            }
            ServerPacket::ProfileEvents(data) => {
                write_var_uint(out, kind::PROFILE_EVENTS);
                write_data(out, data, revision, None)?;
            }
            ServerPacket::Exception(exception) => {
                write_var_uint(out, kind::EXCEPTION);
                exception.encode_body(out);
            }
            ServerPacket::Progress(progress) => {
                write_var_uint(out, kind::PROGRESS);
                progress.encode_body(out, revision);
            }
            ServerPacket::Pong => write_var_uint(out, kind::PONG),
            ServerPacket::EndOfStream => write_var_uint(out, kind::END_OF_STREAM),
            ServerPacket::ProfileInfo(info) => {
                write_var_uint(out, kind::PROFILE_INFO);
                info.encode_body(out);
            }
            ServerPacket::TableColumns(table, description) => {
                write_var_uint(out, kind::TABLE_COLUMNS);
                write_string(out, table.as_bytes());
                write_string(out, description.as_bytes());
            }
            ServerPacket::TimezoneUpdate(zone) => {
                write_var_uint(out, kind::TIMEZONE_UPDATE);
                write_string(out, zone.as_bytes());
            }
        }
        Ok(())
    }

    /// Reads one packet as a client. A Hello is read with `context.revision` as the client's own
    /// revision; every other packet with it as the negotiated one.
    pub fn decode(input: &mut Cursor<'_>, context: &Context) -> Result<ServerPacket> {
        let packet = input.read_var_uint("packet type")?;
        Ok(match packet {
            kind::HELLO => ServerPacket::Hello(ServerHello::decode_body(input, context.revision)?),
            kind::DATA => ServerPacket::Data(read_data(input, context, context.compression)?),
            kind::EXCEPTION => ServerPacket::Exception(Exception::decode_body(input, 0)?),
            kind::PROGRESS => {
                ServerPacket::Progress(Progress::decode_body(input, context.revision)?)
            }
            kind::PONG => ServerPacket::Pong,
            kind::END_OF_STREAM => ServerPacket::EndOfStream,
            kind::PROFILE_INFO => {
                ServerPacket::ProfileInfo(ProfileInfo::decode_body(input, context.revision)?)
            }
            kind::TOTALS => ServerPacket::Totals(read_data(input, context, context.compression)?),
            kind::EXTREMES => {
                ServerPacket::Extremes(read_data(input, context, context.compression)?)
            }
            kind::LOG => ServerPacket::Log(read_data(input, context, false)?),
            kind::TABLE_COLUMNS => ServerPacket::TableColumns(
                input.read_str("table name")?.to_string(),
                input.read_str("columns description")?.to_string(),
            ),
            kind::PROFILE_EVENTS => ServerPacket::ProfileEvents(read_data(input, context, false)?),
            kind::TIMEZONE_UPDATE => {
                ServerPacket::TimezoneUpdate(input.read_str("time zone")?.to_string())
            }
            other => {
                return Err(Error::UnknownPacket {
                    packet: other,
                    from: "server",
                });
            }
        })
    }
}
