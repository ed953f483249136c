//! The listeners of a lab load balancer, one per forwarding rule, each
//! sending a connection to the next active droplet behind it (round
//! robin), as DigitalOcean's balancers do:
//!
//! - `http` → `http`: each request passed on with `X-Forwarded-For`,
//!   `X-Forwarded-Proto: http` and `X-Forwarded-Port` (replacing what the
//!   client sent), or, with `redirect_http_to_https`, a 301 to the same
//!   URL over HTTPS;
//! - `https` → `http`: TLS terminated here (rustls) with the rule's
//!   certificate, then the same with `X-Forwarded-Proto: https`;
//! - `tcp` → `tcp`: the connection's bytes, both ways.
//!
//! A client gets 10 s for its TLS handshake and each request's headers.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HOST, HeaderValue, LOCATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::runtime::Lab;

type Body = BoxBody<Bytes, hyper::Error>;

/// What a rule's listener does with a connection.
pub enum Mode {
    Bytes,
    Http,
    Redirect,
    Tls(tokio_rustls::TlsAcceptor),
}

/// How long a client may take for its TLS handshake or a request's headers.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS acceptor for a certificate chain and key (PEM).
pub fn acceptor(chain_pem: &str, key_pem: &str) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("reading the key")?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("the certificate does not match its key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves one rule until aborted: accepts on `listener`, picks the next
/// active droplet of balancer `lb_id` for each connection.
pub async fn serve(
    lab: Arc<Lab>,
    lb_id: String,
    listener: tokio::net::TcpListener,
    mode: Mode,
    entry_port: u16,
    target_port: u16,
) {
    let mode = Arc::new(mode);
    let mut next = 0usize;
    loop {
        let Ok((inbound, peer)) = listener.accept().await else {
            // Out of descriptors, say: wait instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if matches!(*mode, Mode::Redirect) {
            tokio::spawn(redirect(inbound));
            continue;
        }
        let Some(targets) = targets(&lab, &lb_id).await else {
            return; // the balancer is gone
        };
        if targets.is_empty() {
            continue; // dropping the connection: nothing to serve it
        }
        let target = SocketAddr::from((targets[next % targets.len()], target_port));
        next = next.wrapping_add(1);
        let mode = Arc::clone(&mode);
        tokio::spawn(async move {
            match &*mode {
                Mode::Bytes => {
                    let mut inbound = inbound;
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }
                Mode::Http => forward_http(inbound, peer, "http", entry_port, target).await,
                Mode::Tls(acceptor) => {
                    let handshake = tokio::time::timeout(CLIENT_TIMEOUT, acceptor.accept(inbound));
                    if let Ok(Ok(tls)) = handshake.await {
                        forward_http(tls, peer, "https", entry_port, target).await;
                    }
                }
                Mode::Redirect => {}
            }
        });
    }
}

/// The addresses of the balancer's active droplets; `None` once it is gone.
async fn targets(lab: &Lab, lb_id: &str) -> Option<Vec<Ipv4Addr>> {
    let state = lab.state.lock().await;
    let lb = state.load_balancers.iter().find(|l| l.id == lb_id)?;
    Some(
        lb.droplet_ids
            .iter()
            .filter_map(|d| state.droplet(*d))
            .filter(|d| d.status == "active")
            .map(|d| lab.net.droplet_address(d.slot))
            .collect(),
    )
}

/// Answers every request on the connection with a 301 to its HTTPS URL.
async fn redirect(inbound: tokio::net::TcpStream) {
    let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or(h).to_string())
            .unwrap_or_default();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let mut answer = Response::new(text("Moved Permanently\n"));
        *answer.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(location) = HeaderValue::from_str(&format!("https://{host}{path}")) {
            answer.headers_mut().insert(LOCATION, location);
        }
        Ok::<_, std::convert::Infallible>(answer)
    });
    let _ = server()
        .serve_connection(TokioIo::new(inbound), service)
        .await;
}

/// HTTP/1.1 towards clients, with a deadline for each request's headers.
fn server() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT);
    builder
}

/// Serves HTTP/1.1 on the client's stream (decrypted, for `https`),
/// passing each request to the droplet over a plain connection opened for
/// this client connection (again when the droplet closed it).
async fn forward_http<S>(
    stream: S,
    peer: SocketAddr,
    proto: &'static str,
    entry_port: u16,
    target: SocketAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Sender = hyper::client::conn::http1::SendRequest<Body>;
    let backend: Arc<tokio::sync::Mutex<Option<Sender>>> = Arc::default();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let backend = Arc::clone(&backend);
        async move {
            let headers = req.headers_mut();
            headers.insert(
                "x-forwarded-for",
                HeaderValue::from_str(&peer.ip().to_string()).expect("an address is a header"),
            );
            headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
            headers.insert("x-forwarded-port", HeaderValue::from(entry_port));
            // A request without a body can be sent again on a new
            // connection when the droplet closed the kept-alive one just
            // as it went (nginx's keepalive limits).
            let bodiless = hyper::body::Body::is_end_stream(req.body());
            let (parts, body) = req.into_parts();
            let mut again = bodiless.then(|| parts.clone());
            let mut req = Request::from_parts(parts, body.boxed());
            let mut backend = backend.lock().await;
            let answer = loop {
                if backend.as_ref().is_none_or(|s| s.is_closed()) {
                    *backend = connect(target).await;
                }
                let Some(sender) = backend.as_mut() else {
                    break None;
                };
                let sent = match sender.ready().await {
                    Ok(()) => sender.send_request(req).await,
                    Err(e) => Err(e),
                };
                match (sent, again.take()) {
                    (Ok(response), _) => break Some(response),
                    (Err(_), Some(parts)) => {
                        *backend = None;
                        req = Request::from_parts(parts, empty());
                    }
                    (Err(_), None) => break None,
                }
            };
            Ok::<_, std::convert::Infallible>(match answer {
                Some(response) => response.map(BodyExt::boxed),
                None => {
                    let mut bad = Response::new(text("Bad Gateway\n"));
                    *bad.status_mut() = StatusCode::BAD_GATEWAY;
                    bad
                }
            })
        }
    });
    let _ = server()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A plain HTTP/1.1 connection to the droplet.
async fn connect(target: SocketAddr) -> Option<hyper::client::conn::http1::SendRequest<Body>> {
    let outbound = tokio::net::TcpStream::connect(target).await.ok()?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(outbound))
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

fn text(s: &'static str) -> Body {
    Full::new(Bytes::from_static(s.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}
