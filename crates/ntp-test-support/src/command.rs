//! Run a short-lived peer command with a hard time limit.

use std::fs::File;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a bounded command did.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The program and arguments, for messages.
    pub command_line: String,
    /// Exit status; `None` when it was killed for exceeding the time limit.
    pub status: Option<ExitStatus>,
    /// Captured standard output (lossy UTF-8).
    pub stdout: String,
    /// Captured standard error (lossy UTF-8).
    pub stderr: String,
    /// True when the time limit was reached and the process was killed.
    pub timed_out: bool,
}

impl CommandOutput {
    /// Exited by itself with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// A multi-line description for error messages.
    pub fn describe(&self) -> String {
        let status = match (self.timed_out, self.status) {
            (true, _) => "killed after time limit".to_string(),
            (false, Some(s)) => s.to_string(),
            (false, None) => "unknown status".to_string(),
        };
        format!(
            "`{}` ({status})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command_line,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Spawn `cmd` with stdin closed and stdout/stderr captured in temp files (no pipe
/// deadlocks), wait at most `timeout`, kill it (by its PID) if it is still running.
/// `Err` only when it could not be started.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<CommandOutput, String> {
    let command_line = describe_command(cmd);
    let dir = crate::tempdir::TempDir::new("cmd")?;
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let out = File::create(&out_path).map_err(|e| format!("create {}: {e}", out_path.display()))?;
    let err = File::create(&err_path).map_err(|e| format!("create {}: {e}", err_path.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start `{command_line}`: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for `{command_line}`: {e}"));
            }
        }
    };
    let read =
        |p: &std::path::Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    Ok(CommandOutput { command_line, status, stdout: read(&out_path), stderr: read(&err_path), timed_out })
}

/// `program arg1 arg2 ...` for messages.
pub(crate) fn describe_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(char::is_whitespace) || a.is_empty() {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_times_out() {
        let out =
            run_bounded(Command::new("sh").args(["-c", "echo hi; echo err >&2"]), Duration::from_secs(5)).unwrap();
        assert!(out.success());
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");

        let t = Instant::now();
        let out = run_bounded(Command::new("sleep").arg("10"), Duration::from_millis(200)).unwrap();
        assert!(out.timed_out && !out.success());
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(run_bounded(&mut Command::new("/nonexistent/x"), Duration::from_secs(1)).is_err());
    }
}
