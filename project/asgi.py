import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_asgi_application()

from project.startup import refuse_on_check_errors  # noqa: E402  (needs the apps loaded)

refuse_on_check_errors()  # as in wsgi.py
