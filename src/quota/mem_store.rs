//! An in-memory [`Store`] for tests and benchmarks, with knobs to inject CAS conflicts and
//! store failures.

use super::{Store, StoreError};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// In-memory store with the documented `Store` semantics: `cas: None` succeeds only if the
/// key is unset, and every successful write gets a fresh CAS token.
#[derive(Debug, Default)]
pub struct MemStore {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    conflicts: Cell<u32>,
    conflict_filter: RefCell<Option<String>>,
    failing: Cell<bool>,
}

impl MemStore {
    pub fn new() -> Self {
        MemStore::default()
    }

    /// The next `n` compare-and-swap calls lose to a simulated concurrent writer: the key's
    /// CAS token changes (value unchanged) and the call returns `Ok(false)`.
    pub fn inject_conflicts(&self, n: u32) {
        self.conflicts.set(n);
        self.conflict_filter.replace(None);
    }

    /// Like [`MemStore::inject_conflicts`], only for keys containing `key_contains`.
    pub fn inject_conflicts_on(&self, key_contains: &str, n: u32) {
        self.conflicts.set(n);
        self.conflict_filter.replace(Some(key_contains.to_string()));
    }

    /// While set, every call fails with a `StoreError`.
    pub fn set_failing(&self, failing: bool) {
        self.failing.set(failing);
    }

    /// The raw value of a key (for assertions).
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.map.borrow().get(key).map(|(v, _)| v.clone())
    }

    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }

    fn fresh_cas(&self) -> u32 {
        // Never 0: proxy-wasm uses 0 for "no CAS".
        let next = self.next_cas.get().wrapping_add(1).max(1);
        self.next_cas.set(next);
        next
    }

    fn take_conflict(&self, key: &str) -> bool {
        let n = self.conflicts.get();
        if n == 0 {
            return false;
        }
        if let Some(filter) = self.conflict_filter.borrow().as_deref() {
            if !key.contains(filter) {
                return false;
            }
        }
        self.conflicts.set(n - 1);
        true
    }
}

impl Store for MemStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        if self.failing.get() {
            return Err(StoreError("injected failure".into()));
        }
        Ok(self.map.borrow().get(key).cloned())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<bool, StoreError> {
        if self.failing.get() {
            return Err(StoreError("injected failure".into()));
        }
        if self.take_conflict(key) {
            let token = self.fresh_cas();
            let mut map = self.map.borrow_mut();
            let entry = map
                .entry(key.to_string())
                .or_insert_with(|| (Vec::new(), token));
            entry.1 = token;
            return Ok(false);
        }
        let current = self.map.borrow().get(key).map(|(_, c)| *c);
        if current != cas {
            return Ok(false);
        }
        let token = self.fresh_cas();
        self.map
            .borrow_mut()
            .insert(key.to_string(), (value.to_vec(), token));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn cas_semantics() {
        let s = MemStore::new();
        assert_eq!(s.get("k").unwrap(), None);
        assert!(!s.compare_and_swap("k", b"x", Some(1)).unwrap());
        assert!(s.compare_and_swap("k", b"a", None).unwrap());
        assert!(!s.compare_and_swap("k", b"b", None).unwrap());
        let (v, cas) = s.get("k").unwrap().unwrap();
        assert_eq!(v, b"a");
        assert!(s.compare_and_swap("k", b"c", Some(cas)).unwrap());
        assert!(!s.compare_and_swap("k", b"d", Some(cas)).unwrap());
        assert_eq!(s.value("k").unwrap(), b"c");
    }

    #[test]
    fn injected_conflicts_and_failures() {
        let s = MemStore::new();
        s.inject_conflicts(1);
        assert!(!s.compare_and_swap("k", b"a", None).unwrap());
        let (v, cas) = s.get("k").unwrap().unwrap();
        assert!(v.is_empty());
        assert!(s.compare_and_swap("k", b"a", Some(cas)).unwrap());

        s.inject_conflicts_on("other", 1);
        let (_, cas) = s.get("k").unwrap().unwrap();
        assert!(s.compare_and_swap("k", b"b", Some(cas)).unwrap());

        s.set_failing(true);
        assert!(s.get("k").is_err());
        assert!(s.compare_and_swap("k", b"b", None).is_err());
    }
}
