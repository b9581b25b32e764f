//! nginx's configuration syntax.
//!
//! A directive argument that holds anything but plain characters is written in double quotes,
//! where `\` and `"` are backslash-escaped and `;`, `{`, `}`, `#`, quotes and whitespace lose
//! their meaning ([`arg`]). `$` cannot be escaped: nginx reads `$name` as a variable wherever
//! variables are allowed (certificate paths since 1.15.9, header values), so a literal `$` is
//! refused ([`literal_problem`]) and a header value may only use it to name a variable
//! ([`header_value_problem`]).

/// Characters written as they are; anything else makes the argument quoted.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-:=+,@~$[]".contains(c)
}

/// One directive argument: as it is when plain, else double-quoted with `\` and `"` escaped.
pub fn arg(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Why `s` cannot be a literal argument (a path), if it cannot.
pub fn literal_problem(s: &str) -> Option<&'static str> {
    if s.chars().any(char::is_control) {
        return Some("nginx arguments cannot hold control characters");
    }
    s.contains('$').then_some(
        "nginx reads `$` as the start of a variable and has no escape for it: rename the file or directory",
    )
}

/// Why `value` cannot be a `proxy_set_header` value, if it cannot: no control characters
/// (they would end the HTTP header), no surrounding whitespace (HTTP drops it), and `$` only
/// to name a variable (`$host`, `${msec}`).
pub fn header_value_problem(value: &str) -> Option<String> {
    if value.chars().any(char::is_control) {
        return Some("a header value cannot hold control characters such as a newline".into());
    }
    if value.trim() != value {
        return Some("a header value cannot start or end with whitespace (HTTP drops it)".into());
    }
    let bytes = value.as_bytes();
    let mut i = 0;
    while let Some(off) = value.get(i..).and_then(|rest| rest.find('$')) {
        let start = i + off + 1;
        let name_len = |from: usize| {
            bytes
                .get(from..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count()
        };
        let (name_start, next) = if bytes.get(start) == Some(&b'{') {
            let n = name_len(start + 1);
            (
                start + 1,
                (n > 0 && bytes.get(start + 1 + n) == Some(&b'}')).then_some(start + n + 2),
            )
        } else {
            let n = name_len(start);
            (start, (n > 0).then_some(start + n))
        };
        let Some(n) = next else {
            return Some(
                "`$` starts an nginx variable (`$host`, `${msec}`) and cannot be escaped; a literal `$` cannot be sent"
                    .into(),
            );
        };
        let name = value
            .get(name_start..n)
            .unwrap_or_default()
            .trim_end_matches('}');
        if !is_known_variable(name) {
            return Some(format!(
                "nginx has no variable `${name}` (nginx -t would refuse the config); `$` cannot be escaped, so a literal `$` cannot be sent"
            ));
        }
        i = n;
    }
    None
}

/// nginx's own variables (core, proxy, ssl, upstream, realip modules) and the families with
/// a name after a prefix (`$http_user_agent`), plus the map the rendered `http.conf` defines.
/// Variables a host defines in its own nginx config are not known here.
pub fn is_known_variable(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "arg_",
        "cookie_",
        "http_",
        "sent_http_",
        "sent_trailer_",
        "upstream_cookie_",
        "upstream_http_",
        "upstream_trailer_",
    ];
    const NAMES: &[&str] = &[
        "args",
        "binary_remote_addr",
        "body_bytes_sent",
        "bytes_sent",
        "connection",
        "connection_requests",
        "connection_time",
        "content_length",
        "content_type",
        "document_root",
        "document_uri",
        "host",
        "hostname",
        "https",
        "http2",
        "is_args",
        "limit_rate",
        "msec",
        "nginx_version",
        "pid",
        "pipe",
        "proxy_protocol_addr",
        "proxy_protocol_port",
        "proxy_protocol_server_addr",
        "proxy_protocol_server_port",
        "query_string",
        "realpath_root",
        "remote_addr",
        "remote_port",
        "remote_user",
        "request",
        "request_body",
        "request_body_file",
        "request_completion",
        "request_filename",
        "request_id",
        "request_length",
        "request_method",
        "request_time",
        "request_uri",
        "scheme",
        "server_addr",
        "server_name",
        "server_port",
        "server_protocol",
        "status",
        "tcpinfo_rtt",
        "tcpinfo_rttvar",
        "tcpinfo_snd_cwnd",
        "tcpinfo_rcv_space",
        "time_iso8601",
        "time_local",
        "uri",
        "proxy_host",
        "proxy_port",
        "proxy_add_x_forwarded_for",
        "realip_remote_addr",
        "realip_remote_port",
        "ssl_alpn_protocol",
        "ssl_cipher",
        "ssl_ciphers",
        "ssl_client_cert",
        "ssl_client_escaped_cert",
        "ssl_client_fingerprint",
        "ssl_client_i_dn",
        "ssl_client_raw_cert",
        "ssl_client_s_dn",
        "ssl_client_serial",
        "ssl_client_v_end",
        "ssl_client_v_remain",
        "ssl_client_v_start",
        "ssl_client_verify",
        "ssl_curve",
        "ssl_curves",
        "ssl_early_data",
        "ssl_protocol",
        "ssl_server_name",
        "ssl_session_id",
        "ssl_session_reused",
        "upstream_addr",
        "upstream_bytes_received",
        "upstream_bytes_sent",
        "upstream_cache_status",
        "upstream_connect_time",
        "upstream_header_time",
        "upstream_queue_time",
        "upstream_response_length",
        "upstream_response_time",
        "upstream_status",
        "gitlab_mattermost_connection",
    ];
    NAMES.contains(&name)
        || PREFIXES
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// Why raw lines for the inside of a `server` block would not stay inside it, if they would
/// not: every `{` closed, no `}` that closes the server block, every directive ended by `;`,
/// every quote closed. The line of the problem comes with it.
pub fn raw_block_problem(text: &str) -> Option<(usize, String)> {
    let mut r = RawReader {
        line: 1,
        ..RawReader::default()
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            r.line += 1;
        }
        if let Some(problem) = r.step(c, &mut chars) {
            return Some((r.line, problem.into()));
        }
    }
    if r.quote.is_some() {
        return Some((r.line, "a quote is not closed".into()));
    }
    if r.words > 0 {
        return Some((r.line, "the last directive does not end with `;`".into()));
    }
    (r.depth > 0).then(|| (r.line, "a `{` is not closed".into()))
}

/// The state of [`raw_block_problem`]'s walk through the text, following nginx's own reader
/// (`ngx_conf_read_token`).
#[derive(Default)]
struct RawReader {
    line: usize,
    depth: usize,
    /// Words of the directive being read.
    words: usize,
    in_word: bool,
    in_comment: bool,
    quote: Option<char>,
    /// Inside `${…}`.
    in_variable: bool,
    last: Option<char>,
}

impl RawReader {
    fn step(
        &mut self,
        c: char,
        chars: &mut std::iter::Peekable<std::str::Chars>,
    ) -> Option<&'static str> {
        let last = self.last.replace(c);
        if self.in_comment {
            self.in_comment = c != '\n';
            return None;
        }
        if let Some(q) = self.quote {
            if c == '\\' {
                if chars.next() == Some('\n') {
                    self.line += 1;
                }
            } else if c == q {
                self.quote = None;
            }
            return None;
        }
        match c {
            c if c.is_whitespace() => self.in_word = false,
            '#' if !self.in_word => self.in_comment = true,
            '"' | '\'' if !self.in_word => {
                self.quote = Some(c);
                self.words += 1;
                self.in_word = true;
            }
            '{' if self.in_word && last == Some('$') => self.in_variable = true,
            '}' if self.in_variable => self.in_variable = false,
            ';' => {
                if self.words == 0 {
                    return Some("unexpected `;`");
                }
                self.words = 0;
                self.in_word = false;
            }
            '{' => {
                if self.words == 0 {
                    return Some("unexpected `{`");
                }
                self.depth += 1;
                self.words = 0;
                self.in_word = false;
            }
            '}' => {
                if self.words > 0 {
                    return Some("a directive before `}` does not end with `;`");
                }
                if self.depth == 0 {
                    return Some("this `}` would close the server block");
                }
                self.depth -= 1;
                self.in_word = false;
            }
            '\\' => {
                if !self.in_word {
                    self.words += 1;
                    self.in_word = true;
                }
                if chars.next() == Some('\n') {
                    self.line += 1;
                }
            }
            _ => {
                if !self.in_word {
                    self.words += 1;
                    self.in_word = true;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_when_needed() {
        assert_eq!(arg("$host"), "$host");
        assert_eq!(arg("t=$msec"), "t=$msec");
        assert_eq!(arg("/etc/ssl/c d;{}.pem"), "\"/etc/ssl/c d;{}.pem\"");
        assert_eq!(arg("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn dollars_only_name_variables() {
        for ok in [
            "$host",
            "t=$msec",
            "${msec}x",
            "plain",
            "a{b}",
            "$host$uri",
            "$http_x_a",
        ] {
            assert_eq!(header_value_problem(ok), None, "{ok}");
        }
        for bad in [
            "$", "a$", "$-x", "${x", "${}", " x", "x\n", "a\rb", "$a", "$http_", "${nope}",
        ] {
            assert!(header_value_problem(bad).is_some(), "{bad:?}");
        }
        assert!(literal_problem("/etc/ssl/$host.pem").is_some());
        assert!(literal_problem("/etc/ssl/a b;{}.pem").is_none());
    }

    #[test]
    fn raw_lines_stay_inside_the_server_block() {
        for ok in [
            "",
            "location = /robots.txt {\n    return 200 \"User-agent: *\\nDisallow: /\\n\";\n}\n",
            "add_header X-A \"}\";  # a } in a comment\n",
            "set $x \"${host}\";\n",
        ] {
            assert_eq!(raw_block_problem(ok), None, "{ok}");
        }
        for (bad, line) in [
            ("}\nserver { listen 1; }", 1),
            ("location / {\n", 2),
            ("return 200\n", 2),
            ("add_header X \"open;\n", 2),
            ("a;\n;\n", 2),
        ] {
            let (l, _) = raw_block_problem(bad).unwrap_or_else(|| panic!("{bad:?}"));
            assert_eq!(l, line, "{bad:?}");
        }
    }
}
