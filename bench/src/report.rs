//! Markdown tables and the figures a run collects for its ratio table.

use std::collections::BTreeMap;
use std::path::Path;

/// Named figures of one run (the runner's own, and those the cargo benchmarks it ran wrote to
/// the file named by `MODELGATE_BENCH_FIGURES`, one `name<TAB>value` per line).
#[derive(Debug, Default, Clone)]
pub struct Figures(BTreeMap<String, f64>);

impl Figures {
    /// Sets `name`.
    pub fn set(&mut self, name: &str, value: f64) {
        self.0.insert(name.to_owned(), value);
    }

    /// The figure `name`, if measured.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied().filter(|v| v.is_finite())
    }

    /// Reads the figures a benchmark wrote (lines that do not parse are skipped).
    pub fn read_file(&mut self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('\t') {
                if let Ok(v) = v.trim().parse::<f64>() {
                    self.set(k.trim(), v);
                }
            }
        }
    }
}

/// A Markdown table built row by row.
#[derive(Debug, Clone)]
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are left empty, extra ones dropped).
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.head.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.head);
        out.push_str(&format!("|{}\n", "---|".repeat(self.head.len())));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_figures() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into()]);
        assert_eq!(t.markdown(), "| a | b |\n|---|---|\n| 1 |  |\n");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "x\t1.5\nbroken\ny\tnan\n").unwrap();
        let mut f = Figures::default();
        f.read_file(&p);
        assert_eq!(f.get("x"), Some(1.5));
        assert_eq!(f.get("y"), None);
    }
}
