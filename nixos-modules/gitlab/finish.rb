# Run with `gitlab-rails runner finish.rb` after `gitlab-mattermost gitlab register`.
#
# GITLAB_MATTERMOST_APP_ID        the application id (uid) that registration wrote
# GITLAB_MATTERMOST_TRUST=1       mark the application trusted: GitLab then skips the
#                                 "Authorize" page, which its REST API cannot switch off
# GITLAB_MATTERMOST_REVOKE_FOR    revoke that user's tokens made by create-token.rb
uid = ENV.fetch('GITLAB_MATTERMOST_APP_ID').strip

if ENV['GITLAB_MATTERMOST_TRUST'] == '1'
  # Authn::OauthApplication is GitLab's subclass of Doorkeeper::Application (GitLab 17+).
  model = Object.const_defined?('Authn::OauthApplication') ? Authn::OauthApplication : Doorkeeper::Application
  model.find_by!(uid: uid).update!(trusted: true)
end

revoke_for = ENV.fetch('GITLAB_MATTERMOST_REVOKE_FOR', '')
unless revoke_for.empty?
  User.find_by_username!(revoke_for)
      .personal_access_tokens.active.where(name: 'gitlab-mattermost-oauth').each(&:revoke!)
end
