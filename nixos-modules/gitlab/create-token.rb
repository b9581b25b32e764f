# Run with `gitlab-rails runner create-token.rb ADMIN_USERNAME`, the token in
# GITLAB_MATTERMOST_TOKEN (20 characters). Makes a personal access token of the GitLab
# administrator for `gitlab-mattermost gitlab register`, valid for one day, after revoking the
# tokens a previous run left behind.
name = 'gitlab-mattermost-oauth'
admin = User.find_by_username!(ARGV.fetch(0))
raise "#{admin.username} is not a GitLab administrator" unless admin.admin?

admin.personal_access_tokens.active.where(name: name).each(&:revoke!)
token = admin.personal_access_tokens.create(scopes: ['api'], name: name, expires_at: 1.day.from_now)
token.set_token(ENV.fetch('GITLAB_MATTERMOST_TOKEN'))
token.save!
