# Run with `gitlab-rails runner integrations-token.rb create|revoke ADMIN_USERNAME`; for
# create, the token is in GITLAB_MATTERMOST_TOKEN (20 characters). A personal access token of
# the GitLab administrator for `gitlab-mattermost integrations sync`, valid for one day; create
# revokes what an interrupted run left behind, revoke ends it once the sync is done.
name = 'gitlab-mattermost-integrations'
action, username = ARGV.fetch(0), ARGV.fetch(1)
admin = User.find_by_username!(username)
raise "#{admin.username} is not a GitLab administrator" unless admin.admin?

admin.personal_access_tokens.active.where(name: name).each(&:revoke!)
if action == 'create'
  token = admin.personal_access_tokens.create(scopes: ['api'], name: name, expires_at: 1.day.from_now)
  token.set_token(ENV.fetch('GITLAB_MATTERMOST_TOKEN'))
  token.save!
elsif action != 'revoke'
  raise "unknown action #{action}: expected create or revoke"
end
