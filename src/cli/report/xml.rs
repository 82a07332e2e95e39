//! A minimal XML writer for JUnit reports: [`Xml`] writes elements, attributes and text, and
//! [`text`] / [`attr`] escape them.
//!
//! JUnit needs nothing more than nested elements with attributes and text, so no XML crate is
//! used. Escaping follows XML 1.0: `&` and `<` (and `>`, for `]]>`) in text; additionally `"`
//! and `'` in attribute values, and tab, newline and carriage return as character references so
//! that attribute-value normalisation does not turn them into spaces. Characters XML 1.0 cannot
//! carry at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD, so a hostile model name can
//! never make the report ill-formed.

use std::fmt::Write as _;

/// Whether `c` may appear in an XML 1.0 document.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || ('\u{20}'..='\u{D7FF}').contains(&c)
        || ('\u{E000}'..='\u{FFFD}').contains(&c)
        || c >= '\u{10000}'
}

/// `s` escaped for XML character data.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// `s` escaped for a double- or single-quoted XML attribute value.
pub fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// An XML document being written, indented by two spaces per level.
#[derive(Debug)]
pub struct Xml {
    out: String,
    open: Vec<String>,
}

impl Default for Xml {
    fn default() -> Self {
        Self::new()
    }
}

impl Xml {
    /// A document with the UTF-8 XML declaration.
    pub fn new() -> Xml {
        Xml {
            out: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_owned(),
            open: Vec::new(),
        }
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, String)]) {
        let _ = write!(self.out, "{}<{name}", "  ".repeat(self.open.len()));
        for (key, value) in attrs {
            let _ = write!(self.out, " {key}=\"{}\"", attr(value));
        }
    }

    /// Opens `<name attrs…>`; close it with [`Xml::end`].
    pub fn start(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.tag(name, attrs);
        self.out.push_str(">\n");
        self.open.push(name.to_owned());
    }

    /// Closes the innermost open element.
    pub fn end(&mut self) {
        if let Some(name) = self.open.pop() {
            let _ = writeln!(self.out, "{}</{name}>", "  ".repeat(self.open.len()));
        }
    }

    /// Writes `<name attrs…/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.tag(name, attrs);
        self.out.push_str("/>\n");
    }

    /// Writes `<name attrs…>text</name>`, the text escaped and not indented (it is kept
    /// exactly as given).
    pub fn element(&mut self, name: &str, attrs: &[(&str, String)], content: &str) {
        self.tag(name, attrs);
        let _ = writeln!(self.out, ">{}</{name}>", text(content));
    }

    /// The document, with every element still open closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_escape_markup_and_keep_whitespace() {
        assert_eq!(text("a<b & c>d \"q\"\n"), "a&lt;b &amp; c&gt;d \"q\"\n");
        assert_eq!(
            attr("a<b & \"c\" 'd'\n\t\r"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&#10;&#9;&#13;"
        );
    }

    #[test]
    fn characters_xml_cannot_carry_become_replacement_characters() {
        assert_eq!(
            text("a\u{0}b\u{1b}c\u{FFFE}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(attr("\u{8}"), "\u{FFFD}");
        // Astral characters are fine.
        assert_eq!(text("😀"), "😀");
    }

    #[test]
    fn writer_nests_and_closes_elements() {
        let mut x = Xml::new();
        x.start("a", &[("n", "1 & 2".to_owned())]);
        x.empty("b", &[]);
        x.element("c", &[], "<t>");
        let out = x.finish();
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a n=\"1 &amp; 2\">\n  <b/>\n  \
             <c>&lt;t&gt;</c>\n</a>\n"
        );
    }
}
