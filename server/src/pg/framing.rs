//! Every frontend message checked whole before pgwire decodes it.
//!
//! pgwire's decoders trust the lengths and counts inside a message: a Bind whose parameter
//! length runs past its message, a negative result-format count, a startup packet or a query
//! without its final NUL, a message length below 4 — each panics, or reads on into the next
//! message and loses the framing. So a connection's bytes reach pgwire through
//! [`CheckedStream`], which hands a message on only once all of it has arrived and its fields
//! fill its declared length exactly ([`check_message`]); anything else fails the read with
//! `InvalidData`, which ends the connection with FATAL 08P01 (see `serve.rs`). A message larger
//! than [`MAX_MESSAGE_BYTES`] is refused when its length arrives, before it is buffered.
//!
//! ```text
//! socket ──▶ CheckedStream { pending ─(whole, checked)─▶ ready } ──▶ pgwire's codec (Framed)
//! ```

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest frontend message accepted (PostgreSQL's own limit is 1 GiB; a query is refused
/// past 256 KiB anyway, and COPY sends its data in small messages).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;
/// The largest startup packet (pgwire's and PostgreSQL's limit).
const MAX_STARTUP_BYTES: usize = 10_000;
/// The request codes of the untyped packets that come before the startup.
const CANCEL_REQUEST: i32 = 80_877_102;
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 << 10;

/// Where the conversation is: before the startup packet, untyped packets; after it, typed
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Startup,
    Messages,
}

/// The length of the first whole message at the start of `buf` once it is checked (`None`:
/// not all of it has arrived), and the phase after it; the reason for refusing it otherwise.
pub fn check_message(buf: &[u8], phase: Phase) -> Result<Option<(usize, Phase)>, String> {
    match phase {
        Phase::Startup => check_startup(buf),
        Phase::Messages => check_typed(buf),
    }
}

fn check_startup(buf: &[u8]) -> Result<Option<(usize, Phase)>, String> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let length = be_i32(&buf[0..4]);
    let code = be_i32(&buf[4..8]);
    let length = usize::try_from(length)
        .ok()
        .filter(|length| (8..=MAX_STARTUP_BYTES).contains(length))
        .ok_or_else(|| format!("invalid length of startup packet: {length}"))?;
    if buf.len() < length {
        return Ok(None);
    }
    let body = &buf[8..length];
    match code {
        SSL_REQUEST | GSSENC_REQUEST if body.is_empty() => Ok(Some((length, Phase::Startup))),
        CANCEL_REQUEST if body.len() >= 8 => Ok(Some((length, Phase::Startup))),
        _ if code >> 16 == 3 => {
            // Protocol 3.x: name and value strings, then a NUL of their own at the very end.
            let mut fields = Fields { body, at: 0 };
            loop {
                let name = fields.cstring()?;
                if name.is_empty() {
                    break;
                }
                fields.cstring()?;
            }
            fields.end()?;
            Ok(Some((length, Phase::Messages)))
        }
        _ => Err(format!(
            "unsupported frontend protocol {}.{} or malformed startup packet",
            code >> 16,
            code & 0xffff
        )),
    }
}

fn check_typed(buf: &[u8]) -> Result<Option<(usize, Phase)>, String> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let kind = buf[0];
    let length = be_i32(&buf[1..5]);
    let length = usize::try_from(length)
        .ok()
        .filter(|length| *length >= 4)
        .ok_or_else(|| format!("invalid message length {length}"))?;
    if length > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message of {length} bytes is larger than the {MAX_MESSAGE_BYTES} accepted"
        ));
    }
    if buf.len() < length + 1 {
        return Ok(None);
    }
    let mut fields = Fields {
        body: &buf[5..length + 1],
        at: 0,
    };
    match kind {
        // Query, CopyFail: one string.
        b'Q' | b'f' => {
            fields.cstring()?;
        }
        // Parse: statement name, query, parameter types.
        b'P' => {
            fields.cstring()?;
            fields.cstring()?;
            let types = fields.u16()?;
            fields.skip(usize::from(types) * 4)?;
        }
        // Bind: portal, statement, parameter formats, parameters, result formats.
        b'B' => {
            fields.cstring()?;
            fields.cstring()?;
            let formats = fields.u16()?;
            fields.skip(usize::from(formats) * 2)?;
            let parameters = fields.u16()?;
            for _ in 0..parameters {
                let length = fields.i32()?;
                if length >= 0 {
                    fields.skip(length as usize)?;
                } else if length != -1 {
                    return Err(format!("invalid parameter length {length}"));
                }
            }
            let results = fields.i16()?;
            let results = usize::try_from(results)
                .map_err(|_| format!("invalid number of result formats {results}"))?;
            fields.skip(results * 2)?;
        }
        // Close, Describe: 'S' or 'P', then a name.
        b'C' | b'D' => {
            fields.skip(1)?;
            fields.cstring()?;
        }
        // Execute: portal, row limit.
        b'E' => {
            fields.cstring()?;
            fields.i32()?;
        }
        // Flush, Sync, Terminate, CopyDone: nothing.
        b'H' | b'S' | b'X' | b'c' => {}
        // CopyData, and the password / SASL messages (read by the authentication code, which
        // checks their contents): any bytes.
        b'd' | b'p' => fields.at = fields.body.len(),
        other => {
            return Err(format!(
                "invalid frontend message type {:?}",
                char::from(other)
            ));
        }
    }
    fields.end()?;
    Ok(Some((length + 1, Phase::Messages)))
}

/// A message's body read field by field, never past its end.
struct Fields<'a> {
    body: &'a [u8],
    at: usize,
}

impl Fields<'_> {
    fn skip(&mut self, bytes: usize) -> Result<&[u8], String> {
        let end = self
            .at
            .checked_add(bytes)
            .filter(|end| *end <= self.body.len())
            .ok_or_else(|| "a field runs past the end of its message".to_string())?;
        let field = &self.body[self.at..end];
        self.at = end;
        Ok(field)
    }

    fn cstring(&mut self) -> Result<&[u8], String> {
        let rest = &self.body[self.at..];
        let nul = rest
            .iter()
            .position(|byte| *byte == 0)
            .ok_or_else(|| "a string runs past the end of its message".to_string())?;
        let field = &rest[..nul];
        self.at += nul + 1;
        Ok(field)
    }

    fn u16(&mut self) -> Result<u16, String> {
        let bytes = self.skip(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn i16(&mut self) -> Result<i16, String> {
        Ok(self.u16()? as i16)
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(be_i32(self.skip(4)?))
    }

    fn end(&self) -> Result<(), String> {
        if self.at == self.body.len() {
            Ok(())
        } else {
            Err(format!(
                "{} bytes after the last field of a message",
                self.body.len() - self.at
            ))
        }
    }
}

fn be_i32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A client connection whose reads give whole, checked frontend messages only.
#[derive(Debug)]
pub struct CheckedStream<S> {
    inner: S,
    phase: Phase,
    /// Bytes read from the socket, not yet checked.
    pending: BytesMut,
    /// Checked messages not yet read.
    ready: BytesMut,
    scratch: Vec<u8>,
    eof: bool,
}

impl<S> CheckedStream<S> {
    /// `inner`, whose first `read` bytes (already taken from it) come first; the next packet
    /// is the startup.
    pub fn new(inner: S, read: BytesMut) -> CheckedStream<S> {
        CheckedStream {
            inner,
            phase: Phase::Startup,
            pending: read,
            ready: BytesMut::new(),
            scratch: vec![0; READ_CHUNK],
            eof: false,
        }
    }

    /// Moves the whole, checked messages at the front of `pending` to `ready`.
    /// A malformed message fails the read once the messages before it have been read.
    fn take_messages(&mut self) -> io::Result<()> {
        loop {
            match check_message(&self.pending, self.phase) {
                Ok(Some((length, phase))) => {
                    let message = self.pending.split_to(length);
                    self.ready.extend_from_slice(&message);
                    self.phase = phase;
                }
                Ok(None) => return Ok(()),
                Err(_) if !self.ready.is_empty() => return Ok(()),
                Err(reason) => return Err(io::Error::new(io::ErrorKind::InvalidData, reason)),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CheckedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let count = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..count]);
                this.ready.advance(count);
                return Poll::Ready(Ok(()));
            }
            this.take_messages()?;
            if !this.ready.is_empty() {
                continue;
            }
            if this.eof {
                // A message cut off by the end of the connection is never handed on.
                return Poll::Ready(Ok(()));
            }
            let mut chunk = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut chunk) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(())) => {
                    if chunk.filled().is_empty() {
                        this.eof = true;
                    } else {
                        this.pending.extend_from_slice(chunk.filled());
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CheckedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::messages::{DecodeContext, PgWireFrontendMessage};
    use proptest::prelude::*;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut message = vec![kind];
        message.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        message.extend_from_slice(body);
        message
    }

    fn startup(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut body = 196_608i32.to_be_bytes().to_vec();
        for (name, value) in pairs {
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut packet = (body.len() as i32 + 4).to_be_bytes().to_vec();
        packet.extend_from_slice(&body);
        packet
    }

    fn bind(parameters: &[Option<&[u8]>], results: i16) -> Vec<u8> {
        let mut body = b"portal\0stmt\0".to_vec();
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&1i16.to_be_bytes());
        body.extend_from_slice(&(parameters.len() as u16).to_be_bytes());
        for parameter in parameters {
            match parameter {
                Some(bytes) => {
                    body.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    body.extend_from_slice(bytes);
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        body.extend_from_slice(&results.to_be_bytes());
        for _ in 0..results.max(0) {
            body.extend_from_slice(&0i16.to_be_bytes());
        }
        typed(b'B', &body)
    }

    /// Valid messages of every kind, as clients send them: the fuzzer's seeds.
    fn corpus() -> Vec<(Phase, Vec<u8>)> {
        let mut parse = b"s1\0SELECT $1::int, $2\0".to_vec();
        parse.extend_from_slice(&2u16.to_be_bytes());
        parse.extend_from_slice(&23i32.to_be_bytes());
        parse.extend_from_slice(&0i32.to_be_bytes());
        let mut execute = b"portal\0".to_vec();
        execute.extend_from_slice(&0i32.to_be_bytes());
        let mut cancel = 16i32.to_be_bytes().to_vec();
        cancel.extend_from_slice(&CANCEL_REQUEST.to_be_bytes());
        cancel.extend_from_slice(&7i32.to_be_bytes());
        cancel.extend_from_slice(&99i32.to_be_bytes());
        vec![
            (
                Phase::Startup,
                startup(&[("user", "default"), ("database", "default")]),
            ),
            (Phase::Startup, startup(&[("user", ""), ("options", "")])),
            (Phase::Startup, cancel),
            (Phase::Messages, typed(b'Q', b"SELECT 1\0")),
            (Phase::Messages, typed(b'P', &parse)),
            (Phase::Messages, bind(&[Some(b"42"), None, Some(b"")], 1)),
            (Phase::Messages, bind(&[], 0)),
            (Phase::Messages, typed(b'D', b"Sstmt\0")),
            (Phase::Messages, typed(b'C', b"P\0")),
            (Phase::Messages, typed(b'E', &execute)),
            (Phase::Messages, typed(b'S', b"")),
            (Phase::Messages, typed(b'H', b"")),
            (Phase::Messages, typed(b'd', b"1\tone\n2\ttwo\n")),
            (Phase::Messages, typed(b'c', b"")),
            (Phase::Messages, typed(b'f', b"client gave up\0")),
            (
                Phase::Messages,
                typed(b'p', b"SCRAM-SHA-256\0\0\0\0\x05n,,n="),
            ),
            (Phase::Messages, typed(b'X', b"")),
        ]
    }

    /// pgwire's decoder on exactly `message` (no bytes after it to read into).
    fn pgwire_decodes(message: &[u8], phase: Phase) -> (bool, usize) {
        let mut buf = BytesMut::from(message);
        let mut context = DecodeContext::default();
        context.awaiting_ssl = false;
        context.awaiting_startup = phase == Phase::Startup;
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            PgWireFrontendMessage::decode(&mut buf, &context)
        }));
        match decoded {
            Ok(Ok(Some(_))) => (true, buf.len()),
            Ok(_) => (false, buf.len()),
            Err(_) => panic!("pgwire panicked on a message the check let through: {message:?}"),
        }
    }

    #[test]
    fn the_corpus_passes_and_pgwire_decodes_each_message_whole() {
        for (phase, message) in corpus() {
            let checked = check_message(&message, phase).unwrap();
            assert_eq!(checked.map(|(length, _)| length), Some(message.len()));
            for cut in 0..message.len() {
                assert_eq!(check_message(&message[..cut], phase), Ok(None), "{cut}");
            }
            let (decoded, left) = pgwire_decodes(&message, phase);
            assert!(decoded, "{message:?}");
            assert_eq!(left, 0, "{message:?}");
        }
    }

    /// Each of these once panicked pgwire or made it read into the next message.
    #[test]
    fn malformed_messages_are_refused() {
        let mut bad_parameter = bind(&[Some(b"42")], 0);
        // The parameter claims 1000 bytes.
        let at = bad_parameter.len() - 2 - 2 - 4;
        bad_parameter[at..at + 4].copy_from_slice(&1000i32.to_be_bytes());
        let cases: Vec<(Phase, Vec<u8>)> = vec![
            (Phase::Messages, bind(&[], -1)),
            (Phase::Messages, bad_parameter),
            (Phase::Messages, typed(b'Q', b"SELECT 1")),
            (Phase::Messages, typed(b'Q', b"SELECT 1\0\0")),
            (Phase::Messages, typed(b'E', b"p\0")),
            (Phase::Messages, vec![b'p', 0, 0, 0, 2]),
            (Phase::Messages, vec![b'Q', 0xff, 0xff, 0xff, 0xff]),
            (Phase::Messages, vec![b'Q', 0x3f, 0xff, 0xff, 0xff]),
            (Phase::Messages, typed(b'z', b"")),
            (Phase::Startup, {
                let mut packet = startup(&[("user", "x")]);
                packet.pop();
                let length = packet.len() as i32;
                packet[0..4].copy_from_slice(&length.to_be_bytes());
                packet
            }),
            (Phase::Startup, vec![0, 0, 0, 4, 0, 3, 0, 0]),
            (Phase::Startup, vec![0x7f, 0, 0, 0, 0, 3, 0, 0]),
        ];
        for (phase, message) in cases {
            assert!(
                check_message(&message, phase).is_err(),
                "{phase:?} {message:?}"
            );
        }
    }

    /// Mutations of byte, length and count fields.
    fn mutate(mut message: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
        for (at, kind, value) in edits {
            if message.is_empty() {
                message.push(*value);
                continue;
            }
            let at = at % message.len();
            match kind % 6 {
                0 => message[at] = *value,
                1 => message[at] ^= 1 << (value % 8),
                2 => {
                    message.remove(at);
                }
                3 => message.insert(at, *value),
                4 => message.truncate(at),
                _ => {
                    // A big-endian 0xff.. / 0x7f.. / 0x00.. run over a length or count.
                    let fill = [0xff, 0x7f, 0x00, 0x80][usize::from(value % 4)];
                    for byte in message.iter_mut().skip(at).take(4) {
                        *byte = fill;
                    }
                }
            }
        }
        message
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// The check never panics, and whatever it lets through pgwire decodes without panicking
        /// and without reading past the message.
        #[test]
        fn whatever_the_check_passes_pgwire_decodes_whole(
            seed in 0usize..17,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..6),
            trailing in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let corpus = corpus();
            let (phase, message) = &corpus[seed % corpus.len()];
            let mut bytes = mutate(message.clone(), &edits);
            bytes.extend_from_slice(&trailing);
            if let Ok(Some((length, _))) = check_message(&bytes, *phase) {
                prop_assert!(length <= bytes.len());
                let (decoded, left) = pgwire_decodes(&bytes[..length], *phase);
                if *phase == Phase::Messages || decoded {
                    prop_assert_eq!(left, 0);
                }
            }
        }
    }

    #[tokio::test]
    async fn the_stream_hands_on_whole_checked_messages_and_fails_on_a_bad_one() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let first = startup(&[("user", "u")]);
        let mut stream = CheckedStream::new(server, BytesMut::from(&first[..3]));
        let mut sent = first[3..].to_vec();
        sent.extend_from_slice(&typed(b'Q', b"SELECT 1\0"));
        sent.extend_from_slice(&bind(&[], -1));
        client.write_all(&sent).await.unwrap();
        let mut got = vec![0; first.len() + 14];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..first.len()], &first[..]);
        assert_eq!(&got[first.len()..], &typed(b'Q', b"SELECT 1\0")[..]);
        let error = stream.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
