//! The HyperLogLog commands.

use super::spec::{command_table, CommandSpec};

/// The HyperLogLog commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {};
