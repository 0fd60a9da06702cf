//! TLS material from PEM files.
//!
//! Druid reads its server certificate from a Java keystore (`druid.server.https.keyStorePath`)
//! and its clients trust a Java truststore (`druid.client.https.trustStorePath`). Steward takes
//! PEM files instead, the form every CA tool and ACME client writes: a certificate chain and its
//! private key for servers, a bundle of CA certificates for clients.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

fn file_error<'a>(what: &'static str, path: &'a Path) -> impl Fn(String) -> TlsError + 'a {
    move |reason| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason,
    }
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = file_error(what, path);
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// A server's TLS configuration from a PEM certificate chain (the server's certificate first)
/// and its PEM private key (PKCS#8, PKCS#1 or SEC1). HTTP/1.1 only, as Druid's clients speak.
pub fn server_tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    crate::install_crypto_provider();
    let chain = read_certs("a certificate chain", cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_error("a private key", key)(e.to_string()))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("certificate and key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The CA certificates of a PEM bundle, for clients that must trust a private CA.
pub fn load_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, TlsError> {
    read_certs("CA certificates", path)?
        .into_iter()
        .map(|der| {
            reqwest::Certificate::from_der(&der)
                .map_err(|e| file_error("CA certificates", path)(e.to_string()))
        })
        .collect()
}
