//! `compare` as an ordinary user (needs root to create one; skipped otherwise). Where this
//! machine lets an ordinary user sample system-wide (perf_event_paranoid <= -1) the short
//! comparison must run; where it does not, the refusal is one line naming what is missing
//! and the fix. Then the same user with a perf given CAP_PERFMON (a copy, in the test's own
//! folder: no sysctl and no system file is changed) runs the comparison.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An unprivileged user made for the test, deleted when it ends.
struct TestUser {
    name: String,
}

impl TestUser {
    fn create() -> Option<TestUser> {
        let name = format!("ub26t{}", std::process::id());
        let ok = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(&name)
            .status()
            .ok()?
            .success();
        ok.then_some(TestUser { name })
    }

    /// Runs the harness as this user, with `path_first` ahead of the usual PATH.
    fn run(&self, home: &Path, path_first: Option<&Path>, args: &[&str]) -> Output {
        let mut path = String::new();
        if let Some(p) = path_first {
            path.push_str(&format!("{}:", p.display()));
        }
        path.push_str("/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
        Command::new("setpriv")
            .args([
                "--reuid",
                &self.name,
                "--regid",
                &self.name,
                "--init-groups",
            ])
            .args(["--reset-env", "--"])
            .arg("env")
            .arg(format!("HOME={}", home.display()))
            .arg(format!("PATH={path}"))
            .arg(format!(
                "UNWINDBENCH_LOCK={}",
                home.join("measure.lock").display()
            ))
            .arg(env!("CARGO_BIN_EXE_unwindbench"))
            .args(args)
            .current_dir(home)
            .output()
            .unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

fn paranoid() -> i32 {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn chown(path: &Path, user: &str) {
    let ok = Command::new("chown")
        .args(["-R", &format!("{user}:{user}")])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

const SHORT: &[&str] = &[
    "compare",
    "--unwind",
    "fp",
    "--runtime",
    "2s",
    "--ramp",
    "1s",
    "--prices",
    "none",
    "--without-none",
    "--overhead",
    "runs",
    "--repeat",
    "1",
    "--quiet",
    "--out",
];

fn assert_compared(o: &Output, run: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["status"], "complete", "{err}");
    let fp = &r["modes"][0];
    assert_eq!(fp["mode"], "fp");
    assert!(
        fp["figures"]["samples"]["median"].as_f64().unwrap() > 0.0,
        "{fp}"
    );
}

/// A copy of perf that may sample system-wide for whoever runs it, in `dir`, runnable by
/// `user` only.
fn capable_perf(dir: &Path, user: &str) -> Option<PathBuf> {
    let perf = which("perf")?;
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let copy = bin.join("perf");
    std::fs::copy(std::fs::canonicalize(perf).unwrap(), &copy).unwrap();
    chown(&bin, user);
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o500)).unwrap();
    // As perf's security guide gives it: events, other users' /proc maps, kernel symbols.
    let ok = Command::new("setcap")
        .args(["cap_perfmon,cap_sys_ptrace,cap_syslog=ep"])
        .arg(&copy)
        .status()
        .ok()?
        .success();
    ok.then_some(bin)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

#[test]
fn compare_as_an_ordinary_user_runs_where_allowed_and_says_what_is_missing_where_not() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot create a user to test with; skipped");
        return;
    }
    let Some(user) = TestUser::create() else {
        panic!("useradd failed");
    };
    // A folder the user owns, reachable through folders everyone may enter.
    let base = Path::new("/var/tmp").join(format!("ub26-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = base.join("home");
    std::fs::create_dir(&home).unwrap();
    chown(&home, &user.name);
    let cleanup = Cleanup(base.clone());

    let run = home.join("run");
    let mut args = SHORT.to_vec();
    let run_arg = run.display().to_string();
    args.push(&run_arg);
    let o = user.run(&home, None, &args);
    if paranoid() <= -1 {
        assert_compared(&o, &run);
    } else {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("permissions: not root, perf_event_paranoid = "),
            "{err}"
        );
        assert!(err.contains("has no CAP_PERFMON"), "{err}");
        assert!(
            err.contains("sudo sysctl kernel.perf_event_paranoid=-1"),
            "{err}"
        );
        assert!(err.contains("setcap cap_perfmon"), "{err}");
        assert!(!run.join("results.json").exists());
    }

    // With a perf that has CAP_PERFMON, the same user compares on this same machine.
    let bin = capable_perf(&base, &user.name).expect("a perf copy with CAP_PERFMON (setcap)");
    let run = home.join("run-capable");
    let mut args = SHORT.to_vec();
    let run_arg = run.display().to_string();
    args.push(&run_arg);
    let o = user.run(&home, Some(&bin), &args);
    assert_compared(&o, &run);
    drop(cleanup);
    drop(user);
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
