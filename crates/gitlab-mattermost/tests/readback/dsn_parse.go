// Reads one PostgreSQL URL per line on stdin and prints, per line, a JSON object with the
// parts as Mattermost's drivers see them: both lib/pq (ParseURL) and pgx (ParseConfig) take
// the URL apart with Go's net/url exactly like this.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
)

type parts struct {
	Error    string              `json:"error,omitempty"`
	User     string              `json:"user"`
	Password string              `json:"password"`
	Host     string              `json:"host"`
	Port     string              `json:"port"`
	Database string              `json:"database"`
	Query    map[string][]string `json:"query"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var p parts
		u, err := url.Parse(in.Text())
		if err != nil {
			p.Error = err.Error()
		} else {
			if u.User != nil {
				p.User = u.User.Username()
				p.Password, _ = u.User.Password()
			}
			p.Host = u.Hostname()
			p.Port = u.Port()
			p.Database = strings.TrimLeft(u.Path, "/")
			q, err := url.ParseQuery(u.RawQuery)
			if err != nil {
				p.Error = err.Error()
			}
			p.Query = q
		}
		if err := out.Encode(p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
