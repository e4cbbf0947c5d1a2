//! OpenAI-shaped local replies: `{"error":{"message","type","code","param":null}}`, so OpenAI
//! SDKs raise the matching exception (400 BadRequestError, 413, 429 RateLimitError).

use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct LocalReply {
    pub status: u32,
    pub error_type: &'static str,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl LocalReply {
    pub fn new(
        status: u32,
        error_type: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        LocalReply {
            status,
            error_type,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn body(&self) -> Vec<u8> {
        json!({"error": {"message": self.message, "type": self.error_type, "code": self.code, "param": null}})
            .to_string()
            .into_bytes()
    }

    /// The same error as a final SSE event followed by `data: [DONE]`, for streams whose
    /// headers have already left.
    pub fn sse_event(&self) -> Vec<u8> {
        let mut out = b"data: ".to_vec();
        out.extend_from_slice(&self.body());
        out.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_openai_shaped() {
        let r = LocalReply::new(
            400,
            "invalid_request_error",
            "prompt_injection_detected",
            "blocked",
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(v["error"]["code"], "prompt_injection_detected");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["param"].is_null());
        assert_eq!(v["error"]["message"], "blocked");
    }

    #[test]
    fn sse_event_ends_with_done() {
        let r = LocalReply::new(502, "api_error", "upstream_error", "x");
        let s = String::from_utf8(r.sse_event()).unwrap();
        assert!(s.starts_with("data: {\"error\""));
        assert!(s.ends_with("data: [DONE]\n\n"));
    }
}
