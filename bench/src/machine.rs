//! What the run was measured on: processor, cores, memory, kernel, compiler, commit, load.

use std::process::Command;

/// The machine and build a run measured.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Processor model name.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// `rustc -V`.
    pub rustc: String,
    /// Commit measured (with `-dirty` for uncommitted changes).
    pub commit: String,
    /// UTC time the run started.
    pub started: String,
    /// `/proc/loadavg` when the run started.
    pub load_at_start: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Machine {
    /// Reads the machine now.
    pub fn read() -> Machine {
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let dirty = !output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
        let commit = format!(
            "{}{}",
            output("git", &["rev-parse", "--short=12", "HEAD"]),
            if dirty { "-dirty" } else { "" }
        );
        let started = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc: output("rustc", &["-V"]),
            commit,
            started,
            load_at_start: load_average(),
        }
    }

    /// The machine as a Markdown paragraph.
    pub fn markdown(&self, command: &str, finished: &str) -> String {
        format!(
            "{} ({} cores visible), {:.0} GiB RAM, Linux {}, {}, release profile, mimalloc as the \
             binary's allocator. Commit `{}`. Run started {} (load average {}), finished {} \
             (load average {}).\n\nCommand: `{}`\n",
            self.cpu,
            self.cores,
            self.memory_gib,
            self.kernel,
            self.rustc,
            self.commit,
            self.started,
            self.load_at_start,
            finished,
            load_average(),
            command
        )
    }
}
