//! The listeners of a lab load balancer, one per forwarding rule, each
//! sending a connection to the next active droplet behind it (round
//! robin), as DigitalOcean's balancers do:
//!
//! - `http` → `http`: the connection's bytes, both ways (a TCP proxy), or,
//!   with `redirect_http_to_https`, a 301 to the same URL over HTTPS;
//! - `https` → `http`: TLS terminated here (rustls) with the rule's
//!   certificate, then each request passed on over plain HTTP with
//!   `X-Forwarded-For`, `X-Forwarded-Proto: https` and `X-Forwarded-Port`;
//! - `tcp` → `tcp`: the bytes.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HOST, HeaderValue, LOCATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::runtime::Lab;

type Body = BoxBody<Bytes, hyper::Error>;

/// What a rule's listener does with a connection.
pub enum Mode {
    Bytes,
    Redirect,
    Tls(tokio_rustls::TlsAcceptor),
}

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
                Mode::Tls(acceptor) => {
                    if let Ok(tls) = acceptor.accept(inbound).await {
                        forward_http(tls, peer, entry_port, target).await;
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
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(inbound), service)
        .await;
}

/// Serves HTTP/1.1 on the decrypted stream, passing each request to the
/// droplet over one plain connection opened for this client connection.
async fn forward_http<S>(stream: S, peer: SocketAddr, entry_port: u16, target: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
        return;
    };
    let Ok((sender, connection)) =
        hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(outbound)).await
    else {
        return;
    };
    tokio::spawn(connection);
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let sender = Arc::clone(&sender);
        async move {
            let headers = req.headers_mut();
            headers.insert(
                "x-forwarded-for",
                HeaderValue::from_str(&peer.ip().to_string()).expect("an address is a header"),
            );
            headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
            headers.insert("x-forwarded-port", HeaderValue::from(entry_port));
            let mut sender = sender.lock().await;
            let answer = match sender.ready().await {
                Ok(()) => sender.send_request(req).await,
                Err(e) => Err(e),
            };
            Ok::<_, std::convert::Infallible>(match answer {
                Ok(response) => response.map(BodyExt::boxed),
                Err(_) => {
                    let mut bad = Response::new(text("Bad Gateway\n"));
                    *bad.status_mut() = StatusCode::BAD_GATEWAY;
                    bad
                }
            })
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn text(s: &'static str) -> Body {
    Full::new(Bytes::from_static(s.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}
