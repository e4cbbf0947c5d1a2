//! The host layer: the only code that talks to Envoy. The root context loads the
//! configuration once and shares it (by `Rc`) with every HTTP context.

mod abi;
mod http;
mod metrics;
mod store;

use crate::config::Settings;
use abi::log;
use metrics::Metrics;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    // A panic aborts the VM (and every request on this worker): say why at critical level.
    std::panic::set_hook(Box::new(|info| {
        log(LogLevel::Critical, &format!("panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(GuardrailRoot::default()) });
}}

/// Environment variable (Wasm `vm_config.environment_variables`) holding the token key.
const TOKEN_KEY_ENV: &str = "GUARDRAIL_TOKEN_KEY";

#[derive(Default)]
struct GuardrailRoot {
    settings: Option<Rc<Settings>>,
    metrics: Option<Rc<Metrics>>,
}

impl Context for GuardrailRoot {}

/// The token key: the environment variable wins, then `pii.token_key`, then a random key for
/// this VM (tokens then differ between workers and restarts: fine within one request, but a
/// multi-turn conversation across workers will not match, hence the warning).
fn resolve_token_key(config_key: Option<&str>) -> Vec<u8> {
    if let Some(k) = std::env::var_os(TOKEN_KEY_ENV) {
        let k = k.to_string_lossy().into_owned();
        if !k.is_empty() {
            return k.into_bytes();
        }
    }
    if let Some(k) = config_key.filter(|k| !k.is_empty()) {
        return k.as_bytes().to_vec();
    }
    log(
        LogLevel::Warn,
        "no PII token key (GUARDRAIL_TOKEN_KEY or pii.token_key): using a random key for this VM; tokens will differ between workers and restarts",
    );
    random_key()
}

fn random_key() -> Vec<u8> {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from WASI `random_get`; four draws give 256 bits.
    let mut out = Vec::with_capacity(32);
    for i in 0..4u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i ^ abi::now_nanos());
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    out
}

impl RootContext for GuardrailRoot {
    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match abi::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(b) => b,
            Err(e) => {
                log(
                    LogLevel::Critical,
                    &format!("cannot read plugin configuration (host status {})", e.0),
                );
                return false;
            }
        };
        let parsed = match crate::config::parse_plugin_config(&bytes) {
            Ok(p) => p,
            Err(e) => {
                log(LogLevel::Critical, &format!("{e}"));
                return false;
            }
        };
        let key = resolve_token_key(parsed.pii.token_key.as_deref());
        match Settings::compile(&parsed, key) {
            Ok(settings) => {
                let metrics = Metrics::define();
                log(
                    LogLevel::Info,
                    &format!(
                        "configured: mode={:?} injection={} pii_response={:?} quota={}",
                        settings.mode,
                        settings.injection.enabled,
                        settings.pii.response,
                        settings.quota.is_some()
                    ),
                );
                self.settings = Some(Rc::new(settings));
                self.metrics = Some(Rc::new(metrics));
                true
            }
            Err(e) => {
                log(LogLevel::Critical, &format!("{e}"));
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        match (&self.settings, &self.metrics) {
            (Some(s), Some(m)) => Some(Box::new(http::GuardrailHttp::new(s.clone(), m.clone()))),
            // Never configured: Envoy refused the filter; nothing should reach here.
            _ => None,
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
