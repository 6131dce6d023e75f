//! The workload: an NBD server (nbdkit) and a fio job driving it through a raw device.
//!
//! A workload is a TOML file under `workloads/`:
//!
//! ```toml
//! description = "..."
//! [server]
//! plugin = "null"        # an nbdkit plugin name
//! args = ["1G"]          # plugin parameters (`key=value` or a bare value)
//! filters = []           # nbdkit filters, outermost first
//! [fio]
//! job = "nbd-randrw.fio" # a job under fio-jobs/
//! runtime = "60s"        # measured time
//! ramp = "5s"            # warm-up before measuring (perf waits it out with --delay)
//! ```
//!
//! Or a program of the repo with known stacks instead of server and client:
//!
//! ```toml
//! [program]
//! source = "programs/deepstack.c"  # relative to the workload file
//! depth = 12                        # chain functions per thread
//! frame_bytes = 2048                # locals per chain frame
//! threads = 1
//! builds = ["fp", "nofp"]           # run side by side
//! runtime = "10s"
//! ramp = "1s"
//! ```
//!
//! Only these documented fields reach nbdkit, fio or the compiler, and each is checked, so a
//! workload file cannot smuggle options into the commands the harness runs.
//!
//! [`server`] is nbdkit, [`fio`] the job and its results, [`target`] which raw device fio
//! drives, [`device`] the kernel block devices (kernel NBD, loop over nbdfuse), [`program`] the programs with known stacks, [`error`] what can go wrong loading one;
//! [`ProjectDirs`] finds the project's folders and the tools a run uses.

pub mod device;
pub mod error;
pub mod fio;
pub mod program;
pub mod server;
pub mod target;

pub use self::error::WorkloadError;
pub use self::server::ServerSpec;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process::Tools;
use crate::units::parse_duration;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct FioSpecFile {
    job: String,
    runtime: String,
    ramp: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ProgramFile {
    source: PathBuf,
    depth: u32,
    frame_bytes: u32,
    #[serde(default)]
    threads: Option<u32>,
    #[serde(default)]
    builds: Option<Vec<program::Build>>,
    runtime: String,
    ramp: String,
}

impl ProgramFile {
    fn spec(&self) -> program::ProgramSpec {
        program::ProgramSpec {
            source: self.source.clone(),
            depth: self.depth,
            frame_bytes: self.frame_bytes,
            threads: self.threads.unwrap_or(1),
            builds: self
                .builds
                .clone()
                .unwrap_or_else(|| vec![program::Build::Fp, program::Build::Nofp]),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    #[serde(default)]
    description: String,
    server: Option<ServerSpec>,
    fio: Option<FioSpecFile>,
    program: Option<ProgramFile>,
}

/// What runs during a measurement.
#[derive(Clone, Debug, Serialize)]
pub enum WorkloadKind {
    /// An NBD server driven by fio through a raw device.
    Nbd {
        server: ServerSpec,
        /// The fio job template (see [`fio::JobTemplate`]).
        job: fio::JobTemplate,
    },
    /// A program of the repo with known stacks, in one or more builds.
    Program {
        spec: program::ProgramSpec,
        /// The source file, resolved.
        source: PathBuf,
    },
}

/// A loaded, validated workload.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    pub kind: WorkloadKind,
    #[serde(serialize_with = "secs")]
    pub runtime: Duration,
    #[serde(serialize_with = "secs")]
    pub ramp: Duration,
}

impl Workload {
    /// The processes whose stacks the report looks at first: the server and the client,
    /// or the program's builds.
    pub fn focus(&self) -> Vec<String> {
        match &self.kind {
            WorkloadKind::Nbd { .. } => vec!["nbdkit".into(), "fio".into()],
            WorkloadKind::Program { spec, .. } => {
                spec.builds.iter().map(|b| spec.comm(*b)).collect()
            }
        }
    }

    /// The stacks every sample of each focus process should show, when known.
    pub fn ground_truth(&self) -> Vec<crate::accuracy::GroundTruth> {
        match &self.kind {
            WorkloadKind::Nbd { .. } => Vec::new(),
            WorkloadKind::Program { spec, .. } => {
                spec.builds.iter().map(|b| spec.ground_truth(*b)).collect()
            }
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Where the project's data folders are: `workloads/`, `fio-jobs/`, `reports/`.
#[derive(Clone, Debug)]
pub struct ProjectDirs {
    pub root: PathBuf,
}

impl ProjectDirs {
    /// The project root: `$UNWINDBENCH_HOME`, else the current directory or one of its parents
    /// holding `workloads/`, else the source checkout this binary was built from.
    pub fn locate() -> ProjectDirs {
        if let Some(home) = std::env::var_os("UNWINDBENCH_HOME") {
            return ProjectDirs { root: home.into() };
        }
        if let Ok(cwd) = std::env::current_dir() {
            for dir in cwd.ancestors() {
                if dir.join("workloads").is_dir() && dir.join("fio-jobs").is_dir() {
                    return ProjectDirs { root: dir.into() };
                }
            }
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."));
        ProjectDirs {
            root: built_from.into(),
        }
    }

    pub fn workloads(&self) -> PathBuf {
        self.root.join("workloads")
    }

    pub fn fio_jobs(&self) -> PathBuf {
        self.root.join("fio-jobs")
    }

    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// Where the harness builds things (programs of program workloads); not committed.
    pub fn build(&self) -> PathBuf {
        self.root.join("build")
    }

    /// The workload's programs: the system's, or with `fp_built` the frame-pointer builds of
    /// scripts/build-fp-workloads.sh where it made them.
    pub fn tools(&self, fp_built: bool) -> Result<Tools, WorkloadError> {
        if !fp_built {
            return Ok(Tools::system());
        }
        let bin = self.build().join("fp/prefix/bin");
        // fio (with the rebuilt libnbd) is what the script can always build; nbdkit's source
        // is not fetchable from every mirror, and the system's nbdkit then stays in use.
        if !bin.join("fio").is_file() {
            return Err(WorkloadError::NoFpBuild(bin.join("fio")));
        }
        Ok(Tools::preferring(bin))
    }

    /// Names of the workloads under `workloads/`, sorted.
    pub fn known_workloads(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.workloads())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".toml").map(str::to_string)
            })
            .collect();
        names.sort();
        names
    }

    /// Loads a workload by name (`workloads/NAME.toml`) or by path to a `.toml` file.
    pub fn load_workload(&self, name_or_path: &str) -> Result<Workload, WorkloadError> {
        let as_path = Path::new(name_or_path);
        let path = if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
            as_path.to_path_buf()
        } else {
            self.workloads().join(format!("{name_or_path}.toml"))
        };
        if let Err(source) = std::fs::metadata(&path) {
            // A file that is there but out of reach is not "unknown": say what stopped us.
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                return Err(WorkloadError::Read { path, source });
            }
        }
        if !path.is_file() {
            if let Err(source) = std::fs::read_dir(self.workloads()) {
                if source.kind() == std::io::ErrorKind::PermissionDenied {
                    return Err(WorkloadError::Read {
                        path: self.workloads(),
                        source,
                    });
                }
            }
            let known = self.known_workloads();
            return Err(WorkloadError::Unknown {
                name: name_or_path.to_string(),
                known: if known.is_empty() {
                    format!("none found in {}", self.workloads().display())
                } else {
                    known.join(", ")
                },
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| WorkloadError::Read {
            path: path.clone(),
            source,
        })?;
        Workload::parse(&path, &text, &self.fio_jobs())
    }
}

impl Workload {
    /// Parses and checks a workload file; `jobs_dir` is where bare job names are looked up.
    pub fn parse(path: &Path, text: &str, jobs_dir: &Path) -> Result<Workload, WorkloadError> {
        let file: WorkloadFile = toml::from_str(text).map_err(|e| {
            // toml points an unknown field at its table; point at the field's own line.
            let unknown_field_line = e
                .message()
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .and_then(|field| {
                    text.lines()
                        .position(|l| l.trim_start().starts_with(field))
                        .map(|i| i + 1)
                });
            let line = unknown_field_line.unwrap_or_else(|| {
                e.span()
                    .map(|span| text[..span.start.min(text.len())].lines().count().max(1))
                    .unwrap_or(1)
            });
            WorkloadError::Malformed {
                path: path.to_path_buf(),
                line,
                message: e.message().replace('\n', " "),
            }
        })?;
        let invalid = |message: String| WorkloadError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("workload")
            .to_string();
        let (kind, runtime, ramp) = match (file.server, file.fio, file.program) {
            (Some(server), Some(fio), None) => {
                server::validate(&server).map_err(invalid)?;
                let job_path = resolve_job(path, jobs_dir, &fio.job).map_err(invalid)?;
                let job = fio::JobTemplate::load(&job_path)?;
                (WorkloadKind::Nbd { server, job }, fio.runtime, fio.ramp)
            }
            (None, None, Some(p)) => {
                let spec = p.spec();
                spec.validate().map_err(invalid)?;
                let source = path.parent().unwrap_or(Path::new(".")).join(&spec.source);
                if !source.is_file() || spec.source.is_absolute() {
                    return Err(invalid(format!(
                        "program.source `{}` not found next to the workload (looked for {})",
                        spec.source.display(),
                        source.display()
                    )));
                }
                (
                    WorkloadKind::Program { spec, source },
                    p.runtime,
                    p.ramp,
                )
            }
            _ => {
                return Err(invalid(
                    "a workload has [server] and [fio] (an NBD workload) or [program], not both or neither"
                        .into(),
                ))
            }
        };
        let runtime = parse_duration(&runtime).map_err(|e| invalid(e.to_string()))?;
        let ramp = parse_duration(&ramp).map_err(|e| invalid(e.to_string()))?;
        if runtime.is_zero() {
            return Err(invalid("the runtime must be greater than zero".into()));
        }
        Ok(Workload {
            name,
            description: file.description,
            path: path.to_path_buf(),
            kind,
            runtime,
            ramp,
        })
    }
}

/// A bare job name is looked up in `fio-jobs/`; a name with a slash is relative to the
/// workload file. Either way it must exist.
fn resolve_job(workload: &Path, jobs_dir: &Path, job: &str) -> Result<PathBuf, String> {
    let candidate = if job.contains('/') {
        workload.parent().unwrap_or(Path::new(".")).join(job)
    } else {
        jobs_dir.join(job)
    };
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "fio.job `{job}` not found (looked for {})",
            candidate.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectDirs {
        ProjectDirs {
            root: Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .into(),
        }
    }

    #[test]
    fn every_shipped_workload_loads() {
        let dirs = project();
        let names = dirs.known_workloads();
        for expected in [
            "nbd-null",
            "seq-read-parallel",
            "rand-read-latency",
            "mixed-70-30",
        ] {
            assert!(names.contains(&expected.to_string()), "{names:?}");
        }
        for name in names {
            let w = dirs.load_workload(&name).unwrap();
            assert!(w.ramp >= Duration::from_secs(1), "{name}");
            assert!(!w.description.is_empty(), "{name}");
        }
        let w = dirs.load_workload("nbd-null").unwrap();
        let WorkloadKind::Nbd { server, .. } = &w.kind else {
            panic!("nbd-null is an NBD workload")
        };
        assert_eq!(server.plugin, "null");
        assert_eq!(w.runtime, Duration::from_secs(60));
        let d = dirs.load_workload("deepstack").unwrap();
        assert_eq!(d.focus(), ["deepstack-fp", "deepstack-nofp"]);
        assert_eq!(d.ground_truth().len(), 2);
    }

    #[test]
    fn unknown_workload_lists_the_known_ones() {
        let err = project().load_workload("nbd-nul").unwrap_err().to_string();
        assert!(err.contains("unknown workload `nbd-nul`"), "{err}");
        assert!(err.contains("nbd-null"), "{err}");
    }

    #[test]
    fn malformed_toml_names_file_and_line() {
        let jobs = project().fio_jobs();
        let text = "description = \"x\"\n[server]\nplugin = \"null\"\nargs = [1G]\n";
        let err = Workload::parse(Path::new("w/bad.toml"), text, &jobs)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("malformed workload w/bad.toml:4:"), "{err}");
        let text = "[server]\nplugin = \"null\"\ncolour = 1\n[fio]\njob=\"nbd-randrw.fio\"\nruntime=\"1s\"\nramp=\"1s\"\n";
        let err = Workload::parse(Path::new("w/bad.toml"), text, &jobs)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.toml:3"), "{err}");
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn workload_fields_cannot_inject_options() {
        let jobs = project().fio_jobs();
        let with_server = |server: &str| {
            format!("{server}\n[fio]\njob=\"nbd-randrw.fio\"\nruntime=\"1s\"\nramp=\"1s\"\n")
        };
        for server in [
            "[server]\nplugin = \"--run=sh\"",
            "[server]\nplugin = \"null\"\nargs = [\"--run=rm -rf /\"]",
            "[server]\nplugin = \"null\"\nfilters = [\"log --run=x\"]",
            "[server]\nplugin = \"../../tmp/evil.so\"",
        ] {
            let err = Workload::parse(Path::new("w.toml"), &with_server(server), &jobs);
            assert!(err.is_err(), "accepted: {server}");
        }
    }
}
