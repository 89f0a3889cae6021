"""Run in a fresh process with DJANGO_SETTINGS_MODULE=tests.pluggable.settings; prints JSON."""

import importlib.abc
import io
import json
import sys

import django


class WithoutOptionalExtras(importlib.abc.MetaPathFinder):
    """The minimal project installs the app's required dependencies only: no Celery."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"celery", "kombu"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, WithoutOptionalExtras())
django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from PIL import Image  # noqa: E402

call_command("migrate", verbosity=0)
out = io.StringIO()
call_command("issue_token", username="plug", scopes="images", stdout=out)
token = out.getvalue().strip().splitlines()[-1]

buffer = io.BytesIO()
Image.new("RGB", (400, 300), "navy").save(buffer, "JPEG")
buffer.name = "x.jpg"
buffer.seek(0)
client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_API_VERSION="12")
upload = client.post("/v2/images/", {"image": buffer, "type": "user"})
body = upload.json()
thumb = client.get(body["urls"]["thumb"].removeprefix("http://testserver"))
missing = client.get("/v2/images/999/")
rerender = io.StringIO()
call_command("rerender_images", stdout=rerender)  # in process: no Celery needed
print(
    json.dumps(
        {
            "status": upload.status_code,
            "body": body,
            "thumb_status": thumb.status_code,
            "thumb_bytes": len(b"".join(thumb.streaming_content)),
            "missing": [missing.status_code, missing.json()],
            "project_imported": any(name.split(".")[0] == "project" for name in sys.modules),
            "celery_imported": any(name.split(".")[0] == "celery" for name in sys.modules),
            "rerender": rerender.getvalue().strip().splitlines()[-1],
        }
    )
)
