//! The wire protocol: request parsing (ours, resumable, with limits) and reply
//! encoding for RESP2 and RESP3.

pub mod parser;
pub mod reply;
