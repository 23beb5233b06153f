# resonancedb — every target works on a fresh machine with Go and a C compiler.
GO        ?= go
BIN       := $(CURDIR)/bin
SQLC      := $(BIN)/sqlc
DBMATE    := $(BIN)/dbmate
LITESTREAM := $(BIN)/litestream
RACE      ?= -race
FUZZTIME  ?= 15s
export CGO_ENABLED := 1

.PHONY: all build install sqlc dbmate litestream sqlitevec generate check-generated test unit conformance example replication litestream-p1 bench fuzz lint tools clean

all: build

build:
	$(GO) build -o $(BIN)/resonance ./cmd/resonance

# install puts resonance on the PATH: into $(go env GOBIN), else
# $(go env GOPATH)/bin.
install:
	$(GO) install ./cmd/resonance

# Tools are pinned in tools/go.mod so their dependency trees stay out of the
# library's go.mod.
$(SQLC): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(SQLC) github.com/sqlc-dev/sqlc/cmd/sqlc

# dbmate is dbmate's command line with its SQLite driver only (tools/dbmate,
# a module of its own): the upstream command links four more drivers and
# takes several times longer to build on a cold machine.
$(DBMATE): tools/dbmate/go.mod tools/dbmate/go.sum tools/dbmate/main.go
	cd tools/dbmate && $(GO) build -o $(DBMATE) .

# Litestream pulls the AWS, GCS, Azure and NATS SDKs: it has a tools module
# of its own so that none of them reach tools/go.mod or the library's.
$(LITESTREAM): tools/litestream/go.mod tools/litestream/go.sum
	cd tools/litestream && $(GO) build -o $(LITESTREAM) github.com/benbjohnson/litestream/cmd/litestream

tools: $(SQLC) $(DBMATE) $(LITESTREAM)

# Short names for the tools in bin/.
sqlc: $(SQLC)
dbmate: $(DBMATE)
litestream: $(LITESTREAM)
sqlitevec: $(BIN)/sqlitevec

# sqlitevec is P7's sqlite-vec side (resonance bench --scale --sqlite-vec
# bin/sqlitevec), in a module of its own so that sqlite-vec stays out of the
# library's go.mod.
$(BIN)/sqlitevec: bench/sqlitevec/go.mod bench/sqlitevec/go.sum bench/sqlitevec/main.go
	cd bench/sqlitevec && $(GO) build -o $(BIN)/sqlitevec .

# generate regenerates db/ from schema/ and queries/, the batch INSERTs of
# resonance/rows_gen.go, and the example application's copy of schema/ and
# its queries, which read it.
generate: $(SQLC)
	$(SQLC) generate
	$(GO) run ./internal/gen/multirow -o resonance/rows_gen.go
	cd examples/notes && $(GO) generate .

# check-generated fails when db/, internal/packed/ or resonance/rows_gen.go
# differs from what `make generate` writes now.
check-generated: $(SQLC)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp -r sqlc.yaml schema queries "$$tmp"/ && \
	(cd "$$tmp" && $(SQLC) generate) && \
	$(GO) run ./internal/gen/multirow -o "$$tmp/rows_gen.go" && \
	if ! diff -ru db "$$tmp/db" || ! diff -ru internal/packed "$$tmp/internal/packed" || ! diff -u resonance/rows_gen.go "$$tmp/rows_gen.go"; then \
		echo "check-generated: generated code is stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi
	@echo "check-generated: db/, internal/packed/ and resonance/rows_gen.go are up to date"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# unit runs the search's exactness tests again on one core (GOMAXPROCS=1):
# the scoring spreads over GOMAXPROCS goroutines, and the answers must not
# depend on how many.
unit:
	$(GO) test $(RACE) -count=1 ./resonance/... ./cmd/... ./schema/... ./bench/... ./internal/...
	$(GO) test $(RACE) -count=1 -cpu 1 -run 'MatchesReference|VectorSnapshot_FirstSearch|HoldTheExactBest|SetsOneAfterAnother' ./resonance/ ./internal/vecindex/

conformance: $(DBMATE)
	DBMATE_BIN=$(DBMATE) $(GO) test $(RACE) -count=1 -timeout 10m ./conformance/...

# replication runs the library under the real Litestream (R2): clean stop,
# kill -9 of the writer, kill -9 of Litestream and its restart, each restored
# and checked. Separate from test because building Litestream takes minutes.
replication: $(LITESTREAM)
	LITESTREAM_BIN=$(LITESTREAM) $(GO) test -count=1 -timeout 10m ./replication/...

# litestream-p1 measures P1 with Litestream replicating against without it,
# PAIRS alternating pairs in one run (default 5), and prints the ratio.
litestream-p1: $(LITESTREAM)
	LITESTREAM_BIN=$(LITESTREAM) RESONANCE_P1_PAIRS=$(or $(PAIRS),5) $(GO) test -count=1 -timeout 30m -run '^TestP1_WithLitestream$$' -v ./replication/ | grep -E 'pair|median'

# example runs the CI of the application module in examples/notes, as an
# application built on the library would: its generated code is current,
# its tests pass, and the conformance checks pass on its own database.
# It then copies the example out under a module name that sorts after
# github.com (so gofmt must reorder the imports), checks the copy, and runs
# the README's "Before the first release" in a new module. Every tool runs
# through the modules' go tool directives.
example:
	examples/notes/ci.sh
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	examples/notes/copy.sh "$$tmp/app" zz.example/myapp && cd "$$tmp/app" && \
	out=$$(gofmt -l .) && if [ -n "$$out" ]; then echo "example: the copy needs gofmt: $$out" >&2; exit 1; fi && \
	! grep -rq 'resonancedb/examples/notes' --include='*.go' --include=go.mod . && \
	$(GO) vet -tags sqlite_fts5 ./... && $(GO) tool sqlc diff && \
	$(GO) run -tags sqlite_fts5 . -db "$$tmp/copy.db" doc-1 "A copy" "the copy builds and runs" | grep -q 'the copy builds and runs' && \
	echo "example: the copy made by copy.sh builds, runs and matches its generated code"
	examples/readme-app.sh

# test is what CI runs: vet and format, generated code, unit and conformance
# tests, and the example application.
test: lint check-generated unit conformance example

# bench: Go benchmarks of the hot paths in benchstat's format (make bench > new.txt;
# benchstat old.txt new.txt); BENCH= picks a -bench regexp, COUNT= runs (default 6).
bench:
	$(GO) test -run='^$$' -bench='$(or $(BENCH),.)' -benchmem -count=$(or $(COUNT),6) -timeout=60m ./resonance/...

fuzz:
	@for pkg in ./resonance ./resonance/jsonl; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf $(BIN)
