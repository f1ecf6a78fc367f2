"""Logging out of the class hub logs out everywhere (used by jupyterhub_config.py and deploy/k8s's values).

JupyterHub's logout clears the browser's cookies and the tokens of that
browser's session, but a copy of the login cookie saved before stays valid:
it names the user's cookie id, which does not change. ``install(c)`` makes
every logout give the user a new cookie id and revoke all their OAuth tokens
(every login and server cookie of theirs, in any browser, stops working),
and stops their server (JupyterHub's ``shutdown_on_logout``), so nothing they
started keeps running. Only JupyterHub is imported: the chart's hub image
runs it as it is.
"""

from jupyterhub.handlers.login import LogoutHandler
from jupyterhub.orm import new_token


async def forget_everywhere(self) -> None:
    user = self.current_user
    if user is None:
        return
    user.orm_user.cookie_id = new_token()
    for token in list(user.orm_user.api_tokens):
        if token.oauth_client_id:
            self.db.delete(token)
    self.db.commit()
    self.log.info("Logged %s out everywhere (new cookie id, OAuth tokens revoked)", user.name)


def install(c) -> None:
    # (on the class: an authenticator's own logout handler subclasses it and keeps this step)
    LogoutHandler.handle_logout = forget_everywhere
    c.JupyterHub.shutdown_on_logout = True
