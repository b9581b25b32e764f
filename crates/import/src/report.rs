//! The import report: what was carried, derived, skipped and dropped, and which secret files
//! to create. Printed on stderr; it never holds a secret value (only where to find it).

use std::fmt;
use std::sync::Arc;

/// Where something came from, for the report. File names are the paths as given on the
/// command line, so every position can be opened as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A gitlab.rb statement: the file, line, column and the key as written.
    Rb {
        file: Arc<str>,
        line: u32,
        column: u32,
        key: String,
    },
    /// A config.json setting path, in that file.
    ConfigJson { file: Arc<str>, path: String },
    /// Something Omnibus did implicitly (its default or a derivation).
    Omnibus(String),
    /// A NixOS option by its full name (`services.mattermost.siteUrl`), or a line of a file
    /// one names.
    Nixos(String),
}

impl Origin {
    pub fn rb(file: &Arc<str>, pos: gitlab_rb::Pos, key: impl fmt::Display) -> Origin {
        Origin::Rb {
            file: Arc::clone(file),
            line: pos.line,
            column: pos.column,
            key: key.to_string(),
        }
    }

    pub fn config_json(file: &Arc<str>, path: impl Into<String>) -> Origin {
        Origin::ConfigJson {
            file: Arc::clone(file),
            path: path.into(),
        }
    }

    /// The file and position, as a diagnostic's origin (gitlab.rb statements only).
    pub fn diag(&self) -> Option<crate::diag::Origin> {
        match self {
            Origin::Rb {
                file, line, column, ..
            } => Some(crate::diag::Origin {
                source: file.to_string(),
                pos: Some(crate::diag::Pos {
                    line: *line as usize,
                    column: *column as usize,
                }),
            }),
            Origin::ConfigJson { file, .. } => Some(crate::diag::Origin {
                source: file.to_string(),
                pos: None,
            }),
            Origin::Omnibus(_) | Origin::Nixos(_) => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Rb {
                file,
                line,
                column,
                key,
            } => write!(f, "{file}:{line}:{column} {key}"),
            Origin::ConfigJson { file, path } => write!(f, "{file} {path}"),
            Origin::Omnibus(what) => write!(f, "Omnibus {what}"),
            Origin::Nixos(what) => write!(f, "{what}"),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub origin: Option<Origin>,
    pub text: String,
}

/// The report's sections, in the order they are printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The gitlab.rb path as given, for the heading.
    pub source: String,
    pub carried: Vec<Item>,
    pub derived: Vec<Item>,
    pub secrets: Vec<Item>,
    pub skipped: Vec<Item>,
    pub dropped: Vec<Item>,
    pub renamed: Vec<Item>,
}

/// Which section an item goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Carried,
    Derived,
    Secrets,
    Skipped,
    Dropped,
    Renamed,
}

impl Report {
    pub fn new(source: &str) -> Report {
        Report {
            source: source.to_string(),
            ..Report::default()
        }
    }

    pub fn add(&mut self, section: Section, origin: Option<Origin>, text: impl Into<String>) {
        let item = Item {
            origin,
            text: text.into(),
        };
        let list = match section {
            Section::Carried => &mut self.carried,
            Section::Derived => &mut self.derived,
            Section::Secrets => &mut self.secrets,
            Section::Skipped => &mut self.skipped,
            Section::Dropped => &mut self.dropped,
            Section::Renamed => &mut self.renamed,
        };
        list.push(item);
    }

    /// Every item's text in one section, for tests and lookups.
    pub fn texts(&self, section: Section) -> Vec<String> {
        let list = match section {
            Section::Carried => &self.carried,
            Section::Derived => &self.derived,
            Section::Secrets => &self.secrets,
            Section::Skipped => &self.skipped,
            Section::Dropped => &self.dropped,
            Section::Renamed => &self.renamed,
        };
        list.iter().map(|i| i.to_string()).collect()
    }

    fn sorted(items: &[Item]) -> Vec<&Item> {
        let mut v: Vec<&Item> = items.iter().collect();
        // Source order first (gitlab.rb by line), then config.json, then Omnibus defaults.
        v.sort_by(|a, b| a.origin.cmp(&b.origin).then_with(|| a.text.cmp(&b.text)));
        v
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(o) => write!(f, "{o}: {}", self.text),
            None => write!(f, "{}", self.text),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "import report for {}", self.source)?;
        let sections: [(&str, &[Item]); 6] = [
            ("carried", &self.carried),
            ("derived", &self.derived),
            ("secrets", &self.secrets),
            ("skipped", &self.skipped),
            ("dropped", &self.dropped),
            ("renamed/removed settings", &self.renamed),
        ];
        for (title, items) in sections {
            writeln!(f, "\n{title} ({}):", items.len())?;
            if items.is_empty() {
                writeln!(f, "  (none)")?;
            }
            for item in Report::sorted(items) {
                let text = item.to_string();
                let mut lines = text.lines();
                if let Some(first) = lines.next() {
                    writeln!(f, "  - {first}")?;
                }
                for more in lines {
                    writeln!(f, "    {more}")?;
                }
            }
        }
        write!(
            f,
            "\nsummary: {} carried, {} derived, {} secret file(s), {} skipped, {} dropped, {} renamed/removed",
            self.carried.len(),
            self.derived.len(),
            self.secrets.len(),
            self.skipped.len(),
            self.dropped.len(),
            self.renamed.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_print_in_order_with_origins() {
        let mut r = Report::new("/etc/gitlab/gitlab.rb");
        let file: Arc<str> = "/etc/gitlab/gitlab.rb".into();
        r.add(
            Section::Dropped,
            Some(Origin::rb(
                &file,
                gitlab_rb::Pos::new(3, 1),
                "mattermost['x']",
            )),
            "unknown",
        );
        r.add(Section::Carried, None, "a");
        let text = r.to_string();
        let carried = text.find("carried (1)").expect("carried section");
        let dropped = text.find("dropped (1)").expect("dropped section");
        assert!(carried < dropped);
        assert!(text.contains("\n  - /etc/gitlab/gitlab.rb:3:1 mattermost['x']: unknown\n"));
        assert!(text.contains("skipped (0):\n  (none)"));
    }
}
