//! Combines the verdicts of every feature into one decision per request and response.
