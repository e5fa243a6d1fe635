.PHONY: run test services bench-data

# Set up everything, migrate, seed the demo tenants and start web, two workers and beat.
run:
	python3 scripts/devstack.py run

# Same bootstrap, then lint, the import-layer contract and the whole test suite.
test:
	python3 scripts/devstack.py test $(ARGS)

# Start the project-local Postgres and Redis only, printing their URLs.
services:
	python3 scripts/devstack.py services
