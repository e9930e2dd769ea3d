# kplay — the README's two commands are `make demo` and `make test`.
# Root on Debian 12; `make deps` installs the Debian packages everything needs.

GO      ?= go
BIN     ?= bin/kplay
DEB_PKGS = openssh-server openssh-client sudo iproute2 mmdebstrap systemd-container etcd-server ansible-core

.PHONY: all build docs deps demo test test-short vet unit fuzz-smoke clean lab-up lab-status lab-down lab-test lab-test-locked bench

all: build

build:
	$(GO) build -o $(BIN) ./cmd/kplay

# docs/modules.md is generated from the module registry; a test in cmd/kplay
# fails when it is out of date.
docs:
	$(GO) run ./cmd/kplay doc --markdown > docs/modules.md.tmp && mv docs/modules.md.tmp docs/modules.md

# Debian packages for the SSH tests, the lab and the Ansible comparisons.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The main job on the lab: install what is needed, build, bring the lab up
# (cached after the first time), deploy KCM on the three masters, show the leader.
demo: deps build
	lab/lab.sh up
	$(BIN) playbooks/kcm.yaml -i inventory
	@echo
	@echo "Next: the availability test, $(BIN) playbooks/kcm-failover.yaml -i inventory"
	@echo "      the lab's state, make lab-status; take it down, make lab-down"

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# Every unit and integration test (real sshd on loopback included), with -race.
unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# Each fuzz target briefly, so CI notices a crash early (the checked-in
# corpora under testdata/fuzz/ already replay in unit). The length is a count
# of inputs, not a duration: with -fuzztime <duration>, go1.26's coordinator
# can report its own deadline as a failure when the machine is loaded
# ("context deadline exceeded", no input; golang/go#75804, fixed in go1.27).
# New inputs are not minimized (that can take a minute each under load); a
# crash still writes its input to testdata/fuzz/FuzzXxx/, printed below. Each
# run starts from the seeds and testdata/fuzz/ alone, in a fuzz cache of its
# own (-test.fuzzcachedir, which go test passes itself; the last one wins):
# the count includes replaying that corpus, and the machine's cache in
# $(go env GOCACHE)/fuzz only grows (a long `go test -fuzz` run keeps using it).
FUZZ_SMOKE_N ?= 3000
FUZZ_PKGS ?= ./...
fuzz-smoke:
	@log=$$(mktemp); cache=$$(mktemp -d); trap 'rm -rf $$log $$cache' EXIT; \
	$(GO) list -f '{{.ImportPath}} {{.Dir}}' $(FUZZ_PKGS) | while read pkg dir; do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    start=$$(date +%s); \
	    if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_SMOKE_N)x -fuzzminimizetime 0 \
	        -parallel 1 -timeout 10m $$pkg -args -test.fuzzcachedir=$$cache/$$pkg/$$f >$$log 2>&1; then \
	      echo "fuzz-smoke ok   $$pkg $$f ($(FUZZ_SMOKE_N) inputs, $$(( $$(date +%s) - start ))s)"; \
	    else \
	      echo "fuzz-smoke FAIL $$pkg $$f"; cat $$log; \
	      for input in $$(sed -n 's/.*Failing input written to \(testdata[^ ]*\).*/\1/p' $$log); do \
	        echo "--- input $$dir/$$input:"; cat $$dir/$$input; echo; \
	      done; \
	      exit 1; \
	    fi; \
	  done; \
	done

test: deps vet unit fuzz-smoke lab-test

# The fast loop for developers: no race detector, slow tests skipped.
test-short:
	$(GO) test -short ./...

# kplay beside ansible-playbook and a one-session-per-command Go floor on N
# loopback sshd hosts (bench/README.md). Not part of `make test`. BENCH_FLAGS
# passes options, e.g. BENCH_FLAGS='-n 1,5 -runs 3 -tools kplay,floor'.
bench: deps
	$(GO) build -o bin/kplay-bench ./bench
	$(GO) build -o bin/bench-floor ./bench/floor
	$(GO) build -o bin/bench-kplayrun ./bench/kplayrun
	@if ls cmd/kplay/*.go >/dev/null 2>&1; then $(GO) build -o bin/kplay ./cmd/kplay; else rm -f bin/kplay; fi
	bin/kplay-bench -bin bin $(BENCH_FLAGS)

clean:
	rm -rf bin

# The three-master lab (LAB.md, lab/lab.sh): root only; caches in $KPLAY_CACHE (/var/cache/kplay).
lab-up:
	lab/lab.sh up

lab-status:
	lab/lab.sh status

lab-down:
	lab/lab.sh down

# Lab up; the bundled playbooks end to end on it (issue 6: check, deploy, again,
# failover); the modules that need a real host (systemd); faults on the lab's hosts
# (issue 7: a host powered off, links cut; they leave the lab up); the lab's tests (they
# end with lab-down and check nothing is left, so they run last); lab down again
# whatever happened.
# One lab-test (or lab experiment) at a time on a machine: they share the lab's
# hosts, so a second one waits for LAB_LOCK (flock it around your own lab runs too).
LAB_LOCK ?= /tmp/kplay-lab-tests.lock
lab-test:
	@flock -w 5400 $(LAB_LOCK) $(MAKE) --no-print-directory lab-test-locked

lab-test-locked:
	@rc=0; lab/lab.sh up && $(GO) test -tags lab -count=1 -timeout 20m -v ./playbooks/... || rc=$$?; \
	lab/lab.sh up && $(GO) test -tags lab -count=1 -timeout 10m -v -run '^TestLab' ./modules/systemd/ || rc=$$?; \
	lab/lab.sh up && $(GO) test -tags lab -count=1 -timeout 20m -v ./reliability/labfaults/ || rc=$$?; \
	lab/lab.sh up && $(GO) test -tags lab -count=1 -timeout 15m -v ./lab/... || rc=$$?; \
	lab/lab.sh down || rc=$$?; exit $$rc
