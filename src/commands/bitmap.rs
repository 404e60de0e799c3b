//! The bitmap commands.

use super::spec::{command_table, CommandSpec};

/// The bitmap commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {};
