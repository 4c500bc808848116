//! A connection's first request head, read here with a small buffer of our own. An event
//! stream's request (`GET /v1/events`) is answered by the router as any other, and its
//! answer written straight to the socket, the body chunked as it comes: a held stream then
//! keeps neither of the 8 KiB buffers (read and write) that hyper keeps for each
//! connection for as long as it is open, 16 KiB of the 21 KiB a held installation cost a
//! node. Any other request, and whatever follows on its connection, is hyper's, with the
//! bytes read here replayed first ([`Rewind`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, HttpBody};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, Version};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The longest head read here; a longer one is hyper's (which refuses it with its own
/// limits). An installation's request for its stream is a few hundred bytes.
const MOST_HEAD: usize = 8 * 1024;
/// Headers in the head read here; more go to hyper.
const MOST_HEADERS: usize = 32;
/// How long one write of the stream may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// In the extensions of an event stream's request read here: the stream is its
/// connection's first request (which the handler says in its log).
#[derive(Debug, Clone, Copy)]
pub struct OwnConnection;

/// What came first on a connection.
pub enum First {
    /// Nothing (or not within the time allowed): the connection is over.
    Nothing,
    /// An event stream's request, to answer here.
    Events(Box<Request<Body>>),
    /// Anything else, for hyper, with the bytes read so far.
    Other(Vec<u8>),
}

/// Reads the first request head of a connection, for at most `timeout` (a client that
/// sends nothing, or a head slowly, is let go as hyper lets it go).
pub async fn read<IO: AsyncRead + Unpin>(io: &mut IO, timeout: Duration) -> First {
    let reading = async move {
        let mut read = Vec::with_capacity(1024);
        loop {
            if read.len() == read.capacity() {
                if read.len() >= MOST_HEAD {
                    return First::Other(read);
                }
                read.reserve(read.len());
            }
            match io.read_buf(&mut read).await {
                Ok(0) | Err(_) if read.is_empty() => return First::Nothing,
                // Cut short: hyper says what is wrong with it.
                Ok(0) => return First::Other(read),
                Err(_) => return First::Nothing,
                Ok(_) => {}
            }
            match parse(&read) {
                Parsed::Partial => {}
                Parsed::Events(request) => return First::Events(request),
                Parsed::Other => return First::Other(read),
            }
        }
    };
    tokio::time::timeout(timeout, reading)
        .await
        .unwrap_or(First::Nothing)
}

enum Parsed {
    Partial,
    Events(Box<Request<Body>>),
    Other,
}

/// The head in `read`, if whole: an event stream's request when it is one this module
/// answers (HTTP/1.1, no body, nothing sent after it).
fn parse(read: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MOST_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    let length = match head.parse(read) {
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Ok(httparse::Status::Complete(length)) => length,
        Err(_) => return Parsed::Other,
    };
    let path = head.path.unwrap_or_default();
    if head.method != Some("GET")
        || head.version != Some(1)
        || path.split('?').next() != Some("/v1/events")
        || length != read.len()
    {
        return Parsed::Other;
    }
    let mut request = Request::new(Body::empty());
    request.extensions_mut().insert(OwnConnection);
    *request.method_mut() = Method::GET;
    *request.version_mut() = Version::HTTP_11;
    match path.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return Parsed::Other,
    }
    for header in head.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) else {
            return Parsed::Other;
        };
        // A request with a body, or one that asks to switch protocols, is hyper's.
        let bodied = name == TRANSFER_ENCODING || (name == CONTENT_LENGTH && value != "0");
        if bodied || name == UPGRADE {
            return Parsed::Other;
        }
        request.headers_mut().append(name, value);
    }
    Parsed::Events(Box::new(request))
}

/// Writes `response` to `io`: its head, then its body as it comes (chunked unless its
/// length is known), until the body ends, the client hangs up (seen at once: the socket is
/// read meanwhile), or a write waits longer than [`WRITE_TIMEOUT`]. The connection is not
/// kept alive after it.
pub async fn write<IO: AsyncRead + AsyncWrite + Unpin>(io: &mut IO, response: Response<Body>) {
    let length = response.body().size_hint().exact();
    if !write_all(io, &head(&response, length)).await {
        return;
    }
    let mut body = response.into_body().into_data_stream();
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            data = body.next() => match data {
                Some(Ok(data)) if data.is_empty() => {}
                Some(Ok(data)) => {
                    let written = match length {
                        Some(_) => write_all(io, &data).await,
                        None => write_all(io, &chunk(&data)).await,
                    };
                    if !written {
                        return;
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!("an answer's body failed: {error}");
                    return;
                }
                None => {
                    if length.is_none() {
                        write_all(io, b"0\r\n\r\n").await;
                    }
                    let _ = io.shutdown().await;
                    return;
                }
            },
            read = io.read(&mut scratch) => match read {
                // Hung up.
                Ok(0) | Err(_) => return,
                // Sent after the request: not a request this connection takes.
                Ok(_) => {}
            },
        }
    }
}

/// The status line and headers of `response`, with its framing and `connection: close`.
fn head(response: &Response<Body>, length: Option<u64>) -> Vec<u8> {
    let status = response.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    // The framing and the connection's fate are this writer's to say, once.
    let framing = [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION];
    for (name, value) in response.headers() {
        if framing.contains(name) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let framing = match length {
        Some(length) => format!("content-length: {length}\r\n"),
        None => "transfer-encoding: chunked\r\n".to_string(),
    };
    head.extend_from_slice(framing.as_bytes());
    head.extend_from_slice(
        format!(
            "date: {}\r\nconnection: close\r\n\r\n",
            httpdate::fmt_http_date(SystemTime::now())
        )
        .as_bytes(),
    );
    head
}

/// `data` as one chunk of a chunked body.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(b"\r\n");
    chunk
}

/// Writes and flushes `bytes`; false when the connection failed or the client has not
/// taken them within [`WRITE_TIMEOUT`].
async fn write_all<IO: AsyncWrite + Unpin>(io: &mut IO, bytes: &[u8]) -> bool {
    let writing = async {
        io.write_all(bytes).await?;
        io.flush().await
    };
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, writing).await,
        Ok(Ok(()))
    )
}

/// A connection whose first bytes were already read: they are read again first.
pub struct Rewind<IO> {
    read: Vec<u8>,
    at: usize,
    io: IO,
}

impl<IO> Rewind<IO> {
    pub fn new(read: Vec<u8>, io: IO) -> Rewind<IO> {
        Rewind { read, at: 0, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.read.len() {
            let count = buf.remaining().min(this.read.len() - this.at);
            buf.put_slice(&this.read[this.at..this.at + count]);
            this.at += count;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &str) -> Parsed {
        parse(head.as_bytes())
    }

    #[test]
    fn only_a_whole_bodiless_http_1_1_stream_request_is_taken() {
        let Parsed::Events(request) =
            parsed("GET /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\n\r\n")
        else {
            panic!("a stream's request is taken");
        };
        assert_eq!(request.uri().path(), "/v1/events");
        assert_eq!(request.headers()["authorization"], "Bearer t");
        assert!(matches!(
            parsed("GET /v1/events HTTP/1.1\r\nhost: x\r\n"),
            Parsed::Partial
        ));
        for other in [
            "GET /v1/licence HTTP/1.1\r\n\r\n",
            "POST /v1/events HTTP/1.1\r\n\r\n",
            "GET /v1/events HTTP/1.0\r\n\r\n",
            "GET /v1/events HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
            "GET /v1/events HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            "GET /v1/events HTTP/1.1\r\nupgrade: websocket\r\n\r\n",
            // Pipelined: the second request is hyper's to answer, so the first is too.
            "GET /v1/events HTTP/1.1\r\n\r\nGET /v1/licence HTTP/1.1\r\n\r\n",
            "GARBAGE\r\n\r\n",
        ] {
            assert!(matches!(parsed(other), Parsed::Other), "{other:?}");
        }
    }

    #[test]
    fn the_head_frames_the_answer_once() {
        let mut response = Response::new(Body::empty());
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("99"));
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        let chunked = String::from_utf8(head(&response, None)).unwrap();
        assert!(chunked.starts_with("HTTP/1.1 200 OK\r\n"), "{chunked}");
        assert!(
            chunked.contains("content-type: text/event-stream\r\n"),
            "{chunked}"
        );
        assert!(
            chunked.contains("transfer-encoding: chunked\r\n"),
            "{chunked}"
        );
        assert!(chunked.ends_with("connection: close\r\n\r\n"), "{chunked}");
        assert!(!chunked.contains("content-length"), "{chunked}");
        assert!(!chunked.contains("keep-alive"), "{chunked}");
        let sized = String::from_utf8(head(&Response::new(Body::empty()), Some(12))).unwrap();
        assert!(sized.contains("content-length: 12\r\n"), "{sized}");
        assert!(!sized.contains("transfer-encoding"), "{sized}");
    }

    #[test]
    fn a_chunk_is_its_length_in_hex_then_the_bytes() {
        assert_eq!(chunk(&[b'x'; 26]), b"1a\r\nxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
    }

    #[tokio::test]
    async fn what_was_read_is_read_again_before_the_rest() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut rewound = Rewind::new(b"hello".to_vec(), server);
        let mut all = String::new();
        rewound.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }
}
