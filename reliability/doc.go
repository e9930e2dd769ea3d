// Package reliability holds kplay's fault, load and hostile-input tests:
// real sshd servers on loopback (and the lab, under the lab build tag)
// are killed, frozen, cut off or fed hostile variables while the kplay
// binary or the engine runs against them. docs/reliability.md lists every
// case with the test that shows it. The package has no code of its own.
package reliability
