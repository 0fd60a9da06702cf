//! The HTTP server loop of every Steward process, with the limits a server facing untrusted
//! clients needs.
//!
//! `axum::serve` has none: a client that sends its headers a byte at a time, or opens
//! connections and never uses them, holds a task and a file descriptor forever, and a thousand
//! of them stop the process from accepting anything (its MiddleManager's peons and task dirs
//! included, in quickstart). Here:
//!
//! * a request's headers must arrive within `header_read_timeout`, and a kept-alive connection
//!   waits at most that long for its next request (hyper's timer starts when it waits for a
//!   request head);
//! * any other wait on the client (a body sent halfway, an answer not read) ends after
//!   `druid.server.http.maxIdleTime` without progress;
//! * request headers are limited to `druid.server.http.maxRequestHeaderSize` (431 beyond);
//! * at most `max_connections` connections are served at once by all the ports of a process
//!   together (one [`Connections`] budget shared by every [`serve`]); a connection beyond that is
//!   answered 503 once its request head has arrived (within a second) and closed (plaintext; a
//!   TLS one is closed), so a flood cannot use up the process's descriptors and every client
//!   gets an answer;
//! * with TLS, the handshake must finish within `header_read_timeout` too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use steward_model::backoff::Backoff;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::idle::IdleTimeout;

/// Limits of a process's servers (see the module doc).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// `druid.server.http.maxIdleTime` (Druid: PT5M).
    pub max_idle_time: Duration,
    /// `steward.server.http.headerReadTimeout`: the longest wait for a request's headers.
    pub header_read_timeout: Duration,
    /// `druid.server.http.maxRequestHeaderSize` (Druid: 8 KiB).
    pub max_request_header_size: usize,
    /// `steward.server.http.maxConnections`: connections the process serves at once.
    pub connections: Connections,
}

/// The connections a process may serve at once, shared by all its ports: a process with an
/// Overlord and MiddleManagers on several ports has one budget, not one per port, so together
/// they cannot take more descriptors than it allows.
#[derive(Debug, Clone)]
pub struct Connections {
    max: usize,
    permits: Arc<Semaphore>,
}

impl Connections {
    pub fn new(max: usize) -> Connections {
        Connections {
            max,
            permits: Arc::new(Semaphore::new(max)),
        }
    }
}

/// Connections over the limit that are being answered 503 at once; beyond these, further ones
/// are closed without an answer.
const MAX_REFUSALS: usize = 64;
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// A running server; dropping it leaves the server running, [`ServerHandle::abort`] stops it.
pub struct ServerHandle {
    accept: JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting; connections in progress finish on their own.
    pub fn abort(&self) {
        self.accept.abort();
    }
}

/// Serves `router` on `listener`, over TLS when `tls` is given. Handlers see the peer's address
/// as `ConnectInfo<SocketAddr>`.
pub fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ServerLimits,
) -> ServerHandle {
    let accept = tokio::spawn(accept_loop(
        listener,
        router,
        tls.map(TlsAcceptor::from),
        limits,
    ));
    ServerHandle { accept }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: ServerLimits,
) {
    let limits = Arc::new(limits);
    let connections = limits.connections.permits.clone();
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff.reset();
                accepted
            }
            Err(e) => {
                // Out of descriptors or a connection reset before it was accepted: nothing to
                // answer; wait a little so a persistent condition does not spin the loop.
                warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(backoff.next_wait()).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            warn!(%peer, max = limits.connections.max, "too many connections; refusing one");
            if let (Ok(refusal), None) = (refusals.clone().try_acquire_owned(), &tls) {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refuse(stream)).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let router = router.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, peer, router, &limits).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => serve_connection(stream, peer, router, &limits).await,
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
}

async fn serve_connection<IO>(io: IO, peer: SocketAddr, router: Router, limits: &ServerLimits)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let io = TokioIo::new(IdleTimeout::new(io, limits.max_idle_time));
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_request_header_size)
        .serve_connection(io, TowerToHyperService::new(service))
        .await;
    if let Err(e) = served {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Answers a connection over the limit with a 503 in Druid's error shape and closes it. The
/// request's head is read first (within the refusal's time limit): an HTTP client does not take
/// an answer to a request it has not sent yet.
async fn refuse(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = r#"{"error":"Too many connections to this server; retry later"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}
