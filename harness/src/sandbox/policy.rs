//! What a confinement allows ([`Policy`]), what it applied ([`Confinement`]) and how it
//! fails: apart from [`super::confine`], so that its layers ([`super::fs`],
//! [`super::syscalls`]) read them without importing the module that applies them.

use std::path::PathBuf;

/// What a confined process may do. Paths that do not exist are left out (a system without
/// /lib32, say); the folders it writes must exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Files and folders (with everything beneath) it may read. Default: none.
    pub read: Vec<PathBuf>,
    /// Folders it may create, write, rename and remove files and folders in (and read).
    /// Default: none.
    pub write: Vec<PathBuf>,
    /// TCP ports it may connect to, with sockets allowed at all; None: no network, not even
    /// a socket (the default).
    pub connect_tcp: Option<Vec<u16>>,
}

/// How one layer of the confinement went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    Enforced(String),
    /// The kernel lacks it (or part of it): why, in words.
    Missing(String),
}

impl Layer {
    pub fn is_enforced(&self) -> bool {
        matches!(self, Layer::Enforced(_))
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layer::Enforced(what) => f.write_str(what),
            Layer::Missing(why) => write!(f, "not applied: {why}"),
        }
    }
}

/// What [`confine`] applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confinement {
    pub no_new_privs: bool,
    /// The capabilities left (names); empty for an ordinary user.
    pub capabilities: Vec<String>,
    pub landlock: Layer,
    pub seccomp: Layer,
}

impl Confinement {
    /// One line for a layer the kernel lacks, or None when all of them hold.
    pub fn missing(&self) -> Option<String> {
        let mut gaps = Vec::new();
        if let Layer::Missing(why) = &self.landlock {
            gaps.push(format!(
                "no Landlock ({why}): no limits on which files it reads and writes"
            ));
        }
        if let Layer::Missing(why) = &self.seccomp {
            gaps.push(format!(
                "no seccomp ({why}): no limit on the system calls it makes"
            ));
        }
        (!gaps.is_empty()).then(|| {
            format!(
                "the analysis runs partly unconfined on this kernel: {}",
                gaps.join("; ")
            )
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(std::io::Error),
    #[error("cannot drop capabilities: {0}")]
    Capabilities(#[from] caps::errors::CapsError),
    #[error("cannot confine to {path}: {source}")]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot build the Landlock ruleset: {0}")]
    Landlock(#[from] landlock::RulesetError),
    #[error("cannot build the seccomp filter: {0}")]
    SeccompBuild(#[from] seccompiler::BackendError),
    #[error("cannot install the seccomp filter: {0}")]
    Seccomp(#[from] seccompiler::Error),
}
