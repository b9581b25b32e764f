//! Test certificates made with openssl: a CA, leaves signed by it, an intermediate.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str], cwd: &Path) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl runs");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn ec_key_args() -> [&'static str; 4] {
    ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
}

/// A self-signed CA (`openssl req -x509`).
pub fn ca(dir: &Path, name: &str) -> Pair {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let mut args = vec!["req", "-x509"];
    args.extend(ec_key_args());
    args.extend([
        "-nodes", "-keyout", &key, "-out", &cert, "-days", "30", "-subj",
    ]);
    let subj = format!("/CN={name}");
    args.push(&subj);
    args.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&args, dir);
    Pair {
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

/// A certificate for `names` signed by `issuer`, valid for `days` (negative: expired).
pub fn leaf(dir: &Path, name: &str, names: &[&str], issuer: &Pair, days: i32, is_ca: bool) -> Pair {
    let (cert, key, csr, ext) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    let mut args = vec!["req"];
    args.extend(ec_key_args());
    let subj = format!("/CN={}", names.first().copied().unwrap_or(name));
    args.extend(["-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj]);
    openssl(&args, dir);
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    let ext_text = if is_ca {
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n".to_string()
    } else {
        format!(
            "subjectAltName={}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            san.join(",")
        )
    };
    std::fs::write(dir.join(&ext), ext_text).unwrap();
    let days = days.to_string();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            issuer.cert.to_str().unwrap(),
            "-CAkey",
            issuer.key.to_str().unwrap(),
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            &days,
            "-extfile",
            &ext,
        ],
        dir,
    );
    Pair {
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

/// Concatenate PEM files into one.
pub fn bundle(out: &Path, parts: &[&Path]) -> PathBuf {
    let mut s = String::new();
    for p in parts {
        s.push_str(&std::fs::read_to_string(p).unwrap());
    }
    std::fs::write(out, s).unwrap();
    out.to_path_buf()
}
