//! Body codecs: a span-preserving JSON scanner, extraction of the texts a detector must see
//! (OpenAI chat completions, the Responses API, Anthropic messages, raw text), write-back of
//! edits, and incremental SSE framing.

/// Who wrote a piece of text, as far as the API format says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

pub mod extract;
pub mod json;
pub mod sse;
