//! The recorder's control FIFO, perf's protocol (`--control fifo:CTL,ACK`): one command per
//! line (`enable`, `disable`, `ping`), each answered with `ack` once done, so that the harness
//! drives the online recorder exactly as it drives perf ([`crate::record::control`]). With a
//! control FIFO the recorder starts with sampling off, as perf does with `-D -1`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// A command read from the FIFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Enable,
    Disable,
    Ping,
    /// Anything else is acknowledged and ignored (perf's other commands: snapshot, stop...).
    Other(String),
}

/// `fifo:CTL,ACK` as perf takes it.
pub fn parse_spec(spec: &str) -> Result<(PathBuf, PathBuf), String> {
    let (ctl, ack) = spec
        .strip_prefix("fifo:")
        .and_then(|rest| rest.split_once(','))
        .filter(|(c, a)| !c.is_empty() && !a.is_empty())
        .ok_or_else(|| {
            format!("bad --control `{spec}`: use fifo:CTL,ACK (two FIFOs, as perf takes them)")
        })?;
    Ok((PathBuf::from(ctl), PathBuf::from(ack)))
}

pub struct Control {
    ctl: File,
    ack: File,
    pending: Vec<u8>,
}

impl Control {
    /// Opens both FIFOs without waiting for the other end: the control FIFO for reading, the
    /// acknowledgement FIFO read-write (so opening it never blocks and writing never fails
    /// while the harness is away).
    pub fn open((ctl, ack): &(PathBuf, PathBuf)) -> std::io::Result<Control> {
        let ctl = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(ctl)?;
        let ack = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(ack)?;
        Ok(Control {
            ctl,
            ack,
            pending: Vec::new(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.ctl.as_raw_fd()
    }

    /// The commands that arrived since the last call.
    pub fn commands(&mut self) -> Vec<Command> {
        let mut buf = [0u8; 256];
        while let Ok(n) = self.ctl.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line)
                .trim_matches(['\0', '\n', ' '])
                .to_string();
            out.push(match text.as_str() {
                "enable" => Command::Enable,
                "disable" => Command::Disable,
                "ping" => Command::Ping,
                _ => Command::Other(text),
            });
        }
        out
    }

    /// Answers the command just carried out.
    pub fn ack(&mut self) -> std::io::Result<()> {
        self.ack.write_all(b"ack\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_is_perfs() {
        assert_eq!(
            parse_spec("fifo:/a/ctl,/a/ack").unwrap(),
            (PathBuf::from("/a/ctl"), PathBuf::from("/a/ack"))
        );
        for bad in ["/a/ctl,/a/ack", "fifo:/a/ctl", "fifo:,/a", "fd:3,4"] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands_arrive_in_lines_and_are_acknowledged() {
        let dir = std::env::temp_dir().join(format!("ub-ctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifos = crate::record::control::Fifos::create(&dir).unwrap();
        let mut c = Control::open(&(fifos.ctl.clone(), fifos.ack.clone())).unwrap();
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifos.ctl)
            .unwrap();
        writer.write_all(b"enable\ndisa").unwrap();
        assert_eq!(c.commands(), vec![Command::Enable]);
        writer.write_all(b"ble\nping\nsnapshot\n").unwrap();
        assert_eq!(
            c.commands(),
            vec![
                Command::Disable,
                Command::Ping,
                Command::Other("snapshot".into())
            ]
        );
        c.ack().unwrap();
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifos.ack)
            .unwrap();
        let mut got = [0u8; 8];
        let n = reader.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"ack\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
