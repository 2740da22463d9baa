#!/usr/bin/env bash
# `npm test`: the whole suite in one run of Node's test runner: unit tests, then integration
# tests that start their own clamd on free ports, and appliance tests that run the native appliance
# under a real supervisord and check the image's files; the integration tests again with the store
# on PostgreSQL (a server of their own), so that the two stores cannot drift; then, one at a time
# so that nothing else competes for the two cores, the scale-out run (npm run test:scale: two
# appliances, one deployment) and the load runs (npm run test:load): chaos under load, and a
# hostile tenant beside a ward's uploads. A missing engine fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# Like `npm run appliance`, on a machine that has never run the project: the appliance's
# packages, the ones only the tests use (shellcheck, docker-compose, promtool), node_modules.
bash scripts/install-packages.sh docker/packages.txt docker/packages-test.txt
[[ -d node_modules ]] || npm install --no-audit --no-fund
# Built once, before any test file runs an appliance from dist/ (the harness builds again only
# for sources newer than the build).
npm run build
node --import tsx --test --test-concurrency=2 --test-reporter=spec test/unit/*.test.ts test/integration/*.test.ts test/appliance/*.test.ts
MSD_TEST_DATABASE=postgres node --import tsx --test --test-concurrency=2 --test-reporter=spec test/integration/*.test.ts
node --import tsx --test --test-concurrency=1 --test-reporter=spec test/scale/*.test.ts
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec test/load/*.test.ts
