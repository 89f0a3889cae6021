# The two commands a fresh machine needs: `make run` and `make test`. `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_USER ?= demo
SAMPLE := docs/sample.jpg

SERVE_BIND ?= 0.0.0.0:$(PORT)

.PHONY: help run test test-fast lint format bench loadtest scalebench serve serve-gunicorn serve-asgi clean

# The heavy tiers `make test-fast` leaves out (markers registered in pyproject.toml).
HEAVY := live or subprocess or browser or schemathesis or load

## help: list the targets and what each does
help:
	@sed -n 's/^## \{0,1\}//p' $(MAKEFILE_LIST)

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.base: requirements/base.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.test: requirements/test.txt requirements/base.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -r requirements/test.txt
	touch $@ $(VENV)/.base

$(VENV)/.bench: requirements/bench.txt requirements/base.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -r requirements/bench.txt
	touch $@

## run: install, migrate SQLite, print a demo token, a curl line and where the admin and the API
##      docs are, serve on http://HOST:PORT (default 127.0.0.1:8000; e.g. make run PORT=8080)
run: $(VENV)/.base
	$(PY) manage.py migrate --noinput -v 0
	@TOKEN=$$($(PY) manage.py issue_token --username $(DEMO_USER) --scopes images | tail -n 1); \
	echo; echo "Demo user '$(DEMO_USER)', bearer token (scope 'images'):"; echo "  $$TOKEN"; echo; \
	echo "Upload a photo (paste this in another terminal):"; echo; \
	echo "curl -X POST http://$(HOST):$(PORT)/api/images/ \\"; \
	echo "  -H 'Accept: application/json' \\"; \
	echo "  -H 'Authorization: Bearer $$TOKEN' \\"; \
	echo "  -H 'X-Api-Version: 12' \\"; \
	echo "  -F 'image=@$(CURDIR)/$(SAMPLE)' \\"; \
	echo "  -F type=product"; echo; \
	echo "API docs (Swagger UI; Authorize with the token above): http://$(HOST):$(PORT)/api/docs/"; \
	echo "Admin: http://$(HOST):$(PORT)/admin/ (make a login first: $(PY) manage.py createsuperuser)"; \
	echo "Another port: make run PORT=8080"; echo
	$(PY) manage.py runserver $(HOST):$(PORT)

## test: install the test set, lint, run the whole suite (DATABASE_URL picks the database)
test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

## test-fast: the quick loop: lint, then every test but the heavy tiers, filesystem storage only;
##            PYTEST_ARGS=--lf reruns what failed last (docs/testing.md)
test-fast: $(VENV)/.test
	$(BIN)/ruff check .
	$(PY) -m pytest -n 2 -m "not ($(HEAVY))" --storage filesystem $(PYTEST_ARGS)

## serve: production server: nginx (buffers whole requests, timeouts) in front of gunicorn, on
##        SERVE_BIND (default 0.0.0.0:PORT, PORT=8000); DJANGO_DEBUG=0 unless set; collects static files
##        first (project/serve.py; project/gunicorn.conf.py: WEB_CONCURRENCY workers, one per core)
serve: export DJANGO_DEBUG ?= 0
serve: $(VENV)/.base
	exec $(PY) -m project.serve --bind $(SERVE_BIND)

## serve-gunicorn: the same without nginx, for behind a proxy of your own that buffers requests
serve-gunicorn: export DJANGO_DEBUG ?= 0
serve-gunicorn: $(VENV)/.base
	exec $(PY) -m project.serve --bind $(SERVE_BIND) --front none

## serve-asgi: uvicorn serving project.asgi alone on SERVE_BIND: reads chunked bodies, slow senders
##             hold no thread, 408 after ASGI_READ_TIMEOUT (10 s) without progress (docs/deployment.md)
serve-asgi: export DJANGO_DEBUG ?= 0
serve-asgi: $(VENV)/.base
	exec $(PY) -m project.serve --bind $(SERVE_BIND) --server uvicorn

## loadtest: scale-out benchmark, not a test: gunicorn with 1 then 2 workers on PostgreSQL
##           (postgres://postgres@127.0.0.1:5432/loadtest) and S3 (moto); LOADTEST_ARGS=--help
loadtest: $(VENV)/.test
	$(PY) benchmarks/loadtest.py $(LOADTEST_ARGS)

## scalebench: the scale figures at 100k rows (PostgreSQL, filesystem and S3 via moto) against
##             their goals; not part of `make test`. SCALE_ARGS="--rows 1000000", --help
scalebench: $(VENV)/.test
	$(PY) -m benchmarks.scale $(SCALE_ARGS)

## bench: the render benchmark: every method in fresh processes, interleaved, ratios to the floor
bench: $(VENV)/.bench
	$(PY) -m benchmarks.render $(BENCH_ARGS)

## lint: ruff check
lint: $(VENV)/.test
	$(BIN)/ruff check .

## format: ruff format and ruff check --fix
format: $(VENV)/.test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## clean: remove the venv, the SQLite database and uploaded media
clean:
	rm -rf $(VENV) media db.sqlite3 db.sqlite3-*
