//! The wire protocol: request parsing (ours, resumable, with limits), the
//! argument view a parsed request gives, and reply encoding for RESP2 and RESP3.

pub mod argv;
pub mod parser;
pub mod reply;

pub use argv::Argv;
