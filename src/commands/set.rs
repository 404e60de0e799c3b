//! The set commands.

use super::spec::{command_table, CommandSpec};

/// The set commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {};
