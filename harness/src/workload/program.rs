//! Program workloads: a small C program of the repo with known call stacks
//! (`workloads/programs/deepstack.c`), built by the harness with and without frame pointers
//! and run as the workload in place of an NBD server and fio.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::accuracy::GroundTruth;
use crate::process::{self, Child, ProcessError};

/// How a build treats frame pointers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Build {
    /// `-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer`: every frame linked.
    Fp,
    /// `-fomit-frame-pointer`: what most distributions ship.
    Nofp,
}

impl Build {
    pub fn suffix(&self) -> &'static str {
        match self {
            Build::Fp => "fp",
            Build::Nofp => "nofp",
        }
    }

    fn cflags(&self) -> &'static [&'static str] {
        match self {
            Build::Fp => &["-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer"],
            Build::Nofp => &["-fomit-frame-pointer"],
        }
    }
}

fn both() -> Vec<Build> {
    vec![Build::Fp, Build::Nofp]
}

/// A program workload's parameters.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// C source, relative to the workload file (e.g. `programs/deepstack.c`).
    pub source: PathBuf,
    /// Chain functions each thread goes through before the leaf (0..=64).
    pub depth: u32,
    /// Locals per chain frame, in bytes (compiled in).
    pub frame_bytes: u32,
    /// Threads running the chain. Default 1.
    #[serde(default = "one")]
    pub threads: u32,
    /// Builds run side by side, each as its own process. Default: fp and nofp.
    #[serde(default = "both")]
    pub builds: Vec<Build>,
}

fn one() -> u32 {
    1
}

impl ProgramSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.depth > 64 {
            return Err("program.depth must be at most 64".into());
        }
        if !(16..=1 << 20).contains(&self.frame_bytes) {
            return Err("program.frame_bytes must be between 16 and 1048576".into());
        }
        if !(1..=64).contains(&self.threads) {
            return Err("program.threads must be between 1 and 64".into());
        }
        if self.builds.is_empty() {
            return Err("program.builds must name at least one of fp, nofp".into());
        }
        Ok(())
    }

    /// The stem of the source (`deepstack`); built binaries are `deepstack-fp` and so on,
    /// which is also their process name in perf's records.
    pub fn stem(&self) -> String {
        self.source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("program")
            .to_string()
    }

    /// The process name (comm) of a build: the binary's name, cut to the kernel's 15 bytes.
    pub fn comm(&self, build: Build) -> String {
        let mut name = format!("{}-{}", self.stem(), build.suffix());
        name.truncate(15);
        name
    }

    /// The stack every sample of a build's threads should show (see [`GroundTruth`]).
    pub fn ground_truth(&self, build: Build) -> GroundTruth {
        let mut chain = vec!["start_thread".to_string(), "worker".to_string()];
        chain.extend((0..self.depth).map(|i| format!("chain_{i:02}")));
        chain.push("leaf_spin".to_string());
        GroundTruth {
            comm: self.comm(build),
            chain,
            optional_root: vec!["clone3".into(), "clone".into()],
            leaf_extras: [
                "now_ms",
                "clock_gettime",
                "__clock_gettime",
                "__vdso_clock_gettime",
                "[vdso]",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("gcc is not installed: run scripts/setup.sh (or apt-get install gcc)")]
    NoCompiler,
    #[error("building {source_file} failed: {message}")]
    Build {
        source_file: PathBuf,
        message: String,
    },
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// A built binary of a program workload.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BuiltProgram {
    pub build: Build,
    pub path: PathBuf,
    pub comm: String,
}

/// Builds every build of `spec` from `source` into `build_dir` (skipping builds newer than
/// the source). Each frame size gets a folder of its own: the size is compiled in.
pub fn build(
    spec: &ProgramSpec,
    source: &Path,
    build_dir: &Path,
) -> Result<Vec<BuiltProgram>, ProgramError> {
    let dir = build_dir.join(format!("frame-{}", spec.frame_bytes));
    std::fs::create_dir_all(&dir).map_err(|e| ProgramError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let source_time = std::fs::metadata(source).and_then(|m| m.modified()).ok();
    let mut out = Vec::new();
    for &build in &spec.builds {
        let path = dir.join(format!("{}-{}", spec.stem(), build.suffix()));
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .zip(source_time)
            .is_some_and(|(bin, src)| bin >= src);
        if !fresh {
            let mut args: Vec<String> = vec!["-O1".into(), "-g".into(), "-pthread".into()];
            args.push(format!("-DFRAME_BYTES={}", spec.frame_bytes));
            args.extend(build.cflags().iter().map(|s| s.to_string()));
            args.push("-o".into());
            args.push(path.display().to_string());
            args.push(source.display().to_string());
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let (status, _, err) = match process::capture("gcc", &refs) {
                Ok(r) => r,
                Err(ProcessError::NotFound { .. }) => return Err(ProgramError::NoCompiler),
                Err(e) => return Err(e.into()),
            };
            if !status.success() {
                return Err(ProgramError::Build {
                    source_file: source.to_path_buf(),
                    message: err
                        .lines()
                        .find(|l| l.contains("error"))
                        .unwrap_or(err.trim())
                        .to_string(),
                });
            }
        }
        out.push(BuiltProgram {
            build,
            comm: spec.comm(build),
            path,
        });
    }
    Ok(out)
}

/// Starts one built program for `ramp` + `runtime` (it counts its work after the ramp only),
/// its output into `log`.
pub fn start(
    spec: &ProgramSpec,
    program: &BuiltProgram,
    ramp: std::time::Duration,
    runtime: std::time::Duration,
    log: &Path,
) -> Result<Child, ProgramError> {
    let args = [
        spec.depth.to_string(),
        spec.threads.to_string(),
        ramp.as_millis().to_string(),
        runtime.as_millis().to_string(),
    ];
    let mut cmd = process::command(&program.path.display().to_string(), &args);
    let io = |source| ProgramError::Io {
        path: log.to_path_buf(),
        source,
    };
    cmd.stdout(process::to_file(log).map_err(io)?);
    cmd.stderr(
        std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .map_err(io)?,
    );
    Ok(process::spawn(&program.comm, cmd)?)
}

/// The work a program reported (`iterations N`) in its log.
pub fn iterations(log: &Path) -> Option<u64> {
    std::fs::read_to_string(log)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("iterations ")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProgramSpec {
        ProgramSpec {
            source: "programs/deepstack.c".into(),
            depth: 3,
            frame_bytes: 256,
            threads: 1,
            builds: both(),
        }
    }

    #[test]
    fn names_and_truth() {
        let s = spec();
        assert_eq!(s.comm(Build::Fp), "deepstack-fp");
        assert_eq!(s.comm(Build::Nofp), "deepstack-nofp");
        let t = s.ground_truth(Build::Fp);
        assert_eq!(
            t.chain,
            [
                "start_thread",
                "worker",
                "chain_00",
                "chain_01",
                "chain_02",
                "leaf_spin"
            ]
        );
        assert!(s.validate().is_ok());
        assert!(ProgramSpec {
            depth: 65,
            ..spec()
        }
        .validate()
        .is_err());
        assert!(ProgramSpec {
            builds: vec![],
            ..spec()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn builds_and_runs_the_repo_program() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let built = build(
            &spec(),
            &root.join("workloads/programs/deepstack.c"),
            dir.path(),
        )
        .unwrap();
        assert_eq!(built.len(), 2);
        let log = dir.path().join("run.log");
        let mut child = start(
            &spec(),
            &built[0],
            std::time::Duration::from_millis(50),
            std::time::Duration::from_millis(200),
            &log,
        )
        .unwrap();
        let exit = child
            .wait_interruptibly(std::time::Duration::from_secs(10))
            .unwrap();
        assert!(exit.status.success());
        assert!(iterations(&log).unwrap() > 0);
        // The audit tells the two builds apart.
        let fp = crate::audit::audit_binary("fp", &built[0].path).unwrap();
        let nofp = crate::audit::audit_binary("nofp", &built[1].path).unwrap();
        assert!(fp.has_frame_pointers(), "{fp:?}");
        assert!(!nofp.has_frame_pointers(), "{nofp:?}");
        assert!(fp.debug_info && nofp.debug_info && fp.eh_frame);
    }
}
