## GitLab 18.11 with the bundled Mattermost; the move also gives Mattermost a new address.
external_url 'https://gitlab.corp.test'
mattermost_external_url 'https://mattermost.corp.test'
mattermost['uid'] = 989
mattermost['gid'] = 989
