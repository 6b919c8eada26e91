//! Setting up: `init` (the store's table or file) and `completions` (the shell's).

use std::process::ExitCode;

use shared::ops::Init;

use crate::args::{Cli, Shell};
use crate::output::Out;
use crate::{Result, ops};

/// `init`: creates the store's table, or says it is there.
pub async fn init(cli: &Cli, out: &Out) -> Result<ExitCode> {
    let ops = ops(cli)?;
    match ops.init().await? {
        Init::Ready => out.line(&format!("the database is ready: {}", ops.spec())),
        Init::TableExists(table) => out.line(&format!("the table `{table}` already exists")),
        Init::TableCreated(table) => out.line(&format!("created the table `{table}`")),
    }
    Ok(ExitCode::SUCCESS)
}

/// `completions SHELL`: the completion script, on stdout.
pub fn completions(shell: Shell, out: &Out) -> Result<ExitCode> {
    use clap::CommandFactory;
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "psu-sched", &mut script);
    out.line(String::from_utf8_lossy(&script).trim_end());
    Ok(ExitCode::SUCCESS)
}
