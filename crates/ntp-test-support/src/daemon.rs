//! A long-running process under test: log captured to a file, killed by PID on drop.

use std::ffi::OsStr;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::command::describe_command;
use crate::sntp::{sntp_probe, ProbeReply};
use crate::tempdir::TempDir;

/// A spawned daemon. Its stdout and stderr both go to one log file in a private temp
/// dir ([`DaemonProcess::log`] reads it). On drop the child is sent SIGKILL by PID and
/// reaped; nothing is killed by name.
#[derive(Debug)]
pub struct DaemonProcess {
    child: Child,
    name: String,
    command_line: String,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
    dir: TempDir,
}

impl DaemonProcess {
    /// Spawn `program args...` (stdin closed).
    pub fn spawn<I, S>(program: impl AsRef<Path>, args: I) -> Result<DaemonProcess, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(program.as_ref());
        cmd.args(args);
        Self::spawn_command(cmd)
    }

    /// Spawn a prepared command (for environment variables, working dir, ...). Its
    /// stdin/stdout/stderr settings are replaced.
    pub fn spawn_command(mut cmd: Command) -> Result<DaemonProcess, String> {
        let command_line = describe_command(&cmd);
        let name = Path::new(cmd.get_program())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "daemon".into());
        let dir = TempDir::new(&name)?;
        let log_path = dir.join("output.log");
        let out = File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let err = out.try_clone().map_err(|e| format!("dup {}: {e}", log_path.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start `{command_line}`: {e}"))?;
        Ok(DaemonProcess { child, name, command_line, log_path, exit: None, dir })
    }

    /// Process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Program file name (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full command line (for messages).
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// The private temp dir that holds the log; free for the caller's files too
    /// (config, keys), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the combined stdout+stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process printed so far (lossy UTF-8).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    /// `None` while running, the exit status once it has exited (reaps it).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exit = Some(s);
            }
        }
        self.exit
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Poll `addr` with [`sntp_probe`] (NTPv4, 200 ms per try) until a reply arrives or
    /// `timeout` passes. Fails early, with the log, if the process exits.
    pub fn wait_until_serving(&mut self, addr: SocketAddr, timeout: Duration) -> Result<ProbeReply, String> {
        let deadline = Instant::now() + timeout;
        let mut last_err;
        loop {
            if let Some(s) = self.exit_status() {
                return Err(format!("{} exited ({s}) before serving on {addr}\n{}", self.name, self.log_context()));
            }
            match sntp_probe(addr, 4, Duration::from_millis(200)) {
                Ok(r) => return Ok(r),
                Err(e) => last_err = e,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} not serving on {addr} after {timeout:?} (last: {last_err})\n{}",
                    self.name,
                    self.log_context()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the log contains `needle` (bounded). Returns the log.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return Ok(log);
            }
            if let Some(s) = self.exit_status() {
                return Err(format!("{} exited ({s}) before logging {needle:?}\n{}", self.name, self.log_context()));
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not log {needle:?} within {timeout:?}\n{}", self.name, self.log_context()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send a signal by PID with `kill -<signal> <pid>` (`"TERM"`, `"HUP"`, `"INT"`, ...).
    /// Refused once the process has exited (the PID may have been reused).
    pub fn signal(&mut self, signal: &str) -> Result<(), String> {
        if let Some(s) = self.exit_status() {
            return Err(format!("{} already exited ({s})", self.name));
        }
        let out = crate::command::run_bounded(
            Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()),
            Duration::from_secs(5),
        )?;
        if out.success() {
            Ok(())
        } else {
            Err(format!("signal {signal} to {}: {}", self.name, out.describe()))
        }
    }

    /// Wait (bounded) for the process to exit by itself, e.g. after [`Self::signal`].
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exit_status() {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(format!("{} still running after {timeout:?}\n{}", self.name, self.log_context()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL by PID and reap (also done on drop).
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            if let Ok(s) = self.child.wait() {
                self.exit = Some(s);
            }
        }
    }

    /// Command line plus the log, for error messages.
    pub fn log_context(&self) -> String {
        format!(
            "--- `{}` (pid {}) log ---\n{}\n--- end of log ---",
            self.command_line,
            self.pid(),
            self.log().trim_end()
        )
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_signal_and_exit() {
        let mut d = DaemonProcess::spawn(
            "sh",
            ["-c", "echo started; echo oops >&2; trap 'echo bye; exit 3' TERM; while :; do sleep 0.05; done"],
        )
        .unwrap();
        d.wait_for_log("oops", Duration::from_secs(5)).unwrap();
        assert!(d.is_running());
        d.signal("TERM").unwrap();
        let s = d.wait_exit(Duration::from_secs(5)).unwrap();
        assert_eq!(s.code(), Some(3));
        assert!(d.log().contains("started") && d.log().contains("bye"));
        assert!(d.signal("TERM").is_err());
    }

    #[test]
    fn early_exit_is_reported_with_log() {
        let mut d = DaemonProcess::spawn("sh", ["-c", "echo cannot bind; exit 1"]).unwrap();
        let err = d.wait_until_serving("127.0.0.1:9".parse().unwrap(), Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("cannot bind"), "{err}");
    }
}
