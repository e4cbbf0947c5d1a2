//! The host layer: the only code that talks to Envoy. The root context loads the
//! configuration once and shares it (by `Rc`) with every HTTP context.

mod abi;
mod http;
mod metrics;
mod store;

use crate::config::Settings;
use crate::filter::{announce_hold, on_tick};
use abi::log;
use metrics::Metrics;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};
use std::rc::Rc;
use store::SharedDataStore;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    // A panic aborts the VM (and every request on this worker): say why at critical level.
    std::panic::set_hook(Box::new(|info| {
        log(LogLevel::Critical, &format!("panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(GuardrailRoot::default()) });
}}

/// What every HTTP context of one root context shares.
pub(crate) struct Shared {
    /// The state machine's part: settings and the hold-mode probe.
    pub filter: Rc<crate::filter::Shared>,
    pub metrics: Metrics,
    pub store: SharedDataStore,
}

impl Shared {
    fn host(&self) -> http::AbiHost<'_> {
        http::AbiHost {
            metrics: &self.metrics,
            store: &self.store,
        }
    }
}

#[derive(Default)]
struct GuardrailRoot {
    shared: Option<Rc<Shared>>,
}

impl Context for GuardrailRoot {}

/// The token key: the environment variable wins, then `pii.token_key`, then a random key for
/// this VM (tokens then differ between workers and restarts: fine within one request, but a
/// multi-turn conversation across workers will not match, hence the warning). A key under 16
/// bytes is refused (`None`, logged naming the variable or field).
///
/// The flag says whether the key is configured (the same for every worker): only such a key
/// keys the rollout's user hash.
fn resolve_token_key(config_key: Option<&str>) -> Option<(Vec<u8>, bool)> {
    use crate::config::{TokenKeySource, TOKEN_KEY_ENV};
    let env = std::env::var_os(TOKEN_KEY_ENV).map(|k| k.to_string_lossy().into_owned());
    let (key, source) =
        match crate::config::resolve_token_key(env.as_deref().map(str::as_bytes), config_key) {
            Ok(k) => k,
            Err(e) => {
                log(LogLevel::Critical, &format!("{e}"));
                return None;
            }
        };
    match source {
        TokenKeySource::Environment => {
            if config_key.is_some() {
                log(
                    LogLevel::Warn,
                    "pii.token_key is set in the plugin configuration but GUARDRAIL_TOKEN_KEY wins; remove it: Envoy shows the plugin configuration in /config_dump",
                );
            }
            Some((key, true))
        }
        TokenKeySource::PluginConfig => {
            log(
                LogLevel::Warn,
                "the PII token key comes from the plugin configuration (pii.token_key): Envoy shows it in /config_dump (and Istio in the WasmPlugin); set the VM environment variable GUARDRAIL_TOKEN_KEY from a secret instead",
            );
            Some((key, true))
        }
        TokenKeySource::None => {
            log(
                LogLevel::Warn,
                "no PII token key (GUARDRAIL_TOKEN_KEY or pii.token_key): using a random key for this VM; tokens will differ between workers and restarts",
            );
            Some((random_key(), false))
        }
    }
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
        let Some((key, key_configured)) = resolve_token_key(parsed.pii.token_key.as_deref()) else {
            return false;
        };
        let rollout_key = key_configured.then(|| key.clone());
        match Settings::compile(&parsed, key) {
            Ok(mut settings) => {
                if let (Some(r), Some(k)) = (settings.rollout.as_mut(), rollout_key.as_deref()) {
                    r.set_key(k);
                }
                let metrics = Metrics::define();
                if let Some(r) = settings.rollout.as_ref() {
                    metrics.define_rollout(r);
                }
                let root_id = abi::property(&["plugin_root_id"])
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let quota_cfg = parsed.quota.clone().unwrap_or_default();
                let store =
                    SharedDataStore::new(crate::quota::shared_data_prefix(&root_id, &quota_cfg));
                log(
                    LogLevel::Info,
                    &format!(
                        "configured: mode={:?} hold_headers={:?} injection={} pii_response={:?} quota={}",
                        settings.mode,
                        settings.request.hold_headers,
                        settings.injection.enabled,
                        settings.pii.response,
                        settings.quota.is_some()
                    ),
                );
                let shared = Rc::new(Shared {
                    filter: Rc::new(crate::filter::Shared::new(Rc::new(settings))),
                    metrics,
                    store,
                });
                // The per-VM generator of `assign: percentage` (WASI random_get).
                let seed = random_key();
                let mut x = [0u8; 8];
                x.copy_from_slice(seed.get(..8).unwrap_or(&[0; 8]));
                shared.filter.rng.set(u64::from_le_bytes(x));
                announce_hold(&shared.filter, &shared.host());
                let timer = if shared.filter.probe.borrow().needs_timer() {
                    crate::hold::TICK_MS
                } else {
                    0
                };
                if let Err(e) = abi::set_tick_period_ms(timer) {
                    log(
                        LogLevel::Critical,
                        &format!("cannot start the hold-mode timer (host status {})", e.0),
                    );
                    return false;
                }
                self.shared = Some(shared);
                true
            }
            Err(e) => {
                log(LogLevel::Critical, &format!("{e}"));
                false
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Never configured: Envoy refused the filter; nothing should reach here.
        let shared = self.shared.as_ref()?;
        Some(Box::new(http::GuardrailHttp::new(
            shared.clone(),
            context_id,
        )))
    }

    /// While the VM is learning its hold mode: release requests whose body never came.
    fn on_tick(&mut self) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        let mut host = shared.host();
        on_tick(&shared.filter, &mut host, |_| {
            let _ = abi::set_tick_period_ms(0);
        });
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
