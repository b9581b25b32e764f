## GitLab configuration settings (an Omnibus host with the bundled Mattermost, GitLab 18.11)
external_url 'https://gitlab.omnibus.test'

## GitLab Mattermost
mattermost_external_url 'https://chat.omnibus.test'
mattermost['team_site_name'] = 'Omnibus Chat'
gitlab_rails['gitlab_email_from'] = 'gitlab@omnibus.test'
