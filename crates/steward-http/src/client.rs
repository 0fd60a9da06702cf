//! Internal HTTP clients: how one Steward process calls another.
//!
//! reqwest is built with rustls but without a bundled crypto provider (the default one, aws-lc,
//! is a large C build); ring is installed as the process's provider before any client is
//! built, which is why every client in Steward starts from [`client_builder`]. Calls between
//! Steward processes (Overlord → MiddleManager, MiddleManager → Overlord, and later peon →
//! Overlord) also carry the escalator's credentials and trust the cluster's CA: an
//! [`InternalClient`] holds both.

use std::sync::Once;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

/// Installs ring as the process-wide rustls crypto provider (once; later calls do nothing).
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client builder that can be built in this process (see the module doc).
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// `segment` percent-encoded for one URL path segment: everything but RFC 3986's unreserved
/// characters is escaped.
pub fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Authorization` header of HTTP basic authentication (`Basic base64(user:password)`);
/// `None` when the name or password holds characters a header cannot carry.
pub fn basic_authorization(user: &str, password: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The most redirects [`send`] follows for one request.
const MAX_REDIRECTS: usize = 5;

/// Internal clients close pooled connections before servers do (hyper's header-read timeout,
/// 30 s by default, closes an idle kept-alive connection), so a request is not sent on a
/// connection the server is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends a request, following 307 and 308 answers to their `Location` with the same method,
/// headers and body. reqwest drops the `Authorization` header on a redirect to another origin,
/// as browsers do; a standby Overlord's redirect to its leader is one, and Steward's own
/// clients must keep their credentials across it. Clients from [`InternalClient::builder`] do
/// not follow redirects themselves, so that this can. A request whose body cannot be replayed
/// (a stream) is answered with the redirect itself.
pub async fn send(builder: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let (client, request) = builder.build_split();
    let mut request = request?;
    let mut redirects = 0;
    loop {
        let again = request.try_clone();
        let response = client.execute(request).await?;
        let status = response.status().as_u16();
        let next = match (status, again, redirects < MAX_REDIRECTS) {
            (307 | 308, Some(mut again), true) => response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| response.url().join(l).ok())
                .map(|url| {
                    *again.url_mut() = url;
                    again
                }),
            _ => None,
        };
        match next {
            Some(next) => {
                request = next;
                redirects += 1;
            }
            None => return Ok(response),
        }
    }
}

/// What every internal call carries: the CA certificates to trust besides the system's
/// (`steward.client.https.caPath`), and the `Authorization` header of Druid's escalator
/// (`druid.escalator.*`) when authentication is on.
#[derive(Debug, Clone, Default)]
pub struct InternalClient {
    pub ca: Vec<reqwest::Certificate>,
    pub authorization: Option<HeaderValue>,
}

impl InternalClient {
    /// A client builder with the CA and the credentials in place, following no redirect by
    /// itself (send with [`send`]); callers add their timeouts.
    pub fn builder(&self) -> reqwest::ClientBuilder {
        let mut builder = client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT);
        for ca in &self.ca {
            builder = builder.add_root_certificate(ca.clone());
        }
        if let Some(authorization) = &self.authorization {
            let mut headers = HeaderMap::new();
            let mut value = authorization.clone();
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_escape_what_would_change_the_url() {
        assert_eq!(
            path_segment("noop_2026-01-01T00:00:00.000Z_a~b"),
            "noop_2026-01-01T00%3A00%3A00.000Z_a~b"
        );
        assert_eq!(path_segment("a?b#c%d e/f"), "a%3Fb%23c%25d%20e%2Ff");
        assert_eq!(path_segment("ü"), "%C3%BC");
    }

    #[test]
    fn basic_authorization_is_base64_of_user_and_password() {
        let value = basic_authorization("admin", "pa:ss").unwrap();
        assert_eq!(value.to_str().unwrap(), "Basic YWRtaW46cGE6c3M=");
        assert!(value.is_sensitive());
    }
}
