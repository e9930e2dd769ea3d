// Package kcmtest runs the bundled playbooks (playbooks/kcm.yaml and
// playbooks/kcm-failover.yaml) end to end on the lab of lab/lab.sh, driving the
// kplay binary built from this repository with `-i inventory`, as a user would:
// --check --diff on a clean lab changes nothing, a real deploy, a second run that
// changes and restarts nothing, and the failover (default and release-on-exit).
//
// The tests are behind the build tag "lab": `make lab-test` brings the lab up and
// runs them with `go test -tags lab`. They bring the lab up themselves when it is
// down (lab.sh up does nothing when it is up), and they leave no KCM behind.
package kcmtest
