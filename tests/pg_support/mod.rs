//! A throwaway PostgreSQL server for the integration tests, started once per test process.
//!
//! [`server`] finds the PostgreSQL binaries (`initdb` on PATH, else the highest version under
//! `/usr/lib/postgresql/*/bin`, where Debian's `postgresql` package puts them), creates a cluster
//! in a fresh directory under `CARGO_TARGET_TMPDIR` (else the system temporary directory), and
//! starts it on 127.0.0.1 with a free port and trust authentication for loopback and its own
//! Unix socket only. Durability settings stay as in production (`fsync`, `synchronous_commit`
//! and `full_page_writes` are on), because the tests measure real durability; only the sizes are
//! small (a child process may start its server with other settings: [`SETTINGS_VAR`]). Each test
//! takes its own database from [`PgServer::fresh_database`].
//!
//! `initdb` and `postgres` refuse to run as root: as root, the harness runs them as the
//! `postgres` system user (which Debian's package creates), else as `nobody`, through `setpriv`
//! (else `runuser`), after giving that user the cluster's directory.
//!
//! Statics are never dropped, so the server is started under a small `sh` watchdog that polls
//! the test process and, once it is gone, stops PostgreSQL (immediate shutdown) and removes the
//! directory. The watchdog runs in its own process group, so an interrupt at the terminal stops
//! the tests and leaves the clean-up to it.
//!
//! Without PostgreSQL binaries [`server`] returns `None` and says once, on standard error, that
//! the PostgreSQL tests were skipped and why; with `MODELGATE_REQUIRE_TEST_DEPS` set (as `.ci/run`
//! does) it panics instead. `scripts/test-deps` installs the binaries.
//!
//! The clients here are the synchronous `postgres` crate, which runs a Tokio runtime of its own:
//! do not call [`PgServer::fresh_database`], [`PgServer::admin`] or [`server`] from inside an
//! async context (a `#[tokio::test]` body or a task); call them before entering the runtime or
//! from `tokio::task::spawn_blocking`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The superuser the cluster is created with; every URL connects as it.
pub const SUPERUSER: &str = "postgres";

/// Where Debian's `postgresql` packages put one directory per major version.
pub const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Why the tests skip when no binaries are found.
pub const NO_INITDB: &str = "no initdb found on PATH nor under /usr/lib/postgresql/*/bin \
                             (install Debian's postgresql package; scripts/test-deps does)";

/// The environment variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "MODELGATE_REQUIRE_TEST_DEPS";

/// Extra `name=value` server settings, separated by spaces, given after the harness's own and so
/// overriding them. Only for a test that needs a server unlike production: it sets the variable
/// for a child process, which starts a server of its own (`tests/pg_ledger.rs` runs one without
/// `fsync`), so that the tests sharing the usual server never see it.
pub const SETTINGS_VAR: &str = "MODELGATE_TEST_PG_SETTINGS";

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many ports are tried when another process takes the chosen one first.
const PORT_ATTEMPTS: u32 = 5;

/// Longest Unix socket path accepted (the kernel's limit is 107 bytes).
const MAX_SOCKET_PATH: usize = 100;

/// Polls the test process; when it is gone, stops PostgreSQL and removes the directory. If
/// PostgreSQL exits before the harness marked it ready, the watchdog leaves at once and the
/// harness, still running, retries or reports (it reads the log, so nothing is removed).
/// Arguments: test process id, directory, data directory, then the command that runs postgres.
const WATCHDOG: &str = r#"
parent=$1 root=$2 data=$3
shift 3
rm -f "$root/exited"
( "$@"; echo "$?" > "$root/exited" ) &
while kill -0 "$parent" 2>/dev/null; do
    if [ -e "$root/exited" ] && [ ! -e "$root/ready" ]; then exit 0; fi
    sleep 0.2
done
i=0
while [ ! -e "$root/exited" ] && [ "$i" -lt 300 ]; do
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
    if [ -n "$pid" ]; then kill -QUIT "$pid" 2>/dev/null; fi
    sleep 0.1
    i=$((i + 1))
done
rm -rf "$root"
"#;

/// The `initdb` and `postgres` executables of one installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// Creates the cluster.
    pub initdb: PathBuf,
    /// Runs the server.
    pub postgres: PathBuf,
}

/// A running throwaway server; see the module documentation.
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    binaries: Binaries,
    startup: Duration,
    next_db: AtomicU64,
    /// Kept so that the handle is not dropped; the watchdog outlives the test process.
    _watchdog: Child,
}

impl PgServer {
    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` as the superuser, e.g. `postgres://postgres@127.0.0.1:5433/db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A connection to the `postgres` database as the superuser, for creating databases or
    /// tampering with rows behind a store's back. Not from inside an async context.
    pub fn admin(&self) -> postgres::Client {
        postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL as {SUPERUSER}: {e}"))
    }

    /// Creates a new, uniquely named, empty database and returns its URL. Not from inside an
    /// async context.
    pub fn fresh_database(&self) -> String {
        let name = format!("test_{}", self.next_db.fetch_add(1, Ordering::Relaxed));
        self.admin()
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }

    /// The directory holding the cluster, its socket and its log; removed when the test
    /// process is gone.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The executables the server runs from.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// How long finding the binaries, `initdb` and starting the server took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }
}

enum State {
    Ready(PgServer),
    /// No PostgreSQL to run: skip, or fail under `MODELGATE_REQUIRE_TEST_DEPS`.
    Unavailable(String),
    /// PostgreSQL is there but did not start: always a failure.
    Failed(String),
}

static STATE: OnceLock<State> = OnceLock::new();

/// The process's server, started on first use; `None` when PostgreSQL is not installed (said
/// once on standard error). Panics when it is installed but does not start, and when it is not
/// installed while `MODELGATE_REQUIRE_TEST_DEPS` is set.
pub fn server() -> Option<&'static PgServer> {
    let state = STATE.get_or_init(|| {
        let state = start();
        if let State::Unavailable(reason) = &state {
            if let Ok(line) = unavailable(reason, required()) {
                // Written to the stream itself, not through `eprintln!`, so that the test
                // harness's output capture does not hide it; a failed write has nowhere to go.
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
        state
    });
    match state {
        State::Ready(server) => Some(server),
        State::Unavailable(reason) => match unavailable(reason, required()) {
            Ok(_) => None,
            Err(failure) => panic!("{failure}"),
        },
        State::Failed(message) => panic!("{message}"),
    }
}

/// Whether the environment asks for failures instead of skips.
pub fn required() -> bool {
    std::env::var_os(REQUIRE_VAR).is_some()
}

/// What to say when PostgreSQL cannot run for `reason`: the skip line, or, when `required`,
/// the failure message.
pub fn unavailable(reason: &str, required: bool) -> Result<String, String> {
    if required {
        Err(format!(
            "PostgreSQL tests cannot run and {REQUIRE_VAR} is set: {reason}"
        ))
    } else {
        Ok(format!("PostgreSQL tests skipped: {reason}"))
    }
}

fn start() -> State {
    let started = Instant::now();
    let Some(binaries) =
        locate_binaries(std::env::var_os("PATH").as_deref(), Path::new(DEBIAN_ROOT))
    else {
        return State::Unavailable(NO_INITDB.to_string());
    };
    let run_as = match RunAs::for_this_process() {
        Ok(run_as) => run_as,
        Err(reason) => return State::Unavailable(reason),
    };
    match launch(&binaries, &run_as) {
        Ok((port, dir, watchdog)) => State::Ready(PgServer {
            port,
            dir,
            binaries,
            startup: started.elapsed(),
            next_db: AtomicU64::new(0),
            _watchdog: watchdog,
        }),
        Err(message) => State::Failed(format!(
            "the test PostgreSQL ({}) did not start: {message}",
            binaries.postgres.display()
        )),
    }
}

/// `initdb` and `postgres`: `initdb` from the directories of `path` (a PATH value) with
/// `postgres` beside it or on `path`, else from the highest version under `debian_root`
/// (`<debian_root>/<version>/bin`).
pub fn locate_binaries(path: Option<&OsStr>, debian_root: &Path) -> Option<Binaries> {
    let on_path = |name: &str| {
        std::env::split_paths(path.unwrap_or_default())
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(name))
            .find(|file| is_executable(file))
    };
    if let Some(initdb) = on_path("initdb") {
        let beside = initdb.with_file_name("postgres");
        let postgres = if is_executable(&beside) {
            Some(beside)
        } else {
            on_path("postgres")
        };
        if let Some(postgres) = postgres {
            return Some(Binaries { initdb, postgres });
        }
    }
    std::fs::read_dir(debian_root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            let binaries = Binaries {
                initdb: bin.join("initdb"),
                postgres: bin.join("postgres"),
            };
            (is_executable(&binaries.initdb) && is_executable(&binaries.postgres))
                .then_some((version, binaries))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, binaries)| binaries)
}

fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Who runs `initdb` and `postgres`.
enum RunAs {
    /// The test process's own user (not root).
    Me,
    /// Another user, through a command prefix (`setpriv …` or `runuser -u … --`).
    User {
        name: String,
        uid: u32,
        gid: u32,
        prefix: Vec<OsString>,
    },
}

impl RunAs {
    fn for_this_process() -> Result<Self, String> {
        if id(&["-u"]) != Some(0) {
            return Ok(Self::Me);
        }
        let Some((name, uid, gid)) = ["postgres", "nobody"]
            .into_iter()
            .find_map(|name| Some((name.to_string(), id(&["-u", name])?, id(&["-g", name])?)))
        else {
            return Err(
                "the tests run as root, which initdb and postgres refuse, and neither \
                        the `postgres` user (Debian's postgresql package creates it) nor \
                        `nobody` exists to run them as"
                    .to_string(),
            );
        };
        let path = std::env::var_os("PATH").unwrap_or_default();
        let find = |tool: &str| {
            std::env::split_paths(&path)
                .chain(["/usr/bin".into(), "/usr/sbin".into(), "/bin".into()])
                .map(|dir| dir.join(tool))
                .find(|file| is_executable(file))
        };
        let prefix: Vec<OsString> = if let Some(setpriv) = find("setpriv") {
            vec![
                setpriv.into(),
                format!("--reuid={uid}").into(),
                format!("--regid={gid}").into(),
                "--init-groups".into(),
                "--".into(),
            ]
        } else if let Some(runuser) = find("runuser") {
            vec![
                runuser.into(),
                "-u".into(),
                name.clone().into(),
                "--".into(),
            ]
        } else {
            return Err(format!(
                "the tests run as root, which initdb and postgres refuse, and neither setpriv \
                 nor runuser (util-linux) is there to run them as `{name}`"
            ));
        };
        Ok(Self::User {
            name,
            uid,
            gid,
            prefix,
        })
    }

    fn prefix(&self) -> &[OsString] {
        match self {
            Self::Me => &[],
            Self::User { prefix, .. } => prefix,
        }
    }

    /// `program args…` as this user.
    fn command(&self, program: &Path) -> Command {
        match self.prefix().split_first() {
            None => Command::new(program),
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(program);
                command
            }
        }
    }

    /// Gives `path` to this user.
    fn own(&self, path: &Path) -> Result<(), String> {
        match self {
            Self::Me => Ok(()),
            Self::User { name, uid, gid, .. } => {
                std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                    .map_err(|e| format!("chown {} to {name}: {e}", path.display()))
            }
        }
    }

    /// Whether this user can create files in `dir` (every parent must let it through).
    fn can_write(&self, dir: &Path) -> bool {
        let mut probe = self.command(Path::new("/bin/sh"));
        probe
            .args(["-c", r#"test -w "$1" && test -x "$1""#, "sh"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        probe.status().is_ok_and(|status| status.success())
    }

    fn describe(&self) -> String {
        match self {
            Self::Me => "this process's user".to_string(),
            Self::User { name, .. } => format!("user `{name}`"),
        }
    }
}

/// `id ARGS…` as a number.
fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// A new directory for the cluster, owned by the user that runs it: under
/// `CARGO_TARGET_TMPDIR` (on the build's disk, so that `fsync` means something), else the system
/// temporary directory when that user cannot reach the former or its socket path would be too
/// long.
fn make_dir(run_as: &RunAs) -> Result<PathBuf, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut refused = Vec::new();
    let candidates = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([std::env::temp_dir()]);
    for parent in candidates {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = parent.join(format!(
            "modelgate-pg-{}-{}-{nanos:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if dir.join("sock/.s.PGSQL.65535").as_os_str().len() > MAX_SOCKET_PATH {
            refused.push(format!("{}: socket path too long", parent.display()));
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(&parent).and_then(|()| std::fs::create_dir(&dir)) {
            refused.push(format!("{}: {e}", dir.display()));
            continue;
        }
        let sock = dir.join("sock");
        let prepared = std::fs::create_dir(&sock)
            .map_err(|e| format!("{}: {e}", sock.display()))
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| format!("{}: {e}", sock.display()))
            })
            .and_then(|()| run_as.own(&dir))
            .and_then(|()| run_as.own(&sock));
        match prepared {
            Ok(()) if run_as.can_write(&dir) => return Ok(dir),
            Ok(()) => refused.push(format!(
                "{}: {} cannot write there",
                dir.display(),
                run_as.describe()
            )),
            Err(e) => refused.push(e),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    Err(format!(
        "no directory for the cluster: {}",
        refused.join("; ")
    ))
}

/// Creates the cluster and starts the server; the port, the directory and the watchdog.
fn launch(binaries: &Binaries, run_as: &RunAs) -> Result<(u16, PathBuf, Child), String> {
    let dir = make_dir(run_as)?;
    match init_and_start(binaries, run_as, &dir) {
        Ok((port, watchdog)) => Ok((port, dir, watchdog)),
        Err(Failure {
            message,
            still_running,
        }) => {
            if !still_running {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Err(message)
        }
    }
}

/// Why the server did not start, and whether it may still be running (then its watchdog
/// removes the directory when the process ends).
struct Failure {
    message: String,
    still_running: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            still_running: false,
        }
    }
}

fn init_and_start(
    binaries: &Binaries,
    run_as: &RunAs,
    dir: &Path,
) -> Result<(u16, Child), Failure> {
    let data = dir.join("data");
    let initdb_log = dir.join("initdb.log");
    let log = File::create(&initdb_log).map_err(|e| format!("{}: {e}", initdb_log.display()))?;
    let status = run_as
        .command(&binaries.initdb)
        .arg("--pgdata")
        .arg(&data)
        .args([
            &format!("--username={SUPERUSER}"),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .status()
        .map_err(|e| format!("running {}: {e}", binaries.initdb.display()))?;
    if !status.success() {
        return Err(format!(
            "initdb {status} as {}:\n{}",
            run_as.describe(),
            read(&initdb_log)
        )
        .into());
    }
    // Loopback and the private socket only (initdb's trust lines also cover ::1 and replication).
    let hba = data.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "# Throwaway test cluster: trust, on its own Unix socket and 127.0.0.1 only.\n\
         local all all trust\n\
         host all all 127.0.0.1/32 trust\n",
    )
    .map_err(|e| format!("{}: {e}", hba.display()))?;

    let mut failures = Vec::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port()?;
        match start_on(binaries, run_as, dir, port)? {
            Ok(watchdog) => return Ok((port, watchdog)),
            Err(bind_failure) => failures.push(bind_failure),
        }
    }
    Err(format!(
        "no free port after {PORT_ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    )
    .into())
}

/// A port nothing listens on right now (someone may take it before postgres does).
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("binding 127.0.0.1:0 to find a free port: {e}"))
}

/// Starts postgres on `port` under the watchdog and waits until it answers. `Ok(Err(log))` when
/// it could not bind the port (try another), `Err` for any other failure.
fn start_on(
    binaries: &Binaries,
    run_as: &RunAs,
    dir: &Path,
    port: u16,
) -> Result<Result<Child, String>, Failure> {
    let data = dir.join("data");
    let log_path = dir.join("postgres.log");
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let extra = std::env::var(SETTINGS_VAR).unwrap_or_default();
    let settings = [
        "listen_addresses=127.0.0.1".to_string(),
        format!("port={port}"),
        format!("unix_socket_directories={}", dir.join("sock").display()),
        "max_connections=200".to_string(),
        "shared_buffers=16MB".to_string(),
        // Stated, not assumed: the tests measure real durability.
        "fsync=on".to_string(),
        "synchronous_commit=on".to_string(),
        "full_page_writes=on".to_string(),
    ];
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", WATCHDOG, "modelgate-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(&data)
        .args(run_as.prefix())
        .arg(&binaries.postgres)
        .arg("-D")
        .arg(&data);
    for setting in settings
        .iter()
        .map(String::as_str)
        .chain(extra.split_whitespace())
    {
        command.arg("-c").arg(setting);
    }
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut watchdog = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting the watchdog shell: {e}"))?;

    let url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error;
    loop {
        if dir.join("exited").exists() {
            let _ = watchdog.wait();
            let log = read(&log_path);
            return if log.contains("could not bind") || log.contains("could not create any TCP") {
                Ok(Err(format!("port {port}: {}", log.trim())))
            } else {
                Err(format!("postgres exited:\n{log}").into())
            };
        }
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(mut client) => {
                // Another server may hold the port: ours answers with our data directory.
                let ours = client
                    .query_one("SHOW data_directory", &[])
                    .is_ok_and(|row| Path::new(row.get::<_, &str>(0)) == data);
                if ours {
                    let ready = dir.join("ready");
                    File::create(&ready).map_err(|e| Failure {
                        message: format!("{}: {e}", ready.display()),
                        still_running: true,
                    })?;
                    return Ok(Ok(watchdog));
                }
                last_error = format!("127.0.0.1:{port} is another server");
            }
            Err(e) => last_error = e.to_string(),
        }
        if Instant::now() > deadline {
            // The watchdog stops the server and removes the directory when the process ends.
            return Err(Failure {
                message: format!(
                    "not accepting connections after {} s ({last_error}); its log:\n{}",
                    READY_TIMEOUT.as_secs(),
                    read(&log_path)
                ),
                still_running: true,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}
