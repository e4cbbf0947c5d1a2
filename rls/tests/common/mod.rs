#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_guardrail_rls::config::Config;
use mesh_guardrail_rls::proto::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use mesh_guardrail_rls::proto::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use mesh_guardrail_rls::proto::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use mesh_guardrail_rls::proto::envoy::service::ratelimit::v3::RateLimitRequest;
use mesh_guardrail_rls::service::{Limiter, Service};
use tonic::transport::Channel;

pub type Client = RateLimitServiceClient<Channel>;

/// The fleet's kind of limits: requests per user for tier free, tokens and cost per user.
pub const CONFIG: &str = r#"{
  "domain": "mesh-guardrail",
  "limits": [
    {"name": "free-requests", "match": {"tier": "free", "limit": "requests"}, "per": "user", "max_value": 20, "seconds": 86400},
    {"name": "free-tokens", "match": {"tier": "free", "limit": "tokens"}, "per": "user", "max_value": 1000, "seconds": 86400},
    {"name": "pro-cost", "match": {"tier": "pro", "limit": "cost"}, "per": ["tenant", "user"], "max_value": 5000000, "seconds": 86400},
    {"name": "tenant-requests", "match": {"limit": "requests"}, "per": "tenant", "max_value": 1000, "seconds": 3600}
  ]
}"#;

/// Starts the service with in-memory counters on a free loopback port; returns its URL.
pub async fn start_memory() -> String {
    let config = Config::from_json(CONFIG).unwrap();
    let service = Service::new(&config, Limiter::memory()).unwrap();
    let (listener, addr) = mesh_guardrail_rls::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(mesh_guardrail_rls::serve(
        service,
        listener,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

pub async fn client(url: &str) -> Client {
    for _ in 0..100 {
        if let Ok(c) = RateLimitServiceClient::connect(url.to_string()).await {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("cannot connect to {url}");
}

pub fn descriptor(entries: &[(&str, &str)], hits: Option<u64>) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        limit: None,
        hits_addend: hits,
    }
}

pub fn request(descriptors: Vec<RateLimitDescriptor>, hits: u32) -> RateLimitRequest {
    RateLimitRequest {
        domain: "mesh-guardrail".into(),
        descriptors,
        hits_addend: hits,
    }
}

/// A descriptor as the filter sends it: tenant, user, tier and the limit kind.
pub fn user(tier: &str, user: &str, limit: &str, hits: Option<u64>) -> RateLimitDescriptor {
    descriptor(
        &[
            ("tenant", "acme"),
            ("user", user),
            ("tier", tier),
            ("limit", limit),
        ],
        hits,
    )
}
