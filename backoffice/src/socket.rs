//! A connection's TCP socket, shared between hyper (which reads requests from it and writes
//! answers to it, through TLS or not) and the event stream of the request it serves, which
//! asks it whether the installation hung up.
//!
//! Why: while a response streams, hyper would otherwise read the socket to notice that the
//! client went away, and for that reserves a read buffer of 8–16 KiB for every held event
//! stream. The listener turns that reading off (`half_close`), and the event stream
//! watches the socket's readiness instead ([`Hangup::hung_up`]), which costs nothing
//! while nothing happens and notices an installation that closed or reset its connection
//! as soon as the kernel does.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// The socket as hyper (or rustls under it) reads and writes it.
pub struct Socket(Arc<TcpStream>);

impl Socket {
    /// The socket, and the handle the request's event stream watches it with.
    pub fn new(stream: TcpStream) -> (Socket, Hangup) {
        let stream = Arc::new(stream);
        (Socket(stream.clone()), Hangup(stream))
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            // `try_read` clears the readiness when it would block: the loop then waits.
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(read) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(data) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                written => return Poll::Ready(written),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(data) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                written => return Poll::Ready(written),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // What tokio's own `TcpStream` does: the write side is shut at once.
        let socket = socket2::SockRef::from(self.0.as_ref());
        Poll::Ready(match socket.shutdown(std::net::Shutdown::Write) {
            Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(()),
            shut => shut,
        })
    }
}

/// Tells whether the client hung up; in each request's extensions, for the event stream.
#[derive(Clone)]
pub struct Hangup(Arc<TcpStream>);

impl Hangup {
    /// Returns once the client closed its side of the connection or it broke (reset). Data
    /// that arrives meanwhile (a TLS alert, bytes a client should not send during a
    /// stream) is left for hyper and waited past.
    pub async fn hung_up(&self) {
        loop {
            match self.0.ready(Interest::READABLE).await {
                Ok(ready) if ready.is_read_closed() => return,
                Ok(_) => {
                    // Readable only: wait for the next change, not this one again.
                    let _ = self.0.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                }
                Err(_) => return,
            }
        }
    }
}
