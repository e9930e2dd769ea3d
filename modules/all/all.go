// Package all links every module into the binary: each import registers
// one module in its init.
package all

import (
	_ "kplay/modules/cert"
)
