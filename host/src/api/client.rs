//! The one client of the local API, for the tray and the command line. Blocking: each call
//! runs on a small single-threaded runtime of its own.

use std::io;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
pub use hyper::Method;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

use super::ApiEvent;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket: the engine is not running.
    #[error("Remote Service is not running: nothing answers on {socket}")]
    NotRunning {
        /// The socket.
        socket: PathBuf,
    },
    /// The engine answered with an error.
    #[error("the engine answered {status}: {message}")]
    Answer {
        /// The HTTP status.
        status: StatusCode,
        /// The engine's message.
        message: String,
    },
    /// The connection broke or the answer was not understood.
    #[error("local API at {socket}: {message}")]
    Protocol {
        /// The socket.
        socket: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A client of the engine at one socket.
pub struct Client {
    socket: PathBuf,
    runtime: Runtime,
}

impl Client {
    /// A client for the engine listening on `socket`.
    pub fn new(socket: &Path) -> io::Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Client {
            socket: socket.to_path_buf(),
            runtime,
        })
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path`, the JSON answer read as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.exchange(Method::GET, path, None)
    }

    /// `POST path` without a body.
    pub fn post(&self, path: &str) -> Result<(), ClientError> {
        self.runtime
            .block_on(async { self.request(Method::POST, path, None).await.map(drop) })
    }

    /// `method path` with a JSON body (`None`: no body), the JSON answer read as `T`.
    pub fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let body = body.map(|value| serde_json::to_vec(value).unwrap_or_default());
        let bytes = self.runtime.block_on(async {
            let body = self.request(method, path, body).await?;
            body.collect()
                .await
                .map(|collected| collected.to_bytes())
                .map_err(|error| self.protocol(error))
        })?;
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"null")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes)
            .map_err(|error| self.protocol(format!("the answer is not the expected JSON: {error}")))
    }

    /// Follows the event stream; the first event is the status now.
    pub fn events(&self) -> Result<Events<'_>, ClientError> {
        let body = self
            .runtime
            .block_on(self.request(Method::GET, "/v1/events", None))?;
        Ok(Events {
            client: self,
            body,
            buffer: Vec::new(),
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Incoming, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|_| ClientError::NotRunning {
                    socket: self.socket.clone(),
                })?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| self.protocol(error))?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|error| self.protocol(error))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| self.protocol(error))?;
        let status = response.status();
        let body = response.into_body();
        if status.is_success() {
            return Ok(body);
        }
        let bytes = body
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|value| value["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        Err(ClientError::Answer { status, message })
    }

    fn protocol(&self, message: impl ToString) -> ClientError {
        ClientError::Protocol {
            socket: self.socket.clone(),
            message: message.to_string(),
        }
    }
}

/// The event stream, as a blocking iterator; it ends when the engine stops.
pub struct Events<'a> {
    client: &'a Client,
    body: Incoming,
    buffer: Vec<u8>,
}

impl Iterator for Events<'_> {
    type Item = Result<ApiEvent, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let message: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&message);
                let data: String = text
                    .lines()
                    .filter_map(|line| line.strip_prefix("data: "))
                    .collect::<Vec<_>>()
                    .join("\n");
                if data.is_empty() {
                    continue;
                }
                return Some(serde_json::from_str(&data).map_err(|error| {
                    self.client
                        .protocol(format!("an event is not the expected JSON: {error}"))
                }));
            }
            let frame = self.client.runtime.block_on(self.body.frame())?;
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Err(error) => return Some(Err(self.client.protocol(error))),
            }
        }
    }
}
