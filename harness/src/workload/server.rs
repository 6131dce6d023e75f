//! The NBD server: nbdkit on a Unix socket, started fresh for every measurement.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process::{self, Child, ProcessError, Tools};
use serde::{Deserialize, Serialize};

/// The server half of a workload.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// nbdkit plugin name, e.g. `null`, `memory`.
    pub plugin: String,
    /// Plugin parameters, passed after the plugin name.
    #[serde(default)]
    pub args: Vec<String>,
    /// nbdkit filters (`--filter=NAME`), outermost first. Default: none.
    #[serde(default)]
    pub filters: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("nbdkit exited before it was ready (exit {code}); see {log}")]
    DiedEarly { code: i32, log: PathBuf },
    #[error("nbdkit was not ready after {0:.0} s; see its log")]
    NotReady(f64),
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Checks the fields that become nbdkit arguments: names are plain words and no parameter can
/// be read as an option.
pub fn validate(spec: &ServerSpec) -> Result<(), String> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !s.starts_with('-')
    };
    if !plain(&spec.plugin) {
        return Err(format!(
            "server.plugin `{}` must be a plain plugin name such as `null` or `memory`",
            spec.plugin
        ));
    }
    for filter in &spec.filters {
        if !plain(filter) {
            return Err(format!(
                "server.filters item `{filter}` must be a plain filter name"
            ));
        }
    }
    for arg in &spec.args {
        if arg.starts_with('-') || arg.contains('\n') || arg.is_empty() {
            return Err(format!(
                "server.args item `{arg}` must be a plugin parameter (`key=value` or a value), not an option"
            ));
        }
    }
    Ok(())
}

/// nbdkit's arguments for `spec`, serving on `socket`.
pub fn nbdkit_args(spec: &ServerSpec, socket: &Path, pidfile: &Path) -> Vec<String> {
    let mut args = vec![
        "--foreground".to_string(),
        // Dies with the harness even if the harness is SIGKILLed.
        "--exit-with-parent".to_string(),
        "-U".to_string(),
        socket.display().to_string(),
        // nbdkit writes its pid file once it accepts connections: our readiness signal.
        "-P".to_string(),
        pidfile.display().to_string(),
    ];
    args.extend(spec.filters.iter().map(|f| format!("--filter={f}")));
    args.push(spec.plugin.clone());
    // `--` is not needed: validate() guarantees no parameter begins with `-`.
    args.extend(spec.args.iter().cloned());
    args
}

/// A running nbdkit.
pub struct Server {
    pub child: Child,
    pub socket: PathBuf,
}

/// Starts nbdkit serving `spec` on a Unix socket in `sock_dir`, logging to `log`, and waits
/// until it accepts connections.
pub fn start(
    tools: &Tools,
    spec: &ServerSpec,
    sock_dir: &Path,
    log: &Path,
) -> Result<Server, ServerError> {
    let socket = sock_dir.join("nbd.sock");
    let pidfile = sock_dir.join("nbdkit.pid");
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&pidfile);
    let mut cmd = tools.command("nbdkit", &nbdkit_args(spec, &socket, &pidfile));
    let log_io = |source| ServerError::Io {
        path: log.to_path_buf(),
        source,
    };
    cmd.stdout(process::to_file(log).map_err(log_io)?);
    cmd.stderr(
        std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .map_err(log_io)?,
    );
    let mut child = process::spawn("nbdkit", cmd)?;
    let timeout = Duration::from_secs(20);
    let deadline = Instant::now() + timeout;
    loop {
        if pidfile.exists() && socket.exists() {
            return Ok(Server { child, socket });
        }
        if let Some(exit) = child.try_wait()? {
            return Err(ServerError::DiedEarly {
                code: exit.code(),
                log: log.to_path_buf(),
            });
        }
        process::check_interrupt()?;
        if Instant::now() >= deadline {
            child.kill();
            return Err(ServerError::NotReady(timeout.as_secs_f64()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_in_nbdkit_order() {
        let spec = ServerSpec {
            plugin: "null".into(),
            args: vec!["1G".into()],
            filters: vec!["delay".into()],
        };
        let args = nbdkit_args(&spec, Path::new("/s/sock"), Path::new("/s/pid"));
        let tail: Vec<&str> = args.iter().map(String::as_str).skip(6).collect();
        assert_eq!(tail, ["--filter=delay", "null", "1G"]);
        assert!(args.contains(&"--exit-with-parent".to_string()));
    }
}
