//! mesh-guardrail-rls: Envoy's rate-limit service API on Kuadrant's limitador engine. A thin,
//! local stand-in for the RLS users run (envoyproxy/ratelimit, Limitador), not a new engine:
//! see README.md for the configuration and the `hits_addend` semantics.

pub mod config;
pub mod service;

#[allow(clippy::all, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod proto {
    include!("proto/mod.rs");
}

use proto::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use std::future::Future;
use std::net::SocketAddr;

/// Serves `service` on `listener` until `shutdown` completes.
pub async fn serve(
    service: service::Service,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(RateLimitServiceServer::new(service))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// Binds `addr` (port 0: any free port) and returns the listener and its address.
pub async fn bind(addr: &str) -> Result<(tokio::net::TcpListener, SocketAddr), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("listen {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, local))
}
