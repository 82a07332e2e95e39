//! The base directory every row of the tamper matrix starts from ([`Template`]) and one row's
//! copy of it ([`Victim`]), with the edits a forger makes straight to the files: record rows,
//! head row, tree nodes and checkpoints in the SQLite database, and the export's lines.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use modelgate::attest::{NoteSigner, NoteVerifier};
use modelgate::clock::{parse_rfc3339, FixedClock};
use modelgate::engine::audit;
use modelgate::ledger::{
    export_jsonl, merkle, open_checkpoint, parse_record, seal, sign_checkpoint, Checkpoint,
    MemoryNodes, RecordDraft, SqliteStore, Store,
};
use modelgate::workspace::Workspace;
use rusqlite::{params, Connection};

use super::common;
use super::ledger_support::{draft, raw};

/// Records in the base ledger.
pub const SIZE: u64 = 10;
/// Sizes of the stored (and auditor-held) checkpoints.
pub const CHECKPOINTS: [u64; 3] = [4, 8, 10];

/// A ledger export, one entry per line (each with its `\n`).
pub type Lines = Vec<Vec<u8>>;

/// A workspace in `home` whose records 1.. are `draft(index + offset)`, checkpointed at
/// [`CHECKPOINTS`].
fn build_workspace(home: &Path, offset: u64) -> Workspace {
    let clock = Arc::new(FixedClock(common::now()));
    let ws = Workspace::init(home, None, clock).unwrap();
    let mut store = ws.store().unwrap();
    let signer = ws.note_signer().unwrap();
    for size in CHECKPOINTS {
        let drafts: Vec<RecordDraft> = (store.size().unwrap()..size)
            .map(|index| draft(index + offset))
            .collect();
        store.append(&drafts).unwrap();
        audit::checkpoint(&mut store, &signer, &ws.config().origin).unwrap();
    }
    assert_eq!(store.size().unwrap(), SIZE);
    ws
}

/// The directory every row copies: `ws/`, `other/`, `auditor/`.
pub struct Template(tempfile::TempDir);

impl Template {
    pub fn new() -> Template {
        let dir = tempfile::tempdir().unwrap();
        let ws = build_workspace(&dir.path().join("ws"), 0);
        build_workspace(&dir.path().join("other"), 100);
        let auditor = dir.path().join("auditor");
        std::fs::create_dir(&auditor).unwrap();
        let store = SqliteStore::open_read_only(&ws.ledger_path()).unwrap();
        for size in CHECKPOINTS {
            let note = store.checkpoint(size).unwrap().unwrap();
            std::fs::write(auditor.join(format!("cp-{size}")), note).unwrap();
        }
        let vkey = ws.note_verifier().unwrap().to_vkey();
        std::fs::write(auditor.join("vkey"), format!("{vkey}\n")).unwrap();
        Template(dir)
    }

    /// A fresh copy for one row.
    pub fn victim(&self) -> Victim {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(self.0.path(), tmp.path());
        Victim(tmp)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A record row as stored: kind column, leaf hash column, bytes.
#[derive(Clone)]
pub struct Row {
    pub kind: String,
    pub leaf: Vec<u8>,
    pub bytes: Vec<u8>,
}

fn rows_of(conn: &Connection) -> Vec<Row> {
    let mut stmt = conn
        .prepare("SELECT kind, leaf_hash, bytes FROM records ORDER BY idx")
        .unwrap();
    let rows = stmt.query_map([], |r| {
        Ok(Row {
            kind: r.get(0)?,
            leaf: r.get(1)?,
            bytes: r.get(2)?,
        })
    });
    rows.unwrap().map(Result::unwrap).collect()
}

/// One row's copy of the template; every edit goes straight to the files.
pub struct Victim(tempfile::TempDir);

impl Victim {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }
    pub fn home(&self) -> PathBuf {
        self.path("ws")
    }
    pub fn db(&self) -> Connection {
        raw(&self.path("ws/ledger.db"))
    }
    pub fn sql(&self, sql: &str) {
        self.db().execute(sql, []).unwrap();
    }
    pub fn sql_with(&self, sql: &str, param: &str) {
        assert_eq!(self.db().execute(sql, [param]).unwrap(), 1);
    }
    pub fn other_rows(&self) -> Vec<Row> {
        rows_of(&raw(&self.path("other/ledger.db")))
    }

    /// Replaces the record rows with `f` applied to them, renumbered from 0; the head row is
    /// left alone.
    pub fn edit_rows(&self, f: impl FnOnce(&mut Vec<Row>)) {
        let conn = self.db();
        let mut rows = rows_of(&conn);
        f(&mut rows);
        conn.execute("DELETE FROM records", []).unwrap();
        for (idx, row) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO records (idx, kind, leaf_hash, bytes) VALUES (?1, ?2, ?3, ?4)",
                params![idx as i64, row.kind, row.leaf, row.bytes],
            )
            .unwrap();
        }
    }

    /// The head row made to agree with the record rows, as a careful forger would.
    pub fn fix_head(&self) {
        let conn = self.db();
        let rows = rows_of(&conn);
        let last = &rows.last().unwrap().leaf;
        conn.execute(
            "UPDATE head SET size = ?1, leaf_hash = ?2",
            params![rows.len() as i64, last],
        )
        .unwrap();
    }

    /// The records' leaf hash column as a tree.
    pub fn tree(&self) -> MemoryNodes {
        let mut tree = MemoryNodes::new();
        for row in rows_of(&self.db()) {
            tree.push(row.leaf.try_into().unwrap()).unwrap();
        }
        tree
    }

    /// The tree-node table recomputed from the leaf hash column.
    pub fn rebuild_tree(&self) {
        let conn = self.db();
        conn.execute("DELETE FROM tree_nodes", []).unwrap();
        for (level, idx, hash) in self.tree().nodes() {
            conn.execute(
                "INSERT INTO tree_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
                params![level, idx as i64, &hash[..]],
            )
            .unwrap();
        }
    }

    /// Stores under `stored_as` a checkpoint of `size` signed by `signer`, over `root` or, when
    /// `None`, over the current tree.
    pub fn put_checkpoint(
        &self,
        stored_as: u64,
        size: u64,
        root: Option<[u8; 32]>,
        signer: &NoteSigner,
    ) {
        let root = root.unwrap_or_else(|| merkle::root(&self.tree(), size).unwrap());
        let cp = Checkpoint {
            origin: signer.name().to_owned(),
            size,
            root,
            extensions: Vec::new(),
        };
        self.db()
            .execute(
                "INSERT OR REPLACE INTO checkpoints (size, note) VALUES (?1, ?2)",
                params![stored_as as i64, sign_checkpoint(&cp, signer).unwrap()],
            )
            .unwrap();
    }

    pub fn resign(&self, signer: &NoteSigner, sizes: impl IntoIterator<Item = u64>) {
        for size in sizes {
            self.put_checkpoint(size, size, None, signer);
        }
    }

    /// Records from `from` on replaced by the other ledger's, each re-sealed at its position
    /// after the previous one (chain recomputed), then the tree and the head recomputed.
    pub fn rewrite_from(&self, from: usize) {
        let theirs = self.other_rows();
        self.edit_rows(|rows| {
            for i in from..rows.len() {
                let record = parse_record(&theirs[i].bytes).unwrap();
                let draft = RecordDraft {
                    kind: record.kind,
                    time: parse_rfc3339(&record.time).unwrap(),
                    body: record.body,
                };
                let prev: [u8; 32] = rows[i - 1].leaf.clone().try_into().unwrap();
                let sealed = seal(&draft, i as u64, &prev).unwrap();
                rows[i] = Row {
                    kind: theirs[i].kind.clone(),
                    leaf: sealed.leaf_hash.to_vec(),
                    bytes: sealed.bytes,
                };
            }
        });
        self.rebuild_tree();
        self.fix_head();
    }

    /// The victim engine's signer (whoever holds the engine key).
    pub fn engine(&self) -> NoteSigner {
        Workspace::open(&self.home())
            .unwrap()
            .note_signer()
            .unwrap()
    }
    /// The other engine's key under the victim's origin: the attacker's signer.
    pub fn attacker(&self) -> NoteSigner {
        let other = Workspace::open(&self.path("other")).unwrap();
        NoteSigner::new(self.engine().name(), other.engine_key().unwrap()).unwrap()
    }
    pub fn vkey(&self) -> String {
        let text = std::fs::read_to_string(self.path("auditor/vkey")).unwrap();
        text.trim().to_owned()
    }
    pub fn note(&self, size: u64) -> String {
        std::fs::read_to_string(self.path(&format!("auditor/cp-{size}"))).unwrap()
    }
    /// The auditor's genuine checkpoints of `sizes`, opened with the vkey.
    pub fn given(&self, sizes: &[u64]) -> Vec<Checkpoint> {
        let verifier = NoteVerifier::from_vkey(&self.vkey()).unwrap();
        let trusted = std::slice::from_ref(&verifier);
        let open = |size: &u64| open_checkpoint(&self.note(*size), trusted, Some(verifier.name()));
        sizes.iter().map(|size| open(size).unwrap()).collect()
    }
    pub fn checkpoint_args(&self, sizes: &[u64]) -> Vec<String> {
        let path = |size: &u64| self.path(&format!("auditor/cp-{size}"));
        let pair = |size| ["--checkpoint".to_owned(), path(size).display().to_string()];
        sizes.iter().flat_map(pair).collect()
    }
    /// The ledger as `audit export` writes it now, one entry per line (with its `\n`).
    pub fn lines(&self) -> Lines {
        let store = SqliteStore::open_read_only(&self.path("ws/ledger.db")).unwrap();
        let mut out = Vec::new();
        export_jsonl(&store, &mut out).unwrap();
        out.split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }
}
