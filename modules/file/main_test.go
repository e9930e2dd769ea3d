package file

import (
	"os"
	"testing"

	"kplay/modules/internal/modtest"
)

// TestMain runs every table case over SSH to a real sshd as well.
func TestMain(m *testing.M) { os.Exit(modtest.Main(m)) }
