# The project's commands. A newcomer needs two: `make run` and `make test`.
# Each sets up what it needs (virtualenvs, catalogs) and re-running setup when
# nothing changed takes seconds (stamp files record what was installed from what).

PYTHON ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
LANGS := en zh ar ru fr es
PO := $(foreach l,$(LANGS),locales/$(l)/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
# The staff console's own domain ("staff"), in the console's languages only.
STAFF_LANGS := en zh
STAFF_PO := $(foreach l,$(STAFF_LANGS),locales/$(l)/LC_MESSAGES/staff.po)
STAFF_MO := $(STAFF_PO:.po=.mo)
# pip's optional cache of the Debian/PyPI mirror is fine; no network beyond the registries.
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: setup run test test-fast lint typecheck catalogs extract chat train clean bench browser proxy cluster mutation

setup: $(VENV)/.stamp $(RASA_VENV)/.stamp catalogs

$(VENV)/.stamp: pyproject.toml constraints.txt
	@echo "== project runtime: $(VENV) on $$($(PYTHON) --version)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	@touch $@

$(RASA_VENV)/.stamp: requirements-rasa.txt constraints-rasa.txt scripts/find-python310.sh
	@echo "== Rasa runtime: $(RASA_VENV) (Python 3.10)"
	@test -x $(RASA_VENV)/bin/python || "$$(scripts/find-python310.sh)" -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install $(PIP_FLAGS) -c constraints-rasa.txt -r requirements-rasa.txt
	@touch $@

catalogs: $(MO) $(STAFF_MO)

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(VENV)/.stamp
	$(VENV)/bin/pybabel compile -D messages -d locales -l $* -i $< -o $@

locales/%/LC_MESSAGES/staff.mo: locales/%/LC_MESSAGES/staff.po $(VENV)/.stamp
	$(VENV)/bin/pybabel compile -D staff -d locales -l $* -i $< -o $@

# After changing bot/texts.py, bot/staff/texts.py or a console template: extract the
# msgids and merge them into every catalog. The users' domain ("messages") leaves out
# bot/staff, whose texts are the staff domain's (babel-staff.cfg: its Python and templates).
extract: $(VENV)/.stamp
	$(VENV)/bin/pybabel extract -k N_ -o locales/messages.pot --no-location --omit-header --ignore-dirs ".* ._ staff" bot actions
	for l in $(LANGS); do $(VENV)/bin/pybabel update -D messages -i locales/messages.pot -d locales -l $$l --no-fuzzy-matching --ignore-obsolete; done
	$(VENV)/bin/pybabel extract -F babel-staff.cfg -k N_ -k _ -o locales/staff.pot --no-location --omit-header .
	for l in $(STAFF_LANGS); do $(VENV)/bin/pybabel update -D staff -i locales/staff.pot -d locales -l $$l --no-fuzzy-matching --ignore-obsolete; done

run: setup
	$(VENV)/bin/expatbot run

chat: setup
	$(VENV)/bin/expatbot chat

train: setup
	$(VENV)/bin/expatbot train

# Browser tests use Debian's chromium (never a downloaded browser build), with the Noto
# CJK fonts so that Chinese in the pages and their screenshots is drawn, not boxes.
# Installing needs root and the Debian mirror; without chromium the browser tests skip
# and say why.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"; }
	@test -d /usr/share/fonts/opentype/noto || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null) || echo "fonts-noto-cjk not installed: Chinese shows as boxes in screenshots"; }

# The reverse proxy of the production topology (`expatbot cluster`, deploy/haproxy.cfg):
# Debian's HAProxy. Installing needs root and the Debian mirror; without it the cluster
# tests skip and say why.
proxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null) || echo "haproxy not installed: the cluster tests will be skipped"; }

# The production topology on this machine (deploy/): HAProxy in front of replicated
# gateways, Rasa servers and action servers, a worker; PostgreSQL and Redis from
# DATABASE_URL and REDIS_URL.
cluster: setup proxy
	$(VENV)/bin/expatbot cluster

test: setup browser proxy
	$(VENV)/bin/pytest -q -ra

# Everything but the integration tests (no Rasa server, no training).
test-fast: setup
	$(VENV)/bin/pytest -q -ra -m "not integration"

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check bot actions rasa_addons tests bench
	$(VENV)/bin/ruff format --check bot actions rasa_addons tests bench

typecheck: $(VENV)/.stamp
	$(VENV)/bin/mypy

bench: setup
	$(VENV)/bin/python bench/reply_latency.py

# Mutation testing of the modules that guard security and money ([tool.mutmut] in
# pyproject.toml says which, and against which tests). Like bench, not part of `make test`:
# it takes minutes. Each run starts from a fresh copy (mutants/) so that no stale file is
# tested; it stops after MUTATION_SECONDS and lists the mutants that survived so far.
MUTATION_SECONDS ?= 2400
mutation: $(VENV)/.stamp catalogs
	rm -rf mutants
	-timeout --signal=INT --kill-after=60 $(MUTATION_SECONDS) $(VENV)/bin/mutmut run
	@mkdir -p var
	@$(VENV)/bin/mutmut results > var/mutation-results.txt
	@echo "== surviving mutants (.venv/bin/mutmut show NAME prints the change):"
	@grep ': survived$$' var/mutation-results.txt || echo "    none"
	@echo "== mutants not killed, by status (all in var/mutation-results.txt):"
	@sed 's/.*: //' var/mutation-results.txt | sort | uniq -c

clean:
	rm -rf $(VENV) $(RASA_VENV) models var $(MO) $(STAFF_MO)
