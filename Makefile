# The two commands of nerves-docker-ts (see README.md):
#   make demo   build the example Nerves system end to end through the Mix plugin
#   make test   run the TypeScript and the Elixir test suites (and check types and formatting)
.PHONY: demo test test-ts test-elixir typecheck format-check format setup build bench clean-demo

demo:
	scripts/setup
	cd examples/system && mix deps.get >/dev/null && NERVES_DOCKER_TS_YES=1 mix nerves_docker_ts.build

test:
	scripts/setup --test
	$(MAKE) --no-print-directory typecheck format-check test-ts test-elixir

test-ts:
	npx vitest run

test-elixir:
	cd mix_plugin && mix test

# The sources and the tests against the strict compiler settings (tsconfig.test.json adds test/).
typecheck:
	npx tsc -p tsconfig.test.json

# The sources as prettier (.prettierrc.json) and `mix format` (mix_plugin/.formatter.exs) write them.
format-check:
	npx prettier --check --log-level warn src test bench scripts
	cd mix_plugin && mix format --check-formatted

# Rewrites the sources as the formatters want them.
format:
	npx prettier --write --log-level warn src test bench scripts
	cd mix_plugin && mix format

build:
	npm run build

bench:
	node bench/run.mjs

# Removes the demo's build volume and artifact cache.
clean-demo:
	cd examples/system && mix nerves_docker_ts.clean
