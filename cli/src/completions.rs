//! `orders completions bash|zsh|fish`: the shell completion script, generated from the same clap
//! definitions the binary parses with, so it never lists a command or flag the binary lacks.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::config::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn write(shell: Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "orders", out);
}
