//! How operator commands print a result: readable text, or one JSON document on stdout serialised
//! from the command's typed result (the shapes are documented in docs/OPERATIONS.md). Errors go to
//! stderr either way.

use std::io::Write;

use serde::Serialize;

/// Prints `value` as one pretty JSON document (and a newline) on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}
