//! Turns the per-version catalogues `data/mattermost-settings-<version>.tsv` (generated from
//! Mattermost's own model by tools/catalogue-gen) and the hand-written notes
//! `data/mattermost-setting-notes.tsv` into static tables sorted by environment variable, so
//! the compiler does no parsing or sorting of its catalogues at run time.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// (Mattermost version, Rust name of its table). Mirror of `MattermostVersion` in
/// src/catalogue.rs.
const VERSIONS: &[(&str, &str)] = &[("10.11", "SETTINGS_10_11"), ("11.7", "SETTINGS_11_7")];
const NOTES: &str = "data/mattermost-setting-notes.tsv";

fn main() {
    println!("cargo:rerun-if-changed={NOTES}");
    let notes_text = std::fs::read_to_string(NOTES).expect("the notes file exists");
    let notes: HashMap<&str, &str> = data_rows(&notes_text)
        .filter_map(|l| l.split_once('\t'))
        .collect();
    let mut out = String::new();
    for (version, table) in VERSIONS {
        let path = format!("data/mattermost-settings-{version}.tsv");
        println!("cargo:rerun-if-changed={path}");
        let tsv = std::fs::read_to_string(&path).expect("the catalogue file exists");
        let source = tsv
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .expect("the catalogue header names its source");
        writeln!(out, "const {table}_SOURCE: &str = {source:?};").expect("writing to a String");
        write_table(&mut out, table, &tsv, &notes);
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("catalogue_data.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// Lines below the comment header and the column names.
fn data_rows(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
}

fn write_table(out: &mut String, table: &str, tsv: &str, notes: &HashMap<&str, &str>) {
    let mut rows: Vec<Vec<&str>> = data_rows(tsv).map(|l| l.split('\t').collect()).collect();
    for r in &mut rows {
        r.resize(6, "");
        // Nested sections are listed as `MM_X_Y_<FIELD>`: index the prefix.
        r[4] = r[4].trim_end_matches("_<FIELD>");
    }
    rows.sort_by(|a, b| a[4].cmp(b[4]));
    writeln!(out, "static {table}: &[Setting] = &[").expect("writing to a String");
    for r in rows {
        let ty = setting_type(r[2]);
        let key = if ty == "Nested" {
            format!("{}_<FIELD>", r[4])
        } else {
            r[4].to_string()
        };
        let note = notes.get(key.as_str()).copied().unwrap_or("");
        writeln!(
            out,
            "    Setting {{ category: {:?}, field: {:?}, go_type: {:?}, ty: SettingType::{ty}, default: {:?}, env_var: {:?}, notes: {:?} }},",
            r[0], r[1], r[2], r[3], r[4], note
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
}

/// Mirror of `SettingType::from_go` in src/catalogue.rs.
fn setting_type(go: &str) -> &'static str {
    match go.trim_start_matches('*') {
        "bool" => "Bool",
        "int" => "Int",
        "int64" => "Int64",
        "string" => "String",
        "[]string" => "StringList",
        t if t.starts_with("map[") || t.starts_with("[]") || t.starts_with("json.") => "Json",
        _ => "Nested",
    }
}
