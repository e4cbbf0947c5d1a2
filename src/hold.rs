//! How a request is held while its body is read: the header hold, or streaming.
//!
//! Envoy holds request headers for a filter that returns `Pause` from the headers callback only
//! when the Wasm filter's config sets `allow_on_headers_stop_iteration: true` (Envoy >= 1.35).
//! Without it Envoy turns the `Pause` into `StopAllIterationAndWatermark`: the body callbacks
//! never run and the request hangs. Istio's `WasmPlugin` never sets the field. So a VM must
//! either be told (`request.hold_headers: always | never`) or find out (`auto`, the default):
//!
//! - while undecided, an inspected request holds its headers and is registered here;
//! - a body callback for a held request proves the host holds headers: the VM holds from then on;
//! - the root context's timer releases a request still held after [`RELEASE_AFTER_MS`] (so at
//!   most [`RELEASE_AFTER_MS`] + [`TICK_MS`] after it arrived), and the VM streams from then on.
//!
//! The one-time cost is bounded per VM: only requests that arrive before the decision wait, at
//! most 50 ms. A client that sends its body more than 25 ms after its headers, on the very first
//! inspected requests of a VM that could hold, makes that VM stream: the safe side (it never
//! hangs; it only loses upstream decision headers).
//!
//! Pure state: the host layer does the host calls (resume, header removal, logging).

use crate::config::HoldHeaders;

/// The root context's timer period while the VM is undecided.
pub const TICK_MS: u32 = 25;
/// A held request whose body has not arrived after this long is released.
pub const RELEASE_AFTER_MS: u64 = 25;

/// How this VM reads an inspected request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldMode {
    /// Headers held until the body is inspected (needs `allow_on_headers_stop_iteration`).
    Hold,
    /// Headers forwarded at once; only the body is held.
    Stream,
}

impl HoldMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldMode::Hold => "hold",
            HoldMode::Stream => "stream",
        }
    }
}

/// A request held while the VM is undecided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub context_id: u32,
    since_nanos: u64,
    /// The body may be rewritten: `content-length` must go before the headers are released.
    pub drop_length: bool,
}

/// What a held request's first body callback learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyArrival {
    /// The headers are still held (the host holds headers): proceed in hold mode.
    StillHeld,
    /// The timer had released the headers: proceed in stream mode.
    Released,
}

/// One VM's (one root context's) knowledge of how the host holds requests.
#[derive(Debug)]
pub struct HoldProbe {
    decided: Option<HoldMode>,
    waiting: Vec<Waiting>,
    released: Vec<u32>,
    /// A decision not yet logged by the host layer.
    unannounced: bool,
}

impl HoldProbe {
    pub fn new(setting: HoldHeaders) -> Self {
        let decided = match setting {
            HoldHeaders::Auto => None,
            HoldHeaders::Always => Some(HoldMode::Hold),
            HoldHeaders::Never => Some(HoldMode::Stream),
        };
        HoldProbe {
            decided,
            waiting: Vec::new(),
            released: Vec::new(),
            unannounced: decided.is_some(),
        }
    }

    /// The VM's mode, or None while it is still being learnt.
    pub fn mode(&self) -> Option<HoldMode> {
        self.decided
    }

    /// Whether the root context's timer must run.
    pub fn needs_timer(&self) -> bool {
        self.decided.is_none() || !self.waiting.is_empty()
    }

    /// An undecided VM holds this request's headers: remember it for the timer.
    pub fn hold(&mut self, context_id: u32, now_nanos: u64, drop_length: bool) {
        self.waiting.push(Waiting {
            context_id,
            since_nanos: now_nanos,
            drop_length,
        });
    }

    /// The first body callback of a request registered with [`HoldProbe::hold`].
    pub fn body_arrived(&mut self, context_id: u32) -> BodyArrival {
        if let Some(i) = self.released.iter().position(|&c| c == context_id) {
            self.released.swap_remove(i);
            return BodyArrival::Released;
        }
        if let Some(i) = self.waiting.iter().position(|w| w.context_id == context_id) {
            self.waiting.swap_remove(i);
            if self.decided.is_none() {
                self.decided = Some(HoldMode::Hold);
                self.unannounced = true;
            }
        }
        BodyArrival::StillHeld
    }

    /// The request ended (or was answered) before its body arrived.
    pub fn forget(&mut self, context_id: u32) {
        self.waiting.retain(|w| w.context_id != context_id);
        self.released.retain(|&c| c != context_id);
    }

    /// The timer: the requests to release now. Releasing any decides the VM streams.
    pub fn due(&mut self, now_nanos: u64) -> Vec<Waiting> {
        let limit = RELEASE_AFTER_MS * 1_000_000;
        let (due, keep): (Vec<Waiting>, Vec<Waiting>) = match self.decided {
            // A VM that proved it can hold never releases a request.
            Some(HoldMode::Hold) => (Vec::new(), std::mem::take(&mut self.waiting)),
            // Decided to stream while others were still held: release them all now.
            Some(HoldMode::Stream) => (std::mem::take(&mut self.waiting), Vec::new()),
            None => std::mem::take(&mut self.waiting)
                .into_iter()
                .partition(|w| now_nanos.saturating_sub(w.since_nanos) >= limit),
        };
        self.waiting = keep;
        if !due.is_empty() && self.decided.is_none() {
            self.decided = Some(HoldMode::Stream);
            self.unannounced = true;
        }
        self.released.extend(due.iter().map(|w| w.context_id));
        due
    }

    /// The decision to log, once.
    pub fn announce(&mut self) -> Option<HoldMode> {
        if self.unannounced {
            self.unannounced = false;
            return self.decided;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn configured_modes_are_decided_from_the_start() {
        let mut p = HoldProbe::new(HoldHeaders::Always);
        assert_eq!(p.mode(), Some(HoldMode::Hold));
        assert_eq!(p.announce(), Some(HoldMode::Hold));
        assert_eq!(p.announce(), None);
        assert!(!p.needs_timer());
        assert_eq!(
            HoldProbe::new(HoldHeaders::Never).mode(),
            Some(HoldMode::Stream)
        );
    }

    #[test]
    fn a_body_while_held_proves_the_hold() {
        let mut p = HoldProbe::new(HoldHeaders::Auto);
        assert_eq!(p.mode(), None);
        assert!(p.needs_timer());
        p.hold(7, 0, true);
        p.hold(8, MS, false);
        assert!(p.due(10 * MS).is_empty(), "not yet due");
        assert_eq!(p.body_arrived(7), BodyArrival::StillHeld);
        assert_eq!(p.mode(), Some(HoldMode::Hold));
        assert_eq!(p.announce(), Some(HoldMode::Hold));
        // A VM that can hold never releases: request 8 just waits for its (slow) body.
        assert!(p.due(1000 * MS).is_empty());
        assert_eq!(p.body_arrived(8), BodyArrival::StillHeld);
        assert!(!p.needs_timer());
    }

    #[test]
    fn a_request_still_held_after_the_limit_is_released_and_the_vm_streams() {
        let mut p = HoldProbe::new(HoldHeaders::Auto);
        p.hold(1, 0, true);
        p.hold(2, 20 * MS, false);
        let due = p.due(25 * MS);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].context_id, due[0].drop_length), (1, true));
        assert_eq!(p.mode(), Some(HoldMode::Stream));
        assert_eq!(p.announce(), Some(HoldMode::Stream));
        // Once streaming, the others are released at the next tick, however young.
        let due = p.due(26 * MS);
        assert_eq!(
            due.iter().map(|w| w.context_id).collect::<Vec<_>>(),
            vec![2]
        );
        assert!(!p.needs_timer());
        assert_eq!(p.body_arrived(1), BodyArrival::Released);
        assert_eq!(p.body_arrived(2), BodyArrival::Released);
        // Released once only.
        assert_eq!(p.body_arrived(2), BodyArrival::StillHeld);
    }

    #[test]
    fn the_worst_wait_is_bounded_by_the_limit_plus_one_tick() {
        // Ticks at multiples of TICK_MS; a request arriving just after a tick.
        let mut p = HoldProbe::new(HoldHeaders::Auto);
        let arrived = MS;
        p.hold(3, arrived, false);
        let mut t = 0;
        let released_at = loop {
            t += u64::from(TICK_MS) * MS;
            if !p.due(t).is_empty() {
                break t;
            }
        };
        assert!(
            released_at - arrived <= 50 * MS,
            "waited {} ms",
            (released_at - arrived) / MS
        );
    }

    #[test]
    fn forgotten_requests_are_never_released() {
        let mut p = HoldProbe::new(HoldHeaders::Auto);
        p.hold(4, 0, false);
        p.forget(4);
        assert!(p.due(100 * MS).is_empty());
        assert_eq!(p.mode(), None, "nothing learnt from an aborted request");
    }
}
