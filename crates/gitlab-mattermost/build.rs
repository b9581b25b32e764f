//! Turns `data/mattermost-settings.tsv` into a static table sorted by environment variable,
//! so the compiler does no parsing or sorting of its catalogue at run time.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let tsv_path = "data/mattermost-settings.tsv";
    println!("cargo:rerun-if-changed={tsv_path}");
    let tsv = std::fs::read_to_string(tsv_path).expect("the catalogue file exists");
    let mut rows: Vec<Vec<&str>> = tsv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    for r in &mut rows {
        r.resize(6, "");
        // Nested sections are listed as `MM_X_Y_<FIELD>`: index the prefix.
        r[4] = r[4].trim_end_matches("_<FIELD>");
    }
    rows.sort_by(|a, b| a[4].cmp(b[4]));
    let mut out = String::from("static SETTINGS: &[Setting] = &[\n");
    for r in rows {
        let ty = setting_type(r[2]);
        writeln!(
            out,
            "    Setting {{ category: {:?}, field: {:?}, go_type: {:?}, ty: SettingType::{ty}, default: {:?}, env_var: {:?}, notes: {:?} }},",
            r[0], r[1], r[2], r[3], r[4], r[5]
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("catalogue_data.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
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
