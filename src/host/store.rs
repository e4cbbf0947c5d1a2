//! The quota `Store` over proxy-wasm shared data: one Envoy process's memory, shared by all
//! worker VMs with the same `vm_id`, with compare-and-swap.
//!
//! Istio gives every `WasmPlugin` an empty `vm_id`, so all of them share one namespace in the
//! proxy: every key this filter writes starts with [`crate::quota::shared_data_prefix`] (the
//! filter's name, a format version, the plugin's root id and a quota namespace).

use super::abi;
use crate::quota::{Store, StoreError};

pub struct SharedDataStore {
    prefix: String,
}

/// Envoy creates a missing key whatever CAS value is given, but refuses a CAS that does not
/// match an existing key. Writing "must not exist yet" with a CAS value the host will not have
/// handed out (its counter starts at 1 and would need 2^32 writes to get here) makes creation
/// atomic: if another worker created the key first, this write fails with a CAS mismatch.
const CREATE_ONLY_CAS: u32 = u32::MAX;

impl SharedDataStore {
    pub fn new(prefix: String) -> Self {
        SharedDataStore { prefix }
    }

    fn key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }
}

impl Store for SharedDataStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        abi::get_shared_data(&self.key(key))
            .map_err(|e| StoreError(format!("get_shared_data failed with host status {}", e.0)))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<bool, StoreError> {
        abi::set_shared_data(&self.key(key), value, Some(cas.unwrap_or(CREATE_ONLY_CAS)))
            .map_err(|e| StoreError(format!("set_shared_data failed with host status {}", e.0)))
    }
}
