//! A real full disk: the demo workspace lives on a small tmpfs that is filled up while the real
//! binary runs `check` after `check`. Every check that answered (exit 0 allow, 2 deny) has its
//! record in the ledger with the leaf hash it printed; every check that failed exits 1 with a
//! message naming the full disk, and left no record; `modelgate serve` on the full disk answers
//! a decision with 500 and readiness with 503 naming the full disk (its write probe fails), and
//! once the tmpfs is enlarged readiness is 200 by its own probe and a decision is allowed; then
//! `audit verify` passes and a new `check` is allowed.
//!
//! The tmpfs is mounted in a private mount namespace (`unshare -rm`, no root needed; or
//! `unshare -m` as root), or else directly as root. Where none of these is permitted, the test
//! says why on stderr and passes without running (CI runs as root, so it runs there).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use modelgate::ledger::{leaf_hash, parse_record, verify_lines, RecordKind};

/// Runs inside the mount namespace: `$1` binary, `$2` mount point, `$3` results directory
/// (outside the tmpfs). Writes each step's exit code and output into `$3`.
const SCRIPT: &str = r#"
set -u
bin=$1 mnt=$2 out=$3
mount -t tmpfs -o size=2m tmpfs "$mnt" || exit 90
trap 'cd /; umount "$mnt" 2>/dev/null' EXIT
"$bin" demo --dir "$mnt/ws" > "$out/demo.log" 2>&1 || exit 91
req="$mnt/ws/requests/credit-risk-scorer-production.json"
"$bin" --home "$mnt/ws" audit export --out "$out/before.jsonl" > /dev/null || exit 92
tok=$("$bin" --home "$mnt/ws" token create --role pipeline --name ci | tail -1) || exit 95
# Leave about 40 KiB free: a few commits fit, then the write-ahead log cannot grow.
avail=$(df -k "$mnt" | awk 'NR==2 {print $4}')
dd if=/dev/zero of="$mnt/filler" bs=1024 count=$((avail - 40)) 2> /dev/null
i=0 fails=0
while [ "$i" -lt 60 ] && [ "$fails" -lt 4 ]; do
  "$bin" --home "$mnt/ws" check --request "$req" > "$out/check-$i.out" 2> "$out/check-$i.err"
  code=$?
  echo "$code" > "$out/check-$i.code"
  if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then fails=$((fails + 1)); fi
  i=$((i + 1))
done
echo "$i" > "$out/checks"
# The server on the full disk: a decision fails closed, readiness probes the ledger and says it
# cannot be written; once the disk has room, readiness says so without a decision first.
"$bin" --home "$mnt/ws" serve --listen 127.0.0.1:0 > "$out/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$out/serve.log" | head -1)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || exit 96
http() { name=$1; shift; curl -s -o "$out/$name.body" -w '%{http_code}' "$@" > "$out/$name.code"; }
http full-decision -H "Authorization: Bearer $tok" --data-binary @"$req" "$url/v1/decisions"
http full-ready "$url/readyz"
mount -o remount,size=16m "$mnt" || exit 93
sleep 0.3  # probes are at least 250 ms apart (ledger::group::PROBE_INTERVAL)
http roomy-ready "$url/readyz"
http roomy-decision -H "Authorization: Bearer $tok" --data-binary @"$req" "$url/v1/decisions"
kill "$server"; wait "$server"
"$bin" --home "$mnt/ws" audit verify > "$out/verify.out" 2>&1
echo $? > "$out/verify.code"
"$bin" --home "$mnt/ws" check --request "$req" > "$out/after.out" 2>&1
echo $? > "$out/after.code"
"$bin" --home "$mnt/ws" audit export --out "$out/after.jsonl" > /dev/null || exit 94
exit 0
"#;

/// How to get a private tmpfs: a command prefix that runs `sh -c` with mount rights.
const METHODS: [(&str, &[&str]); 3] = [
    ("unshare -rm", &["unshare", "-rm", "sh", "-c"]),
    ("unshare -m", &["unshare", "-m", "sh", "-c"]),
    ("mount as root", &["sh", "-c"]),
];

fn command(prefix: &[&str], script: &str, args: &[&Path]) -> Command {
    let mut c = Command::new(prefix[0]);
    c.args(&prefix[1..]).arg(script).arg("sh").args(args);
    c.env_remove("MODELGATE_HOME");
    c
}

/// The first method that can mount (and unmount) a tmpfs here, or why none can.
fn mount_method(probe_dir: &Path) -> Result<&'static [&'static str], String> {
    let probe = r#"mount -t tmpfs -o size=64k tmpfs "$1" && umount "$1""#;
    let mut why = Vec::new();
    for (name, prefix) in METHODS {
        match command(prefix, probe, &[probe_dir]).output() {
            Ok(o) if o.status.success() => return Ok(prefix),
            Ok(o) => why.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => why.push(format!("{name}: {e}")),
        }
    }
    Err(why.join("; "))
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `(index, leaf hash)` from the `ledger index N leaf H` line of a check's text output.
fn acknowledged(text: &str) -> Option<(u64, String)> {
    let line = text.lines().find(|l| l.starts_with("ledger index "))?;
    let parts: Vec<&str> = line.split_whitespace().collect();
    Some((parts[2].parse().unwrap(), parts[4].to_owned()))
}

fn decisions(export: &str) -> usize {
    export
        .lines()
        .filter(|l| parse_record(l.as_bytes()).unwrap().kind == RecordKind::Decision)
        .count()
}

#[test]
fn a_full_disk_never_yields_an_unrecorded_answer_and_the_ledger_verifies_once_it_has_room() {
    let tmp = tempfile::tempdir().unwrap();
    let (mnt, out) = (tmp.path().join("mnt"), tmp.path().join("out"));
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let prefix = match mount_method(&mnt) {
        Ok(prefix) => prefix,
        Err(why) => {
            eprintln!("faults_disk: not run: no way to mount a tmpfs here ({why})");
            return;
        }
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_modelgate"));
    let run = command(prefix, SCRIPT, &[bin, &mnt, &out])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the drill script failed ({:?}): {}\n{}",
        run.status.code(),
        String::from_utf8_lossy(&run.stderr),
        std::fs::read_to_string(out.join("demo.log")).unwrap_or_default()
    );

    let checks: usize = read(&out, "checks").trim().parse().unwrap();
    let mut answered = Vec::new();
    let mut failed = Vec::new();
    for i in 0..checks {
        let code: i32 = read(&out, &format!("check-{i}.code"))
            .trim()
            .parse()
            .unwrap();
        let (stdout, stderr) = (
            read(&out, &format!("check-{i}.out")),
            read(&out, &format!("check-{i}.err")),
        );
        match code {
            0 | 2 => answered.push(
                acknowledged(&stdout)
                    .unwrap_or_else(|| panic!("check {i} exit {code} without a ledger line")),
            ),
            _ => {
                assert_eq!(code, 1, "check {i}: {stderr}");
                assert!(
                    acknowledged(&stdout).is_none(),
                    "a failed check printed a decision: {stdout}"
                );
                let message = stderr
                    .lines()
                    .find(|l| l.starts_with("error: "))
                    .unwrap_or_else(|| panic!("check {i} failed without an error line: {stderr}"));
                assert!(
                    message.starts_with("error: ledger")
                        && message.contains("database or disk is full"),
                    "check {i} does not say the disk is full: {message}"
                );
                failed.push(message.to_owned());
            }
        }
    }
    eprintln!(
        "{checks} checks on a full tmpfs: {} answered, {} failed; first failure: {}",
        answered.len(),
        failed.len(),
        failed.first().map_or("", |s| s.trim())
    );
    assert!(
        !answered.is_empty(),
        "no check succeeded before the disk filled"
    );
    assert!(!failed.is_empty(), "the disk never filled");

    // The server: closed while the disk is full, ready again by its own probe once it has room.
    let http = |name: &str| {
        (
            read(&out, &format!("{name}.code")),
            read(&out, &format!("{name}.body")),
        )
    };
    let (code, body) = http("full-decision");
    assert_eq!(code, "500", "a decision on a full disk: {body}");
    let (code, body) = http("full-ready");
    assert_eq!(code, "503", "readiness on a full disk: {body}");
    assert!(
        body.contains("ledger_writable\\\":false") && body.contains("database or disk is full"),
        "{body}"
    );
    let (code, body) = http("roomy-ready");
    assert_eq!(code, "200", "readiness once the disk has room: {body}");
    let (code, body) = http("roomy-decision");
    assert_eq!(code, "200", "a decision once the disk has room: {body}");
    let served: serde_json::Value = serde_json::from_str(&body).unwrap();
    answered.push((
        served["ledger"]["index"].as_u64().unwrap(),
        served["ledger"]["leaf_hash"].as_str().unwrap().to_owned(),
    ));

    assert_eq!(
        read(&out, "verify.code").trim(),
        "0",
        "{}",
        read(&out, "verify.out")
    );
    assert_eq!(
        read(&out, "after.code").trim(),
        "0",
        "no allow after the disk has room: {}",
        read(&out, "after.out")
    );
    let before = read(&out, "before.jsonl");
    let after = read(&out, "after.jsonl");
    let report = verify_lines(std::io::Cursor::new(after.as_bytes())).unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    let lines: Vec<&str> = after.lines().collect();
    for (index, leaf) in &answered {
        let line = lines
            .get(usize::try_from(*index).unwrap())
            .unwrap_or_else(|| panic!("answered record {index} is missing"));
        assert_eq!(
            &hex::encode(leaf_hash(line.as_bytes())),
            leaf,
            "record {index}"
        );
    }
    assert_eq!(
        decisions(&after),
        decisions(&before) + answered.len() + 1,
        "only the answered checks (and the one after) left decisions"
    );
}
