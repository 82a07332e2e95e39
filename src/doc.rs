//! A small document model rendered to Markdown and to a self-contained HTML page, so that the
//! two renderings of a summary or report say the same thing by construction ([`Doc`],
//! [`Section`], [`Block`]). HTML may carry extra raw fragments (inline SVG charts) that the
//! caller builds from escaped text.

use std::fmt::Write as _;

/// A document: a title and sections.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    /// The title (`#` heading, `<h1>` and `<title>`).
    pub title: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// A section: a heading and blocks.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The `##` heading.
    pub heading: String,
    /// The content.
    pub blocks: Vec<Block>,
}

/// Content of a section.
#[derive(Debug, Clone)]
pub enum Block {
    /// A paragraph of plain text.
    Para(String),
    /// A bulleted list of plain-text items.
    List(Vec<String>),
    /// A chart: an inline SVG fragment (built by the caller, every text in it escaped with
    /// [`esc`]) and its caption, which Markdown shows instead of the picture.
    Figure {
        /// What the chart shows, in words.
        caption: String,
        /// The `<svg>…</svg>` markup.
        svg: String,
    },
    /// A table: header cells and rows of plain-text cells.
    Table {
        /// Column headings.
        head: Vec<String>,
        /// Rows (each as long as `head`).
        rows: Vec<Vec<String>>,
    },
}

impl Section {
    /// A section titled `heading`.
    pub fn new(heading: impl Into<String>) -> Section {
        Section {
            heading: heading.into(),
            blocks: Vec::new(),
        }
    }

    /// Adds a paragraph.
    pub fn para(mut self, text: impl Into<String>) -> Section {
        self.blocks.push(Block::Para(text.into()));
        self
    }

    /// Adds a list, or `empty` as a paragraph when there are no items.
    pub fn list(mut self, items: Vec<String>, empty: &str) -> Section {
        self.blocks.push(if items.is_empty() {
            Block::Para(empty.to_owned())
        } else {
            Block::List(items)
        });
        self
    }

    /// Adds a chart (see [`Block::Figure`]).
    pub fn figure(mut self, caption: impl Into<String>, svg: String) -> Section {
        self.blocks.push(Block::Figure {
            caption: caption.into(),
            svg,
        });
        self
    }

    /// Adds a table, or `empty` as a paragraph when there are no rows.
    pub fn table(mut self, head: &[&str], rows: Vec<Vec<String>>, empty: &str) -> Section {
        self.blocks.push(if rows.is_empty() {
            Block::Para(empty.to_owned())
        } else {
            Block::Table {
                head: head.iter().map(|h| (*h).to_owned()).collect(),
                rows,
            }
        });
        self
    }
}

impl Doc {
    /// GitHub-flavoured Markdown (pipes and newlines in cells escaped).
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n", self.title);
        for s in &self.sections {
            let _ = write!(out, "\n## {}\n", s.heading);
            for b in &s.blocks {
                out.push('\n');
                match b {
                    Block::Para(t) => {
                        let _ = writeln!(out, "{t}");
                    }
                    Block::List(items) => {
                        for i in items {
                            let _ = writeln!(out, "- {}", i.replace('\n', " "));
                        }
                    }
                    Block::Figure { caption, .. } => {
                        let _ = writeln!(out, "*Chart: {caption}* (in the HTML version)");
                    }
                    Block::Table { head, rows } => {
                        let cell = |c: &String| c.replace('|', "\\|").replace('\n', " ");
                        let line = |cells: &[String]| {
                            format!(
                                "| {} |\n",
                                cells.iter().map(cell).collect::<Vec<_>>().join(" | ")
                            )
                        };
                        out.push_str(&line(head));
                        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                        for r in rows {
                            out.push_str(&line(r));
                        }
                    }
                }
            }
        }
        out
    }

    /// One HTML page with its own stylesheet: no scripts, no external resources.
    pub fn to_html(&self) -> String {
        let mut out =
            String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        let _ = writeln!(out, "<title>{}</title>", esc(&self.title));
        out.push_str(concat!(
            "<style>\n",
            "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a;line-height:1.45}\n",
            "table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}\n",
            "th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;vertical-align:top}\n",
            "th{background:#e8e8e8}\n",
            "tr:nth-child(even) td{background:#f6f6f6}\n",
            "code{font-size:.9em}\n",
            "</style>\n</head>\n<body>\n<main>\n"
        ));
        let _ = writeln!(out, "<h1>{}</h1>", esc(&self.title));
        for s in &self.sections {
            let _ = writeln!(out, "<section>\n<h2>{}</h2>", esc(&s.heading));
            for b in &s.blocks {
                match b {
                    Block::Para(t) => {
                        let _ = writeln!(out, "<p>{}</p>", esc(t));
                    }
                    Block::Figure { caption, svg } => {
                        let _ = writeln!(
                            out,
                            "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
                            esc(caption)
                        );
                    }
                    Block::List(items) => {
                        out.push_str("<ul>\n");
                        for i in items {
                            let _ = writeln!(out, "<li>{}</li>", esc(i));
                        }
                        out.push_str("</ul>\n");
                    }
                    Block::Table { head, rows } => {
                        out.push_str("<table>\n<thead><tr>");
                        for h in head {
                            let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
                        }
                        out.push_str("</tr></thead>\n<tbody>\n");
                        for r in rows {
                            out.push_str("<tr>");
                            for c in r {
                                let _ = write!(out, "<td>{}</td>", esc(c));
                            }
                            out.push_str("</tr>\n");
                        }
                        out.push_str("</tbody>\n</table>\n");
                    }
                }
            }
            out.push_str("</section>\n");
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_renderings_carry_the_same_cells_escaped() {
        let doc = Doc {
            title: "T <1>".into(),
            sections: vec![Section::new("S").table(
                &["a", "b"],
                vec![vec!["x|y".into(), "<script>".into()]],
                "none",
            )],
        };
        let md = doc.to_markdown();
        assert!(md.contains("| x\\|y | <script> |"), "{md}");
        let html = doc.to_html();
        assert!(html.contains("<td>&lt;script&gt;</td>"), "{html}");
        assert!(!html.contains("<script>"));
    }
}
