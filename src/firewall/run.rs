//! Running the firewall tools, with errors that say what to do.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{tool}` was not found; install it with: apt install {package}")]
    Missing { tool: String, package: String },
    #[error("{0}")]
    NotPermitted(String),
    #[error("`{command}` failed: {message}")]
    Failed { command: String, message: String },
    #[error("cannot read the kernel's state from `{command}`: {message}")]
    Unreadable { command: String, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("nfknock's rules are not loaded; run `nfknock apply` first")]
    NotLoaded,
    #[error("the saved ruleset is not nfknock's: {0}")]
    Foreign(String),
}

/// Runs `tool args...` with `input` on stdin; returns stdout.
pub fn run(tool: &str, package: &str, args: &[&str], input: Option<&str>) -> Result<String, Error> {
    let command = format!("{tool} {}", args.join(" "));
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Missing {
                tool: tool.into(),
                package: package.into(),
            },
            _ => Error::Failed {
                command: command.clone(),
                message: e.to_string(),
            },
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A tool that exits early closes the pipe; its status tells why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::Failed {
        command: command.clone(),
        message: e.to_string(),
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    if stderr.contains("Operation not permitted") {
        return Err(Error::NotPermitted(format!(
            "`{command}` was refused: loading firewall rules needs root (CAP_NET_ADMIN)"
        )));
    }
    Err(Error::Failed {
        command,
        message: if stderr.is_empty() {
            out.status.to_string()
        } else {
            stderr
        },
    })
}
