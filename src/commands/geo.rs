//! The geospatial commands.

use super::spec::{command_table, CommandSpec};

/// The geospatial commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {};
