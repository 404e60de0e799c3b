//! The list commands.

use super::spec::{command_table, CommandSpec};

/// The list commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {};
