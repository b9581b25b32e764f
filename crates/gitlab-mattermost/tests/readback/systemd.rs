//! Reading a rendered unit back, twice: with systemd itself (`systemd-analyze verify` for
//! its complaints, and `systemd --test`, which loads the unit like PID 1 and dumps every
//! parsed setting), and with a small reader that follows systemd.syntax(7), for the one
//! setting the dump leaves out (`LoadCredential=`). The tests check that both agree on the
//! settings the dump does show.

use std::path::Path;
use std::process::Command;

const SYSTEMD: &str = "/usr/lib/systemd/systemd";

/// Whether `systemd --test` can run here; prints why a test is skipped when not.
pub fn can_dump() -> bool {
    let ok = Path::new(SYSTEMD).exists() && (!is_root() || crate::common::have("runuser"));
    if !ok {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {SYSTEMD} (and runuser, as root) is needed to load units in test mode"
        );
    }
    ok
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Make `dir` (a temporary directory) readable by the unprivileged user `systemd --test`
/// runs as.
pub fn open_up(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `systemd-analyze verify` on one unit: its complaints about that unit, if any.
pub fn verify(unit: &Path) -> Result<(), String> {
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .map_err(|e| e.to_string())?;
    let name = unit
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains(&name)).collect();
    if o.status.success() && ours.is_empty() {
        Ok(())
    } else {
        Err(format!("systemd-analyze verify: {stderr}"))
    }
}

/// Settings as `(name, value)`, in the order systemd dumped them.
pub type Fields = Vec<(String, String)>;

/// Every setting of `unit` (in `dir`) as systemd parsed it: `systemd --test` loads the unit
/// with the host's units and dumps it. Also the warnings it printed about the unit file.
pub fn dump(dir: &Path, unit: &str) -> Result<(Fields, Vec<String>), String> {
    let unit_path = format!("{}:", dir.display());
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "env"]);
        c
    } else {
        Command::new("env")
    };
    let o = cmd
        .arg("SYSTEMD_LOG_TARGET=console")
        .arg(format!("SYSTEMD_UNIT_PATH={unit_path}"))
        .arg(SYSTEMD)
        .args(["--test", "--system", "--no-pager"])
        .arg(format!("--unit={unit}"))
        .output()
        .map_err(|e| e.to_string())?;
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let warnings = text
        .lines()
        .filter(|l| l.starts_with(&dir.display().to_string()))
        .map(str::to_string)
        .collect();
    let header = format!("-> Unit {unit}:");
    let mut fields = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim_start_matches('\t');
        if trimmed.starts_with("-> Unit ") || trimmed.starts_with("-> By jobs") {
            inside = trimmed == header;
            continue;
        }
        if inside {
            if let Some((k, v)) = trimmed.split_once(": ") {
                fields.push((k.to_string(), v.to_string()));
            } else if let Some(k) = trimmed.strip_suffix(':') {
                fields.push((k.to_string(), String::new()));
            }
        }
    }
    if fields.is_empty() {
        return Err(format!("no dump of {unit} in:\n{text}"));
    }
    Ok((fields, warnings))
}

/// The values of `key` in a dump.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The arguments of a dumped `Command Line:`: words separated by spaces, quoted ones in
/// double quotes with backslash escapes (`\"`, `\\`, `\$`, C escapes, octal for control
/// characters).
pub fn dumped_command_line(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(args);
        };
        let mut arg = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quote in {s:?}")),
                    Some('"') => break,
                    Some('\\') => arg.push(c_escape(&mut chars)?),
                    Some(c) => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
}

/// One C escape after its backslash: `\n`, `\t`, …, `\xNN`, `\NNN` (octal), `\uNNNN`, or an
/// escaped character.
fn c_escape(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<char, String> {
    fn digits(
        chars: &mut std::iter::Peekable<std::str::Chars>,
        n: usize,
        radix: u32,
    ) -> Result<char, String> {
        let s: String = (0..n).filter_map(|_| chars.next()).collect();
        u32::from_str_radix(&s, radix)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| format!("bad escape digits {s:?}"))
    }
    match chars.next() {
        Some('n') => Ok('\n'),
        Some('t') => Ok('\t'),
        Some('r') => Ok('\r'),
        Some('a') => Ok('\u{7}'),
        Some('b') => Ok('\u{8}'),
        Some('f') => Ok('\u{c}'),
        Some('v') => Ok('\u{b}'),
        Some('s') => Ok(' '),
        Some('x') => digits(chars, 2, 16),
        Some('u') => digits(chars, 4, 16),
        Some('U') => digits(chars, 8, 16),
        Some(c @ '0'..='7') => {
            let rest: String = (0..2).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&format!("{c}{rest}"), 8)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| "bad octal escape".to_string())
        }
        Some(c) => Ok(c),
        None => Err("a lone backslash".into()),
    }
}

// ---- the reader -------------------------------------------------------------------------

/// The assignments of a unit file, in order: `(key, raw value)`, per systemd.syntax(7):
/// comments start with `#` or `;`, a trailing backslash joins the next line, the value is
/// stripped of surrounding whitespace.
pub fn assignments(unit: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in unit.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        if full.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = full.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Resolve specifiers: `%%` is `%`; the renderers never write any other.
pub fn specifiers(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => out.push('%'),
                other => return Err(format!("specifier %{other:?} in {s:?}")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Split a value into words like systemd's `extract_first_word()` with `EXTRACT_UNQUOTE`
/// (and `EXTRACT_CUNESCAPE` when `c_escapes`).
pub fn words(s: &str, c_escapes: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| " \t\n\r".contains(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, c) if " \t\n\r".contains(c) => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    if c_escapes {
                        word.push(c_escape(&mut chars)?);
                    } else {
                        word.push(chars.next().ok_or("a lone backslash")?);
                    }
                }
                (_, c) => word.push(c),
            }
        }
        if quote.is_some() {
            return Err(format!("unterminated quote in {s:?}"));
        }
        out.push(word);
    }
}

/// `ExecStart=` as the service gets it: the program and its arguments (with `$$` as `$`).
pub fn exec_start(value: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    for (i, w) in words(value, true)?.into_iter().enumerate() {
        let w = specifiers(&w)?;
        args.push(if i == 0 { w } else { w.replace("$$", "$") });
    }
    Ok(args)
}

/// `LoadCredential=ID:PATH`: the id up to the first `:`, the path literal to the end.
pub fn load_credential(value: &str) -> Result<(String, String), String> {
    let (id, path) = value
        .split_once(':')
        .ok_or_else(|| format!("no `:` in {value:?}"))?;
    Ok((specifiers(id)?, specifiers(path)?))
}

/// `ReadWritePaths=`: words without C escapes, each with specifiers resolved.
pub fn path_list(value: &str) -> Result<Vec<String>, String> {
    words(value, false)?.iter().map(|w| specifiers(w)).collect()
}
