"""What the servers run once the apps are loaded."""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def refuse_on_check_errors() -> None:
    """Raise ImproperlyConfigured listing every system check error (silenced ones excepted).

    The same checks ``manage.py runserver`` runs before it serves, without the database ones.
    """
    errors = [
        message
        for message in checks.run_checks()
        if message.is_serious() and not message.is_silenced()
    ]
    if errors:
        raise ImproperlyConfigured(
            "System check errors; the server will not start:\n"
            + "\n".join(f"{message.id}: {message.msg}" for message in errors)
        )
