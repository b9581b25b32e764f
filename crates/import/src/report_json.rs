//! `import --json`: the report for scripts. The same sections as the text report (carried,
//! derived, secrets, skipped, dropped, renamed/removed), each item with where it came from,
//! the counts, and the files the import wrote. Like the text report it names secret files,
//! never a secret's value.

use serde_json::{json, Value};

use crate::report::Item;
use crate::{ImportArgs, Imported};

/// The report as one pretty-printed JSON object.
pub fn render(args: &ImportArgs, imported: &Imported) -> String {
    let r = &imported.report;
    let sections: [(&str, &[Item]); 6] = [
        ("carried", &r.carried),
        ("derived", &r.derived),
        ("secrets", &r.secrets),
        ("skipped", &r.skipped),
        ("dropped", &r.dropped),
        ("renamed", &r.renamed),
    ];
    let mut report = serde_json::Map::new();
    report.insert("source".into(), json!(r.source));
    let mut counts = serde_json::Map::new();
    for (name, items) in sections {
        counts.insert(name.into(), json!(items.len()));
        report.insert(name.into(), Value::Array(items_json(items)));
    }
    report.insert("counts".into(), Value::Object(counts));
    let config = args
        .out
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    let secret_files: Vec<String> = imported
        .secret_files
        .iter()
        .map(|(path, _value)| path.display().to_string())
        .collect();
    report.insert(
        "written".into(),
        json!({
            "config": config.map(|p| p.display().to_string()),
            "secret_files": secret_files,
        }),
    );
    serde_json::to_string_pretty(&Value::Object(report)).unwrap_or_default()
}

/// In the text report's order: by origin (gitlab.rb by line, then config.json, then Omnibus's
/// defaults), then by text.
fn items_json(items: &[Item]) -> Vec<Value> {
    let mut sorted: Vec<&Item> = items.iter().collect();
    sorted.sort_by(|a, b| a.origin.cmp(&b.origin).then_with(|| a.text.cmp(&b.text)));
    sorted
        .into_iter()
        .map(|i| {
            json!({
                "origin": i.origin.as_ref().map(|o| o.to_string()),
                "text": i.text,
            })
        })
        .collect()
}
