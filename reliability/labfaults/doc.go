// Package labfaults produces faults on the lab of lab/lab.sh while kplay runs
// against it (issue 7): a host powered off in the middle of a play, and a
// host whose link is cut in the middle of a command and of a file transfer.
// Each test drives the kplay binary built from this repository with
// `-i inventory --output json`, as reliability/ does on loopback, checks what
// the healthy hosts and the sick one were left with, brings the lab back
// with `lab/lab.sh up` and checks that a rerun converges.
//
// The tests are behind the build tag "lab": `make lab-test` runs them after
// the playbooks' tests and before lab/labtest (which ends with lab-down).
// They leave the lab healthy (lab.sh up in t.Cleanup), also when they fail.
package labfaults
