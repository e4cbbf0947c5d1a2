//! The few host calls the filter makes, declared against the proxy-wasm ABI directly.
//!
//! The SDK's `hostcalls::*` panic on any status they do not expect (for example when Envoy
//! refuses to set a request header after the headers were forwarded), and a panic kills the
//! VM and every request on the worker. Here every call returns a `Result` and the caller
//! decides; statuses are read as plain integers, never transmuted into an enum.

use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const CAS_MISMATCH: u32 = 8;

pub use crate::filter::{HeaderPairs, HostError};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
}

fn check(status: u32) -> Result<(), HostError> {
    if status == OK {
        Ok(())
    } else {
        Err(HostError(status))
    }
}

/// Takes ownership of memory the host allocated through the SDK's `proxy_on_memory_allocate`.
fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        return Vec::new();
    }
    // SAFETY: the host wrote `size` bytes into a buffer it obtained from our allocator
    // (`proxy_on_memory_allocate` allocates a Vec<u8> with capacity == size and forgets it).
    unsafe { Vec::from_raw_parts(data, size, size) }
}

pub fn log(level: LogLevel, message: &str) {
    // SAFETY: pointer and length describe a live &str.
    unsafe {
        proxy_log(level as u32, message.as_ptr(), message.len());
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_nanos() -> u64 {
    let mut t = 0u64;
    // SAFETY: `t` outlives the call.
    unsafe {
        proxy_get_current_time_nanoseconds(&mut t);
    }
    t
}

pub fn get_buffer(buffer: BufferType, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size = 0usize;
    // SAFETY: out-pointers live across the call; returned memory is taken by `take`.
    let status = unsafe { proxy_get_buffer_bytes(buffer as u32, start, max, &mut data, &mut size) };
    match status {
        OK => Ok(take(data, size)),
        NOT_FOUND => Ok(Vec::new()),
        s => Err(HostError(s)),
    }
}

/// Replaces `size` bytes at `start` of the buffer with `value`.
pub fn set_buffer(
    buffer: BufferType,
    start: usize,
    size: usize,
    value: &[u8],
) -> Result<(), HostError> {
    // SAFETY: pointer and length describe a live slice.
    check(unsafe {
        proxy_set_buffer_bytes(buffer as u32, start, size, value.as_ptr(), value.len())
    })
}

/// All headers of a map in one host call (names as Envoy gives them: lower case; values as
/// raw bytes, never assumed UTF-8).
pub fn header_pairs(map: MapType) -> Result<HeaderPairs, HostError> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size = 0usize;
    // SAFETY: as in `get_buffer`.
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    if status != OK {
        return Err(HostError(status));
    }
    Ok(deserialize_map(&take(data, size)))
}

/// Parses the proxy-wasm map encoding: count, then (key len, value len) pairs, then the
/// NUL-terminated keys and values. Malformed input yields what could be read.
fn deserialize_map(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let u32_at = |i: usize| -> Option<usize> {
        let b = bytes.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let mut out = Vec::new();
    let Some(n) = u32_at(0) else { return out };
    let mut pos = 4 + n.saturating_mul(8);
    for i in 0..n {
        let (Some(kl), Some(vl)) = (u32_at(4 + i * 8), u32_at(8 + i * 8)) else {
            break;
        };
        let Some(k) = bytes.get(pos..pos + kl) else {
            break;
        };
        pos += kl + 1;
        let Some(v) = bytes.get(pos..pos + vl) else {
            break;
        };
        pos += vl + 1;
        out.push((k.to_vec(), v.to_vec()));
    }
    out
}

pub fn set_header(map: MapType, name: &str, value: &str) -> Result<(), HostError> {
    // SAFETY: pointers and lengths describe live strings.
    check(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

pub fn remove_header(map: MapType, name: &[u8]) -> Result<(), HostError> {
    // SAFETY: pointer and length describe a live slice.
    check(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

fn serialize_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

pub fn send_local_response(
    status: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), HostError> {
    let h = serialize_map(headers);
    let details = "mesh_guardrail";
    // SAFETY: pointers and lengths describe live buffers.
    check(unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            h.as_ptr(),
            h.len(),
            -1,
        )
    })
}

pub fn get_shared_data(key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size = 0usize;
    let mut cas = 0u32;
    // SAFETY: as in `get_buffer`.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match status {
        OK => Ok(Some((take(data, size), cas))),
        NOT_FOUND => Ok(None),
        s => Err(HostError(s)),
    }
}

/// Ok(false) when the CAS token no longer matches.
pub fn set_shared_data(key: &str, value: &[u8], cas: Option<u32>) -> Result<bool, HostError> {
    // SAFETY: pointers and lengths describe live buffers.
    let status = unsafe {
        proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            cas.unwrap_or(0),
        )
    };
    match status {
        OK => Ok(true),
        CAS_MISMATCH => Ok(false),
        s => Err(HostError(s)),
    }
}

pub fn define_metric(kind: MetricType, name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: pointer and length describe a live &str; `id` outlives the call.
    let status = unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

pub fn increment(id: Option<u32>, by: i64) {
    if let Some(id) = id {
        // SAFETY: plain values.
        unsafe {
            proxy_increment_metric(id, by);
        }
    }
}

/// Sets a gauge or records a histogram value.
pub fn record(id: Option<u32>, value: u64) {
    if let Some(id) = id {
        // SAFETY: plain values.
        unsafe {
            proxy_record_metric(id, value);
        }
    }
}

/// The root context's timer period (0 stops it).
pub fn set_tick_period_ms(period: u32) -> Result<(), HostError> {
    // SAFETY: a plain value.
    check(unsafe { proxy_set_tick_period_milliseconds(period) })
}

/// Starts a unary gRPC call (`proxy_grpc_call`) and returns its token.
///
/// The one call that goes through the SDK's `hostcalls`: the SDK delivers an answer
/// (`proxy_on_grpc_receive` / `proxy_on_grpc_close`) to the context that made the call only
/// for tokens its own `dispatch_grpc_call` registered, so a raw `proxy_grpc_call` would lose
/// every answer. It cannot panic here: the SDK panics only on a status other than Ok,
/// ParseFailure and InternalFailure, and Envoy returns only those, plus InvalidMemoryAccess
/// for pointers outside the VM's memory, which Rust slices never are (proxy-wasm-cpp-host
/// `grpc_call`, Envoy `Context::grpcCall`). Envoy owns the call on the root context: it
/// survives the HTTP stream, and Envoy ends it with DEADLINE_EXCEEDED after `timeout_ms`.
pub fn dispatch_grpc_call(
    cluster: &str,
    service: &str,
    method: &str,
    message: &[u8],
    timeout_ms: u32,
) -> Result<u32, HostError> {
    proxy_wasm::hostcalls::dispatch_grpc_call(
        cluster,
        service,
        method,
        Vec::new(),
        Some(message),
        std::time::Duration::from_millis(u64::from(timeout_ms)),
    )
    .map_err(|s| HostError(s as u32))
}

/// Makes `context_id` (an HTTP stream) the target of the next host calls, from the root context.
pub fn set_effective_context(context_id: u32) -> Result<(), HostError> {
    // SAFETY: a plain value.
    check(unsafe { proxy_set_effective_context(context_id) })
}

/// Resumes the effective context's request after the filter paused it.
pub fn resume_request() -> Result<(), HostError> {
    // SAFETY: a plain value (0 is the HTTP request stream).
    check(unsafe { proxy_continue_stream(0) })
}

/// A host property as raw bytes (`path` parts joined by NUL, e.g. `plugin_root_id`, or
/// `metadata`, `filter_metadata`, namespace, key); `Ok(None)` when the host has no such
/// property, the host's status when it refuses the call (e.g. a value it cannot serialise).
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
    let joined = path.join("\0");
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size = 0usize;
    // SAFETY: as in `get_buffer`.
    let status = unsafe { proxy_get_property(joined.as_ptr(), joined.len(), &mut data, &mut size) };
    match status {
        OK => Ok(Some(take(data, size))),
        NOT_FOUND => Ok(None),
        s => Err(HostError(s)),
    }
}
