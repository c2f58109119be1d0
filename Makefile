# Developer entry points. `make test` is what CI runs (.ci/run) and what the README says.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JOBS ?= 12

.PHONY: venv demo test torture

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)

# pip builds a local tree in place (build/, *.egg-info): build a clean copy instead, so the demo
# leaves the checkout as it found it (without the test tools' caches and Azurite's node_modules: 360 MB).
demo: $(PY)
	@work="$$(mktemp -d)" && trap 'rm -rf "$$work"' EXIT && \
	  tar --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.egg-info' \
	      --exclude=./state --exclude=__pycache__ --exclude=./.hypothesis --exclude=./.pytest_cache \
	      --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=node_modules -cf - . | tar -C "$$work" -xf - && \
	  $(PY) -m pip install -q "$$work"
	$(VENV)/bin/shipper run --once -c config/demo.yaml

# --reruns: the end-to-end tests drive real processes, servers and timers on a 2-CPU machine; one that
# fails is run again (at most twice) and the summary counts it under "rerun", so a flaky test shows
# without costing a run. A test that fails three times fails the run. --durations names the slowest.
# -n $(JOBS): pytest-xdist worker processes, 12 by default (JOBS=0: one process). The tests mostly wait on
# real servers, processes and the agent's own timers, and each takes its own ports, folders, tmpfs, PostgreSQL
# and Azurite, so more workers than cores pay: on a quiet 2-core host pytest took 17:44 with 4 (about half the
# CPU idle), 14:14 with 6 and 10:33 with 8, each run passing (session 15; the run costs ~850 s of CPU). Session 26:
# ~1,420 s of CPU, 15:01 with 8 (157 % of the 2 cores used); 10 from then (the clean clone's time: CHANGELOG).
# Session 29, one clean clone of 10d26eb run both ways on the quiet host: 10 workers 13:39 (148 %, 1 rerun), 12
# workers 12:49 (162 %, no rerun), the same ~1,300 s of CPU; 12 from then.
# --dist loadfile keeps a file's tests in one worker (its module fixtures start once); --no-loadscope-reorder
# hands the files out in tests/conftest.py's order, the slow ones first (xdist's own order, by number of
# tests, put the single-test slow files last, and a worker ended the run alone on them).
# ruff and mypy (pyproject.toml) first: seconds, and they name what pytest would trip over later;
# then the example plugin strictly against shipper.api's types, as a third party's mypy would see them.
# The bytecode is written once before the run (compileall; pytest's rewritten test modules by a collection):
# where PYTHONDONTWRITEBYTECODE is set (this team's hosts), every agent, checkpoint writer and parse worker the
# tests start compiled shipper's modules again, and every xdist worker rewrote every test module — 30-40 % of
# the CPU of the end-to-end tests measured (session 18). Reading bytecode is not affected by that variable.
test: $(PY)
	scripts/install-test-deps.sh
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q -e examples/shipper-plugin-example
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	MYPYPATH=. $(VENV)/bin/mypy --strict --follow-imports=silent --cache-dir .mypy_cache/example examples/shipper-plugin-example/src
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m compileall -q -j 0 -x node_modules shipper plugins examples tests bench >/dev/null
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -q -p no:cacheprovider --collect-only >/dev/null
	$(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) --dist loadfile --no-loadscope-reorder --reruns 2 --reruns-delay 1 --durations=25

# The tailer's torture harness (tests/torture/harness.py): N seeded schedules from SEED, strict
# exactly-once, deterministic (virtual clocks, a file system of its own: a seed's outcome is the same at
# any load); a failing seed is printed with its timing and replays with N=1 (ARGS=--timing T).
# ARGS=--overtaken adds a descriptor budget and scans overtaken by rotations; ARGS=--timings K runs each
# seed at K paces; ARGS=--no-holder leaves out the holder of rotated files (stepped by the schedule since
# session 18: seeds found before replay with it); ARGS=--real-time is the slow layer (real clocks, the shared
# disk, no holder).
SEED ?= 1
N ?= 200
STEPS ?= 60
ARGS ?=
torture: $(PY)
	$(PY) -m tests.torture.harness --seed $(SEED) --n $(N) --steps $(STEPS) $(ARGS)

# The reload/stop chaos harness (tests/chaos/harness.py): a real agent, two strict Fluentd peers, a writer rotating
# at 1,000 lines/s, and for SECONDS per seed a schedule drawn from the seed (reloads, SIGTERM right after SIGHUP,
# stops, SIGSTOP, peers down or holding acks); every line counted at each peer at the end. The same seed gives the
# same actions, the timing is real: a failing seed is printed with its replay (N=1). N defaults to 1 here.
SECONDS ?= 240
.PHONY: chaos
chaos: $(PY)
	$(PY) -m tests.chaos.harness --seed $(SEED) --n $(if $(filter file,$(origin N)),1,$(N)) --seconds $(SECONDS) $(ARGS)

# The long-running soak (bench/soak.py): rotations, reloads and output outages for DURATION seconds;
# RSS, fds, threads and state size over time, every line counted at the end.
DURATION ?= 600
.PHONY: soak
soak: $(PY)
	$(PY) bench/soak.py --duration $(DURATION)

# The interpreter the CPU benches quote (bench/cpu_per_event.py --python): the one production runs on.
# docs/operations.md installs the agent into a venv of the distribution's python3; Debian 12's is built
# profile-guided and link-time optimised with libpython linked into the executable, and the same code took
# ~20 % less CPU a record on it than on the pyenv build (libpython3.11.so, no PGO) this team's .venv is made
# from (bench/README.md, sessions 20-21). `make test` keeps $(PYTHON): the suite's outcome does not depend on it.
BENCH_PYTHON ?= /usr/bin/python3
BENCH_VENV ?= .venv-bench
RECORDS ?= 400000
ROUNDS ?= 7
PRODUCTS ?= datameer
PYTHONS ?= $(BENCH_VENV)/bin/python
# BENCH_NICE=-15 (root): each timed run in a scheduler autogroup of its own at that nice, on a host shared with
# other sessions' work (bench/cpu_per_event.py --autogroup-nice).
BENCH_NICE ?=
.PHONY: bench-venv bench-cpu
$(BENCH_VENV)/bin/python:
	$(BENCH_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -e .

bench-venv: $(BENCH_VENV)/bin/python

# Issue 19's table on the production interpreter, each interpreter with its own bare loop;
# PYTHONS=".venv-bench/bin/python .venv/bin/python" puts the test venv's beside it.
# PRODUCTS=datameer,databricks,posit_connect_json,cloudera_ai,puppet_enterprise: every product's table (the
# corpora's record makers import no pytest: the bench venv, which has none, writes them all).
bench-cpu: $(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python bench/cpu_per_event.py --records $(RECORDS) --rounds $(ROUNDS) --products $(PRODUCTS) \
	  $(foreach p,$(PYTHONS),--python $(p)) $(if $(BENCH_NICE),--autogroup-nice $(BENCH_NICE))

# Install on this host (venv in $(PREFIX), the systemd unit, sysusers/tmpfiles, /etc/shipper);
# DESTDIR stages it under another root. See docs/operations.md.
PREFIX ?= /opt/shipper
.PHONY: install uninstall
install:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" PYTHON="$(PYTHON)" PIP_OPTS="$(PIP_OPTS)" scripts/install.sh install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" scripts/install.sh uninstall
