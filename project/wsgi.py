"""The WSGI entry point (``gunicorn project.wsgi``).

gunicorn does not run Django's system checks the way ``manage.py`` commands do, so a bad
configuration (an invalid rendition spec: images_app.E001) would only show on the first upload.
Here it stops the worker from booting instead, with the check's message in the log.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_wsgi_application()

from project.startup import refuse_on_check_errors  # noqa: E402  (needs the apps loaded)

refuse_on_check_errors()
