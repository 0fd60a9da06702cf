//! An HTTP server of input files for ingestion tests (an `http` input source), which can hold
//! a file in the middle for as long as a test needs an ingestion caught running.
//!
//! Each file is a head and a tail. At `/open/<n>` file `n` is sent whole at once; at
//! `/held/<n>` the headers and the head go out at once and the tail only once
//! [`InputServer::release`] is called, so the task reading it has read the head and waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct InputServer {
    port: u16,
    held_requests: Arc<AtomicUsize>,
    gate: watch::Sender<bool>,
}

/// A file as (head, tail).
type Parts = Arc<Vec<(String, String)>>;

impl InputServer {
    /// Serves `files`, held ones holding back all of their contents.
    pub async fn start(files: Vec<String>) -> InputServer {
        InputServer::start_split(files.into_iter().map(|f| (String::new(), f)).collect()).await
    }

    /// Serves `(head, tail)` files, held ones holding back their tails.
    pub async fn start_split(files: Vec<(String, String)>) -> InputServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held_requests = Arc::new(AtomicUsize::new(0));
        let (gate, _) = watch::channel(false);
        let files: Parts = Arc::new(files);
        let (counter, opened) = (held_requests.clone(), gate.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let gate = opened.subscribe();
                tokio::spawn(serve(stream, files.clone(), counter.clone(), gate));
            }
        });
        InputServer {
            port,
            held_requests,
            gate,
        }
    }

    pub fn uri(&self, held: bool, file: usize) -> String {
        let dir = if held { "held" } else { "open" };
        format!("http://127.0.0.1:{}/{dir}/{file}", self.port)
    }

    /// Requests that have reached a held tail, now or before.
    pub fn held_requests(&self) -> usize {
        self.held_requests.load(Ordering::SeqCst)
    }

    /// Sends every held tail, and from now on serves held files whole.
    pub fn release(&self) {
        self.gate.send_replace(true);
    }
}

async fn serve(
    mut stream: TcpStream,
    files: Parts,
    held_requests: Arc<AtomicUsize>,
    mut gate: watch::Receiver<bool>,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("");
    let Some((dir, name)) = path.rsplit_once('/') else {
        return;
    };
    let held = dir == "/held";
    let Some((head, tail)) = name.parse::<usize>().ok().and_then(|i| files.get(i)) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let headers = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        head.len() + tail.len()
    );
    if stream.write_all(headers.as_bytes()).await.is_err()
        || stream.write_all(head.as_bytes()).await.is_err()
        || stream.flush().await.is_err()
    {
        return;
    }
    if held {
        held_requests.fetch_add(1, Ordering::SeqCst);
        if gate.wait_for(|open| *open).await.is_err() {
            return;
        }
    }
    let _ = stream.write_all(tail.as_bytes()).await;
    let _ = stream.shutdown().await;
}
