"""images_app works in another project: its own settings, URL prefix, storage and database."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.subprocess
def test_the_app_works_in_a_minimal_project_that_is_not_project(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.pluggable.settings",
        "PLUGGABLE_ROOT": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "tests.pluggable.run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["status"] == 200
    assert report["body"]["type"] == 2
    assert report["body"]["urls"]["thumb"].startswith("http://testserver/files/photos/1/user/")
    assert report["thumb_status"] == 200 and report["thumb_bytes"] > 0
    assert report["missing"][0] == 404
    assert report["missing"][1]["error"]["key"] == "common.not_found"
    assert report["project_imported"] is False
    assert report["celery_imported"] is False  # an optional extra: the app runs without it
    assert report["rerender"] == "1 images checked, 0 updated, 0 failed."
    assert (tmp_path / "media" / "photos").is_dir()
