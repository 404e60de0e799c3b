//! The sorted set commands.

use super::spec::{command_table, CommandSpec};

/// The sorted set commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {};
