## GitLab 18.11 and its bundled Mattermost on one machine; Mattermost stays there.
external_url 'https://gitlab.shared.test'
mattermost_external_url 'https://chat.shared.test'
