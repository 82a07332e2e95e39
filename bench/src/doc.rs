//! Rewriting the generated blocks of `docs/benchmarks.md`.
//!
//! A block is everything between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` on lines of
//! their own; the runner replaces what is between them and leaves every other line as it is.

use anyhow::{bail, Result};

fn open(name: &str) -> String {
    format!("<!-- bench:{name} -->")
}

fn close(name: &str) -> String {
    format!("<!-- /bench:{name} -->")
}

/// `doc` with the block `name` holding `content`. A block that is not there yet is added at the
/// end under a heading of its name; a block opened and not closed (or closed twice) is an error
/// naming it.
pub fn replace_block(doc: &str, name: &str, content: &str) -> Result<String> {
    let (o, c) = (open(name), close(name));
    let lines: Vec<&str> = doc.lines().collect();
    let starts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].trim() == o).collect();
    let ends: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].trim() == c).collect();
    let body = content.trim_end_matches('\n');
    match (starts.as_slice(), ends.as_slice()) {
        ([], []) => {
            let mut out = doc.trim_end_matches('\n').to_owned();
            out.push_str(&format!("\n\n## {name}\n\n{o}\n{body}\n{c}\n"));
            Ok(out)
        }
        ([s], [e]) if s < e => {
            let mut out: Vec<&str> = lines[..=*s].to_vec();
            out.extend(body.lines());
            out.extend(&lines[*e..]);
            let mut text = out.join("\n");
            text.push('\n');
            Ok(text)
        }
        _ => bail!(
            "docs/benchmarks.md: the block `{name}` must be opened once by `{o}` and closed once \
             after it by `{c}` (found {} openings and {} closings)",
            starts.len(),
            ends.len()
        ),
    }
}

/// Lowers every Markdown heading in `text` by `levels` (a benchmark's own `##` sections become
/// `####` inside the document's section).
pub fn demote_headings(text: &str, levels: usize) -> String {
    let extra = "#".repeat(levels);
    text.lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("{extra}{l}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_replaced_and_the_rest_kept() {
        let doc = "# T\n\nprose\n<!-- bench:x -->\nold\nold 2\n<!-- /bench:x -->\nafter\n";
        let out = replace_block(doc, "x", "new\n").unwrap();
        assert_eq!(
            out,
            "# T\n\nprose\n<!-- bench:x -->\nnew\n<!-- /bench:x -->\nafter\n"
        );
        // Idempotent.
        assert_eq!(replace_block(&out, "x", "new").unwrap(), out);
    }

    #[test]
    fn a_missing_block_is_added_and_a_broken_one_refused() {
        let out = replace_block("# T\n", "y", "t").unwrap();
        assert!(out.ends_with("## y\n\n<!-- bench:y -->\nt\n<!-- /bench:y -->\n"));
        let broken = "<!-- bench:z -->\nno end\n";
        let err = replace_block(broken, "z", "t").unwrap_err().to_string();
        assert!(err.contains("`z`"), "{err}");
        let reversed = "<!-- /bench:z -->\n<!-- bench:z -->\n";
        assert!(replace_block(reversed, "z", "t").is_err());
    }

    #[test]
    fn headings_are_demoted() {
        assert_eq!(
            demote_headings("## A\ntext\n| x |", 2),
            "#### A\ntext\n| x |"
        );
    }
}
