// Package labtest checks the lab of lab/lab.sh from the outside, as kplay will use it:
// SSH with host keys checked, the apiserver with the admin certificate, lab-up again
// changing nothing, lab-down leaving nothing behind.
//
// The tests need a lab that is up and are behind the build tag "lab", so a plain
// `go test ./...` does not touch the machine; `make lab-test` brings the lab up, runs
// them with `go test -tags lab ./lab/...`, and takes it down. Run by hand on a lab
// that is not up, they fail and say so.
package labtest
