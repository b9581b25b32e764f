//! Hostile input, one table per class of target: every case exits 2, names the key path
//! (with file:line:col where the value has a position), never prints a secret, and leaves
//! an earlier output byte for byte as it was. Then the `exec` wrapper's own inputs (the
//! environment file and the credentials), which fail at service start with exit 1.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Written into every secret-looking value: it must never reach stderr.
const CANARY: &str = "hunter2-S3CRET";
const HTTP: &str = "external_url = \"http://mm.example.com\"\n";

struct Case {
    class: &'static str,
    name: &'static str,
    /// Layered input files, in order.
    files: Vec<(&'static str, String)>,
    /// Extra command-line arguments.
    args: Vec<String>,
    /// Substrings stderr must hold: the located key first.
    expect: Vec<String>,
    /// Substrings stderr must not hold (besides the canary).
    absent: Vec<&'static str>,
}

impl Case {
    fn new(
        class: &'static str,
        name: &'static str,
        file: &'static str,
        text: impl Into<String>,
        expect: &[&str],
    ) -> Case {
        Case {
            class,
            name,
            files: vec![(file, text.into())],
            args: Vec::new(),
            expect: expect.iter().map(|s| s.to_string()).collect(),
            absent: Vec::new(),
        }
    }

    fn also(mut self, file: &'static str, text: impl Into<String>) -> Case {
        self.files.push((file, text.into()));
        self
    }

    fn args(mut self, args: &[&str]) -> Case {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    fn absent(mut self, absent: &[&'static str]) -> Case {
        self.absent = absent.to_vec();
        self
    }
}

/// A TOML case whose file starts with a valid http external URL (line 1).
fn http(class: &'static str, name: &'static str, rest: &str, expect: &[&str]) -> Case {
    Case::new(class, name, "bad.toml", format!("{HTTP}{rest}"), expect)
}

fn systemd_cases() -> Vec<Case> {
    let c = "systemd";
    let long_component = format!("/var/{}", "x".repeat(256));
    let long_path = format!("/{}", "abcdefgh/".repeat(460));
    vec![
        http(
            c,
            "user with a newline and a directive",
            "[account]\nuser = \"mattermost\\nExecStartPre=+/bin/sh -c id\"\n",
            &["bad.toml:3:8: account.user:", "systemd-sysusers"],
        ),
        http(
            c,
            "local-mode socket with a newline and a directive",
            "[settings]\n\"ServiceSettings.EnableLocalMode\" = true\n\"ServiceSettings.LocalModeSocketLocation\" = \"/run/mattermost/s\\nExecStartPre=+/bin/sh -c id\"\n",
            &["bad.toml:4:45: settings.ServiceSettings.LocalModeSocketLocation:", "control characters"],
        ),
        http(
            c,
            "local-mode socket leaving the runtime directory",
            "[settings]\n\"ServiceSettings.EnableLocalMode\" = true\n\"ServiceSettings.LocalModeSocketLocation\" = \"/run/mattermost/../../etc/s.socket\"\n",
            &["bad.toml:4:45: settings.ServiceSettings.LocalModeSocketLocation:", "normalized"],
        ),
        http(
            c,
            "user root",
            "[account]\nuser = \"root\"\n",
            &["bad.toml:3:8: account.user:", "must not run as root"],
        ),
        http(
            c,
            "group root",
            "[account]\ngroup = \"root\"\n",
            &["bad.toml:3:9: account.group:", "must not run as root"],
        ),
        http(
            c,
            "user nobody",
            "[account]\nuser = \"nobody\"\n",
            &["bad.toml:3:8: account.user:", "must never own files"],
        ),
        http(
            c,
            "group nogroup",
            "[account]\ngroup = \"nogroup\"\n",
            &["bad.toml:3:9: account.group:", "must never own files"],
        ),
        http(
            c,
            "user too long",
            "[account]\nuser = \"abcdefghijklmnopqrstuvwxyz0123456\"\n",
            &["bad.toml:3:8: account.user:", "at most 31 characters"],
        ),
        http(
            c,
            "user starting with a digit",
            "[account]\nuser = \"1mm\"\n",
            &["bad.toml:3:8: account.user:", "starts with a letter"],
        ),
        http(
            c,
            "user with a space",
            "[account]\nuser = \"mm user\"\n",
            &["bad.toml:3:8: account.user:", "ASCII letters"],
        ),
        http(
            c,
            "group with a dollar",
            "[account]\ngroup = \"mm$\"\n",
            &["bad.toml:3:9: account.group:", "ASCII letters"],
        ),
        http(
            c,
            "empty user",
            "[account]\nuser = \"\"\n",
            &["bad.toml:3:8: account.user:", "empty string"],
        ),
        http(
            c,
            "uid 65535",
            "[account]\nuid = 65535\n",
            &["bad.toml:3:7: account.uid:", "systemd reserves this id"],
        ),
        http(
            c,
            "gid 65534",
            "[account]\ngid = 65534\n",
            &["bad.toml:3:7: account.gid:", "nobody"],
        ),
        http(
            c,
            "gid 0",
            "[account]\ngid = 0\n",
            &["bad.toml:3:7: account.gid:", "root"],
        ),
        http(
            c,
            "data dir with a newline",
            "[directories]\ndata = \"/var/lib/mm\\nExecStartPre=/bin/sh\"\n",
            &["bad.toml:3:8: directories.data:", "control characters"],
        ),
        http(
            c,
            "data dir ending in a space",
            "[directories]\ndata = \"/var/lib/mm \"\n",
            &["bad.toml:3:8: directories.data:", "end in whitespace"],
        ),
        http(
            c,
            "data dir ending in a backslash",
            "[directories]\ndata = '/var/lib/mm\\'\n",
            &["bad.toml:3:8: directories.data:", "join the next line"],
        ),
        http(
            c,
            "data dir with ..",
            "[directories]\ndata = \"/var/lib/../mm\"\n",
            &["bad.toml:3:8: directories.data:", "normalized path"],
        ),
        http(
            c,
            "data dir with //",
            "[directories]\ndata = \"/var//lib/mm\"\n",
            &["bad.toml:3:8: directories.data:", "without `//`"],
        ),
        http(
            c,
            "data dir with a colon",
            "[directories]\ndata = \"/var/lib/mm:x\"\n",
            &["bad.toml:3:8: directories.data:", "/etc/passwd"],
        ),
        http(
            c,
            "data dir that is the root",
            "[directories]\ndata = \"/\"\n",
            &[
                "bad.toml:3:8: directories.data:",
                "a directory the system shares",
            ],
        ),
        http(
            c,
            "logs dir that is the system's",
            "[directories]\nlogs = \"/var/log\"\n",
            &[
                "bad.toml:3:8: directories.logs:",
                "a directory the system shares",
            ],
        ),
        http(
            c,
            "socket dir at the top",
            "[database]\nsocket_dir = \"/run\"\n",
            &[
                "bad.toml:3:14: database.socket_dir:",
                "a directory the system shares",
            ],
        ),
        http(
            c,
            "logs dir with a tab",
            "[directories]\nlogs = \"/var/log/a\\tb\"\n",
            &["bad.toml:3:8: directories.logs:", "control characters"],
        ),
        http(
            c,
            "plugins dir relative",
            "[directories]\nplugins = \"plugins\"\n",
            &["bad.toml:3:11: directories.plugins:", "absolute path"],
        ),
        http(
            c,
            "a path component too long",
            &format!("[directories]\nconfig = \"{long_component}\"\n"),
            &["bad.toml:3:10: directories.config:", "at most 255 bytes"],
        ),
        http(
            c,
            "a path too long",
            &format!("[directories]\nclient_plugins = \"{long_path}\"\n"),
            &[
                "bad.toml:3:18: directories.client_plugins:",
                "shorter than 4096 bytes",
            ],
        ),
        http(
            c,
            "wrapper with a quote",
            "[mattermost]\nwrapper = \"/usr/local/bin/gitlab\\\"mattermost\"\n",
            &[
                "bad.toml:3:11: mattermost.wrapper:",
                "quotes and backslashes",
            ],
        ),
        http(
            c,
            "wrapper with a backslash",
            "[mattermost]\nwrapper = '/usr/local/bin/gm\\x'\n",
            &[
                "bad.toml:3:11: mattermost.wrapper:",
                "quotes and backslashes",
            ],
        ),
        http(
            c,
            "wrapper relative",
            "[mattermost]\nwrapper = \"gitlab-mattermost\"\n",
            &["bad.toml:3:11: mattermost.wrapper:", "absolute path"],
        ),
        http(
            c,
            "install dir with ..",
            "[mattermost]\ninstall_dir = \"/opt/../mattermost\"\n",
            &["bad.toml:3:15: mattermost.install_dir:", "normalized path"],
        ),
        http(
            c,
            "socket dir relative",
            "[database]\nsocket_dir = \"run/postgresql\"\n",
            &["bad.toml:3:14: database.socket_dir:", "absolute path"],
        ),
        http(
            c,
            "files dir with a newline",
            "[file_storage]\ndirectory = \"/srv/mm\\n\"\n",
            &[
                "bad.toml:3:13: file_storage.directory:",
                "control characters",
            ],
        ),
        http(
            c,
            "relative install dir on the command line",
            "",
            &["--install-dir:", "expected an absolute path"],
        )
        .args(&["--install-dir", "etc/gitlab-mattermost"]),
    ]
}

fn dsn_cases() -> Vec<Case> {
    let c = "dsn";
    let external = "[database]\nkind = \"external\"\nhost = \"db.example.com\"\npassword_file = \"/run/secrets/db\"\n";
    vec![
        http(
            c,
            "empty database name",
            "[database]\nname = \"\"\n",
            &["bad.toml:3:8: database.name:", "empty string"],
        ),
        http(
            c,
            "database name too long",
            &format!("[database]\nname = \"{}\"\n", "d".repeat(64)),
            &["bad.toml:3:8: database.name:", "at most 63 bytes"],
        ),
        http(
            c,
            "database name starting with a slash",
            "[database]\nname = \"/mm\"\n",
            &["bad.toml:3:8: database.name:", "cannot start with `/`"],
        ),
        http(
            c,
            "database name with a NUL",
            "[database]\nname = \"mm\\u0000x\"\n",
            &["bad.toml:3:8: database.name:", "NUL byte"],
        ),
        http(
            c,
            "empty database role",
            "[database]\nuser = \"\"\n",
            &["bad.toml:3:8: database.user:", "empty string"],
        ),
        http(
            c,
            "host with a semicolon",
            &external.replace("db.example.com", "db;evil"),
            &["bad.toml:4:8: database.host:", "host name"],
        ),
        http(
            c,
            "host with a user",
            &external.replace("db.example.com", "admin@db.example.com"),
            &["bad.toml:4:8: database.host:", "host name"],
        ),
        http(
            c,
            "host that is half an address",
            &external.replace("db.example.com", "10.1"),
            &["bad.toml:4:8: database.host:", "not all digits"],
        ),
        http(
            c,
            "host with a port",
            &external.replace("db.example.com", "db.example.com:5432"),
            &["bad.toml:4:8: database.host:", "host name"],
        ),
        http(
            c,
            "host with a query",
            &external.replace("db.example.com", "db?sslmode=disable"),
            &["bad.toml:4:8: database.host:", "host name"],
        ),
        http(
            c,
            "read replicas",
            &format!("{external}read_replicas = [\"r1:99999\", \"\", \"r2:abc\"]\n"),
            &[
                "bad.toml:6:18: database.read_replicas.0:",
                "1 to 65535",
                "bad.toml:6:30: database.read_replicas.1:",
                "empty string",
                "bad.toml:6:34: database.read_replicas.2:",
                "port number",
            ],
        ),
        http(
            c,
            "replica with an open bracket",
            &format!("{external}read_replicas = [\"[2001:db8::6\"]\n"),
            &["bad.toml:6:18: database.read_replicas.0:", "closing `]`"],
        ),
        http(
            c,
            "sslmode with a parameter",
            "[database]\nsslmode = \"disable&sslmode=require\"\n",
            &[
                "bad.toml:3:11: database.sslmode:",
                "expected one of disable",
            ],
        ),
        http(
            c,
            "database port zero",
            "[database]\nport = 0\n",
            &["bad.toml:3:8: database.port:", "at least 1"],
        ),
    ]
}

fn nginx_cases() -> Vec<Case> {
    let c = "nginx";
    let https = |host: &str| {
        format!("external_url = \"https://{host}\"\n[nginx]\ncertificate = \"/c.pem\"\ncertificate_key = \"/k.pem\"\n")
    };
    vec![
        Case::new(
            c,
            "host with a semicolon",
            "bad.toml",
            https("chat.example.com;evil"),
            &["bad.toml:1:16: external_url:", "host name"],
        ),
        http(
            c,
            "site URL host with a semicolon",
            "site_url = \"https://chat.example.com;evil\"\n",
            &["bad.toml:2:12: site_url:", "host name"],
        ),
        Case::new(
            c,
            "host with a brace",
            "bad.toml",
            https("chat{.example.com"),
            &["bad.toml:1:16: external_url:", "host name"],
        ),
        Case::new(
            c,
            "host with a dollar",
            "bad.toml",
            https("$host.example.com"),
            &["bad.toml:1:16: external_url:", "host name"],
        ),
        Case::new(
            c,
            "host with an underscore",
            "bad.toml",
            https("chat_1.example.com"),
            &["bad.toml:1:16: external_url:", "host name"],
        ),
        Case::new(
            c,
            "certificate path with a variable",
            "bad.toml",
            https("chat.example.com").replace("/c.pem", "/etc/ssl/$host.pem"),
            &["bad.toml:3:15: nginx.certificate:", "no escape for it"],
        ),
        Case::new(
            c,
            "certificate path with include",
            "bad.toml",
            https("chat.example.com").replace("/c.pem", "/etc/ssl/c.pem;include /etc/passwd;$x"),
            &["bad.toml:3:15: nginx.certificate:", "variable"],
        ),
        http(
            c,
            "header value with a newline",
            "[nginx.proxy_headers]\nX-A = \"a\\nadd_header X 1\"\n",
            &[
                "bad.toml:3:7: nginx.proxy_headers.X-A:",
                "control characters",
            ],
        ),
        http(
            c,
            "header value with a bare dollar",
            "[nginx.proxy_headers]\nX-A = \"costs 5$\"\n",
            &["bad.toml:3:7: nginx.proxy_headers.X-A:", "nginx variable"],
        ),
        http(
            c,
            "header value with an unknown variable",
            "[nginx.proxy_headers]\nX-A = \"$nope\"\n",
            &[
                "bad.toml:3:7: nginx.proxy_headers.X-A:",
                "no variable `$nope`",
            ],
        ),
        http(
            c,
            "header value with an open variable",
            "[nginx.proxy_headers]\nX-A = \"${host\"\n",
            &["bad.toml:3:7: nginx.proxy_headers.X-A:", "nginx variable"],
        ),
        http(
            c,
            "header value with surrounding space",
            "[nginx.proxy_headers]\nX-A = \" a\"\n",
            &["bad.toml:3:7: nginx.proxy_headers.X-A:", "whitespace"],
        ),
        http(
            c,
            "header name with a space",
            "[nginx.proxy_headers]\n\"X A\" = \"a\"\n",
            &["bad.toml:3:1: nginx.proxy_headers.X A:", "header name"],
        ),
        http(
            c,
            "header name with a brace",
            "[nginx.proxy_headers]\n\"X{\" = \"a\"\n",
            &["bad.toml:3:1: nginx.proxy_headers.X{:", "header name"],
        ),
        http(
            c,
            "raw lines closing the server block",
            "[nginx]\nserver_config = \"}\\nserver { listen 81; }\"\n",
            &[
                "bad.toml:3:17: nginx.server_config:",
                "line 1",
                "close the server block",
            ],
        ),
        http(
            c,
            "raw lines with an open quote",
            "[nginx]\nserver_config = \"add_header X \\\"a;\\n\"\n",
            &["bad.toml:3:17: nginx.server_config:", "quote is not closed"],
        ),
        http(
            c,
            "raw lines without a semicolon",
            "[nginx]\nserver_config = \"return 200\"\n",
            &[
                "bad.toml:3:17: nginx.server_config:",
                "does not end with `;`",
            ],
        ),
        http(
            c,
            "listen address with a semicolon",
            "[nginx]\nlisten_addresses = [\"127.0.0.1;\"]\n",
            &["bad.toml:3:21: nginx.listen_addresses.0:", "IPv4 address"],
        ),
        http(
            c,
            "body size with a semicolon",
            "[nginx]\nclient_max_body_size = \"1m; include x\"\n",
            &[
                "bad.toml:3:24: nginx.client_max_body_size:",
                "size like 100m",
            ],
        ),
        http(
            c,
            "upstream address with a semicolon",
            "[listen]\naddress = \"127.0.0.1;\"\n",
            &["bad.toml:3:11: listen.address:", "host name"],
        ),
    ]
}

fn environment_cases() -> Vec<Case> {
    let c = "environment";
    vec![
        http(c, "name with export", "[environment]\n\"export FOO\" = \"bar\"\n", &["bad.toml:3:1: environment.export FOO:", "variable name"]),
        http(c, "name with a space", "[environment]\n\"MY VAR\" = \"1\"\n", &["bad.toml:3:1: environment.MY VAR:", "variable name"]),
        http(c, "name with a dash", "[environment]\nA-B = \"1\"\n", &["bad.toml:3:1: environment.A-B:", "variable name"]),
        http(c, "name starting with a digit", "[environment]\n1A = \"1\"\n", &["bad.toml:3:1: environment.1A:", "not starting with a digit"]),
        http(c, "value with a NUL", "[environment]\nFOO = \"a\\u0000b\"\n", &["bad.toml:3:7: environment.FOO:", "NUL byte"]),
        http(c, "value too long for execve", &format!("[environment]\nBIG = \"{}\"\n", "x".repeat(140_000)), &["bad.toml:3:7: environment.BIG:", "E2BIG"]),
        http(c, "setting too long for execve", &format!("[settings.TeamSettings]\nCustomDescriptionText = \"{}\"\n", "x".repeat(140_000)), &["bad.toml:3:25: settings.TeamSettings.CustomDescriptionText:", "E2BIG"]),
        http(c, "environment too large in all", &format!("[environment]\n{}", (0..9).map(|i| format!("V{i} = \"{}\"\n", "x".repeat(120_000))).collect::<String>()), &["error: the environment is", "bytes, more than"]),
        http(c, "file variable with a bad name", "[environment_files]\n\"A B\" = \"/run/secrets/x\"\n", &["bad.toml:3:1: environment_files.A B:", "variable name"]),
        http(c, "file variable that is a setting", "[environment_files]\nMM_SQLSETTINGS_ATRESTENCRYPTKEY = \"/run/secrets/x\"\n", &["bad.toml:3:1: environment_files.MM_SQLSETTINGS_ATRESTENCRYPTKEY:", "setting_files"]),
        http(c, "variable set twice", "[environment]\nhttps_proxy = \"http://proxy:3128\"\n[environment_files]\nhttps_proxy = \"/run/secrets/proxy\"\n", &["bad.toml:5:15: environment_files.https_proxy:", "also set in `environment`"]),
    ]
}

fn secret_cases() -> Vec<Case> {
    let c = "secrets";
    vec![
        http(c, "a password where its file belongs", &format!("[smtp]\npassword_file = \"{CANARY}\"\n"), &["bad.toml:3:17: smtp.password_file:", "not shown"]),
        http(c, "a secret where its file belongs", &format!("[gitlab]\nsecret_file = \"{CANARY}\"\n"), &["bad.toml:3:15: gitlab.secret_file:", "not shown"]),
        http(c, "an S3 key where its file belongs", &format!("[file_storage]\nsecret_access_key_file = \"{CANARY}\\n\"\n"), &["bad.toml:3:26: file_storage.secret_access_key_file:", "not shown"]),
        http(c, "a setting secret where its file belongs", &format!("[setting_files]\n\"SqlSettings.AtRestEncryptKey\" = \"{CANARY}\"\n"), &["bad.toml:3:34: setting_files.SqlSettings.AtRestEncryptKey:", "not shown"]),
        http(c, "a proxy password where its file belongs", &format!("[environment_files]\nhttps_proxy = \"http://u:{CANARY}@proxy:3128\"\n"), &["bad.toml:3:15: environment_files.https_proxy:", "not shown"]),
        http(c, "a private key pasted into its path", &format!("[nginx]\nhttps = false\ncertificate_key = \"-----BEGIN PRIVATE KEY----- {CANARY}\"\n"), &["bad.toml:4:19: nginx.certificate_key:", "not shown"]),
        http(c, "a list where a password file belongs", &format!("[database]\npassword_file = [\"{CANARY}\"]\n"), &["bad.toml:3:17: database.password_file:", "expected a string, found a list"]),
        Case::new(c, "a JSON number where a secret file belongs", "bad.json", format!("{{\"external_url\": \"http://mm.example.com\",\n \"gitlab\": {{\"id_file\": {{\"v\": \"{CANARY}\"}}}}}}"), &["bad.json:2:24: gitlab.id_file:", "expected a string, found a table"]),
        http(c, "password inside GitLab's URL", &format!("[gitlab]\nurl = \"https://root:{CANARY}@gitlab.example.com\"\n"), &["bad.toml:3:7: gitlab.url:", "no user name or password"]),
        http(c, "password inside a GitLab endpoint", &format!("[gitlab]\ntoken_endpoint = \"https://root:{CANARY}@gitlab.example.com/oauth/token\"\n"), &["bad.toml:3:18: gitlab.token_endpoint:", "no user name or password"]),
        http(c, "password inside the site URL", &format!("site_url = \"https://root:{CANARY}@chat.example.com\"\n"), &["bad.toml:2:12: site_url:", "not shown"]),
        Case::new(c, "password inside the external URL", "bad.toml", format!("external_url = \"http://root:{CANARY}@mm.example.com\"\n"), &["bad.toml:1:16: external_url:", "not shown"]),
        http(c, "password inside the proxy URL", &format!("[environment]\nhttps_proxy = \"http://u:{CANARY}@proxy.example.com:3128\"\n"), &["bad.toml:3:15: environment.https_proxy:", "password inside its URL", "environment_files.https_proxy"]),
        http(c, "password inside a proxy without a scheme", &format!("[environment]\nHTTP_PROXY = \"u:{CANARY}@proxy.example.com:3128\"\n"), &["bad.toml:3:14: environment.HTTP_PROXY:", "password inside its URL"]),
        http(c, "AWS secret in the environment", &format!("[environment]\nAWS_SECRET_ACCESS_KEY = \"{CANARY}\"\n"), &["bad.toml:3:25: environment.AWS_SECRET_ACCESS_KEY:", "secret by its name", "environment_files.AWS_SECRET_ACCESS_KEY"]),
        http(c, "a token in the environment", &format!("[environment]\nGITHUB_TOKEN = \"{CANARY}\"\n"), &["bad.toml:3:16: environment.GITHUB_TOKEN:", "secret by its name"]),
        http(c, "credentials in the S3 endpoint", &format!("[file_storage]\nendpoint = \"minio:{CANARY}@minio.example.com:9000\"\n"), &["bad.toml:3:12: file_storage.endpoint:", "not shown", "file_storage.secret_access_key_file"]),
        http(c, "password inside a setting's URL", &format!("[settings.ElasticsearchSettings]\nConnectionURL = \"https://elastic:{CANARY}@es.example.com:9200\"\n"), &["bad.toml:3:17: settings.ElasticsearchSettings.ConnectionURL:", "password inside its URL", "setting_files"]),
    ]
}

fn number_cases() -> Vec<Case> {
    let c = "numbers";
    vec![
        http(c, "port as a float", "[smtp]\nport = 587.0\n", &["bad.toml:3:8: smtp.port:", "expected an integer, found 587.0"]),
        http(c, "port with a fraction", "[listen]\nport = 8065.5\n", &["bad.toml:3:8: listen.port:", "expected an integer, found 8065.5"]),
        http(c, "uid as a float", "[account]\nuid = 1.0e3\n", &["bad.toml:3:7: account.uid:", "expected an integer, found 1000.0"]),
        http(c, "batching interval as a float", "[smtp.batching]\ninterval = 30.0\n", &["bad.toml:3:12: smtp.batching.interval:", "expected an integer"]),
        http(c, "uid that breaks sysusers", "[account]\nuid = 4294967295\n", &["bad.toml:3:7: account.uid:", "systemd reserves this id"]),
        http(c, "gid beyond 32 bits", "[account]\ngid = 99999999999\n", &["bad.toml:3:7: account.gid:", "at most 4294967294"]),
        http(c, "negative timeout", "[nginx]\nproxy_read_timeout = -1\n", &["bad.toml:3:22: nginx.proxy_read_timeout:", "at least 0"]),
        http(c, "database name as a date", "[database]\nname = 1979-05-27\n", &["bad.toml:3:8: database.name:", "TOML date-time", "write it in quotes"]),
        http(c, "setting as a date-time", "[settings.TeamSettings]\nSiteName = 1979-05-27T07:32:00Z\n", &["bad.toml:3:12: settings.TeamSettings.SiteName:", "TOML date-time"]),
        Case::new(c, "JSON key twice", "bad.json", "{\"external_url\": \"http://a.example.com\",\n \"external_url\": \"http://b.example.com\"}", &["bad.json:2:2: external_url:", "given twice (first at line 1, column 2)"]),
        Case::new(c, "JSON nested key twice", "bad.json", "{\"external_url\": \"http://mm.example.com\",\n \"smtp\": {\"port\": 25,\n  \"port\": 587}}", &["bad.json:3:3: smtp.port:", "given twice"]),
        Case::new(c, "Nix port as a float", "bad.nix", "{\n  external_url = \"http://mm.example.com\";\n  listen.port = 80.0;\n}", &["bad.nix:3:17: listen.port:", "expected an integer, found 80.0"]),
        Case::new(c, "JSON port as a float", "bad.json", "{\"external_url\": \"http://mm.example.com\",\n \"database\": {\"port\": 5432.0}}", &["bad.json:2:23: database.port:", "expected an integer, found 5432.0"]),
        http(c, "boolean as a string", "[smtp]\nenable = \"yes\"\n", &["bad.toml:3:10: smtp.enable:", "expected a boolean"]),
        http(c, "port as a string", "[database]\nport = \"5432\"\n", &["bad.toml:3:8: database.port:", "expected an integer, found \"5432\""]),
    ]
}

fn at_once_cases() -> Vec<Case> {
    let c = "at once";
    vec![
        Case::new(c, "URL path, port, relative directory and sslmode", "bad.toml",
            "external_url = \"https://mm.example.com/chat\"\n[smtp]\nport = \"x\"\n[directories]\ndata = \"var/lib/mm\"\n[database]\nsslmode = \"sometimes\"\n",
            &["bad.toml:1:16: external_url:", "bad.toml:3:8: smtp.port:", "bad.toml:5:8: directories.data:", "bad.toml:7:11: database.sslmode:", "4 errors found"]),
        Case::new(c, "a broken external URL does not stop the other checks", "bad.toml",
            "external_url = \"not a url\"\n[account]\nuser = \"root\"\n[nginx.proxy_headers]\nX-A = \"a$\"\n",
            &["bad.toml:1:16: external_url:", "bad.toml:3:8: account.user:", "bad.toml:5:7: nginx.proxy_headers.X-A:", "3 errors found"])
            // No https requirement is judged on a URL that could not be read, and no
            // requirement on a user name that was refused.
            .absent(&["nginx.certificate", "peer authentication"]),
        Case::new(c, "an unreadable external URL does not stop the other checks", "bad.toml",
            "external_url = 42\n[database]\nname = \"\"\n",
            &["bad.toml:1:16: external_url:", "expected a string", "bad.toml:3:8: database.name:", "2 errors found"]),
        Case::new(c, "a parse error does not hide type errors in the other files", "base.toml",
            "external_url = \"http://mm.example.com\"\n[smtp\nport = 1\n",
            &["base.toml:2:6:", "invalid TOML", "site.json:2:20: smtp.port:", "expected an integer", "site.json:3:22: listen.port:", "3 errors found" ])
            .also("site.json", "{\n  \"smtp\": {\"port\": \"x\"},\n  \"listen\": {\"port\": 70000}\n}")
            .absent(&["missing required key"]),
        Case::new(c, "a parse error does not hide the values of the other files", "a.json",
            "{\"external_url\": ",
            &["a.json:1:", "invalid JSON", "b.toml:2:8: account.user:", "--set #1: database.port:"])
            .also("b.toml", "[account]\nuser = \"root\"\n")
            .args(&["--set", "database.port=0"])
            .absent(&["missing required key", "database.user"]),
        Case::new(c, "a bad value does not bring spurious errors of its section", "bad.toml",
            format!("{HTTP}[database]\nkind = \"postgres\"\nhost = \"db;x\"\npassword_file = \"/run/secrets/db\"\n"),
            &["bad.toml:3:8: database.kind:", "expected one of", "bad.toml:4:8: database.host:", "2 errors found"])
            // A local database would not use a host; but the kind was meant to be something else.
            .absent(&["peer authentication"]),
        Case::new(c, "inline secret, float, date-time and unknown setting together", "bad.toml",
            format!("{HTTP}[smtp]\npassword = \"{CANARY}\"\nport = 25.0\n[database]\nname = 2024-01-01\n[settings]\nMM_NOPE = 1\n"),
            &["bad.toml:3:12: smtp.password:", "bad.toml:4:8: smtp.port:", "bad.toml:6:8: database.name:", "bad.toml:8:1: settings.MM_NOPE:", "4 errors found"]),
        Case::new(c, "missing external URL with other problems", "bad.toml",
            "[account]\nuid = 0\n[nginx]\nclient_max_body_size = \"huge\"\n",
            &["missing required key \"external_url\"", "bad.toml:2:7: account.uid:", "bad.toml:4:24: nginx.client_max_body_size:", "3 errors found"]),
    ]
}

fn all_cases() -> Vec<Case> {
    [
        systemd_cases(),
        dsn_cases(),
        nginx_cases(),
        environment_cases(),
        secret_cases(),
        number_cases(),
        at_once_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn run_case(c: &Case, dir: &Path, out: &Path) -> Result<(), String> {
    let mut cmd = bin();
    cmd.current_dir(dir).arg("render");
    for (name, text) in &c.files {
        write(dir, name, text);
        cmd.arg(name);
    }
    let o = cmd
        .arg("--out")
        .arg(out)
        .args(&c.args)
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
    let mut problems = Vec::new();
    if o.status.code() != Some(2) {
        problems.push(format!("exit {:?}", o.status.code()));
    }
    for want in &c.expect {
        if !stderr.contains(want.as_str()) {
            problems.push(format!("missing {want:?}"));
        }
    }
    for unwanted in c.absent.iter().copied().chain([CANARY]) {
        if stderr.contains(unwanted) {
            problems.push(format!("holds {unwanted:?}"));
        }
    }
    if !stderr.contains("nothing was written") {
        problems.push("no summary line".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "[{}] {}: {}\n{stderr}",
            c.class,
            c.name,
            problems.join(", ")
        ))
    }
}

#[test]
fn every_hostile_input_exits_2_names_its_key_and_keeps_earlier_output() {
    let cases = all_cases();
    let mut per_class: Vec<(&str, usize)> = Vec::new();
    for c in &cases {
        match per_class.iter_mut().find(|(k, _)| *k == c.class) {
            Some((_, n)) => *n += 1,
            None => per_class.push((c.class, 1)),
        }
    }
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{} cases: {per_class:?}", cases.len());
    }
    assert!(cases.len() >= 80, "{} cases", cases.len());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("full.toml"), &out, &[]);
    let before = read_tree(&out);
    let mut failures = Vec::new();
    for c in &cases {
        let dir = tempfile::tempdir_in(tmp.path()).unwrap();
        if let Err(e) = run_case(c, dir.path(), &out) {
            failures.push(e);
        }
        assert!(
            read_tree(&out) == before,
            "{}: the earlier output changed",
            c.name
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// ---- the exec wrapper ---------------------------------------------------------------------

/// `exec` with an environment file and credentials: exit code and stderr.
fn exec(
    env: &[u8],
    credentials: &[(&str, Option<&[u8]>)],
    mappings: &[&str],
) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let env_file = tmp.path().join("mattermost.env");
    std::fs::write(&env_file, env).unwrap();
    let creds = tmp.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    for (name, content) in credentials {
        match content {
            Some(bytes) => std::fs::write(creds.join(name), bytes).unwrap(),
            None => std::fs::create_dir(creds.join(name)).unwrap(),
        }
    }
    let mut cmd = Command::new(bin_path());
    cmd.arg("exec").arg("--env-file").arg(&env_file);
    for m in mappings {
        cmd.args(["--credential", m]);
    }
    let o = cmd
        .args(["--", "true"])
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

type ExecCase<'a> = (
    &'a str,
    Vec<u8>,
    Vec<(&'a str, Option<&'a [u8]>)>,
    Vec<&'a str>,
    i32,
    Vec<&'a str>,
);

#[test]
fn exec_refuses_bad_environment_files_and_credentials_by_line_and_name() {
    let big = vec![b'x'; 140_000];
    // (name, environment file, credentials (None: a directory), --credential mappings,
    // exit code, what stderr must hold)
    let cases: Vec<ExecCase> = vec![
        (
            "export prefix",
            b"A=1\nB=2\nexport FOO=bar\n".to_vec(),
            vec![],
            vec![],
            1,
            vec!["line 3:", "\"export FOO\" is not a variable name"],
        ),
        (
            "name with a space",
            b"MY VAR=1\n".to_vec(),
            vec![],
            vec![],
            1,
            vec!["line 1:", "\"MY VAR\""],
        ),
        (
            "name with a dash",
            b"A=1\n\nA-B=1\n".to_vec(),
            vec![],
            vec![],
            1,
            vec!["line 3:", "\"A-B\""],
        ),
        (
            "NUL byte",
            b"A=1\nB=x\0y\n".to_vec(),
            vec![],
            vec![],
            1,
            vec!["line 2:", "NUL byte"],
        ),
        (
            "not UTF-8",
            b"A=1\nB=2\nC=3\nD=\xff\n".to_vec(),
            vec![],
            vec![],
            1,
            vec!["line 4:", "not UTF-8"],
        ),
        (
            "unterminated quote",
            b"A=\"open\n".to_vec(),
            vec![],
            vec![],
            1,
            vec!["line 2:", "unterminated double quote"],
        ),
        (
            "empty credential",
            b"A=1\n".to_vec(),
            vec![("smtp_password", Some(b"\n"))],
            vec!["smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD"],
            1,
            vec!["credential \"smtp_password\" is empty"],
        ),
        (
            "credential that is a directory",
            b"A=1\n".to_vec(),
            vec![("smtp_password", None)],
            vec!["smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD"],
            1,
            vec!["credential \"smtp_password\" is a directory"],
        ),
        (
            "credential not UTF-8",
            b"A=1\n".to_vec(),
            vec![("smtp_password", Some(b"hunter2-S3CRET\xff"))],
            vec!["smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD"],
            1,
            vec!["credential \"smtp_password\" is not UTF-8"],
        ),
        (
            "credential with a NUL",
            b"A=1\n".to_vec(),
            vec![("smtp_password", Some(b"hunter2-S3CRET\0x"))],
            vec!["smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD"],
            1,
            vec!["credential \"smtp_password\" contains a NUL byte"],
        ),
        (
            "missing credential",
            b"A=1\n".to_vec(),
            vec![],
            vec!["smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD"],
            1,
            vec!["credential \"smtp_password\" is missing"],
        ),
        (
            "credential too long for execve",
            b"A=1\n".to_vec(),
            vec![("big", Some(&big))],
            vec!["big=MM_BIG"],
            1,
            vec!["MM_BIG:", "E2BIG"],
        ),
        (
            "variable name of a mapping",
            b"A=1\n".to_vec(),
            vec![],
            vec!["smtp_password=MM-X"],
            2,
            vec!["VARIABLE of letters, digits and `_`"],
        ),
        (
            "credential name of a mapping",
            b"A=1\n".to_vec(),
            vec![],
            vec!["../x=MM_X"],
            2,
            vec!["NAME a credential"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, env, creds, maps, code, expect) in &cases {
        let (got, stderr) = exec(env, creds, maps);
        if got != Some(*code) {
            failures.push(format!("{name}: exit {got:?}, not {code}:\n{stderr}"));
        }
        for want in expect {
            if !stderr.contains(want) {
                failures.push(format!("{name}: missing {want:?} in:\n{stderr}"));
            }
        }
        if stderr.contains(CANARY) {
            failures.push(format!("{name}: printed the secret:\n{stderr}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
