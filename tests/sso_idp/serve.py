"""Start the test identity provider: migrate its own database, create its users and client, serve.

Configured by environment: IDP_DB, IDP_RSA_KEY, IDP_ISSUER, IDP_PORT and IDP_SETUP, a JSON
object ``{"users": [{"username", "email", "password", "groups"}], "client": {"client_id",
"secret", "redirect_uri"}}``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sso_idp.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import run  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0, interactive=False)
    setup = settings.IDP_SETUP
    for spec in setup.get("users", []):
        user = User.objects.create_user(
            username=spec["username"], email=spec["email"], password=spec["password"]
        )
        for name in spec.get("groups", []):
            user.groups.add(Group.objects.get_or_create(name=name)[0])
    client = setup["client"]
    Application.objects.create(
        name="pynomaly",
        client_id=client["client_id"],
        client_secret=client["secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=client["redirect_uri"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    run("127.0.0.1", int(os.environ["IDP_PORT"]), get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main()
