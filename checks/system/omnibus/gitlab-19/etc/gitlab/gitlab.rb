## GitLab configuration settings after the upgrade to GitLab 19.0: reconfigure rewrote
## gitlab-secrets.json without its mattermost section; the Mattermost keys stay here.
external_url 'https://gitlab.example-19.test'
mattermost_external_url 'https://mattermost.example-19.test'
mattermost['uid'] = 993
mattermost['gid'] = 993
nginx['redirect_http_to_https'] = true
