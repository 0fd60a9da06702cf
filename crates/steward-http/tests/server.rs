//! The server loop against real sockets: slow, idle and oversized clients, the connection cap,
//! TLS with a CA made here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;
use steward_http::{serve, server_tls_config, Connections, ServerHandle, ServerLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn router() -> Router {
    Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route("/echo", post(|body: String| async move { body }))
}

async fn start(limits: ServerLimits) -> (SocketAddr, ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, serve(listener, router(), None, limits))
}

fn limits() -> ServerLimits {
    ServerLimits {
        max_idle_time: Duration::from_millis(800),
        header_read_timeout: Duration::from_millis(800),
        max_request_header_size: 8 * 1024,
        connections: Connections::new(4),
    }
}

/// Reads until the server closes the connection (or resets it); what it sent.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {within:?}"),
        }
    }
}

async fn get_peer(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    read_until_closed(&mut s, Duration::from_secs(5)).await
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let (addr, _server) = start(limits()).await;
    let answer = get_peer(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("127.0.0.1"), "{answer}");
}

#[tokio::test]
async fn a_client_sending_its_headers_byte_by_byte_is_cut_off() {
    let (addr, _server) = start(limits()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let request =
        b"GET /peer HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut closed = false;
    for byte in request.iter() {
        if s.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        // The client's pace, not a synchronisation: 100 ms a byte is 7 s for the request.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::ZERO, s.read(&mut buf)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "the whole request went through byte by byte");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The server still serves others.
    assert!(get_peer(addr).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (addr, _server) = start(limits()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_stops_halfway_is_cut_off_after_the_idle_time() {
    let (addr, _server) = start(limits()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten b")
        .await
        .unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn oversized_headers_are_refused_with_431() {
    let (addr, _server) = start(limits()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let big = "a".repeat(9 * 1024);
    s.write_all(format!("GET /peer HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503_and_the_server_recovers() {
    let (addr, _server) = start(ServerLimits {
        header_read_timeout: Duration::from_secs(60),
        max_idle_time: Duration::from_secs(60),
        ..limits()
    })
    .await;
    // Four idle connections hold every slot (each proven served by a first request).
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }
    for _ in 0..20 {
        let answer = get_peer(addr).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.ends_with(r#"{"error":"Too many connections to this server; retry later"}"#));
    }
    // One idle client leaves: its slot is free again once the server has seen it go.
    drop(idle.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = get_peer(addr).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came back: {answer}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn all_ports_of_a_process_share_one_connection_budget() {
    let shared = limits();
    let (a, b) = (
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let _servers = (
        serve(a, router(), None, shared.clone()),
        serve(b, router(), None, shared),
    );
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr_a).await.unwrap();
        s.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    let answer = get_peer(addr_b).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_ca_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let ca = steward_testkit::TestCa::create(dir.path());
    let tls = server_tls_config(&ca.cert, &ca.key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = serve(listener, router(), Some(tls), limits());
    let url = format!("https://localhost:{port}/peer");

    let mut trusting = steward_http::client_builder();
    for ca in steward_http::load_ca(&ca.ca).unwrap() {
        trusting = trusting.add_root_certificate(ca);
    }
    let answer = trusting.build().unwrap().get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "127.0.0.1");

    let stranger = steward_http::client_builder()
        .tls_certs_only(Vec::new())
        .build()
        .unwrap();
    assert!(stranger.get(&url).send().await.is_err());
    // Plain HTTP on the TLS port gets nothing served.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(!answer.contains("127.0.0.1"), "{answer}");
}

#[test]
fn tls_files_that_are_missing_or_wrong_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = server_tls_config(&missing, &missing)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let err = server_tls_config(&junk, &junk).unwrap_err().to_string();
    assert!(
        err.contains("junk.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
}
